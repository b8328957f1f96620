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
static void rope_tables(sd_attn_state *st, const sd_attn_cfg *c) {
    int half = c->hd / 2;
    float inv_freq[half > 0 ? half : 1];
    for (int i = 0; i < half; i++) inv_freq[i] = (float)(1.0 / pow(c->rope_theta, (2.0 * i) / c->hd));
    long BT = (long)c->B * c->T;
#pragma omp parallel for schedule(static) if (BT * half > 16384)
    for (long n = 0; n < BT; n++) {
        float p = (float)(c->pos ? c->pos[n] : (int32_t)(n % c->T));
        for (int i = 0; i < half; i++) {
            float a = p * inv_freq[i];
            st->cos[n * half + i] = (float)cos((double)a);
            st->sin[n * half + i] = (float)sin((double)a);
        }
    }
}

/* Rotates every head vector of x [B*T, nh*hd] in place; sign = -1 applies the inverse rotation
 * (the transpose), which is what the backward pass needs. */
static void rope_apply(float *x, const sd_attn_state *st, long BT, int nh, int hd, float sign) {
    int half = hd / 2;
#pragma omp parallel for schedule(static) if (BT * nh * hd > 32768)
    for (long n = 0; n < BT; n++) {
        const float *cs = st->cos + n * half, *sn = st->sin + n * half;
        for (int h = 0; h < nh; h++) {
            float *v = x + (n * nh + h) * hd;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], s = sign * sn[i];
                v[i] = a * cs[i] - b * s;
                v[i + half] = b * cs[i] + a * s;
            }
        }
    }
}

/* Softmax of one score row in place over keys j < jmax, with kbias[j] added (-inf for padding
 * keys); entries from jmax on become 0. A row with no valid key becomes all zeros. */
static void softmax_row(float *s, const float *kbias, int jmax, int T) {
    float m = -INFINITY;
    if (kbias) for (int j = 0; j < jmax; j++) s[j] += kbias[j];
    for (int j = 0; j < jmax; j++) m = s[j] > m ? s[j] : m;
    if (m == -INFINITY) { memset(s, 0, (size_t)T * sizeof(float)); return; }
    float sum = sd_exp_shift_sum(s, s, m, jmax); /* exp(-inf) is exactly 0 */
    float inv = 1.0f / sum;
    for (int j = 0; j < jmax; j++) s[j] *= inv;
    if (jmax < T) memset(s + jmax, 0, (size_t)(T - jmax) * sizeof(float));
}

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
            rope_tables(st, c);
            rope_apply(st->qr, st, BT, H, hd, 1.0f);
            rope_apply(st->kr, st, BT, KV, hd, 1.0f);
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
    const int ldq = H * hd, ldk = KV * hd;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H, g = h / group;
        float *P = st->probs + (size_t)bh * T * T;
        const float *Qb = Q + (size_t)b * T * ldq + h * hd, *Kb = K + (size_t)b * T * ldk + g * hd;
        const float *Vb = v + (size_t)b * T * ldk + g * hd;
        sd_sgemm(false, true, T, T, hd, scale, Qb, ldq, Kb, ldk, 0.0f, P, T);
        for (int i = 0; i < T; i++)
            softmax_row(P + (size_t)i * T, kbias ? kbias + (size_t)b * T : NULL, c->causal ? i + 1 : T, T);
        const float *Pv = P;
        if (c->drop_p > 0) { /* probs keep the undropped rows, which the softmax backward needs */
            float *Pd = st->scratch + (size_t)omp_get_thread_num() * 2 * T * T;
            sd_dropout_forward(Pd, NULL, P, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, bh));
            Pv = Pd;
        }
        sd_sgemm(false, false, T, hd, T, 1.0f, Pv, T, Vb, ldk, 0.0f, out + (size_t)b * T * ldq + h * hd, ldq);
    }
    sd_afree(kbias);
}

void sd_attention_backward(float *dq, float *dk, float *dv, float *dq_norm_w, float *dk_norm_w,
                           const float *dout, sd_attn_state *st, const float *q, const float *k,
                           const float *v, const sd_attn_cfg *c) {
    const int B = c->B, T = c->T, H = c->H, KV = c->KV, hd = c->hd, group = H / KV;
    const long BT = (long)B * T;
    const int ldq = H * hd, ldk = KV * hd;
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
            const float *Pv = P;
            if (c->drop_p > 0) {
                sd_dropout_forward(Pd, NULL, P, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, b * H + h));
                Pv = Pd;
            }
            if (dv) sd_sgemm(true, false, T, hd, T, 1.0f, Pv, T, dO, ldq, 1.0f, dv + (size_t)b * T * ldk + g * hd, ldk);
            sd_sgemm(false, true, T, T, hd, 1.0f, dO, ldq, Vb, ldk, 0.0f, c->drop_p > 0 ? Pd : dP, T);
            if (c->drop_p > 0) { /* d probs = mask / (1 - p) * d dropped probs */
                memset(dP, 0, (size_t)T * T * sizeof(float));
                sd_dropout_backward(dP, Pd, (size_t)T * T, c->drop_p, c->drop_seed, drop_stream(c, b * H + h));
            }
            for (int i = 0; i < T; i++) {
                const float *p = P + (size_t)i * T;
                float *d = dP + (size_t)i * T;
                float dot = 0;
                for (int j = 0; j < T; j++) dot += p[j] * d[j];
                for (int j = 0; j < T; j++) d[j] = p[j] * (d[j] - dot);
            }
            if (dQ) sd_sgemm(false, false, T, hd, T, scale, dP, T, Kb, ldk, betaq, dQ + (size_t)b * T * ldq + h * hd, ldq);
            if (dK) sd_sgemm(true, false, T, hd, T, scale, dP, T, Qb, ldq, 1.0f, dK + (size_t)b * T * ldk + g * hd, ldk);
        }
    }
    if (!st->qr) return;
    if (uses_rope(c)) {
        if (dq) rope_apply(st->dqr, st, BT, H, hd, -1.0f);
        if (dk) rope_apply(st->dkr, st, BT, KV, hd, -1.0f);
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
