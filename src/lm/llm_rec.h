/* The fine-tuned language model as a recommender: a model folder (WORK/lm), the semantic-ID
 * vocabulary of the work directory bound to its tokens, and the prompt it was trained on.
 *
 * Prompt (the lmdata next-item format, lm/lmdata_tasks.h): the system message, a user turn
 *   "Here is what I bought, in order: SID, SID, .... What should I get next? <|rec|>"
 * (the last max_history items, as lmdata shows them), or with a request in words
 *   "I bought SID, SID, .... TEXT <|rec|>"   /   "TEXT <|rec|>" without a history,
 * rendered with the chat template and the assistant's turn opened with thinking off, exactly as
 * fine-tuning tokenises the final assistant turn (lm/chatdata.h). The answer starts with an SID,
 * decoded by beam search over the trie (lm/sid_decode.h): only real items come out.
 *
 * As a scorer (eval/scorer.h): score_topk by beam search (width max(W, k); the user's history is
 * left out at the leaves), score_candidates by exact teacher-forced log-probabilities of each
 * candidate's codes, for the sampled protocols. */
#ifndef SD_LLM_REC_H
#define SD_LLM_REC_H
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "eval/scorer.h"
#include "ids/sid_vocab.h"
#include "lm/qwen3.h"
#include "lm/sid_decode.h"
#include "text/tokenizer.h"

typedef struct sd_llm_rec {
    sd_qwen3 m;
    sd_sid_vocab v;          /* bound to m.tok, table attached */
    char **sid_str;          /* [n_items] "<|sid_start|>...<|sid_end|>" */
    int32_t n_items;
    int max_history;         /* items shown (lmdata's default, 20) */
    int width;               /* beam width (20) */
    char *dir;
} sd_llm_rec;

/* Loads the model folder and binds the semantic IDs of sids_path (checked against cat). Errors:
 * no folder, no tokenizer, a model without the SID tokens (`semid finetune WORK` adds them), IDs
 * of another run. */
int sd_llm_rec_open(sd_llm_rec *r, const char *model_dir, const char *sids_path, const sd_catalog *cat, sd_err *err);
void sd_llm_rec_free(sd_llm_rec *r);

/* The prompt's token ids for a history (items, oldest first; n may be 0) and an optional request
 * in words (NULL or ""): at least one of the two. out is reset first. */
int sd_llm_rec_prompt(const sd_llm_rec *r, const int32_t *hist, int n, const char *request, sd_ids *out, sd_err *err);

/* "SID, SID, ..." of the last max_history items (malloc'd). */
char *sd_llm_rec_history_text(const sd_llm_rec *r, const int32_t *hist, int n);
/* The prompt's token ids for a complete user message (system message, chat template, the
 * assistant's turn opened, thinking off). */
int sd_llm_rec_encode(const sd_llm_rec *r, const char *user_msg, sd_ids *out, sd_err *err);
/* Text of generated tokens up to the first stop token (malloc'd). With cat, an SID the text names
 * is shown as the item's title; without, as its token strings. */
char *sd_llm_rec_decode(const sd_llm_rec *r, const sd_catalog *cat, const int32_t *t, int n, const int32_t *stop,
                        int n_stop);
/* The explain prompt lmdata trains ("I just finished {title}. Suggest another <|rec|> and explain
 * why:"), for the item `anchor`; with item >= 0 the answer's first line "<SID> Title (Genre)\n" is appended
 * so the model continues with its reason for that item. */
int sd_llm_rec_explain_prompt(const sd_llm_rec *r, const sd_catalog *cat, int32_t anchor, int32_t item, sd_ids *out,
                              sd_err *err);

/* Beam search after n prompts; exclude / n_exclude per prompt (may be NULL). */
int sd_llm_rec_beam(sd_llm_rec *r, int n, const sd_ids *prompts, const int32_t *const *exclude, const int32_t *n_exclude,
                    int k, int32_t *items, float *scores, int32_t *n_found, sd_err *err);

/* Top-k items for n_users prompts built from hist / request (request may be NULL: none for all);
 * exclude_history leaves each user's history out. items / scores [n_users, k], n_found [n_users]. */
int sd_llm_rec_topk(sd_llm_rec *r, int n_users, const int32_t *const *hist, const int32_t *hist_len,
                    const char *const *request, bool exclude_history, int k, int32_t *items, float *scores,
                    int32_t *n_found, sd_err *err);

/* A scorer over r (owned when own: freed with it). */
void sd_llm_rec_scorer(sd_llm_rec *r, bool own, sd_scorer *out);

#endif
