/* Building the LM training data of `semid lmdata` from a work directory and its semantic IDs.
 *
 * Tasks (names as --tasks takes them):
 *   title2sid        title (sometimes with attributes) -> the item's SID
 *   sid2title        SID -> title
 *   sid2desc         SID -> the start of the description
 *   sid2attrs        SID -> its attributes ("Platform: PC; Genre: RPG")
 *   prefix2cat       SID prefix (first code, first two codes) -> what most of its items share
 *   next_item        a user's history -> <|rec|> -> the next item
 *   copurchase       an item a user bought -> <|rec|> -> the one they bought next
 *   request          "I like RPG games for PC. <|rec|>" -> several matching popular items
 *   request_history  a history plus a request in words -> matching items
 *   steer            a history, "... but for Xbox One" -> items for Xbox One; "... but Horror" -> Horror items
 *   explain          "I just finished X. Suggest another <|rec|> and explain why:" -> item + reason
 *   bundle           a list of items -> a bundle name from what they share
 *   multiturn        2-3 turns: recommend, steer, name the bundle
 *
 * Leakage rule: a history-based task (next_item, copurchase, request_history, steer, explain,
 * multiturn) uses only the user's training prefix items[0 .. train_len) as context and targets,
 * so a user's validation and test targets are never training targets; popularity comes from
 * training prefixes only. valid.jsonl holds next_item with each user's validation target and a
 * held-out slice of the item tasks; reserved.jsonl holds examples in reserved phrasings (never in
 * train.jsonl) built from test users' contexts, for measuring steering on unseen wording. */
#ifndef SD_LM_LMDATA_TASKS_H
#define SD_LM_LMDATA_TASKS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "base/err.h"
#include "data/workdir.h"
#include "ids/sid_vocab.h"
#include "lm/lmdata.h"
#include "text/tokenizer.h"

typedef enum {
    SD_LMT_TITLE2SID, SD_LMT_SID2TITLE, SD_LMT_SID2DESC, SD_LMT_SID2ATTRS, SD_LMT_PREFIX2CAT,
    SD_LMT_NEXT_ITEM, SD_LMT_COPURCHASE, SD_LMT_REQUEST, SD_LMT_REQUEST_HISTORY, SD_LMT_STEER,
    SD_LMT_EXPLAIN, SD_LMT_BUNDLE, SD_LMT_MULTITURN, SD_LMT_COUNT
} sd_lm_task;

typedef enum { SD_LMS_TRAIN, SD_LMS_VALID, SD_LMS_RESERVED, SD_LMS_COUNT } sd_lm_split;

const char *sd_lm_task_name(sd_lm_task t);
/* True for tasks whose context is a user's history (the leakage rule applies). */
bool sd_lm_task_uses_history(sd_lm_task t);
/* "a,b,c" -> bit mask of tasks; "all" is every task. Unknown names: SD_EUSAGE listing the valid ones. */
int sd_lm_tasks_parse(const char *list, uint32_t *mask, sd_err *err);

/* What an example is made of, for tests and checks (the file holds only the record). */
typedef struct sd_lm_prov {
    sd_lm_task task;
    sd_lm_split split;
    int32_t user;                 /* the user whose history it uses, or -1 */
    int32_t anchor;               /* explain: the item finished; -1 otherwise */
    int n_targets;
    int32_t targets[8];           /* items in the (last) assistant answer */
    /* attribute claims the answer makes (explain, bundle) or the attribute asked for (request,
     * steer): key, value ("features" for a shared feature, "multiplayer"/"yes" for both playable
     * together) */
    int n_claims;
    const char *claim_key[8], *claim_value[8];
} sd_lm_prov;

typedef void (*sd_lm_hook)(void *ctx, const sd_lm_prov *p, const sd_lm_record *r);

typedef struct sd_lmdata_opts {
    uint64_t seed;
    uint32_t tasks;          /* mask of 1u << sd_lm_task */
    int64_t max_per_task;    /* cap on train examples of each task (0 = none) */
    int max_per_user;        /* next_item / copurchase targets per user (5) */
    int max_history;         /* most recent items shown as history (20) */
    int n_recs;              /* items in a multi-item answer (3) */
    double valid_items;      /* share of items whose item-task examples go to valid.jsonl (0.05) */
    bool system;             /* a system message first in every record (default true) */
    const sd_tokenizer *tok; /* count tokens with it (NULL: pre-tokenizer pieces, SID tokens one each) */
    bool progress;
    sd_lm_hook hook;         /* called for every record written (may be NULL) */
    void *hook_ctx;
} sd_lmdata_opts;

void sd_lmdata_defaults(sd_lmdata_opts *o);

typedef struct sd_lmdata_stats {
    int64_t n[SD_LMS_COUNT][SD_LMT_COUNT];
    int64_t tokens[SD_LMS_COUNT][SD_LMT_COUNT];
    char note[SD_LMT_COUNT][200];  /* why a task asked for was skipped or came out small */
    const char *system_message;    /* the system message used (static), or NULL */
} sd_lmdata_stats;

/* Writes the records of every task asked for to train, valid and reserved (already open).
 * A task that this catalogue cannot support (no attributes to talk about) is skipped with a note
 * in st->note, not an error. Deterministic in (work directory, semantic IDs, opts). */
int sd_lmdata_build(const sd_work *w, const sd_sid_vocab *v, const sd_lmdata_opts *o, FILE *train, FILE *valid,
                    FILE *reserved, sd_lmdata_stats *st, sd_err *err);

/* The reserved phrasings (templates with {placeholders}), NULL-terminated, for checks that none
 * reaches train.jsonl. */
const char *const *sd_lm_reserved_templates(void);

/* Token count of a text: with tok, its ids; without, pre-tokenizer pieces with each <|...|>
 * special token counted as one. */
int64_t sd_lm_count_tokens(const sd_tokenizer *tok, const char *text);

/* The system message every record starts with (also what a recommender prompt must start with). */
const char *sd_lm_system_message(void);

#endif
