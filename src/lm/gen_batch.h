/* Continuous batching: a stepping generator over a fixed number of slots sharing one KV cache.
 *
 * sd_generate (lm/generate.h) runs a fixed set of prompts to the end; a server needs requests to
 * come and go while others run. Here a request is added into a free slot at any time; its prompt
 * is prefilled by the following steps (in chunks, so a long prompt does not stall the decoding
 * of the others), and each step feeds every live slot's next token together in one
 * sd_qwen3_step, so the weights are read once per step for the whole batch. A slot can be
 * stopped at any moment (a stop string, a client gone, a time limit) and is free for the next
 * request at once.
 *
 * Each slot has its own sampler (its own temperature, top-p, mask hook, and an RNG stream from
 * its own seed), so a request's tokens do not depend on what else is in the batch (up to the
 * float rounding of a batched matmul, which greedy decoding does not see in practice).
 *
 * Not thread-safe: one thread (the model owner) drives a batch. Within a step the slots' tokens
 * are chosen in parallel (OpenMP), so a mask hook (sd_sample_cfg.mask) runs on several threads at
 * once: give each slot its own mask context. */
#ifndef SD_GEN_BATCH_H
#define SD_GEN_BATCH_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "lm/kv_cache.h"
#include "lm/qwen3.h"
#include "lm/sampler.h"

/* What became of a slot after a token (or without one). */
enum { SD_GB_RUNNING = -1, SD_GB_LENGTH = 0, SD_GB_STOP = 1, SD_GB_MASKED = 2 };

/* Called once per generated token: slot, the token (or -1 when the mask left none), its
 * log-probability under the model (log-softmax over the whole vocabulary, before temperature
 * and mask), and finish: SD_GB_RUNNING, or why the slot ended with this token. Returning true
 * stops the slot now (e.g. a stop string). A slot that ends is free when the callback returns. */
typedef bool (*sd_gb_token_fn)(void *ctx, int slot, int32_t token, float logprob, int finish);

typedef struct sd_gb_slot {
    bool used;
    int32_t *ctx;           /* [cap] prompt then generated tokens */
    int ctx_len, prompt_len, prefilled, n_gen, max_new;
    sd_sampler smp;
    void *user;             /* the caller's pointer for this slot */
} sd_gb_slot;

typedef struct sd_gen_batch {
    sd_qwen3 *m;
    sd_kv_cache kv;
    int n_slots, cap, chunk;
    int32_t stop_ids[16];
    int n_stop;
    sd_gb_slot *s;
    float *logits, *row;    /* [n_slots, V] step outputs, and their copies before sampling */
    int32_t *tok;           /* [n_slots] tokens chosen in a step */
    float *lp;              /* [n_slots] their log-probabilities */
    int32_t *ids, *seq, *rows, *row_slot;
    /* totals since init */
    long steps, prefill_tokens, decode_tokens;
    int last_batch;         /* tokens fed by the last step */
} sd_gen_batch;

/* n_slots sequences of at most cap positions each (prompt + new tokens); prefill_chunk tokens of
 * prompts per step at most (0 = 256); stop_ids [n_stop <= 16] end a slot (kept as its last token). */
int sd_gen_batch_init(sd_gen_batch *b, sd_qwen3 *m, int n_slots, int cap, int prefill_chunk, const int32_t *stop_ids,
                      int n_stop, sd_err *err);
void sd_gen_batch_free(sd_gen_batch *b);

/* A free slot, or -1 when all are taken. */
int sd_gen_batch_free_slot(const sd_gen_batch *b);
/* Puts a request into the slot sd_gen_batch_free_slot names (so a caller can choose that slot's
 * mask context before adding): prompt [len >= 1], its sampling settings (mask included),
 * max_new >= 1 new tokens at most. Returns the slot (>= 0) or an error: no free slot (SD_ESTATE),
 * prompt + max_new over cap (SD_ERANGE), ids outside the vocabulary, bad sampling settings. */
int sd_gen_batch_add(sd_gen_batch *b, const int32_t *prompt, int len, const sd_sample_cfg *cfg, int max_new,
                     void *user, sd_err *err);
/* Frees a slot now (its cache rows are reused by the next request). */
void sd_gen_batch_stop(sd_gen_batch *b, int slot);
/* Slots in use. */
int sd_gen_batch_live(const sd_gen_batch *b);
/* One step: up to `chunk` prompt tokens of slots still prefilling, and the next token of every
 * slot that is decoding, in one sd_qwen3_step; cb sees each token chosen. Returns 0 (also when
 * nothing was live) or the step's error (every slot is then stopped). */
int sd_gen_batch_step(sd_gen_batch *b, sd_gb_token_fn cb, void *ctx, sd_err *err);

#endif
