/* Incremental Qwen3 forward with a key/value cache, for generation and embedding.
 *
 * The cache keeps, per layer and sequence, every past position's key (after the per-head k-norm
 * and RoPE at its absolute position) and value, so a new token costs one pass over the weights
 * plus attention over the cached positions instead of a forward over the whole prefix.
 *
 * One entry point serves prefill and decode: a step takes a flat list of n tokens, each tagged
 * with its sequence; a sequence's tokens in the list are consecutive positions starting at the
 * sequence's current cache length. Prefill passes whole prompts (of different lengths, no
 * padding); decode passes one token per live sequence. The weight matmuls run once per step over
 * all n tokens (sgemm with M = n), so every weight is read once per step for the whole batch.
 *
 * Each layer runs sd_block_step, the incremental schedule of the block the full forward runs
 * (nn/block.h): the same parameter views, norms, linears, rotate-half RoPE (sd_rope_tables, float
 * angles as Hugging Face computes them) and SwiGLU, with sd_attention_cached_forward over the
 * cache in place of the full attention. Layout of the cache: [L, B, KV, cap, hd] so one head's
 * keys are contiguous over positions. */
#ifndef SD_KV_CACHE_H
#define SD_KV_CACHE_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "lm/qwen3.h"

typedef struct sd_kv_cache {
    int L, B, KV, hd, cap; /* layers, sequences, kv heads, head dim, positions per sequence */
    float *k, *v;          /* [L, B, KV, cap, hd] */
    int32_t *len;          /* [B] positions filled */
    /* step workspace, grown on demand */
    float *ws;
    size_t ws_floats;
} sd_kv_cache;

/* Bytes of the K and V arrays for B sequences of cap positions. */
size_t sd_kv_cache_bytes(const sd_qwen3_config *c, int B, int cap);
int sd_kv_cache_init(sd_kv_cache *kv, const sd_qwen3_config *c, int B, int cap, sd_err *err);
void sd_kv_cache_free(sd_kv_cache *kv);
/* Empties every sequence (len = 0); the memory is kept. */
void sd_kv_cache_clear(sd_kv_cache *kv);

/* One step over n tokens: ids [n], seq [n] (sequence of each token, its tokens consecutive and in
 * order within the list). Token i sits at position kv->len[seq[i]] + (number of earlier tokens of
 * the same sequence in this list). Keys/values are appended and kv->len advances.
 * out_rows [n_out <= n]: indices into the list of the tokens whose outputs are wanted;
 * logits [n_out, V] (may be NULL) and hidden [n_out, C] (final-normed hidden states, may be NULL)
 * receive them. Errors: ids out of range, a sequence outside [0, B), cache capacity exceeded. */
int sd_qwen3_step(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq,
                  int n_out, const int32_t *out_rows, float *logits, float *hidden, sd_err *err);
/* The same step, returning the residual stream of every token before the first layer and after
 * each layer: layers [L + 1, n, C] (row block 0: the embeddings), to compare with the full forward. */
int sd_qwen3_step_layers(sd_qwen3 *m, sd_kv_cache *kv, int n, const int32_t *ids, const int32_t *seq, float *layers,
                         sd_err *err);

#endif
