#include "lm/kv_cache.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "nn/ops.h"
#include "nn/block.h"

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

/* [cap, hd] blocks of layer l: sequence b, kv head g at b * seq_stride + g * head_stride. */
static sd_attn_cache layer_cache(const sd_kv_cache *kv, int l) {
    size_t head = (size_t)kv->cap * kv->hd, seq = (size_t)kv->KV * head;
    return (sd_attn_cache){.k = kv->k + (size_t)l * kv->B * seq, .v = kv->v + (size_t)l * kv->B * seq,
                           .seq_stride = seq, .head_stride = head, .cap = kv->cap};
}

/* The step's buffers, carved from the cache's workspace: the residual stream x, the layer's
 * workspace and the rotary tables. */
static void carve(sd_kv_cache *kv, const sd_qwen3_config *c, int n, int nthreads, float **x, sd_block_step_ws *w,
                  float **cos_t, float **sin_t) {
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
    float **dst[12] = {x, &w->xn, &w->q, &w->k, &w->v, &w->att, &w->tmp, &w->gate, &w->up, cos_t, sin_t, &w->scores};
    float *p = kv->ws;
    for (int i = 0; i < 12; i++) { *dst[i] = p; p += sizes[i]; }
}

/* sd_qwen3_step, with the residual stream after each layer copied to layers [L + 1, n, C] when
 * not NULL (row 0: the embeddings). */
static int step(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq, int n_out,
                const int32_t *out_rows, float *logits, float *hidden, float *layers, sd_err *err) {
    const sd_qwen3_config *c = &m->cfg;
    const int C = c->hidden_size, KV = c->num_key_value_heads, hd = c->head_dim;
    const int V = c->vocab_size;
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
    float *x, *cos_t, *sin_t;
    sd_block_step_ws w;
    carve(kv, c, n, nthreads, &x, &w, &cos_t, &sin_t);

    sd_embedding_forward(x, ids, sd_params_ptr(&m->p, m->embed), n, V, C);
    sd_rope_tables(cos_t, sin_t, pos, n, 1, hd, c->rope_theta);
    const size_t nC = (size_t)n * C;
    if (layers) memcpy(layers, x, sizeof(float) * nC);
    for (int l = 0; l < kv->L; l++) {
        sd_attn_cache lc = layer_cache(kv, l);
        sd_block_step(&m->layers[l], &m->p, &w, x, n, seq, pos, cos_t, sin_t, &lc);
        if (layers) memcpy(layers + (size_t)(l + 1) * nC, x, sizeof(float) * nC);
    }
    for (int i = 0; i < n; i++) kv->len[seq[i]] = pos[i] + 1 > kv->len[seq[i]] ? pos[i] + 1 : kv->len[seq[i]];

    if (n_out > 0 && (logits || hidden)) {
        float *h = w.xn; /* free now; n_out <= n rows */
        for (int r = 0; r < n_out; r++)
            memcpy(w.tmp + (size_t)r * C, x + (size_t)out_rows[r] * C, sizeof(float) * (size_t)C);
        sd_rmsnorm_forward(h, NULL, w.tmp, sd_params_ptr(&m->p, m->norm), n_out, C, eps);
        if (hidden) memcpy(hidden, h, sizeof(float) * (size_t)n_out * C);
        if (logits) sd_linear_forward(logits, h, sd_params_ptr(&m->p, m->lm_head), NULL, n_out, C, V);
    }
    free(pos);
    free(fill);
    return 0;
}

int sd_qwen3_step(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq, int n_out,
                  const int32_t *out_rows, float *logits, float *hidden, sd_err *err) {
    return step(m, kv, n, ids, seq, n_out, out_rows, logits, hidden, NULL, err);
}

int sd_qwen3_step_layers(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq, float *layers,
                         sd_err *err) {
    return step(m, kv, n, ids, seq, 0, NULL, NULL, NULL, layers, err);
}
