/* semid prep: reads a dataset in one of the known formats and writes a work directory. */
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include <cjson/cJSON.h>
#include "data/loaders.h"
#include "data/workdir.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prep_format {
    const char *name;
    sd_loader_fn load;
    int min_title, min_desc, min_user_items, max_len; /* defaults */
    sd_split_kind split;
    const char *inputs;                               /* for --help */
} prep_format;

/* Amazon defaults are semantic-ids-llm's: title > 20 chars, description > 100 chars, users with
 * >= 3 items, last 100 items, split by user. Other formats keep everything. */
static const prep_format k_formats[] = {
    {.name = "amazon2023", .load = sd_load_amazon2023, .min_title = 20, .min_desc = 100, .min_user_items = 3,
     .max_len = 100, .split = SD_SPLIT_USER,
     .inputs = "--items META.jsonl[.gz] --interactions REVIEWS.jsonl[.gz]|BENCHMARK.csv[.gz]"},
    {.name = "generic", .load = sd_load_generic, .min_title = 0, .min_desc = 0, .min_user_items = 1, .max_len = 0,
     .split = SD_SPLIT_LOO, .inputs = "--items ITEMS.jsonl --interactions INTER.csv|INTER.jsonl"},
    {.name = "movielens", .load = sd_load_movielens, .min_title = 0, .min_desc = 0, .min_user_items = 1, .max_len = 0,
     .split = SD_SPLIT_LOO, .inputs = "--dir ml-100k|ml-1m|ml-latest[-small] folder"},
    {.name = "sasrec", .load = sd_load_sasrec, .min_title = 0, .min_desc = 0, .min_user_items = 1, .max_len = 0,
     .split = SD_SPLIT_LOO, .inputs = "--interactions DATA.txt (\"user item\" lines)"},
};
#define N_FORMATS (sizeof k_formats / sizeof *k_formats)

static const prep_format *find_format(const char *name) {
    for (size_t i = 0; i < N_FORMATS; i++)
        if (!strcmp(k_formats[i].name, name)) return &k_formats[i];
    return NULL;
}

static void format_list(char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_FORMATS && k < n; i++)
        k += snprintf(buf + k, n - k, "%s%s", i ? ", " : "", k_formats[i].name);
}

static char *extra_meta(const sd_prep_opts *o, const sd_prep_stats *st, int64_t repeats, int64_t cold_dropped,
                        double secs) {
    cJSON *m = cJSON_CreateObject();
    cJSON *src = cJSON_AddObjectToObject(m, "source");
    if (o->items_path) cJSON_AddStringToObject(src, "items", o->items_path);
    if (o->inter_path) cJSON_AddStringToObject(src, "interactions", o->inter_path);
    if (o->dir) cJSON_AddStringToObject(src, "dir", o->dir);
    cJSON *f = cJSON_AddObjectToObject(m, "filters");
    cJSON_AddNumberToObject(f, "min_title_chars", o->min_title_chars);
    cJSON_AddNumberToObject(f, "min_desc_chars", o->min_desc_chars);
    cJSON_AddNumberToObject(f, "min_user_items", o->min_user_items);
    cJSON_AddNumberToObject(f, "max_user_items", o->max_user_items);
    cJSON_AddNumberToObject(f, "min_rating", o->min_rating);
    cJSON_AddBoolToObject(f, "drop_cold_items", cold_dropped >= 0);
    cJSON_AddBoolToObject(f, "keep_repeats", o->keep_repeats);
    cJSON *s = cJSON_AddObjectToObject(m, "prep");
    cJSON_AddNumberToObject(s, "lines_read", (double)st->lines_read);
    cJSON_AddNumberToObject(s, "lines_skipped", (double)st->lines_skipped);
    cJSON_AddNumberToObject(s, "items_filtered", (double)st->items_filtered);
    cJSON_AddNumberToObject(s, "inter_unknown_item", (double)st->inter_unknown_item);
    cJSON_AddNumberToObject(s, "repeats_dropped", (double)repeats);
    cJSON_AddNumberToObject(s, "cold_items_dropped", (double)(cold_dropped > 0 ? cold_dropped : 0));
    cJSON_AddNumberToObject(s, "bytes_read", (double)st->bytes_read);
    cJSON_AddNumberToObject(s, "seconds", secs);
    char *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

/* Drops catalogue items that occur in no sequence; returns how many. */
static int64_t drop_cold(sd_catalog **cat, sd_sequences *seq, const sd_seq_opts *so) {
    int32_t n = (*cat)->n_items;
    int64_t *counts = sd_xcalloc(n ? n : 1, sizeof *counts);
    sd_sequences_item_counts(seq, counts);
    uint8_t *keep = sd_xmalloc(n ? n : 1);
    int64_t dropped = 0;
    for (int32_t i = 0; i < n; i++) { keep[i] = counts[i] > 0; dropped += !keep[i]; }
    if (dropped) {
        int32_t *remap = sd_xmalloc((n ? n : 1) * sizeof *remap);
        sd_catalog *sub = sd_catalog_subset(*cat, keep, remap);
        sd_sequences_remap_items(seq, remap, sub->n_items, so);
        sd_catalog_free(*cat);
        *cat = sub;
        free(remap);
    }
    free(counts);
    free(keep);
    return dropped;
}

static int run(int argc, char **argv) {
    const char *format = NULL, *items = NULL, *inter = NULL, *dir = NULL, *out = NULL, *split = NULL;
    bool strict = false, no_filters = false, cold = false, force = false, repeats = false;
    int min_title = -1, min_desc = -1, min_user = -1, max_len = -1, min_eval = 0;
    double cold_share = 0;
    double min_rating = 0;
    char fl[128];
    format_list(fl, sizeof fl);
    char about[6144];
    int k = snprintf(about, sizeof about,
        "Reads a dataset and writes the work directory WORK (items.jsonl, sequences.bin, split.bin, meta.json)\n"
        "atomically: on any error WORK is left as it was. Inputs may be plain or gzip (detected by content).\n"
        "Text is cleaned: HTML entities decoded, tags stripped, whitespace collapsed, invalid UTF-8 -> U+FFFD.\n"
        "A bad line is skipped and counted (the first few are printed) unless --strict; interactions naming an\n"
        "item missing from the items file are skipped and counted (an error with --strict).\n"
        "Exit status: 0 ok, 1 data error, 2 usage error.\n\nformats (%s):\n", fl);
    for (size_t i = 0; i < N_FORMATS && k < (int)sizeof about; i++)
        k += snprintf(about + k, sizeof about - k,
                      "  %-11s %s\n              defaults: --min-title %d --min-desc %d --min-user-items %d --max-len %d "
                      "--split %s\n", k_formats[i].name, k_formats[i].inputs, k_formats[i].min_title, k_formats[i].min_desc,
                      k_formats[i].min_user_items, k_formats[i].max_len, sd_split_name(k_formats[i].split));
    if (k < (int)sizeof about)
        snprintf(about + k, sizeof about - k,
                 "\namazon2023 interactions: review JSONL (user_id, parent_asin, timestamp ms, rating) or the "
                 "benchmark\n"
                 "CSV user_id,parent_asin,rating,timestamp[,history] with or without a header; with history, each\n"
                 "user's row with the longest history gives the sequence history + [parent_asin] (as "
                 "semantic-ids-llm).\n"
                 "\n"
                 "generic input (data from anywhere):\n"
                 "  --items ITEMS.jsonl: one JSON object per line. \"id\" (required, unique; a string or an integer)\n"
                 "    is the item's external id; \"title\" (string), \"text\" (string or list of strings: the\n"
                 "    description), \"features\" and \"categories\" (lists of strings) are optional; every other\n"
                 "    field becomes an attribute (strings, numbers, booleans, lists of them).\n"
                 "  --interactions INTER.csv: a header line naming the columns user, item and timestamp (any order,\n"
                 "    other columns ignored; \"rating\" is read by --min-rating), then one interaction per line;\n"
                 "    fields may be quoted (\"a,b\", \"\" for a quote), a quoted field cannot span lines.\n"
                 "  --interactions INTER.jsonl: one object per line with \"user\", \"item\" (strings or integers)\n"
                 "    and \"timestamp\" (an integer, any unit), optionally \"rating\" (a number).\n"
                 "  The interactions format is told by the first non-blank line ('{': JSONL, else CSV). \"item\" is an\n"
                 "  items \"id\"; a user's items are ordered by timestamp. Example:\n"
                 "    items.jsonl:  {\"id\": \"g1\", \"title\": \"Kart Racer\", \"text\": \"Fast karts.\", "
                 "\"categories\": [\"Racing\"], \"platform\": \"PC\"}\n"
                 "                  {\"id\": 2, \"title\": \"Dragon Quest\", \"features\": [\"open world\"]}\n"
                 "    inter.csv:    user,item,timestamp\n"
                 "                  u1,g1,1700000000\n"
                 "                  u1,2,1700000500\n"
                 "    semid prep --format generic --items items.jsonl --interactions inter.csv -o WORK");
    sd_usage u = {.usage = "semid prep --format FORMAT [--items F] [--interactions F] [--dir D] -o WORK [options]",
                  .about = about, .min_pos = 0, .max_pos = 0};
    sd_opt opts[] = {
        {.name = "format", .type = SD_OPT_STR, .ptr = &format, .metavar = "NAME",
         .help = "input format (required): see above"},
        {.name = "items", .type = SD_OPT_STR, .ptr = &items, .metavar = "FILE", .help = "item metadata file"},
        {.name = "interactions", .type = SD_OPT_STR, .ptr = &inter, .metavar = "FILE",
         .help = "interactions file (reviews, ratings, benchmark CSV)"},
        {.name = "dir", .type = SD_OPT_STR, .ptr = &dir, .metavar = "DIR",
         .help = "dataset folder (formats that read several files)"},
        {.name = "out", .type = SD_OPT_STR, .ptr = &out, .metavar = "WORK",
         .help = "work directory to write (also -o WORK; required)"},
        {.name = "split", .type = SD_OPT_STR, .ptr = &split, .metavar = "KIND",
         .help = "loo | user | time (default per format)"},
        {.name = "min-eval-len", .type = SD_OPT_INT, .ptr = &min_eval, .metavar = "N",
         .help = "users with fewer than N items are never evaluated and train on their whole sequence (the "
                 "semantic-IDs paper: 3); recorded in split.bin and meta.json, printed by `semid eval` "
                 "(default 0 = every user with a target is evaluated)"},
        {.name = "cold-items", .type = SD_OPT_DOUBLE, .ptr = &cold_share, .metavar = "F",
         .help = "cold-start split: a share F of the items leaves the training data entirely; users whose test "
                 "target is one form the cold test set (`semid eval` rows of part \"cold\"; default 0)"},
        {.name = "strict", .type = SD_OPT_FLAG, .ptr = &strict,
         .help = "stop at the first bad line or unknown item (exit 1)"},
        {.name = "min-title", .type = SD_OPT_INT, .ptr = &min_title, .metavar = "N",
         .help = "keep items whose title is longer than N characters (0 = off)"},
        {.name = "min-desc", .type = SD_OPT_INT, .ptr = &min_desc, .metavar = "N",
         .help = "keep items whose description is longer than N characters (0 = off)"},
        {.name = "min-user-items", .type = SD_OPT_INT, .ptr = &min_user, .metavar = "N",
         .help = "keep users with at least N items after filtering"},
        {.name = "max-len", .type = SD_OPT_INT, .ptr = &max_len, .metavar = "N",
         .help = "keep each user's last N items (0 = all)"},
        {.name = "min-rating", .type = SD_OPT_DOUBLE, .ptr = &min_rating, .metavar = "X",
         .help = "keep interactions rated >= X (0 = all)"},
        {.name = "no-filters", .type = SD_OPT_FLAG, .ptr = &no_filters,
         .help = "turn the format's default filters off (explicit options still apply)"},
        {.name = "keep-repeats", .type = SD_OPT_FLAG, .ptr = &repeats,
         .help = "keep an item the user already has (repeat purchases, re-watches); default: first time only, repeats "
                 "counted"},
        {.name = "drop-cold-items", .type = SD_OPT_FLAG, .ptr = &cold,
         .help = "drop items that no kept user interacted with (default: keep the catalogue)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace WORK even if it is a non-empty directory semid did not write"},
        {0},
    };
    /* -o is the one short option: map it to --out before the common parser sees it */
    char **av = sd_xmalloc((argc + 1) * sizeof *av);
    for (int i = 0; i < argc; i++) av[i] = strcmp(argv[i], "-o") == 0 ? "--out" : argv[i];
    av[argc] = NULL;
    sd_err err = {0};
    int rc = sd_parse(&u, opts, argc, av, NULL, NULL, &err);
    free(av);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (!format) { sd_errf(&err, SD_EUSAGE, "prep: --format is required (%s)", fl); return sd_cmd_error(&err); }
    const prep_format *pf = find_format(format);
    if (!pf) { sd_errf(&err, SD_EUSAGE, "prep: unknown format '%s' (known: %s)", format, fl); return sd_cmd_error(&err); }
    if (!out) { sd_errf(&err, SD_EUSAGE, "prep: -o WORK is required"); return sd_cmd_error(&err); }
    sd_split_kind sk = pf->split;
    if (split && sd_split_parse_kind(split, &sk)) {
        sd_errf(&err, SD_EUSAGE, "prep: --split must be loo, user or time, not '%s'", split);
        return sd_cmd_error(&err);
    }
    if (min_title < -1 || min_desc < -1 || min_user < -1 || max_len < -1 || min_rating < 0 || min_eval < 0) {
        sd_errf(&err, SD_EUSAGE, "prep: filter values must not be negative");
        return sd_cmd_error(&err);
    }
    if (!(cold_share >= 0 && cold_share < 1)) {
        sd_errf(&err, SD_EUSAGE, "prep: --cold-items must be a share in [0, 1), got %g", cold_share);
        return sd_cmd_error(&err);
    }
    sd_prep_opts o = {
        .items_path = items, .inter_path = inter, .dir = dir, .strict = strict,
        .min_title_chars = min_title >= 0 ? min_title : no_filters ? 0 : pf->min_title,
        .min_desc_chars = min_desc >= 0 ? min_desc : no_filters ? 0 : pf->min_desc,
        .min_user_items = min_user >= 0 ? min_user : no_filters ? 0 : pf->min_user_items,
        .max_user_items = max_len >= 0 ? max_len : no_filters ? 0 : pf->max_len,
        .min_rating = min_rating, .seed = sd_seed, .keep_repeats = repeats,
    };
    if (o.max_user_items > 0 && o.min_user_items > o.max_user_items) {
        sd_errf(&err, SD_EUSAGE, "prep: --min-user-items %d is larger than --max-len %d: every user would be dropped",
                o.min_user_items, o.max_user_items);
        return sd_cmd_error(&err);
    }
    /* refuse a WORK that may not be replaced, or one being written, before reading anything */
    unsigned out_flags = force ? SD_OUT_FORCE : 0;
    sd_lock lk = {.fd = -1};
    if (sd_out_dir_check(out, out_flags, &err) || sd_lock_output(&lk, out, &err)) {
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    sd_prep_stats st = {0};
    sd_catalog *cat = NULL;
    sd_sequences seq;
    double t0 = sd_now();
    rc = pf->load(&o, &cat, &seq, &st, &err);
    if (rc) { sd_unlock(&lk); return sd_cmd_error(&err); }
    double t_load = sd_now() - t0;
    int64_t cold_dropped = -1;
    if (cold) {
        sd_seq_opts so = sd_prep_seq_opts(&o);
        cold_dropped = drop_cold(&cat, &seq, &so);
    }
    if (seq.n_users == 0) {
        sd_errf(&err, SD_EFORMAT, "prep: no users left (%lld interaction lines read, %lld bad, %lld naming unknown items; "
                "--min-user-items %d)", (long long)st.lines_read, (long long)st.lines_skipped,
                (long long)st.inter_unknown_item, o.min_user_items);
        sd_catalog_free(cat);
        sd_sequences_free(&seq);
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    char *meta = extra_meta(&o, &st, seq.repeats_dropped, cold_dropped, t_load);
    double t_w = sd_now();
    sd_split_opts so = {.min_eval_len = min_eval, .cold_share = cold_share};
    rc = sd_work_create_flags(out, cat, &seq, sk, sd_seed, &so, pf->name, meta, out_flags, &err);
    sd_unlock(&lk);
    sd_debug("prep: work directory written in %.2f s", sd_now() - t_w);
    free(meta);
    double secs = sd_now() - t0;
    if (!rc && !sd_quiet) {
        printf("prep %s -> %s\n", pf->name, out);
        printf("  items          %d", cat->n_items);
        if (st.items_filtered) printf(" (%lld removed by filters)", (long long)st.items_filtered);
        if (cold_dropped > 0) printf(" (%lld without interactions dropped)", (long long)cold_dropped);
        printf("\n  users          %d\n", seq.n_users);
        printf("  interactions   %lld\n", (long long)seq.n_inter);
        printf("  lines read     %lld (%lld bad, skipped)\n", (long long)st.lines_read, (long long)st.lines_skipped);
        printf("  unknown items  %lld interactions skipped\n", (long long)st.inter_unknown_item);
        if (o.keep_repeats) printf("  repeats        kept (--keep-repeats)\n");
        else printf("  repeats        %lld repeated items dropped from histories (--keep-repeats keeps them)\n",
                    (long long)seq.repeats_dropped);
        printf("  split          %s", sd_split_name(sk));
        if (min_eval > 1) printf(" (users with fewer than %d items: training only)", min_eval);
        if (cold_share > 0) printf(" (cold items: %.1f%% of items out of training)", 100 * cold_share);
        printf("\n");
        printf("  time           %.2f s (read %.2f s, %.1f MB/s of %.1f MB)\n", secs, t_load,
               t_load > 0 ? st.bytes_read / 1e6 / t_load : 0.0, st.bytes_read / 1e6);
    }
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    return rc ? sd_cmd_error(&err) : 0;
}
SD_COMMAND(prep, "prep", "read a dataset (amazon2023, movielens, sasrec, generic) into a work directory", run)
