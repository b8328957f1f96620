/* Shared by the task builders of `semid lmdata` (lmdata_build.c, lmdata_item_tasks.c,
 * lmdata_rec_tasks.c): the build context, message assembly and emission. */
#ifndef SD_LM_LMDATA_INTERNAL_H
#define SD_LM_LMDATA_INTERNAL_H
#include "base/progress.h"
#include "base/rng.h"
#include "lm/lmdata_facts.h"
#include "lm/lmdata_phrases.h"
#include "lm/lmdata_tasks.h"

typedef struct sd_sbuf { char *p; size_t n, cap; } sd_sbuf;
void sd_sb_reset(sd_sbuf *b);
void sd_sb_put(sd_sbuf *b, const char *s, size_t n);
void sd_sb_puts(sd_sbuf *b, const char *s);

typedef struct sd_lm_ctx {
    const sd_work *w;
    const sd_sid_vocab *v;
    const sd_lmdata_opts *o;
    sd_lm_facts f;
    FILE *out[SD_LMS_COUNT];
    sd_lmdata_stats *st;
    sd_progress pr;
    char **sid;                    /* per item: its SID token string */
    sd_sbuf m[SD_LM_MAX_MESSAGES];
    sd_lm_role roles[SD_LM_MAX_MESSAGES];
    int nm;
    sd_sbuf tmp[4];                /* scratch for placeholder values */
    int32_t *mark;                 /* per item: == mark_gen when excluded from answers */
    int32_t mark_gen;
    int write_rc;
} sd_lm_ctx;

/* Starts a new record; msg appends a message and returns its buffer. */
void sd_lm_begin(sd_lm_ctx *c);
sd_sbuf *sd_lm_msg(sd_lm_ctx *c, sd_lm_role role);
/* Room left under --max-per-task for this task and split? */
bool sd_lm_room(const sd_lm_ctx *c, sd_lm_task t, sd_lm_split s);
/* Writes the record assembled since sd_lm_begin (system message first when asked for). */
void sd_lm_emit(sd_lm_ctx *c, const sd_lm_prov *p);

/* Appends tmpl with {name} replaced by the value after it in kv (name, value, ..., NULL). */
void sd_lm_expand(sd_sbuf *out, const char *tmpl, const char *const *kv);
const char *sd_lm_pick(sd_rng *r, const char *const *list);
/* The last max_history items of items[from, to) as SIDs joined by ", ", into b. */
void sd_lm_history(sd_lm_ctx *c, sd_sbuf *b, const int32_t *items, int32_t from, int32_t to);
/* "<SID> Title (Genre, ...)": the genre-like values after the title (lm/lmdata_facts.h sd_lm_kind_suffix) */
void sd_lm_item_line(sd_lm_ctx *c, sd_sbuf *b, int32_t item);
/* Marks a user's whole sequence as not to be recommended (held-out targets and what they have). */
void sd_lm_mark_user(sd_lm_ctx *c, int32_t u);
/* Up to want items from list (popularity order) not marked, having (key2, val2) when key2 is
 * given, drawn from the 4 * want most popular such: appended to out in popularity order, each
 * marked. Returns how many. */
int sd_lm_pick_popular(sd_lm_ctx *c, sd_rng *r, const int32_t *list, int32_t n_list, const char *key2,
                       const char *val2, int want, int32_t *out);

/* All users in a seeded random order (malloc'd): under --max-per-task, a random share of them. */
int32_t *sd_lm_shuffled_users(const sd_lm_ctx *c, sd_rng *r);

void sd_lm_item_tasks(sd_lm_ctx *c);
void sd_lm_prefix_task(sd_lm_ctx *c);
void sd_lm_history_tasks(sd_lm_ctx *c);
void sd_lm_request_tasks(sd_lm_ctx *c);
void sd_lm_explain_task(sd_lm_ctx *c);
void sd_lm_bundle_task(sd_lm_ctx *c);
void sd_lm_multiturn_task(sd_lm_ctx *c);
/* "a", "a and b", "a, b and c" of the claims phrased for a sentence, into b. */
void sd_lm_claims_text(sd_lm_ctx *c, sd_sbuf *b, const char **keys, const char **vals, int n);
/* A bundle name from what the items share; false when they share nothing to name. */
bool sd_lm_bundle_name(sd_lm_ctx *c, sd_rng *r, const int32_t *items, int n, sd_sbuf *b, sd_lm_prov *p);

static inline bool sd_lm_wants(const sd_lm_ctx *c, sd_lm_task t) { return (c->o->tasks >> t) & 1u; }

#endif
