/* Training ops of the engine: each a forward/backward pair of plain functions over row-major
 * float arrays. Models call forwards in order and backwards in reverse; there is no graph.
 *
 * Conventions shared by every op:
 *  - Shapes are given in the comment above each pair; [N, C] means N rows (usually N = B*T) of C.
 *  - Every backward ACCUMULATES (+=) into all gradients it writes, inputs and parameters alike,
 *    so residual branches, tied weights and gradient accumulation need no extra code. Callers
 *    zero activation-gradient buffers before a backward pass; any gradient pointer may be NULL
 *    to skip it.
 *  - Outputs of forwards are overwritten. Elementwise ops allow out == in unless noted.
 *  - Work is split over OpenMP threads by rows; reductions over rows (parameter gradients of
 *    norms, losses) use per-thread partial sums combined in a fixed order, so results are
 *    deterministic for a given thread count. */
#ifndef SD_OPS_H
#define SD_OPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

/* ---- linear (nn/linear.c) ----
 * x [N, in], W [out, in] (PyTorch / Hugging Face layout), b [out] or NULL -> y [N, out];
 * y = x W^T + b. Backward: dx [N, in] += dy W, dW [out, in] += dy^T x, db [out] += sum_rows dy. */
void sd_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in, int out);
void sd_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                        int N, int in, int out);
/* The same, except dx is overwritten (dx = dy W): for the first contribution to a buffer, which
 * then needs no zeroing pass. dW, db still accumulate. */
void sd_linear_backward_set_dx(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                               int N, int in, int out);

/* Several linears sharing x [N, in] (q/k/v, gate/up), up to SD_SGEMM_MULTI_MAX: the same results
 * as one sd_linear_forward each; with few rows (decoding) they run in one parallel loop. */
typedef struct sd_linear_out {
    float *y;
    const float *W, *b;
    int out;
} sd_linear_out;
void sd_linear_forward_multi(const sd_linear_out *outs, int n, const float *x, int N, int in);

/* ---- embedding (nn/embedding.c) ----
 * ids [N] in [0, V), table [V, C] -> y [N, C] (rows copied). Backward scatter-adds dy rows into
 * dtable; rows whose id equals padding_idx get no gradient (padding_idx < 0: none).
 * Ids from outside the library (a user's token ids) are checked by the model first, naming
 * them (sd_qwen3_batch_check, sd_qwen3_step); forward itself never reads outside the table: an
 * id out of range gets a zero row and forward returns SD_ERANGE (0 otherwise). */
int sd_embedding_forward(float *y, const int32_t *ids, const float *table, int N, int V, int C);
void sd_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int N, int C, int padding_idx);

/* ---- norms (nn/norm.c) ----
 * LayerNorm: x [N, C], w [C], b [C] or NULL -> y [N, C]; saves mean [N], rstd [N] for backward.
 * y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), var biased (as PyTorch). */
void sd_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int N, int C, float eps);
void sd_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const float *mean, const float *rstd, int N, int C);
/* RMSNorm (Qwen3/Llama): y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps); saves rstd [N].
 * The weight multiplies directly (not 1 + w). */
void sd_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
void sd_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int N, int C);

/* ---- activations (nn/activation.c), n elements ----
 * relu/silu backward read the forward INPUT x. swiglu: y = silu(gate) * up. */
void sd_relu_forward(float *y, const float *x, size_t n);
void sd_relu_backward(float *dx, const float *dy, const float *x, size_t n);
/* In place: dy[i] = x[i] > 0 ? dy[i] : 0 (when dy's buffer is not needed afterwards). */
void sd_relu_backward_inplace(float *dy, const float *x, size_t n);
void sd_silu_forward(float *y, const float *x, size_t n);
void sd_silu_backward(float *dx, const float *dy, const float *x, size_t n);
void sd_swiglu_forward(float *y, const float *gate, const float *up, size_t n);
void sd_swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, size_t n);
/* The same overwriting dgate, dup (the first gradient they get: no zeroing pass before). */
void sd_swiglu_backward_set(float *dgate, float *dup, const float *dy, const float *gate, const float *up, size_t n);

/* ---- residual add (nn/activation.c): y = a + b; backward da += dy, db += dy. ---- */
void sd_add_forward(float *y, const float *a, const float *b, size_t n);
void sd_add_backward(float *da, float *db, const float *dy, size_t n);

/* ---- dropout (nn/dropout.c) ----
 * y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) drawn from a counter-based stream keyed by
 * (seed, stream): element i's draw depends only on (seed, stream, i), so the mask is the same for
 * any thread count and backward regenerates it from the same key instead of storing it.
 * mask [n] (1 = kept) is written if not NULL, for callers that prefer to keep it. p = 0: copy. */
void sd_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed, uint64_t stream);
void sd_dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed, uint64_t stream);

/* ---- attention (nn/attention.c) ----
 * Multi-head scaled dot-product attention over projections computed by the caller:
 *   q [B, T, H*hd], k and v [B, T, KV*hd] -> out [B, T, H*hd].
 * Grouped-query: KV divides H; query head h reads kv head h / (H / KV).
 * Options, in the order applied: per-head RMSNorm of q and k over hd with weights q_norm_w,
 * k_norm_w [hd] (Qwen3), then rotary embedding (rotate-half convention of Hugging Face:
 * inv_freq[i] = theta^(-2i/hd), angle = pos * inv_freq[i], x*cos + rotate_half(x)*sin with
 * rotate_half(x) = cat(-x2, x1)) at per-token positions pos [B, T] (so left padding works),
 * then scores q.k / sqrt(hd) (+ key_bias[b, j] if given), masked where the key is padding (key_valid[b, j] == 0) or, if
 * causal, in the future (j > i). A query whose keys are all masked gets output 0 and no
 * gradient (instead of PyTorch's NaN).
 * Memory: the state keeps the softmax probabilities, O(B*H*T*T) floats (33 MB at B=16, H=8,
 * T=256), plus the normed/rotated q and k; acceptable for the sequence lengths trained here. */
typedef struct sd_attn_cfg {
    int B, T, H, KV, hd;
    bool causal;
    const uint8_t *key_valid;   /* [B, T], nonzero = real token; NULL = all keys valid */
    const float *key_bias;      /* [B, T] added to the scaled scores (e.g. log multiplicity of a key); NULL = none */
    const int32_t *pos;         /* [B, T] rotary positions; NULL = 0..T-1 in every row */
    float rope_theta;           /* > 0 enables rotary embedding */
    const float *q_norm_w, *k_norm_w; /* [hd] each; both NULL = no q/k norm */
    float qk_norm_eps;
    /* dropout on the attention probabilities (as torch.nn.MultiheadAttention's dropout), masks
     * keyed by (drop_seed, drop_stream, batch * H + head); backward needs the same values */
    float drop_p;
    uint64_t drop_seed, drop_stream;
} sd_attn_cfg;

typedef struct sd_attn_state {
    int B, T, H, KV, hd;
    float *probs;        /* [B, H, T, T] softmax rows (0 where masked; causal without dropout: rows set up to their 32-row block's last key only) */
    float *qr, *kr;      /* q, k after norm + rope, [B, T, H*hd] and [B, T, KV*hd]; NULL if neither */
    float *q_rstd, *k_rstd; /* [B*T*H], [B*T*KV] when q/k norm is on */
    float *cos, *sin;    /* [B*T, hd/2] rotary tables when rope is on */
    float *dqr, *dkr;    /* backward scratch in q/k layout */
    float *scratch;      /* per-thread 2 x [T, T] scratch */
    int n_scratch;
} sd_attn_state;

void sd_attn_state_init(sd_attn_state *st, const sd_attn_cfg *cfg);
void sd_attn_state_free(sd_attn_state *st);
void sd_attention_forward(float *out, sd_attn_state *st, const float *q, const float *k, const float *v,
                          const sd_attn_cfg *cfg);
/* dq [B,T,H*hd], dk, dv [B,T,KV*hd], dq_norm_w, dk_norm_w [hd] (when q/k norm is on): all +=. */
void sd_attention_backward(float *dq, float *dk, float *dv, float *dq_norm_w, float *dk_norm_w,
                           const float *dout, sd_attn_state *st, const float *q, const float *k,
                           const float *v, const sd_attn_cfg *cfg);

/* Rotary tables and rotation, shared by the full op and the cached schedule: cos, sin [n, hd/2]
 * for rows at positions pos [n] (NULL: row r at r % T); rotate-half of the nh head vectors of
 * each row of x [n, nh*hd] in place, sign = -1 applying the inverse (the backward). */
void sd_rope_tables(float *cos_t, float *sin_t, const int32_t *pos, long n, int T, int hd, double theta);
void sd_rope_apply(float *x, const float *cos_t, const float *sin_t, long n, int nh, int hd, float sign);

/* ---- cached attention (nn/attention.c): the incremental schedule of the op above ----
 * For decoding: n query tokens q [n, H*hd] (already normed and rotated), token i of sequence
 * seq[i] at position pos[i] attending causally over keys 0 .. pos[i] of its sequence in a cache.
 * Cache layout: key j of kv head g of sequence b at k + b*seq_stride + g*head_stride + j*hd
 * (values alike in v), cap positions per (sequence, head). No key mask, bias or dropout: the
 * cache holds real tokens only. out [n, H*hd]; scratch [omp_get_max_threads() * cap] floats.
 * sd_attn_cache_append stores the new tokens' k, v [n, KV*hd] at their positions first. */
typedef struct sd_attn_cache {
    float *k, *v;
    size_t seq_stride, head_stride;
    int cap;
} sd_attn_cache;
void sd_attn_cache_append(const sd_attn_cache *kc, const float *k, const float *v, int n, const int32_t *seq,
                          const int32_t *pos, int KV, int hd);
void sd_attention_cached_forward(float *out, const float *q, int n, const int32_t *seq, const int32_t *pos, int H,
                                 int KV, int hd, const sd_attn_cache *kc, float *scratch);

/* ---- losses (nn/loss.c) ----
 * Softmax cross-entropy with ignore index, mean over the labelled positions.
 * Chunked form: hidden [N, C], W [V, C] (output / tied embedding matrix), targets [N] -> loss.
 * Logits are formed for labelled positions only, in blocks of rows and chunks of the vocabulary
 * with an online log-sum-exp, so no [N, V] buffer exists (peak extra memory is one
 * rows x vocab-chunk tile). lse [N] (may be NULL) receives each row's log-sum-exp for backward
 * (NAN at ignored rows). n_valid (may be NULL) receives the number of labelled positions;
 * with none, the loss is 0. Backward recomputes the tiles: dhidden [N, C] +=, dW [V, C] +=,
 * scaled by dloss (the gradient of the returned mean, usually 1, or 1/accumulation steps).
 * Targets other than ignore_index must lie in [0, V): a model checks targets from outside
 * first (sd_qwen3_batch_check); one out of range makes forward return NaN (n_valid 0, lse NaN) and
 * backward add nothing, never a read outside W or the logits. */
float sd_xent_chunked_forward(float *lse, const float *hidden, const float *W, const int32_t *targets,
                              int N, int C, int V, int ignore_index, int *n_valid);
void sd_xent_chunked_backward(float *dhidden, float *dW, const float *hidden, const float *W,
                              const int32_t *targets, const float *lse, int N, int C, int V,
                              int ignore_index, float dloss);
/* Training forms: forward_keep also leaves the logits of the labelled rows in keep [n_valid, V]
 * (row r: the r-th labelled position; NULL keeps none), and backward_rows with kept = that
 * buffer (and the forward's lse) uses them instead of recomputing the products, turning them
 * into gradients in place (so once per forward). backward_rows forms dW for rows [dw_lo, dw_hi)
 * of W only (the others are left as they are): a model training a few rows of its output matrix
 * (new vocabulary) skips the rest's product. Same results as the plain pair. */
float sd_xent_chunked_forward_keep(float *lse, float *keep, const float *hidden, const float *W,
                                   const int32_t *targets, int N, int C, int V, int ignore_index, int *n_valid);
void sd_xent_chunked_backward_rows(float *dhidden, float *dW, const float *hidden, const float *W,
                                   const int32_t *targets, const float *lse, float *kept, int N, int C, int V,
                                   int ignore_index, float dloss, int dw_lo, int dw_hi);
/* Plain form over logits [N, V]. Backward: dlogits [N, V] += (softmax - onehot) * dloss / n_valid. */
float sd_xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V,
                      int ignore_index, int *n_valid);
void sd_xent_backward(float *dlogits, const float *logits, const int32_t *targets, const float *lse,
                      int N, int V, int ignore_index, float dloss);
/* Binary cross-entropy with logits x [n], targets y [n] in [0, 1], mean over n (stable form
 * max(x,0) - x*y + log1p(exp(-|x|))). Backward: dx += (sigmoid(x) - y) * dloss / n. */
float sd_bce_logits_forward(const float *x, const float *y, size_t n);
void sd_bce_logits_backward(float *dx, const float *x, const float *y, size_t n, float dloss);
/* Mean squared error, reduction mean (over n) or sum. Backward: dpred += 2 (pred - target) * scale. */
enum { SD_REDUCE_MEAN = 0, SD_REDUCE_SUM = 1 };
float sd_mse_forward(const float *pred, const float *target, size_t n, int reduction);
void sd_mse_backward(float *dpred, const float *pred, const float *target, size_t n, int reduction, float dloss);

#endif
