#include <math.h>
#include <omp.h>
#include <string.h>
#include "base/mem.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/vmath.h"

/* Layout: q stays [B, T, H*hd] throughout; one head's [T, hd] matrix is addressed with leading
 * dimension H*hd, so the per-(batch, head) sgemms need no transposes or copies. The OpenMP loop
 * runs over (batch, head); sd_sgemm runs serially inside it. */

static bool uses_qk_norm(const sd_attn_cfg *c) { return c->q_norm_w || c->k_norm_w; }
static bool uses_rope(const sd_attn_cfg *c) { return c->rope_theta > 0; }

void sd_attn_state_init(sd_attn_state *st, const sd_attn_cfg *c) {
    memset(st, 0, sizeof *st);
    st->B = c->B; st->T = c->T; st->H = c->H; st->KV = c->KV; st->hd = c->hd;
    size_t BT = (size_t)c->B * c->T;
    st->probs = sd_afloats(sd_mul_size((size_t)c->B * c->H, (size_t)c->T * c->T));
    if (uses_qk_norm(c) || uses_rope(c)) {
        st->qr = sd_afloats(BT * c->H * c->hd);
        st->kr = sd_afloats(BT * c->KV * c->hd);
        st->dqr = sd_afloats(BT * c->H * c->hd);
        st->dkr = sd_afloats(BT * c->KV * c->hd);
    }
    if (uses_qk_norm(c)) {
        st->q_rstd = sd_afloats(BT * c->H);
        st->k_rstd = sd_afloats(BT * c->KV);
    }
    if (uses_rope(c)) {
        st->cos = sd_afloats(BT * (c->hd / 2));
        st->sin = sd_afloats(BT * (c->hd / 2));
    }
    st->n_scratch = omp_get_max_threads();
    st->scratch = sd_afloats((size_t)st->n_scratch * 2 * c->T * c->T);
}

void sd_attn_state_free(sd_attn_state *st) {
    sd_afree(st->probs); sd_afree(st->qr); sd_afree(st->kr); sd_afree(st->dqr); sd_afree(st->dkr);
    sd_afree(st->q_rstd); sd_afree(st->k_rstd); sd_afree(st->cos); sd_afree(st->sin); sd_afree(st->scratch);
    memset(st, 0, sizeof *st);
}

/* Angles as Hugging Face computes them, in float: inv_freq = 1 / theta^(2i/hd), angle = pos * inv_freq. */
void sd_rope_tables(float *cos_t, float *sin_t, const int32_t *pos, long n, int T, int hd, double theta) {
    int half = hd / 2;
    float inv_freq[half > 0 ? half : 1];
    for (int i = 0; i < half; i++) inv_freq[i] = (float)(1.0 / pow(theta, (2.0 * i) / hd));
#pragma omp parallel for schedule(static) if (n * half > 16384)
    for (long r = 0; r < n; r++) {
        float p = (float)(pos ? pos[r] : (int32_t)(r % T));
        for (int i = 0; i < half; i++) {
            float a = p * inv_freq[i];
            cos_t[r * half + i] = (float)cos((double)a);
            sin_t[r * half + i] = (float)sin((double)a);
        }
    }
}

void sd_rope_apply(float *x, const float *cos_t, const float *sin_t, long n, int nh, int hd, float sign) {
    int half = hd / 2;
#pragma omp parallel for schedule(static) if (n * nh * hd > 32768)
    for (long r = 0; r < n; r++) {
        const float *cs = cos_t + r * half, *sn = sin_t + r * half;
        for (int h = 0; h < nh; h++) {
            float *v = x + (r * nh + h) * hd;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], s = sign * sn[i];
                v[i] = a * cs[i] - b * s;
                v[i + half] = b * cs[i] + a * s;
            }
        }
    }
}

/* Softmax of one score row in place over keys j < jmax, with kbias[j] added (-inf for padding
 * keys); entries from jmax to T become 0 (T: the row's used length). A row with no valid key
 * becomes all zeros. */
static void softmax_row(float *s, const float *kbias, int jmax, int T) {
    if (kbias) for (int j = 0; j < jmax; j++) s[j] += kbias[j];
    float m = sd_max_array(s, jmax);
    if (m == -INFINITY) { memset(s, 0, (size_t)T * sizeof(float)); return; }
    float sum = sd_exp_shift_sum(s, s, m, jmax); /* exp(-inf) is exactly 0 */
    float inv = 1.0f / sum;
    for (int j = 0; j < jmax; j++) s[j] *= inv;
    if (jmax < T) memset(s + jmax, 0, (size_t)(T - jmax) * sizeof(float));
}

/* Softmax backward of one row over its first n entries in place: d = p * (d - <p, d>). */
static void softmax_grad_row(float *d, const float *p, int n) {
    float dot = sd_v8_dot(p, d, n);
    for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - dot);
}

/* Rows per block of the forward and backward without dropout: a causal block of query rows
 * i0..i1 multiplies only keys 0..i1, skipping the masked upper triangle (T 256: 56% of the
 * square's work; 32 rows beat 64 and 128 at head dim 32 in bench_finetune), and its probability
 * rows are written (and read) only up to key i1: the rest of each [T, T] probs matrix is left
 * unset. Without a causal mask one block covers all rows. */
#ifndef ATTN_ROWS
#define ATTN_ROWS 32
#endif
static int row_block(const sd_attn_cfg *c) { return c->causal && c->T > ATTN_ROWS ? ATTN_ROWS : c->T; }

static uint64_t drop_stream(const sd_attn_cfg *c, int bh) { return (c->drop_stream << 20) + (uint64_t)bh; }

void sd_attention_forward(float *out, sd_attn_state *st, const float *q, const float *k, const float *v,
                          const sd_attn_cfg *c) {
    const int B = c->B, T = c->T, H = c->H, KV = c->KV, hd = c->hd, group = H / KV;
    const long BT = (long)B * T;
    const float *Q = q, *K = k;
    if (st->qr) {
        if (c->q_norm_w) sd_rmsnorm_forward(st->qr, st->q_rstd, q, c->q_norm_w, (int)(BT * H), hd, c->qk_norm_eps);
        else memcpy(st->qr, q, BT * H * hd * sizeof(float));
        if (c->k_norm_w) sd_rmsnorm_forward(st->kr, st->k_rstd, k, c->k_norm_w, (int)(BT * KV), hd, c->qk_norm_eps);
        else memcpy(st->kr, k, BT * KV * hd * sizeof(float));
        if (uses_rope(c)) {
            sd_rope_tables(st->cos, st->sin, c->pos, BT, T, hd, c->rope_theta);
            sd_rope_apply(st->qr, st->cos, st->sin, BT, H, hd, 1.0f);
            sd_rope_apply(st->kr, st->cos, st->sin, BT, KV, hd, 1.0f);
        }
        Q = st->qr; K = st->kr;
    }
    float *kbias = NULL;
    if (c->key_valid || c->key_bias) {
        kbias = sd_afloats((size_t)BT);
        for (long n = 0; n < BT; n++)
            kbias[n] = c->key_valid && !c->key_valid[n] ? -INFINITY : c->key_bias ? c->key_bias[n] : 0.0f;
    }
    const float scale = 1.0f / sqrtf((float)hd);
    const int ldq = H * hd, ldk = KV * hd, rb = row_block(c);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, g = h / group;
        float *P = st->probs + (size_t)bh * T * T;
        const float *Qb = Q + (size_t)b * T * ldq + h * hd, *Kb = K + (size_t)b * T * ldk + g * hd;
        const float *Vb = v + (size_t)b * T * ldk + g * hd;
        float *O = out + (size_t)b * T * ldq + h * hd;
        if (!c->drop_p) { /* row blocks; causal ones stop at their last row's key */
            for (int i0 = 0; i0 < T; i0 += rb) {
                int i1 = i0 + rb < T ? i0 + rb : T, nk = c->causal ? i1 : T;
                sd_sgemm(false, true, i1 - i0, nk, hd, scale, Qb + (size_t)i0 * ldq, ldq, Kb, ldk, 0.0f,
                         P + (size_t)i0 * T, T);
                for (int i = i0; i < i1; i++)
                    softmax_row(P + (size_t)i * T, kbias ? kbias + (size_t)b * T : NULL, c->causal ? i + 1 : T, nk);
                sd_sgemm(false, false, i1 - i0, hd, nk, 1.0f, P + (size_t)i0 * T, T, Vb, ldk, 0.0f,
                         O + (size_t)i0 * ldq, ldq);
            }
            continue;
        }
        sd_sgemm(false, true, T, T, hd, scale, Qb, ldq, Kb, ldk, 0.0f, P, T);
        for (int i = 0; i < T; i++)
            softmax_row(P + (size_t)i * T, kbias ? kbias + (size_t)b * T : NULL, c->causal ? i + 1 : T, T);
        /* probs keep the undropped rows, which the softmax backward needs */
        float *Pd = st->scratch + (size_t)omp_get_thread_num() * 2 * T * T;
        sd_dropout_forward(Pd, NULL, P, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, bh));
        sd_sgemm(false, false, T, hd, T, 1.0f, Pd, T, Vb, ldk, 0.0f, O, ldq);
    }
    sd_afree(kbias);
}

void sd_attention_backward(float *dq, float *dk, float *dv, float *dq_norm_w, float *dk_norm_w,
                           const float *dout, sd_attn_state *st, const float *q, const float *k,
                           const float *v, const sd_attn_cfg *c) {
    const int B = c->B, T = c->T, H = c->H, KV = c->KV, hd = c->hd, group = H / KV;
    const long BT = (long)B * T;
    const int ldq = H * hd, ldk = KV * hd, rb = row_block(c);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *Q = st->qr ? st->qr : q, *K = st->kr ? st->kr : k;
    /* Gradients w.r.t. the normed/rotated q, k land in scratch and are mapped back afterwards. */
    float *dQ = st->qr ? st->dqr : dq, *dK = st->kr ? st->dkr : dk;
    float betaq = st->qr ? 0.0f : 1.0f;
    if (st->kr) memset(st->dkr, 0, BT * ldk * sizeof(float));
    /* One task per (batch, kv head): the query heads sharing a kv head add into the same dK, dV
     * rows, so they run in sequence inside the task. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int bg = 0; bg < B * KV; bg++) {
        int b = bg / KV, g = bg % KV;
        float *dP = st->scratch + (size_t)omp_get_thread_num() * 2 * T * T, *Pd = dP + (size_t)T * T;
        const float *Kb = K + (size_t)b * T * ldk + g * hd, *Vb = v + (size_t)b * T * ldk + g * hd;
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *P = st->probs + ((size_t)b * H + h) * T * T;
            const float *dO = dout + (size_t)b * T * ldq + h * hd;
            const float *Qb = Q + (size_t)b * T * ldq + h * hd;
            float *dVb = dv ? dv + (size_t)b * T * ldk + g * hd : NULL;
            float *dQb = dQ ? dQ + (size_t)b * T * ldq + h * hd : NULL, *dKb = dK ? dK + (size_t)b * T * ldk + g * hd : NULL;
            if (!c->drop_p) { /* row blocks as the forward's: rows i0..i1 see keys < nk only */
                for (int i0 = 0; i0 < T; i0 += rb) {
                    int i1 = i0 + rb < T ? i0 + rb : T, nk = c->causal ? i1 : T, m = i1 - i0;
                    const float *Pi = P + (size_t)i0 * T, *dOi = dO + (size_t)i0 * ldq;
                    float *dPi = dP + (size_t)i0 * T;
                    if (dVb) sd_sgemm(true, false, nk, hd, m, 1.0f, Pi, T, dOi, ldq, 1.0f, dVb, ldk);
                    sd_sgemm(false, true, m, nk, hd, 1.0f, dOi, ldq, Vb, ldk, 0.0f, dPi, T);
                    for (int i = 0; i < m; i++) softmax_grad_row(dPi + (size_t)i * T, Pi + (size_t)i * T, nk);
                    if (dQb) sd_sgemm(false, false, m, hd, nk, scale, dPi, T, Kb, ldk, betaq, dQb + (size_t)i0 * ldq, ldq);
                    if (dKb) sd_sgemm(true, false, nk, hd, m, scale, dPi, T, Qb + (size_t)i0 * ldq, ldq, 1.0f, dKb, ldk);
                }
                continue;
            }
            const float *Pv = Pd;
            sd_dropout_forward(Pd, NULL, P, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, b * H + h));
            if (dVb) sd_sgemm(true, false, T, hd, T, 1.0f, Pv, T, dO, ldq, 1.0f, dVb, ldk);
            sd_sgemm(false, true, T, T, hd, 1.0f, dO, ldq, Vb, ldk, 0.0f, Pd, T);
            /* d probs = mask / (1 - p) * d dropped probs */
            memset(dP, 0, (size_t)T * T * sizeof(float));
            sd_dropout_backward(dP, Pd, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, b * H + h));
            for (int i = 0; i < T; i++) softmax_grad_row(dP + (size_t)i * T, P + (size_t)i * T, T);
            if (dQb) sd_sgemm(false, false, T, hd, T, scale, dP, T, Kb, ldk, betaq, dQb, ldq);
            if (dKb) sd_sgemm(true, false, T, hd, T, scale, dP, T, Qb, ldq, 1.0f, dKb, ldk);
        }
    }
    if (!st->qr) return;
    if (uses_rope(c)) {
        if (dq) sd_rope_apply(st->dqr, st->cos, st->sin, BT, H, hd, -1.0f);
        if (dk) sd_rope_apply(st->dkr, st->cos, st->sin, BT, KV, hd, -1.0f);
    }
    if (dq) {
        if (c->q_norm_w) sd_rmsnorm_backward(dq, dq_norm_w, st->dqr, q, c->q_norm_w, st->q_rstd, (int)(BT * H), hd);
        else sd_add_backward(dq, NULL, st->dqr, BT * ldq);
    }
    if (dk) {
        if (c->k_norm_w) sd_rmsnorm_backward(dk, dk_norm_w, st->dkr, k, c->k_norm_w, st->k_rstd, (int)(BT * KV), hd);
        else sd_add_backward(dk, NULL, st->dkr, BT * ldk);
    }
}

/* ---- the incremental schedule: queries over cached keys ---- */

void sd_attn_cache_append(const sd_attn_cache *kc, const float *k, const float *v, int n, const int32_t *seq,
                          const int32_t *pos, int KV, int hd) {
    for (int i = 0; i < n; i++)
        for (int g = 0; g < KV; g++) {
            size_t off = (size_t)seq[i] * kc->seq_stride + (size_t)g * kc->head_stride + (size_t)pos[i] * hd;
            memcpy(kc->k + off, k + ((size_t)i * KV + g) * hd, sizeof(float) * (size_t)hd);
            memcpy(kc->v + off, v + ((size_t)i * KV + g) * hd, sizeof(float) * (size_t)hd);
        }
}

/* One task per (token, query head): its scores over keys 0..pos, the same softmax row as the
 * full op, then the probability-weighted sum of the cached values. */
void sd_attention_cached_forward(float *out, const float *q, int n, const int32_t *seq, const int32_t *pos, int H,
                                 int KV, int hd, const sd_attn_cache *kc, float *scratch) {
    const int group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    long work = 0; /* multiply-adds, to skip the parallel region for tiny steps */
    for (int i = 0; i < n; i++) work += (long)(pos[i] + 1) * H * hd;
#pragma omp parallel for schedule(dynamic, 1) if (work > 65536)
    for (long ih = 0; ih < (long)n * H; ih++) {
        int i = (int)(ih / H), h = (int)(ih % H), g = h / group, T = pos[i] + 1;
        float *s = scratch + (size_t)omp_get_thread_num() * kc->cap;
        const float *qi = q + ((size_t)i * H + h) * hd;
        size_t off = (size_t)seq[i] * kc->seq_stride + (size_t)g * kc->head_stride;
        const float *K = kc->k + off, *V = kc->v + off;
        for (int j = 0; j < T; j++) s[j] = sd_v8_dot(qi, K + (size_t)j * hd, hd) * scale;
        softmax_row(s, NULL, T, T);
        float *o = out + ((size_t)i * H + h) * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int j = 0; j < T; j++) {
            const float *vj = V + (size_t)j * hd;
            for (int d = 0; d < hd; d++) o[d] += s[j] * vj[d];
        }
    }
}
