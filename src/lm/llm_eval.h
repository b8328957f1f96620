/* What only a language-model recommender is measured on, beside the ranking metrics every model
 * gets (eval/evaluate.h), on a seeded sample of test users:
 *
 *  - valid-item rate: the answer to the next-item prompt sampled as semantic-ids-llm samples it
 *    (temperature 0.3, top-p 0.7, top-k 20), with and without the trie mask (lm/sid_decode.h): the
 *    share of answers whose first SID names a real item. Constrained is 100% by construction; the
 *    unconstrained rate shows what the mask buys.
 *  - steering: requests in the reserved phrasings that lmdata never trains on (lm/lmdata_phrases.h)
 *    ask for a genre and a platform without a history ("request"), a platform after the user's
 *    history ("steer_platform"), a genre after it ("steer_genre"); the share of the model's top-10
 *    items that hold the asked platform, genre, both. The same shares of the other models' top-10
 *    for the same users' histories (they cannot be steered) are the floor.
 *  - explanations: "I just finished {title}. Suggest another <|rec|> and explain why:" generated
 *    greedily; the share of attribute claims in the reason (a genre, platform or franchise named)
 *    that hold for both items.
 * Attributes are the catalogue's genre-like and platform-like keys (lm/lmdata_facts.h); a
 * catalogue without them gets no steering or explanation rows. */
#ifndef SD_LLM_EVAL_H
#define SD_LLM_EVAL_H
#include <cjson/cJSON.h>
#include <stdint.h>
#include "base/err.h"
#include "data/workdir.h"
#include "eval/scorer.h"
#include "lm/llm_rec.h"

typedef struct sd_llm_eval_opts {
    int32_t users;   /* test users sampled (200) */
    uint64_t seed;
    int top_k;       /* steering list length (10) */
    const char *name; /* the LLM's row label ("llm", or its folder's name) */
} sd_llm_eval_opts;

typedef struct sd_steer_row {
    char model[64], prompt[24];
    int32_t users;
    double platform, genre, both; /* shares of top-k items; NAN when the prompt asks for none */
} sd_steer_row;

typedef struct sd_llm_eval {
    int32_t valid_users;
    double valid_constrained, valid_free;
    sd_steer_row *steer;
    int n_steer;
    int64_t claims, claims_true;
    int32_t explained;
    const char *note;   /* why steering / explanations were skipped, or NULL */
} sd_llm_eval;

/* Runs the three measures. others [n_others]: models to compare in steering (score_batch needed;
 * others without one are skipped). */
int sd_llm_evaluate(sd_llm_rec *r, const sd_work *w, const sd_scorer *const *others, int n_others,
                    const sd_llm_eval_opts *o, sd_llm_eval *out, sd_err *err);
void sd_llm_eval_free(sd_llm_eval *e);
/* The figures as JSON (for WORK/eval_llm.json) and as markdown tables on stdout. */
cJSON *sd_llm_eval_json(const sd_llm_eval *e, const sd_llm_eval_opts *o);
void sd_llm_eval_print(const sd_llm_eval *e);

#endif
