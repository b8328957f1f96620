#include "lm/kv_cache.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "nn/ops.h"
#include "nn/vmath.h"

size_t sd_kv_cache_bytes(const sd_qwen3_config *c, int B, int cap) {
    return 2 * sizeof(float) * (size_t)c->num_hidden_layers * (size_t)B * (size_t)c->num_key_value_heads *
           (size_t)cap * (size_t)c->head_dim;
}

int sd_kv_cache_init(sd_kv_cache *kv, const sd_qwen3_config *c, int B, int cap, sd_err *err) {
    memset(kv, 0, sizeof *kv);
    if (B <= 0 || cap <= 0)
        return sd_errf(err, SD_ERANGE, "kv cache: %d sequences of %d positions: both must be > 0", B, cap);
    kv->L = c->num_hidden_layers;
    kv->B = B;
    kv->KV = c->num_key_value_heads;
    kv->hd = c->head_dim;
    kv->cap = cap;
    size_t n = sd_kv_cache_bytes(c, B, cap) / (2 * sizeof(float));
    kv->k = sd_afloats(n);
    kv->v = sd_afloats(n);
    kv->len = sd_xcalloc((size_t)B, sizeof(int32_t));
    return 0;
}

void sd_kv_cache_free(sd_kv_cache *kv) {
    sd_afree(kv->k);
    sd_afree(kv->v);
    sd_afree(kv->ws);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

void sd_kv_cache_clear(sd_kv_cache *kv) { memset(kv->len, 0, sizeof(int32_t) * (size_t)kv->B); }

/* [cap, hd] block of layer l, sequence b, kv head g. */
static inline size_t kv_off(const sd_kv_cache *kv, int l, int b, int g) {
    return (((size_t)l * kv->B + b) * kv->KV + g) * (size_t)kv->cap * kv->hd;
}

static inline float dot(const float *a, const float *b, int n) {
    sd_v8f acc0 = sd_v8_splat(0), acc1 = sd_v8_splat(0);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += sd_v8_load(a + i) * sd_v8_load(b + i);
        acc1 += sd_v8_load(a + i + 8) * sd_v8_load(b + i + 8);
    }
    for (; i + 8 <= n; i += 8) acc0 += sd_v8_load(a + i) * sd_v8_load(b + i);
    float s = sd_v8_hsum(acc0 + acc1);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Decode-shaped matmul y [M, N] = x [M, K] W^T + b for a few rows M. OpenBLAS sgemm packs W for
 * every call and runs at a fraction of the memory bandwidth when M is this small; here each group
 * of 4 rows of W is streamed from memory once and reused from L1 for all M inputs, with 8
 * independent accumulators (4 rows x 2 inputs) to hide the FMA latency. */
static void k4x2(float *y, size_t ldy, const float *x0, const float *x1, const float *W, int K) {
    const float *w0 = W, *w1 = W + K, *w2 = W + 2 * (size_t)K, *w3 = W + 3 * (size_t)K;
    sd_v8f a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        sd_v8f v0 = sd_v8_load(w0 + k), v1 = sd_v8_load(w1 + k), v2 = sd_v8_load(w2 + k), v3 = sd_v8_load(w3 + k);
        sd_v8f p = sd_v8_load(x0 + k), q = sd_v8_load(x1 + k);
        a00 += p * v0, a01 += p * v1, a02 += p * v2, a03 += p * v3;
        a10 += q * v0, a11 += q * v1, a12 += q * v2, a13 += q * v3;
    }
    float r[8] = {sd_v8_hsum(a00), sd_v8_hsum(a01), sd_v8_hsum(a02), sd_v8_hsum(a03),
                  sd_v8_hsum(a10), sd_v8_hsum(a11), sd_v8_hsum(a12), sd_v8_hsum(a13)};
    for (; k < K; k++) {
        r[0] += x0[k] * w0[k], r[1] += x0[k] * w1[k], r[2] += x0[k] * w2[k], r[3] += x0[k] * w3[k];
        r[4] += x1[k] * w0[k], r[5] += x1[k] * w1[k], r[6] += x1[k] * w2[k], r[7] += x1[k] * w3[k];
    }
    memcpy(y, r, 4 * sizeof(float));
    if (x1 != x0) memcpy(y + ldy, r + 4, 4 * sizeof(float));
}

/* One input, 4 rows, two k-steps per iteration (8 accumulators). */
static void k4x1(float *y, const float *x, const float *W, int K) {
    const float *w0 = W, *w1 = W + K, *w2 = W + 2 * (size_t)K, *w3 = W + 3 * (size_t)K;
    sd_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        sd_v8f p = sd_v8_load(x + k), q = sd_v8_load(x + k + 8);
        a0 += p * sd_v8_load(w0 + k), a1 += p * sd_v8_load(w1 + k), a2 += p * sd_v8_load(w2 + k), a3 += p * sd_v8_load(w3 + k);
        b0 += q * sd_v8_load(w0 + k + 8), b1 += q * sd_v8_load(w1 + k + 8), b2 += q * sd_v8_load(w2 + k + 8),
            b3 += q * sd_v8_load(w3 + k + 8);
    }
    float r[4] = {sd_v8_hsum(a0 + b0), sd_v8_hsum(a1 + b1), sd_v8_hsum(a2 + b2), sd_v8_hsum(a3 + b3)};
    for (; k < K; k++) r[0] += x[k] * w0[k], r[1] += x[k] * w1[k], r[2] += x[k] * w2[k], r[3] += x[k] * w3[k];
    memcpy(y, r, sizeof r);
}

#define THIN_MAX 8 /* up to this many rows the thin kernel beats sgemm (bench_generate) */

/* One output of a fused decode matmul: y [M, N] = x W^T + b. */
typedef struct lin_seg { float *y; const float *W, *b; int N; } lin_seg;

/* Rows [j0, j0+4) of one segment. */
static void thin_block(const lin_seg *s, const float *x, int M, int K, int j0) {
    const float *Wj = s->W + (size_t)j0 * K;
    int N = s->N;
    if (N - j0 < 4) {
        for (int m = 0; m < M; m++)
            for (int r = 0; r < N - j0; r++) s->y[(size_t)m * N + j0 + r] = dot(x + (size_t)m * K, Wj + (size_t)r * K, K);
    } else {
        int m = 0;
        for (; m + 2 <= M; m += 2)
            k4x2(s->y + (size_t)m * N + j0, (size_t)N, x + (size_t)m * K, x + (size_t)(m + 1) * K, Wj, K);
        if (m < M) k4x1(s->y + (size_t)m * N + j0, x + (size_t)m * K, Wj, K);
    }
    if (s->b)
        for (int m = 0; m < M; m++)
            for (int r = j0; r < N && r < j0 + 4; r++) s->y[(size_t)m * N + r] += s->b[r];
}

/* Several matmuls sharing the input x [M, K] (q/k/v, gate/up) in one parallel loop: one fork/join
 * instead of one per matrix, which matters when the cores are shared and a barrier can wait for a
 * descheduled thread. Large M goes to sgemm, matrix by matrix. */
static void linear_multi(const lin_seg *segs, int nseg, const float *x, int M, int K) {
    if (M > THIN_MAX) {
        for (int i = 0; i < nseg; i++) sd_linear_forward(segs[i].y, x, segs[i].W, segs[i].b, M, K, segs[i].N);
        return;
    }
    long blocks = 0, start[4];
    for (int i = 0; i < nseg; i++) { start[i] = blocks; blocks += (segs[i].N + 3) / 4; }
#pragma omp parallel for schedule(static) if (blocks * 4 * K > 65536)
    for (long q = 0; q < blocks; q++) {
        int i = nseg - 1;
        while (start[i] > q) i--;
        thin_block(&segs[i], x, M, K, (int)(q - start[i]) * 4);
    }
}

static void linear_step(float *y, const float *x, const float *W, const float *b, int M, int K, int N) {
    lin_seg s = {y, W, b, N};
    linear_multi(&s, 1, x, M, K);
}

/* Rotate-half RoPE of nh head vectors of one token, with that token's cos/sin [hd/2]. */
static void rope_token(float *x, int nh, int hd, const float *cs, const float *sn) {
    int half = hd / 2;
    for (int h = 0; h < nh; h++) {
        float *v = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cs[i] - b * sn[i];
            v[i + half] = b * cs[i] + a * sn[i];
        }
    }
}

typedef struct step_bufs {
    float *x, *xn, *q, *k, *v, *att, *tmp, *gate, *up, *cos, *sin, *scores;
} step_bufs;

static void carve(sd_kv_cache *kv, const sd_qwen3_config *c, int n, int nthreads, step_bufs *b) {
    size_t C = (size_t)c->hidden_size, Hd = (size_t)c->num_attention_heads * c->head_dim,
           KVd = (size_t)c->num_key_value_heads * c->head_dim, F = (size_t)c->intermediate_size,
           half = (size_t)c->head_dim / 2;
    /* each piece rounded up to 16 floats so every buffer stays 64-byte aligned */
#define R16(x) (((x) + 15) / 16 * 16)
    size_t sizes[12] = {R16(n * C), R16(n * C), R16(n * Hd), R16(n * KVd), R16(n * KVd), R16(n * Hd),
                        R16(n * C), R16(n * F), R16(n * F), R16(n * half), R16(n * half),
                        R16((size_t)nthreads * kv->cap)};
#undef R16
    size_t total = 0;
    for (int i = 0; i < 12; i++) total += sizes[i];
    if (total > kv->ws_floats) {
        sd_afree(kv->ws);
        kv->ws = sd_afloats(total);
        kv->ws_floats = total;
    }
    float **dst[12] = {&b->x, &b->xn, &b->q, &b->k, &b->v, &b->att, &b->tmp, &b->gate, &b->up, &b->cos, &b->sin,
                       &b->scores};
    float *p = kv->ws;
    for (int i = 0; i < 12; i++) { *dst[i] = p; p += sizes[i]; }
}

static const float *bias_of(sd_qwen3 *m, int view) { return view >= 0 ? sd_params_ptr(&m->p, view) : NULL; }

/* Attention of every (token, query head) over its sequence's cached keys 0..pos. */
static void attend(const sd_kv_cache *kv, int l, int n, const int32_t *seq, const int32_t *pos, int H,
                   const float *q, float *att, float *scores_all) {
    const int hd = kv->hd, group = H / kv->KV;
    const float scale = 1.0f / sqrtf((float)hd);
    long work = 0; /* multiply-adds, to skip the parallel region for tiny steps */
    for (int i = 0; i < n; i++) work += (long)(pos[i] + 1) * H * hd;
#pragma omp parallel for schedule(dynamic, 1) if (work > 65536)
    for (long ih = 0; ih < (long)n * H; ih++) {
        int i = (int)(ih / H), h = (int)(ih % H), g = h / group, T = pos[i] + 1;
        float *s = scores_all + (size_t)omp_get_thread_num() * kv->cap;
        const float *qi = q + ((size_t)i * H + h) * hd;
        const float *K = kv->k + kv_off(kv, l, seq[i], g), *Vc = kv->v + kv_off(kv, l, seq[i], g);
        float mx = -INFINITY;
        for (int j = 0; j < T; j++) {
            s[j] = dot(qi, K + (size_t)j * hd, hd) * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        float inv = 1.0f / sd_exp_shift_sum(s, s, mx, T);
        float *o = att + ((size_t)i * H + h) * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int j = 0; j < T; j++) {
            float p = s[j] * inv;
            const float *vj = Vc + (size_t)j * hd;
            for (int d = 0; d < hd; d++) o[d] += p * vj[d];
        }
    }
}

int sd_qwen3_step(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq,
                  int n_out, const int32_t *out_rows, float *logits, float *hidden, sd_err *err) {
    const sd_qwen3_config *c = &m->cfg;
    const int C = c->hidden_size, H = c->num_attention_heads, KV = c->num_key_value_heads, hd = c->head_dim;
    const int F = c->intermediate_size, V = c->vocab_size, half = hd / 2;
    const float eps = (float)c->rms_norm_eps;
    if (n <= 0) return 0;
    if (kv->L != c->num_hidden_layers || kv->KV != KV || kv->hd != hd)
        return sd_errf(err, SD_ESTATE, "kv cache shape (%d layers, %d kv heads, head dim %d) does not match the model",
                       kv->L, kv->KV, kv->hd);

    /* positions: each sequence's tokens continue from its cache length */
    int32_t *pos = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    int32_t *fill = sd_xcalloc((size_t)kv->B, sizeof(int32_t));
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int b = seq[i];
        if (b < 0 || b >= kv->B) rc = sd_errf(err, SD_ERANGE, "step: token %d: sequence %d outside [0, %d)", i, b, kv->B);
        else if (ids[i] < 0 || ids[i] >= V)
            rc = sd_errf(err, SD_ERANGE, "step: token %d: id %d outside the vocabulary [0, %d)", i, ids[i], V);
        else if (kv->len[b] + fill[b] >= kv->cap)
            rc = sd_errf(err, SD_ERANGE, "step: sequence %d: more than the cache's %d positions", b, kv->cap);
        else pos[i] = kv->len[b] + fill[b]++;
    }
    if (!rc && n_out > n) rc = sd_errf(err, SD_ERANGE, "step: %d output rows for %d tokens", n_out, n);
    for (int i = 0; i < n_out && !rc; i++)
        if (out_rows[i] < 0 || out_rows[i] >= n)
            rc = sd_errf(err, SD_ERANGE, "step: output row %d outside the %d tokens", out_rows[i], n);
    if (rc) { free(pos); free(fill); return rc; }

    int nthreads = omp_get_max_threads();
    step_bufs b;
    carve(kv, c, n, nthreads, &b);

    sd_embedding_forward(b.x, ids, sd_params_ptr(&m->p, m->embed), n, V, C);
    {
        float inv_freq[half > 0 ? half : 1];
        for (int i = 0; i < half; i++) inv_freq[i] = (float)(1.0 / pow(c->rope_theta, (2.0 * i) / hd));
        for (int i = 0; i < n; i++)
            for (int f = 0; f < half; f++) {
                float a = (float)pos[i] * inv_freq[f];
                b.cos[(size_t)i * half + f] = (float)cos((double)a);
                b.sin[(size_t)i * half + f] = (float)sin((double)a);
            }
    }

    for (int l = 0; l < kv->L; l++) {
        const sd_block *blk = &m->layers[l];
        sd_params *p = &m->p;
        sd_rmsnorm_forward(b.xn, NULL, b.x, sd_params_ptr(p, blk->ln1_w), n, C, eps);
        lin_seg qkv[3] = {{b.q, sd_params_ptr(p, blk->q_w), bias_of(m, blk->q_b), H * hd},
                          {b.k, sd_params_ptr(p, blk->k_w), bias_of(m, blk->k_b), KV * hd},
                          {b.v, sd_params_ptr(p, blk->v_w), bias_of(m, blk->v_b), KV * hd}};
        linear_multi(qkv, 3, b.xn, n, C);
        if (blk->qn_w >= 0) sd_rmsnorm_forward(b.q, NULL, b.q, sd_params_ptr(p, blk->qn_w), n * H, hd, eps);
        if (blk->kn_w >= 0) sd_rmsnorm_forward(b.k, NULL, b.k, sd_params_ptr(p, blk->kn_w), n * KV, hd, eps);
        for (int i = 0; i < n; i++) {
            const float *cs = b.cos + (size_t)i * half, *sn = b.sin + (size_t)i * half;
            rope_token(b.q + (size_t)i * H * hd, H, hd, cs, sn);
            rope_token(b.k + (size_t)i * KV * hd, KV, hd, cs, sn);
            for (int g = 0; g < KV; g++) {
                size_t off = kv_off(kv, l, seq[i], g) + (size_t)pos[i] * hd;
                memcpy(kv->k + off, b.k + ((size_t)i * KV + g) * hd, sizeof(float) * (size_t)hd);
                memcpy(kv->v + off, b.v + ((size_t)i * KV + g) * hd, sizeof(float) * (size_t)hd);
            }
        }
        attend(kv, l, n, seq, pos, H, b.q, b.att, b.scores);
        linear_step(b.tmp, b.att, sd_params_ptr(p, blk->o_w), bias_of(m, blk->o_b), n, H * hd, C);
        sd_add_forward(b.x, b.x, b.tmp, (size_t)n * C);
        sd_rmsnorm_forward(b.xn, NULL, b.x, sd_params_ptr(p, blk->ln2_w), n, C, eps);
        lin_seg gate_up[2] = {{b.gate, sd_params_ptr(p, blk->gate_w), NULL, F},
                              {b.up, sd_params_ptr(p, blk->up_w), bias_of(m, blk->up_b), F}};
        linear_multi(gate_up, 2, b.xn, n, C);
        sd_swiglu_forward(b.gate, b.gate, b.up, (size_t)n * F);
        linear_step(b.tmp, b.gate, sd_params_ptr(p, blk->down_w), bias_of(m, blk->down_b), n, F, C);
        sd_add_forward(b.x, b.x, b.tmp, (size_t)n * C);
    }
    for (int i = 0; i < n; i++) kv->len[seq[i]] = pos[i] + 1 > kv->len[seq[i]] ? pos[i] + 1 : kv->len[seq[i]];

    if (n_out > 0 && (logits || hidden)) {
        float *h = b.xn; /* free now; n_out <= n rows */
        for (int r = 0; r < n_out; r++)
            memcpy(b.tmp + (size_t)r * C, b.x + (size_t)out_rows[r] * C, sizeof(float) * (size_t)C);
        sd_rmsnorm_forward(h, NULL, b.tmp, sd_params_ptr(&m->p, m->norm), n_out, C, eps);
        if (hidden) memcpy(hidden, h, sizeof(float) * (size_t)n_out * C);
        if (logits) linear_step(logits, h, sd_params_ptr(&m->p, m->lm_head), NULL, n_out, C, V);
    }
    free(pos);
    free(fill);
    return 0;
}
