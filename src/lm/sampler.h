/* Next-token choice from logits: the logits processors of Hugging Face's generate(), in its order,
 *
 *   repetition penalty -> mask hook -> (greedy: argmax) | temperature -> top-k -> top-p -> min-p
 *   -> draw from the softmax of what is left,
 *
 * with the same semantics as transformers' RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
 * TopKLogitsWarper, TopPLogitsWarper and MinPLogitsWarper (min_tokens_to_keep = 1):
 *  - repetition penalty r: every distinct token already in the context (prompt + generated) gets
 *    logit / r if positive, logit * r otherwise (once, however often it occurs);
 *  - top-k keeps the k largest logits and any tied with the k-th;
 *  - top-p keeps the most probable tokens until their mass reaches p (a token is kept when the
 *    mass of the tokens ranked above it is < p; the top token always stays), over the
 *    distribution left by top-k;
 *  - min-p keeps tokens whose probability is >= min_p times the top token's.
 * Temperature 0 means greedy decoding (do_sample=False): only the penalty and mask apply.
 *
 * Cost at V = 152k: one pass over the logits for the penalty/max/softmax sums; top-k and top-p
 * use partial selection (quickselect of the m best, m grown geometrically for top-p until the
 * kept mass is reached), so only the few hundred kept candidates are ever sorted.
 *
 * Each sequence draws from its own RNG stream (seed, sequence index), so a sequence's tokens do not
 * depend on the batch it runs in or the thread count. */
#ifndef SD_SAMPLER_H
#define SD_SAMPLER_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "base/rng.h"

/* Constrained decoding hook: may set logits[v] = -INFINITY for tokens not allowed next.
 * seq: index of the sequence in the batch; generated [n]: tokens generated so far for it
 * (prompt excluded). Called after the repetition penalty, before temperature (HF order of
 * prefix_allowed_tokens_fn). If it masks every token, the sampler returns -1. */
typedef void (*sd_logits_mask_fn)(void *ctx, int seq, const int32_t *generated, int n, float *logits, int V);

typedef struct sd_sample_cfg {
    float temperature;        /* 0 = greedy; > 0 sampling */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off; in (0, 1] */
    float min_p;              /* 0 = off; in [0, 1] */
    float repetition_penalty; /* 1 = off; > 0 */
    uint64_t seed;
    sd_logits_mask_fn mask;   /* NULL = none */
    void *mask_ctx;
} sd_sample_cfg;

/* Greedy, no penalty, no mask, seed 42. */
void sd_sample_cfg_default(sd_sample_cfg *c);
/* Names the bad field: negative temperature, top_p outside (0, 1], ... */
int sd_sample_cfg_check(const sd_sample_cfg *c, sd_err *err);

typedef struct sd_sampler {
    sd_sample_cfg cfg;
    int V, n_seq;
    sd_rng *rng;            /* [n_seq] */
    float *cand_val;        /* [V] scratch: candidate logits */
    int32_t *cand_idx;      /* [V] scratch: candidate token ids */
    uint8_t *seen;          /* [V] scratch for the repetition penalty, all zero between calls */
} sd_sampler;

int sd_sampler_init(sd_sampler *s, const sd_sample_cfg *cfg, int V, int n_seq, sd_err *err);
void sd_sampler_free(sd_sampler *s);

/* Chooses the next token of sequence seq. logits [V] are modified in place.
 * context [n_context]: the sequence so far (prompt then generated tokens); the last n_generated
 * of them are the generated ones (passed to the mask hook). Returns the token id, or -1 when
 * the mask left no token. Not thread-safe for one sampler (shared scratch). */
int32_t sd_sampler_next(sd_sampler *s, int seq, float *logits, const int32_t *context, int n_context,
                        int n_generated);

/* The distribution sd_sampler_next draws from, written to probs [V] (0 for removed tokens;
 * one-hot at the argmax for greedy). For tests and for scoring. logits modified in place.
 * Returns the number of tokens with nonzero probability. */
int sd_sampler_probs(sd_sampler *s, int seq, float *logits, const int32_t *context, int n_context,
                     int n_generated, float *probs);

/* Index of the largest logit (first on ties); -1 if all are -inf or NaN. */
int32_t sd_argmax(const float *logits, int V);

#endif
