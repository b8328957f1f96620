/* Batched text generation with the KV-cache forward (lm/kv_cache.h) and the sampler
 * (lm/sampler.h).
 *
 * Prompts of different lengths run side by side without padding: prefill feeds every prompt in
 * one batched step (split into chunks of at most prefill_chunk tokens to bound the activations),
 * then each decode step feeds one token per sequence still running, so a finished sequence costs
 * nothing more. A sequence stops at a stop token (kept as its last output token, as Hugging Face
 * keeps EOS) or after max_new_tokens. */
#ifndef SD_GENERATE_H
#define SD_GENERATE_H
#include <stdint.h>
#include "base/err.h"
#include "lm/qwen3.h"
#include "lm/sampler.h"

enum { SD_GEN_LENGTH = 0, SD_GEN_STOP = 1, SD_GEN_MASKED = 2 };

typedef struct sd_gen_cfg {
    sd_sample_cfg sample;
    int max_new_tokens;          /* > 0 */
    const int32_t *stop_ids;     /* [n_stop]: EOS and other stop tokens */
    int n_stop;
    int prefill_chunk;           /* tokens per prefill step; 0 = 512 */
    /* Called for each new token of each sequence as it is chosen (streaming); may be NULL. */
    void (*on_token)(void *ctx, int seq, int32_t token);
    void *on_token_ctx;
} sd_gen_cfg;

/* Greedy, 64 new tokens, no stop tokens. */
void sd_gen_cfg_default(sd_gen_cfg *c);

typedef struct sd_gen_out {
    int B;
    int32_t **tokens;   /* [B][<= max_new_tokens] new tokens per sequence (stop token included) */
    int *n;             /* [B] how many */
    int *finish;        /* [B] SD_GEN_LENGTH, SD_GEN_STOP, or SD_GEN_MASKED (mask left no token) */
    double prefill_s, decode_s; /* wall-clock seconds */
    long prefill_tokens, decode_tokens;
} sd_gen_out;

void sd_gen_out_free(sd_gen_out *o);

/* prompts[b] [prompt_lens[b]] token ids (each length >= 1) -> out (allocated here).
 * Errors: bad sampling settings, empty prompts, ids outside the vocabulary, prompt plus
 * max_new_tokens beyond the model's max_position_embeddings. */
int sd_generate(sd_qwen3 *m, const int32_t *const *prompts, const int *prompt_lens, int B, const sd_gen_cfg *cfg,
                sd_gen_out *out, sd_err *err);

/* The stop tokens of a loaded model: config eos_token_id(s), generation_config eos_token_id(s),
 * and <|im_end|> / <|endoftext|> when the tokenizer has them (deduplicated). Writes at most max
 * ids and returns the count. */
int sd_qwen3_stop_ids(const sd_qwen3 *m, int32_t *ids, int max);

#endif
