/* `semid augment WORK`: fills the catalogue's missing attributes of the augment schema
 * (data/augment_schema.h), by rules first (data/augment_rules.h), then by asking an
 * OpenAI-compatible chat-completions server for the items rules left incomplete.
 *
 * WORK/items.jsonl gains the filled keys (product_type, platform, genre, franchise,
 * multiplayer) as ordinary attributes, which lmdata, embed and stats read; a key an item already
 * has is never changed. Beside it, in WORK/augment/:
 *   items.orig.jsonl  the catalogue as it was before the first augment (kept; every later run
 *                     starts again from it, so reruns do not stack)
 *   cache.jsonl       one line per validated answer, appended and fsync'd as answers arrive, so a
 *                     rerun asks nothing twice and an interrupted run resumes
 *   sources.jsonl     per item, which rule or the LLM gave each filled value
 *   report.json       the summary of the last run
 *   written           hash and size of the items.jsonl written: a rerun refuses a catalogue
 *                     edited since (it would start from items.orig.jsonl and drop the edit)
 * Every file is written atomically, items.jsonl last. */
#ifndef SD_AUGMENT_H
#define SD_AUGMENT_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/augment_schema.h"
#include "io/http_pool.h"

typedef struct sd_aug_opts {
    const char *work;
    const char *endpoint;     /* base URL or full .../chat/completions URL; NULL with rules_only/dry_run */
    const char *model;        /* "model" of the request; NULL: left out (llama.cpp serves its one model) */
    const char *api_key;
    int parallel, retries;
    int max_tokens;           /* "max_tokens" of each request (<= 0: 256) */
    long timeout_ms, backoff_ms;
    int64_t limit;            /* ask at most this many items in this run (0: all) */
    bool rules_only;          /* no requests; cached answers still count */
    bool dry_run;             /* no requests, nothing written: only the report */
    bool force;               /* go on although files made from the old catalogue exist */
    bool json_mode;           /* send response_format {"type": "json_object"} */
    bool progress;
} sd_aug_opts;

typedef struct sd_aug_report {
    int64_t items;
    int64_t complete_before;                 /* items that had every field that applies already */
    int64_t items_by_rules, items_by_llm;    /* items that gained at least one value from each */
    int64_t filled_rules[SD_AUG_N_FIELDS], filled_llm[SD_AUG_N_FIELDS];
    int64_t to_ask;                          /* items rules left incomplete */
    int64_t from_cache;                      /* of those, answered by an earlier run */
    int64_t asked, answered, not_asked;      /* this run; not_asked: --limit, --rules-only, --dry-run */
    int64_t rejected[SD_AUG_N_REASONS];      /* answers not used, by reason ([SD_AUG_OK] unused) */
    int64_t failed_http, failed_timeout;     /* items given up after the retries */
    int64_t cache_lines_skipped;             /* cache lines of another schema/text, or cut short */
    sd_http_stats http;
    char url[256], model[128];               /* where the requests went ("" without requests) */
    char stale[512];                         /* files made from the old catalogue, space-separated */
    bool wrote;
} sd_aug_report;

int sd_augment(const sd_aug_opts *o, sd_aug_report *r, sd_err *err);
/* The report as a JSON object (malloc'd). */
char *sd_aug_report_json(const sd_aug_report *r);

#endif
