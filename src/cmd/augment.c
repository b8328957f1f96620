/* semid augment WORK: product type, platform, genre, franchise and multiplayer for catalogues
 * that lack them, by rules and then an OpenAI-compatible chat-completions server. */
#include "cmd/cli.h"
#include "base/log.h"
#include "data/augment.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_report(const sd_aug_report *r, const sd_aug_opts *o) {
    FILE *f = stderr;
    fprintf(f, "augment: %lld items, %lld complete before; %lld items gained values from rules, %lld from the LLM%s\n",
            (long long)r->items, (long long)r->complete_before, (long long)r->items_by_rules,
            (long long)r->items_by_llm, o->dry_run ? " (dry run: nothing written)" : r->wrote ? "" : " (nothing written)");
    fprintf(f, "  %-13s %8s %8s\n", "field", "rules", "llm");
    for (int k = 0; k < SD_AUG_N_FIELDS; k++)
        fprintf(f, "  %-13s %8lld %8lld\n", sd_aug_fields[k].key, (long long)r->filled_rules[k],
                (long long)r->filled_llm[k]);
    fprintf(f, "  items left incomplete by rules %lld: %lld answered by an earlier run (cache), %lld asked now, "
            "%lld not asked\n", (long long)r->to_ask, (long long)r->from_cache, (long long)r->asked,
            (long long)r->not_asked);
    if (r->asked)
        fprintf(f, "  requests %lld, retries %lld, timeouts %lld; answers %lld; gave up: %lld HTTP errors, %lld "
                "timeouts\n", (long long)r->http.requests, (long long)r->http.retries, (long long)r->http.timeouts,
                (long long)r->answered, (long long)r->failed_http, (long long)r->failed_timeout);
    for (int k = 1; k < SD_AUG_N_REASONS; k++)
        if (r->rejected[k]) fprintf(f, "  rejected (never written): %lld, %s\n", (long long)r->rejected[k], sd_aug_reason_name[k]);
    if (r->cache_lines_skipped)
        fprintf(f, "  %lld cache lines skipped (another schema or item text, or cut short)\n", (long long)r->cache_lines_skipped);
    if (r->stale[0] && !o->dry_run)
        fprintf(f, "  stale now (made from the catalogue before augment; rerun them): %s\n", r->stale);
    else if (r->stale[0])
        fprintf(f, "  would make stale: %s\n", r->stale);
}

static int run(int argc, char **argv) {
    sd_aug_opts o = {.parallel = 4, .retries = 4, .max_tokens = 256, .timeout_ms = 60000, .backoff_ms = 500, .json_mode = true};
    const char *key_env = NULL;
    double timeout_s = 60;
    bool no_json_mode = false, json = false;
    int64_t limit = 0;
    int backoff = 500;
    sd_opt opts[] = {
        {.name = "endpoint", .type = SD_OPT_STR, .ptr = &o.endpoint, .metavar = "URL",
         .help = "OpenAI-compatible server: http://HOST:PORT (POST /v1/chat/completions), .../v1, or the full "
                 ".../chat/completions URL"},
        {.name = "model", .type = SD_OPT_STR, .ptr = &o.model, .metavar = "NAME",
         .help = "\"model\" of each request (vLLM needs it; default: left out)"},
        {.name = "api-key", .type = SD_OPT_STR, .ptr = &o.api_key, .metavar = "KEY",
         .help = "sent as \"Authorization: Bearer KEY\" (default: $OPENAI_API_KEY when set)"},
        {.name = "parallel", .type = SD_OPT_INT, .ptr = &o.parallel, .metavar = "N", .help = "requests in flight (4)"},
        {.name = "retries", .type = SD_OPT_INT, .ptr = &o.retries, .metavar = "N",
         .help = "retries of a request after 429, 5xx, a timeout or a dropped connection (4)"},
        {.name = "timeout", .type = SD_OPT_DOUBLE, .ptr = &timeout_s, .metavar = "S", .help = "seconds per request (60)"},
        {.name = "backoff-ms", .type = SD_OPT_INT, .ptr = &backoff, .metavar = "MS",
         .help = "wait before the first retry, doubled each time up to 30 s (500)"},
        {.name = "max-tokens", .type = SD_OPT_INT, .ptr = &o.max_tokens, .metavar = "N",
         .help = "max_tokens of each answer (256; more for a model that thinks first)"},
        {.name = "limit", .type = SD_OPT_I64, .ptr = &limit, .metavar = "N",
         .help = "ask about at most N items in this run (0: all); a rerun goes on"},
        {.name = "rules-only", .type = SD_OPT_FLAG, .ptr = &o.rules_only,
         .help = "send no requests: rules and answers cached by earlier runs only"},
        {.name = "dry-run", .type = SD_OPT_FLAG, .ptr = &o.dry_run,
         .help = "rules only, no requests, nothing written: print what would be filled and asked"},
        {.name = "no-json-mode", .type = SD_OPT_FLAG, .ptr = &no_json_mode,
         .help = "leave out response_format {\"type\":\"json_object\"} (for servers that reject it)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &o.force,
         .help = "go on although WORK holds files made from the old catalogue (emb.npy, sids, lm, ...)"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json, .help = "print the report as JSON on stdout"},
        {0},
    };
    sd_usage u = {.usage = "semid augment WORK --endpoint URL [--model NAME] [options]",
                  .about = "Fills the attributes product_type, platform, genre, franchise and multiplayer that "
                           "lmdata's steering and explanation data read, for items that lack them. Rules first "
                           "(title suffixes such as \" - Xbox 360\" or \"(PS4)\", categories, Amazon details; the "
                           "table is src/data/augment_rules.c); then, for items rules left incomplete, one chat "
                           "completion per item asking for JSON under a fixed schema. Answers are validated (bad "
                           "JSON, missing fields, wrong types and values outside the schema are counted and never "
                           "written) and cached one line each in WORK/augment/cache.jsonl, so a rerun asks nothing "
                           "twice. Values an item already has are never changed. WORK/items.jsonl is rewritten "
                           "atomically; the original is kept as WORK/augment/items.orig.jsonl and every rerun starts "
                           "from it; WORK/augment/sources.jsonl says which rule or the LLM gave each value. Run it "
                           "after prep and before embed: files made from the old catalogue become stale (refused "
                           "without --force).",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    o.work = pos[0];
    free(pos);
    o.json_mode = !no_json_mode;
    o.timeout_ms = (long)(timeout_s * 1000 + 0.5);
    o.backoff_ms = backoff;
    o.limit = limit;
    o.progress = !sd_quiet && !json;
    if (!o.api_key && (key_env = getenv("OPENAI_API_KEY")) && key_env[0]) o.api_key = key_env;
    if (!o.endpoint && !o.rules_only && !o.dry_run)
        return sd_errf(&err, SD_EUSAGE, "augment: --endpoint URL is required (or --rules-only / --dry-run)"),
               sd_cmd_error(&err);
    if (o.parallel < 1 || o.parallel > 256) return sd_errf(&err, SD_EUSAGE, "augment: --parallel must be 1..256"), sd_cmd_error(&err);
    if (o.retries < 0 || o.retries > 20) return sd_errf(&err, SD_EUSAGE, "augment: --retries must be 0..20"), sd_cmd_error(&err);
    if (!(timeout_s >= 0.05 && timeout_s <= 3600)) return sd_errf(&err, SD_EUSAGE, "augment: --timeout must be 0.05..3600 s"), sd_cmd_error(&err);
    if (backoff < 0 || backoff > 60000) return sd_errf(&err, SD_EUSAGE, "augment: --backoff-ms must be 0..60000"), sd_cmd_error(&err);
    if (o.max_tokens < 16 || o.max_tokens > 32768)
        return sd_errf(&err, SD_EUSAGE, "augment: --max-tokens must be 16..32768"), sd_cmd_error(&err);
    if (limit < 0) return sd_errf(&err, SD_EUSAGE, "augment: --limit must be >= 0"), sd_cmd_error(&err);
    sd_aug_report r;
    rc = sd_augment(&o, &r, &err);
    if (rc) return sd_cmd_error(&err);
    if (json) {
        char *s = sd_aug_report_json(&r);
        puts(s);
        free(s);
    } else if (!sd_quiet) {
        print_report(&r, &o);
    }
    int64_t rejected = 0;
    for (int k = 1; k < SD_AUG_N_REASONS; k++) rejected += r.rejected[k];
    int64_t open = rejected + r.failed_http + r.failed_timeout;
    if (open) sd_warn("augment: %lld items got no usable answer; a rerun asks them again (and only them)", (long long)open);
    return 0;
}
SD_COMMAND(augment, "augment", "product type, platform, genre, franchise by rules + an OpenAI-compatible LLM -> WORK/items.jsonl", run)
