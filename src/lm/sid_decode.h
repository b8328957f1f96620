/* Decoding that can only name real items: semantic IDs restricted by the SID trie.
 *
 * Two pieces, both driven by the semantic-ID vocabulary (ids/sid_vocab.h, bound to the model's
 * token ids):
 *
 *  - A logits mask for free generation (lm/sampler.h sd_logits_mask_fn). Outside an SID the text
 *    is free, except that the code tokens and <|sid_end|> are masked (an SID can only be opened by
 *    <|sid_start|>). After <|sid_start|> only the codes that continue some item's prefix stay, and
 *    once the codes name an item only <|sid_end|>. So every SID the model writes is a real item.
 *
 *  - Beam search over the trie for the top-K items after a prompt (a history in the lmdata format
 *    ending with <|rec|>): the prompt is run once per user through the KV cache, its keys and
 *    values are copied to the user's W beam slots, then one batched decode step per code level
 *    feeds every live beam of every user. A beam's score is the sum of the log-probabilities
 *    (softmax over the whole vocabulary) of its code tokens; each level keeps the W best
 *    continuations per user among the trie's children of its beams. Finished beams are distinct
 *    real items by construction; items of an exclusion list (the user's history) are dropped at
 *    the leaf. Ties break on the smaller token id, so results do not depend on the batch.
 *
 * sd_sid_score_items scores a given set of items exactly (teacher forcing, for the sampled
 * protocols): the prompt once, then its cache copied to 64 candidate slots at a time, each fed its
 * item's codes. */
#ifndef SD_SID_DECODE_H
#define SD_SID_DECODE_H
#include <stdint.h>
#include "base/err.h"
#include "ids/sid_vocab.h"
#include "lm/qwen3.h"

/* ---- the logits mask ---- */
typedef struct sd_sid_mask {
    const sd_sid_vocab *v;      /* bound (first_id, start_id, end_id set) with a table attached */
    /* optional: per sequence, code tokens already generated inside an SID the prompt left open
     * (a prompt ending in "<|sid_start|>" has open_len 0 and open true) */
    const uint8_t *open;        /* [B] or NULL */
    /* when set, an SID may not complete an item the generated tokens already name (a reply's list
     * never repeats an item): at each level the codes under which every item was named are
     * dropped, so the reply turns to another item instead of running out of choices */
    bool distinct;
    /* when set, the first generated token is <|sid_start|>: a reply to a <|rec|> request begins
     * with an item, as every such answer in the training data does */
    bool begin_sid;
    int32_t *next;              /* scratch: sd_sid_vocab_max_codes(v) + 1 entries */
} sd_sid_mask;

int sd_sid_mask_init(sd_sid_mask *mk, const sd_sid_vocab *v, sd_err *err);
void sd_sid_mask_free(sd_sid_mask *mk);
/* The sd_logits_mask_fn: ctx is an sd_sid_mask. Not thread-safe for one mask (shared scratch). */
void sd_sid_mask_apply(void *ctx, int seq, const int32_t *generated, int n, float *logits, int V);
/* State of a token sequence: -1 outside an SID, else the number of code tokens since the last
 * unclosed <|sid_start|> (0 right after it); *codes points at them. */
int sd_sid_open_prefix(const sd_sid_vocab *v, const int32_t *toks, int n, const int32_t **codes);

/* ---- beam search ---- */
typedef struct sd_sid_beam_cfg {
    int width;                  /* W >= k */
    int k;                      /* items returned per prompt */
    int users_per_batch;        /* prompts decoded side by side; 0: chosen from max_cache_bytes */
    size_t max_cache_bytes;     /* KV cache budget for a batch; 0: 1 GiB */
    bool append_start;          /* feed <|sid_start|> after each prompt (prompts end in <|rec|>) */
} sd_sid_beam_cfg;

void sd_sid_beam_cfg_default(sd_sid_beam_cfg *c); /* W 20, k 10, append_start, 1 GiB */

typedef struct sd_sid_beam_out {
    int n_prompts, k;
    int32_t *items;             /* [n_prompts, k] item ids, best first; -1 past n[p] */
    float *scores;              /* [n_prompts, k] summed code log-probabilities */
    int *n;                     /* [n_prompts] items found (< k only when the trie or the exclusions
                                   leave fewer) */
    double seconds, mask_seconds; /* wall clock, and the part spent on trie lookups and selection */
    long tokens_fed;
} sd_sid_beam_out;

void sd_sid_beam_out_free(sd_sid_beam_out *o);

/* prompts[p] [lens[p]] token ids; exclude[p] [n_exclude[p]] items never returned for prompt p
 * (exclude may be NULL, or an entry NULL). v must be bound to m's token ids, with a table. */
int sd_sid_beam_search(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *const *prompts, const int *lens,
                       int n_prompts, const int32_t *const *exclude, const int *n_exclude,
                       const sd_sid_beam_cfg *cfg, sd_sid_beam_out *out, sd_err *err);

/* Exact log-probability of each candidate item's code tokens after the prompt (teacher forcing;
 * <|sid_start|> appended when append_start): scores [n_items]. Cost: the prompt once, then
 * n_levels - 1 decode tokens per item (64 items per step). */
int sd_sid_score_items(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *prompt, int len, bool append_start,
                       const int32_t *items, int n_items, float *scores, sd_err *err);

#endif
