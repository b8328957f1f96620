/* semid lmdata: record format, tasks and counts, options, determinism, the leakage rule,
 * reserved phrasings, true explanations, bad input. Small synthetic stores (300 items). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/file.h"
#include "base/log.h"
#include "data/workdir.h"
#include "ids/sid_vocab.h"
#include "lm/lmdata.h"
#include "lm/lmdata_facts.h"
#include "lm/lmdata_tasks.h"
#include "test_util.h"

#define FIRST_ID 1000 /* token ids bound for decoding: <|sid_N|> = FIRST_ID + N */

static char *make_store_split(const char *name, int items, int users, unsigned seed, const char *split) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *w = sd_path_join(dir, name), *out = NULL;
    int rc = sd_test_semid(&out, "synth -o %s --items %d --users %d --seed %u --split %s --quiet", w, items, users,
                          seed, split);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "embed %s --quiet", w), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "ids %s --quiet", w), 0, "%s", out);
    free(out);
    return w;
}

static char *make_store(const char *name, int items, int users, unsigned seed) {
    return make_store_split(name, items, users, seed, "loo");
}

static char *slurp(const char *dir, const char *name) {
    char *p = sd_path_join(dir, name), *data = NULL;
    size_t len;
    cr_assert_eq(sd_read_file(p, &data, &len, NULL), 0, "cannot read %s", p);
    free(p);
    return data;
}

/* Items named by the SID strings in s (up to max), decoded through the vocabulary; fails the test
 * on a string that names no item. */
static int decode_sids(const sd_sid_vocab *v, const char *s, int32_t *items, int max) {
    int n = 0;
    const char *p = s;
    while ((p = strstr(p, SD_SID_TOKEN_START))) {
        p += strlen(SD_SID_TOKEN_START);
        int32_t ids[SD_SID_MAX_LEVELS + 2];
        int k = 0;
        while (!strncmp(p, "<|sid_", 6) && p[6] >= '0' && p[6] <= '9' && k < SD_SID_MAX_LEVELS) {
            ids[k++] = FIRST_ID + (int32_t)strtol(p + 6, NULL, 10);
            p = strstr(p, "|>") + 2;
        }
        cr_assert(!strncmp(p, SD_SID_TOKEN_END, strlen(SD_SID_TOKEN_END)), "SID string not closed: %.80s", p);
        int32_t item = sd_sid_vocab_tokens_item(v, ids, k);
        cr_assert_geq(item, 0, "SID string names no item: %.200s", s);
        if (n < max) items[n] = item;
        n++;
    }
    return n;
}

static void open_vocab(const char *w, sd_work *wk, sd_sid_vocab *v) {
    sd_err err = {0};
    cr_assert_eq(sd_work_load(wk, w, &err), 0, "%s", err.msg);
    char *sids = sd_path_join(w, "sids.tsv");
    cr_assert_eq(sd_sid_vocab_open(v, sids, wk->cat, &err), 0, "%s", err.msg);
    sd_sid_vocab_bind(v, FIRST_ID, 1, 2, 3);
    free(sids);
}

/* Every line of a file parses, its task is known, its SIDs name items; counts per task. */
static int64_t check_file(const char *dir, const char *name, const sd_sid_vocab *v, int64_t *per_task) {
    char *path = sd_path_join(dir, name);
    sd_lines *r;
    cr_assert_eq(sd_lines_open(&r, path, NULL), 0);
    char *line;
    size_t len;
    int64_t n = 0;
    while (sd_lines_next(r, &line, &len, NULL) == 1) {
        char where[512];
        snprintf(where, sizeof where, "%s:%lld", name, (long long)sd_lines_lineno(r));
        sd_lm_record rec;
        sd_err err = {0};
        cr_assert_eq(sd_lm_record_parse(line, where, &rec, &err), 0, "%s", err.msg);
        uint32_t mask;
        cr_assert_eq(sd_lm_tasks_parse(rec.task, &mask, &err), 0, "%s: task %s", where, rec.task);
        per_task[__builtin_ctz(mask)]++;
        cr_assert_eq(rec.messages[0].role, SD_LM_SYSTEM, "%s: system message first", where);
        int32_t items[64];
        for (int i = 0; i < rec.n_messages; i++) /* prefix2cat asks about an unfinished SID: a prefix */
            if (strcmp(rec.task, "prefix2cat") || rec.messages[i].role != SD_LM_USER)
                decode_sids(v, rec.messages[i].content, items, 64);
        sd_lm_record_free(&rec);
        n++;
    }
    sd_lines_close(r);
    free(path);
    return n;
}

Test(lmdata, format_counts_and_stats, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *out;
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet", w), 0, "%s", out);
    cr_assert(strstr(out, "pre-tokenizer pieces"), "%s", out);
    free(out);
    sd_work wk;
    sd_sid_vocab v;
    open_vocab(w, &wk, &v);
    char *dir = sd_path_join(w, "lmdata");
    int64_t n[3][SD_LMT_COUNT] = {{0}};
    const char *files[3] = {"train.jsonl", "valid.jsonl", "reserved.jsonl"};
    for (int s = 0; s < 3; s++) check_file(dir, files[s], &v, n[s]);
    /* every task is in train.jsonl; stats.json agrees with the files */
    char *js = slurp(dir, "stats.json");
    cJSON *st = cJSON_Parse(js);
    cr_assert(st);
    for (int t = 0; t < SD_LMT_COUNT; t++) {
        cr_assert_gt(n[0][t], 0, "no %s examples", sd_lm_task_name((sd_lm_task)t));
        const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "tasks"), sd_lm_task_name((sd_lm_task)t));
        cr_assert(e);
        cr_assert_eq((int64_t)cJSON_GetObjectItem(e, "train")->valuedouble, n[0][t]);
        cr_assert_eq((int64_t)cJSON_GetObjectItem(e, "valid")->valuedouble, n[1][t]);
        cr_assert_eq((int64_t)cJSON_GetObjectItem(e, "reserved")->valuedouble, n[2][t]);
        cr_assert_gt(cJSON_GetObjectItem(e, "train_tokens")->valuedouble, n[0][t]);
    }
    /* expected counts: next_item takes the last 5 training targets of each user and each
     * validation target; item tasks cover every item once over train + valid */
    int64_t want_train = 0, want_valid = 0;
    for (int32_t u = 0; u < wk.seq.n_users; u++) {
        int32_t tl = wk.split.train_len[u];
        if (tl >= 2) want_train += tl - (tl - 5 > 1 ? tl - 5 : 1);
        want_valid += wk.split.valid_pos[u] > 0;
    }
    cr_assert_eq(n[0][SD_LMT_NEXT_ITEM], want_train);
    cr_assert_eq(n[1][SD_LMT_NEXT_ITEM], want_valid);
    cr_assert_eq(n[0][SD_LMT_TITLE2SID] + n[1][SD_LMT_TITLE2SID], wk.cat->n_items);
    cr_assert_eq(n[0][SD_LMT_SID2TITLE] + n[1][SD_LMT_SID2TITLE], wk.cat->n_items);
    cr_assert_gt(n[1][SD_LMT_SID2ATTRS], 0);
    cJSON_Delete(st);
    free(js);
    sd_sid_vocab_free(&v);
    sd_work_free(&wk);
    free(dir);
    free(w);
}

Test(lmdata, tasks_and_cap, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *out;
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks next_item,explain --max-per-task 10", w), 0, "%s", out);
    free(out);
    sd_work wk;
    sd_sid_vocab v;
    open_vocab(w, &wk, &v);
    char *dir = sd_path_join(w, "lmdata");
    int64_t n[3][SD_LMT_COUNT] = {{0}};
    check_file(dir, "train.jsonl", &v, n[0]);
    check_file(dir, "valid.jsonl", &v, n[1]);
    for (int t = 0; t < SD_LMT_COUNT; t++) {
        bool asked = t == SD_LMT_NEXT_ITEM || t == SD_LMT_EXPLAIN;
        cr_assert_eq(n[0][t], asked ? 10 : 0, "%s: %lld", sd_lm_task_name((sd_lm_task)t), (long long)n[0][t]);
        cr_assert_leq(n[1][t], 10);
    }
    /* an unknown task is a usage error that lists the valid ones */
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks next_item,nope", w), 2);
    cr_assert(strstr(out, "nope") && strstr(out, "multiturn") && strstr(out, "prefix2cat"), "%s", out);
    free(out);
    sd_sid_vocab_free(&v);
    sd_work_free(&wk);
    free(dir);
    free(w);
}

Test(lmdata, deterministic, .timeout = 60) {
    char *w = make_store("w", 300, 200, 7), *out;
    char *a = sd_path_join(w, "a"), *b = sd_path_join(w, "b"), *c = sd_path_join(w, "c");
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --out %s --threads 1", w, a), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --out %s --threads 2", w, b), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --out %s --seed 5", w, c), 0, "%s", out);
    free(out);
    const char *files[] = {"train.jsonl", "valid.jsonl", "reserved.jsonl", "stats.json"};
    bool differs = false;
    for (int i = 0; i < 4; i++) {
        char *x = slurp(a, files[i]), *y = slurp(b, files[i]), *z = slurp(c, files[i]);
        cr_assert_str_eq(x, y, "%s differs between runs", files[i]);
        differs |= strcmp(x, z) != 0;
        free(x); free(y); free(z);
    }
    cr_assert(differs, "another --seed gave the same data");
    free(a); free(b); free(c);
    free(w);
}

/* ---- checks through the build hook: what each record was made of ---- */
typedef struct {
    const sd_work *w;
    const sd_sid_vocab *v;
    sd_lm_facts f;
    int64_t checked_history, checked_explain, checked_claims;
} hook_ctx;

static bool in_range(const int32_t *it, int32_t from, int32_t to, int32_t item) {
    for (int32_t t = from; t < to; t++) if (it[t] == item) return true;
    return false;
}

static bool holds(const sd_lm_facts *f, int32_t item, const char *key, const char *value) {
    if (!strcmp(key, "features")) {
        const sd_item *it = &f->cat->items[item];
        const char *const *fs = sd_item_features(f->cat, it);
        for (uint32_t k = 0; k < it->n_features; k++) if (!strcmp(fs[k], value)) return true;
        return false;
    }
    if (!strcmp(key, "multiplayer")) {
        const char *m = sd_lm_item_first(f, item, key);
        return m && strcmp(m, "no") && (strcmp(value, "online") || !strcmp(m, "online"));
    }
    return sd_lm_item_has(f, item, key, value);
}

static void on_record(void *ctx, const sd_lm_prov *p, const sd_lm_record *r) {
    hook_ctx *h = ctx;
    const sd_sequences *s = &h->w->seq;
    const sd_split *sp = &h->w->split;
    int32_t items[64];
    /* the record's answers are the items the provenance names */
    int na = 0;
    for (int i = 0; i < r->n_messages; i++)
        if (r->messages[i].role == SD_LM_ASSISTANT) na += decode_sids(h->v, r->messages[i].content, items + na, 64 - na);
    if (p->task != SD_LMT_SID2TITLE && p->task != SD_LMT_SID2DESC && p->task != SD_LMT_SID2ATTRS &&
        p->task != SD_LMT_PREFIX2CAT && p->task != SD_LMT_BUNDLE) /* a bundle's items are in the question */
        cr_assert_eq(na, p->n_targets, "%s: %d answer items, %d targets", r->task, na, p->n_targets);
    if (p->split == SD_LMS_TRAIN && sd_lm_task_uses_history(p->task)) {
        /* the leakage rule: context from the training prefix, no answer after it */
        cr_assert_geq(p->user, 0, "%s without its user", r->task);
        const int32_t *it = sd_seq_items(s, p->user);
        int32_t tl = sp->train_len[p->user], n = sd_seq_len(s, p->user);
        for (int i = 0; i < na; i++) {
            cr_assert(!in_range(it, tl, n, items[i]), "%s: answer %d is held out for user %d", r->task, items[i], p->user);
            if (sp->valid_pos[p->user] >= 0) cr_assert_neq(items[i], it[sp->valid_pos[p->user]]);
            if (sp->test_pos[p->user] >= 0) cr_assert_neq(items[i], it[sp->test_pos[p->user]]);
        }
        for (int i = 0; i < r->n_messages; i++) {
            if (r->messages[i].role != SD_LM_USER) continue;
            int32_t ctx_items[64];
            int nc = decode_sids(h->v, r->messages[i].content, ctx_items, 64);
            for (int k = 0; k < nc && k < 64; k++)
                cr_assert(in_range(it, 0, tl, ctx_items[k]), "%s: context item %d outside the training prefix", r->task,
                          ctx_items[k]);
        }
        if (p->anchor >= 0) cr_assert(in_range(it, 0, tl, p->anchor));
        h->checked_history++;
    }
    /* claims: explain and bundle claim what all their items share; request and steer answers hold
     * what was asked for */
    /* a conversation names its bundle after the second turn's picks */
    int32_t claimed[64];
    int nclaimed = p->n_targets;
    memcpy(claimed, p->targets, sizeof(int32_t) * (size_t)p->n_targets);
    if (p->task == SD_LMT_MULTITURN && p->n_claims) {
        cr_assert_eq(r->n_messages, 7, "a bundle name is the third turn");
        nclaimed = decode_sids(h->v, r->messages[4].content, claimed, 64);
    }
    for (int c = 0; c < p->n_claims; c++) {
        for (int i = 0; i < nclaimed; i++)
            cr_assert(holds(&h->f, claimed[i], p->claim_key[c], p->claim_value[c]), "%s: item %d lacks %s=%s", r->task,
                      claimed[i], p->claim_key[c], p->claim_value[c]);
        if (p->anchor >= 0 && p->task == SD_LMT_EXPLAIN)
            cr_assert(holds(&h->f, p->anchor, p->claim_key[c], p->claim_value[c]));
        h->checked_claims++;
    }
    if (p->task == SD_LMT_REQUEST || p->task == SD_LMT_STEER || p->task == SD_LMT_REQUEST_HISTORY) {
        /* each answer line names its item's genres after the title, as titles name the platform */
        const char *ans = r->messages[r->n_messages - 1].content;
        for (int i = 0; i < p->n_targets; i++) {
            char kinds[256], line[1024];
            const char *g = sd_lm_kind_suffix(h->w->cat, h->f.kind.key, p->targets[i], kinds, sizeof kinds);
            cr_assert(!h->f.kind.key || h->f.kind.first[p->targets[i]] < 0 || g[0], "item %d: no genre suffix", p->targets[i]);
            snprintf(line, sizeof line, "%s%s", h->w->cat->items[p->targets[i]].title, g);
            cr_assert(strstr(ans, line), "%s: answer '%s' lacks '%s'", r->task, ans, line);
        }
    }
    if (p->task == SD_LMT_EXPLAIN) {
        /* the reason line names each claimed value and no genre or platform the pair does not share */
        const char *reason = strchr(r->messages[r->n_messages - 1].content, '\n');
        cr_assert(reason);
        char *rs = strdup(reason);
        for (int c = 0; c < p->n_claims; c++) {
            char *at = strstr(rs, p->claim_value[c]);
            if (strcmp(p->claim_key[c], "multiplayer")) cr_assert(at, "reason '%s' misses %s", rs, p->claim_value[c]);
            if (at) memset(at, '_', strlen(p->claim_value[c])); /* a franchise may hold a genre word */
        }
        const sd_lm_role_vals *roles[2] = {&h->f.kind, &h->f.place};
        for (int q = 0; q < 2; q++)
            for (int k = 0; k < roles[q]->n; k++) {
                const char *val = roles[q]->vals[k];
                bool shared = sd_lm_item_has(&h->f, p->anchor, roles[q]->key, val) &&
                              sd_lm_item_has(&h->f, p->targets[0], roles[q]->key, val);
                cr_assert(shared || !strstr(rs, val), "reason '%s' claims %s, not shared", rs, val);
            }
        if (strstr(rs, "multiplayer") || strstr(rs, "with friends"))
            cr_assert(holds(&h->f, p->anchor, "multiplayer", "yes") && holds(&h->f, p->targets[0], "multiplayer", "yes"));
        free(rs);
        h->checked_explain++;
    }
}

static void build_with_hook(const char *w, hook_ctx *h, sd_work *wk, sd_sid_vocab *v, sd_lmdata_stats *st) {
    open_vocab(w, wk, v);
    h->w = wk, h->v = v;
    sd_lm_facts_init(&h->f, wk);
    sd_lmdata_opts o;
    sd_lmdata_defaults(&o);
    o.hook = on_record, o.hook_ctx = h;
    FILE *f[3] = {tmpfile(), tmpfile(), tmpfile()};
    sd_err err = {0};
    cr_assert_eq(sd_lmdata_build(wk, v, &o, f[0], f[1], f[2], st, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) fclose(f[i]);
}

Test(lmdata, no_leakage_and_true_claims, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42);
    hook_ctx h = {0};
    sd_work wk;
    sd_sid_vocab v;
    sd_lmdata_stats st;
    build_with_hook(w, &h, &wk, &v, &st);
    cr_assert_gt(h.checked_history, 500);
    cr_assert_gt(h.checked_explain, 50);
    cr_assert_gt(h.checked_claims, 500);
    sd_lm_facts_free(&h.f);
    sd_sid_vocab_free(&v);
    sd_work_free(&wk);
    free(w);
}

/* Under the user and time splits training prefixes end elsewhere; the rule holds the same. */
Test(lmdata, no_leakage_other_splits, .timeout = 60) {
    const char *splits[] = {"user", "time"};
    for (int i = 0; i < 2; i++) {
        char *w = make_store_split("w", 300, 300, 42, splits[i]);
        hook_ctx h = {0};
        sd_work wk;
        sd_sid_vocab v;
        sd_lmdata_stats st;
        build_with_hook(w, &h, &wk, &v, &st);
        cr_assert_gt(h.checked_history, 300, "%s split", splits[i]);
        cr_assert_gt(st.n[SD_LMS_RESERVED][SD_LMT_NEXT_ITEM], 0, "%s split", splits[i]);
        sd_lm_facts_free(&h.f);
        sd_sid_vocab_free(&v);
        sd_work_free(&wk);
        free(w);
    }
}

/* The same rule seen from the files alone: no training next_item example continues a user's
 * validation context with the validation target, nor the test context with the test target. */
Test(lmdata, no_leakage_in_files, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *out;
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks next_item,copurchase,steer,explain", w), 0, "%s", out);
    free(out);
    sd_work wk;
    sd_sid_vocab v;
    open_vocab(w, &wk, &v);
    char *dir = sd_path_join(w, "lmdata"), *train = slurp(dir, "train.jsonl");
    int64_t checked = 0;
    for (int32_t u = 0; u < wk.seq.n_users; u++) {
        const int32_t *it = sd_seq_items(&wk.seq, u);
        int32_t pos[2] = {wk.split.valid_pos[u], wk.split.test_pos[u]};
        for (int k = 0; k < 2; k++) {
            if (pos[k] < 3) continue; /* a short context may recur in another user's training */
            char ctx[16384] = "", want[512];
            int32_t from = pos[k] > 20 ? pos[k] - 20 : 0;
            /* the context as the writer spells it: SID strings joined by ", " */
            ctx[0] = 0;
            for (int32_t t = from; t < pos[k]; t++) {
                char tsv[4096];
                size_t m = 0;
                m += (size_t)snprintf(tsv + m, sizeof tsv - m, "%s", SD_SID_TOKEN_START);
                for (int l = 0; l < v.n_levels; l++) {
                    char tok[32];
                    sd_sid_token_name(tok, sizeof tok, sd_sid_vocab_sid(&v, l, v.codes[(int64_t)it[t] * v.n_levels + l]));
                    m += (size_t)snprintf(tsv + m, sizeof tsv - m, "%s", tok);
                }
                snprintf(tsv + m, sizeof tsv - m, "%s", SD_SID_TOKEN_END);
                if (t > from) strcat(ctx, ", ");
                strcat(ctx, tsv);
            }
            size_t m = 0;
            m += (size_t)snprintf(want + m, sizeof want - m, "\"assistant\",\"content\":\"%s", SD_SID_TOKEN_START);
            for (int l = 0; l < v.n_levels; l++) {
                char tok[32];
                sd_sid_token_name(tok, sizeof tok, sd_sid_vocab_sid(&v, l, v.codes[(int64_t)it[pos[k]] * v.n_levels + l]));
                m += (size_t)snprintf(want + m, sizeof want - m, "%s", tok);
            }
            snprintf(want + m, sizeof want - m, "%s\"", SD_SID_TOKEN_END);
            /* every line holding the context must not answer with the held-out target */
            for (const char *p = train; (p = strstr(p, ctx)); p++) {
                const char *eol = strchr(p, '\n');
                const char *a = strstr(p, want);
                cr_assert(!a || (eol && a > eol), "user %d: held-out target follows its context in train.jsonl", u);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 20, "the check saw too few contexts to mean anything");
    free(train);
    free(dir);
    sd_sid_vocab_free(&v);
    sd_work_free(&wk);
    free(w);
}

Test(lmdata, reserved_phrasings_only_in_reserved, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *out;
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet", w), 0, "%s", out);
    free(out);
    char *dir = sd_path_join(w, "lmdata"), *train = slurp(dir, "train.jsonl"), *res = slurp(dir, "reserved.jsonl");
    int n = 0, found = 0;
    for (const char *const *t = sd_lm_reserved_templates(); *t; t++, n++) {
        /* the template's fixed text between placeholders; the longer pieces are its wording */
        const char *p = *t;
        while (*p) {
            const char *e = strchr(p, '{');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len >= 12) {
                char piece[256];
                snprintf(piece, sizeof piece, "%.*s", (int)len, p);
                cr_assert(!strstr(train, piece), "reserved wording '%s' in train.jsonl", piece);
                found += strstr(res, piece) != NULL;
            }
            if (!e) break;
            p = strchr(e, '}');
            p = p ? p + 1 : e + 1;
        }
    }
    cr_assert_geq(n, 8);
    cr_assert_geq(found, n, "reserved.jsonl uses too few reserved phrasings (%d pieces of %d templates)", found, n);
    free(train);
    free(res);
    free(dir);
    free(w);
}

static bool has_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *e;
    bool bad = false;
    while ((e = readdir(d))) bad |= strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return bad;
}

Test(lmdata, bad_input, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *other = make_store("o", 200, 150, 9), *out;
    /* missing sids.tsv: names it and says what to run */
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --sids nothere_", w), 1, "%s", out);
    cr_assert(strstr(out, "nothere_sids.tsv") && strstr(out, "semid ids"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --sids ../x", w), 2, "%s", out);
    free(out);
    /* IDs of another catalogue */
    char *theirs = sd_path_join(other, "sids.tsv"), *mine = sd_path_join(w, "x_sids.tsv");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp %s %s", theirs, mine);
    cr_assert_eq(sd_test_run(cmd, NULL), 0);
    cr_assert_neq(sd_test_semid(&out, "lmdata %s --sids x_", w), 0, "%s", out);
    cr_assert(strstr(out, "x_sids.tsv"), "%s", out);
    free(out);
    /* an output folder that is not semid's is never replaced */
    char *lm = sd_path_join(w, "lmdata"), *keep = sd_path_join(lm, "mine.txt");
    cr_assert_eq(sd_mkdir_p(lm, NULL), 0);
    cr_assert_eq(sd_write_file_atomic(keep, "mine\n", 5, NULL), 0);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s", w), 2, "%s", out);
    cr_assert(strstr(out, "lmdata"), "%s", out);
    free(out);
    cr_assert(sd_exists(keep));
    cr_assert(!has_leftovers(w));
    /* bad numbers are usage errors */
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --max-per-task -1", w), 2, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --valid-items 1.5", w), 2, "%s", out);
    free(out);
    /* with --force it is replaced; a second run replaces semid's own folder */
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --force --tasks sid2title", w), 0, "%s", out);
    free(out);
    cr_assert(!sd_exists(keep));
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks title2sid", w), 0, "%s", out);
    free(out);
    char *st = slurp(lm, "stats.json");
    cr_assert(strstr(st, "title2sid") && !strstr(st, "sid2title"), "%s", st);
    free(st);
    cr_assert(!has_leftovers(w));
    free(theirs); free(mine); free(lm); free(keep);
    free(w);
    free(other);
}

/* A catalogue without attributes: tasks that need them are skipped with a note, not an error. */
Test(lmdata, no_attributes, .timeout = 60) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *w = sd_path_join(dir, "plain"), *out;
    sd_catalog *c = sd_catalog_new();
    sd_err err = {0};
    const char *words[] = {"red", "blue", "fast", "quiet", "tiny", "grand", "lost", "bright"};
    for (int i = 0; i < 120; i++) {
        char ext[16], title[64], desc[128];
        snprintf(ext, sizeof ext, "I%03d", i);
        snprintf(title, sizeof title, "The %s %s thing %d", words[i % 8], words[(i / 8) % 8], i);
        snprintf(desc, sizeof desc, "A %s and %s item.", words[(i * 3) % 8], words[(i * 5) % 8]);
        sd_item_in in = {.ext_id = ext, .title = title, .description = desc};
        cr_assert_geq(sd_catalog_add(c, &in, &err), 0, "%s", err.msg);
    }
    sd_seqbuilder *b = sd_seqbuilder_new();
    for (int u = 0; u < 80; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        for (int k = 0; k < 6; k++) sd_seqbuilder_add(b, name, strlen(name), (u * 11 + k * 7) % 120, k);
    }
    sd_seq_opts so = {.seed = 1};
    sd_sequences s;
    cr_assert_eq(sd_seqbuilder_finish(b, 120, &so, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_work_create(w, c, &s, SD_SPLIT_LOO, 1, "generic", NULL, &err), 0, "%s", err.msg);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
    cr_assert_eq(sd_test_semid(&out, "embed %s --quiet", w), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "ids %s --quiet", w), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet", w), 0, "%s", out);
    cr_assert(strstr(out, "note: request: skipped") && strstr(out, "note: multiturn: skipped"), "%s", out);
    cr_assert(strstr(out, "| next_item |"), "%s", out);
    free(out);
    sd_work wk;
    sd_sid_vocab v;
    open_vocab(w, &wk, &v);
    char *lm = sd_path_join(w, "lmdata");
    int64_t n[SD_LMT_COUNT] = {0};
    check_file(lm, "train.jsonl", &v, n);
    cr_assert_gt(n[SD_LMT_NEXT_ITEM], 0);
    cr_assert_gt(n[SD_LMT_SID2TITLE], 0);
    cr_assert_eq(n[SD_LMT_REQUEST], 0);
    sd_sid_vocab_free(&v);
    sd_work_free(&wk);
    free(lm);
    free(w);
}

Test(lmdata, record_parse_rejects) {
    sd_lm_record r;
    sd_err err = {0};
    cr_assert_neq(sd_lm_record_parse("{\"task\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}", "t:1", &r, &err), 0);
    cr_assert_neq(sd_lm_record_parse("{\"task\":\"x\",\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"},"
                                     "{\"role\":\"user\",\"content\":\"b\"}]}", "t:2", &r, &err), 0);
    cr_assert(strstr(err.msg, "t:2"), "%s", err.msg);
    cr_assert_neq(sd_lm_record_parse("{\"task\":\"x\",\"messages\":[{\"role\":\"bot\",\"content\":\"a\"},"
                                     "{\"role\":\"assistant\",\"content\":\"b\"}]}", "t:3", &r, &err), 0);
    cr_assert_neq(sd_lm_record_parse("not json", "t:4", &r, &err), 0);
    cr_assert_eq(sd_lm_record_parse("{\"task\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                                    "{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"}]}",
                                    "t:5", &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_messages, 3);
    sd_lm_record_free(&r);
    /* the writer's output reads back */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sd_lm_record w = {.task = "next_item", .n_messages = 2,
                      .messages = {{SD_LM_USER, "a \"quoted\"\nline <|rec|>"}, {SD_LM_ASSISTANT, "b"}}};
    cr_assert_eq(sd_lm_record_write(f, &w), 0);
    fclose(f);
    cr_assert_eq(sd_lm_record_parse(buf, "mem", &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.messages[0].content, "a \"quoted\"\nline <|rec|>");
    sd_lm_record_free(&r);
    free(buf);
}

/* --tokenizer: totals are the tokenizer's ids (with <|...|> one each), and the header says so. */
Test(lmdata, tokenizer_counts, .timeout = 60) {
    char *w = make_store("w", 300, 200, 42), *out;
    char *tok = sd_path_join(w, "tok.json");
    cr_assert_eq(sd_test_semid(&out, "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s --quiet",
                               sd_test_fixtures(), tok), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks sid2title,next_item --json", w), 0, "%s", out);
    cJSON *a = cJSON_Parse(strchr(out, '{'));
    free(out);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --quiet --tasks sid2title,next_item --tokenizer %s", w, tok), 0, "%s", out);
    cr_assert(strstr(out, "tokenizer ids"), "%s", out);
    free(out);
    char *lm = sd_path_join(w, "lmdata"), *js = slurp(lm, "stats.json");
    cJSON *b = cJSON_Parse(js);
    cr_assert(a && b);
    cr_assert_str_eq(cJSON_GetObjectItem(a, "tokens")->valuestring, "pretokenizer_pieces");
    cr_assert_str_eq(cJSON_GetObjectItem(b, "tokens")->valuestring, "tokenizer");
    const cJSON *ta = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "tasks"), "sid2title"), "train_tokens");
    const cJSON *tb = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "tasks"), "sid2title"), "train_tokens");
    /* a 300-token vocabulary splits words into more pieces than the pre-tokenizer */
    cr_assert_gt(tb->valuedouble, ta->valuedouble);
    /* the counting rule itself */
    cr_assert_eq(sd_lm_count_tokens(NULL, "<|sid_start|><|sid_1|><|sid_end|> Hello world <|rec|>"), 7); /* " Hello", " world", " " */
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(js);
    free(lm);
    free(tok);
    free(w);
    /* a tokenizer file that is not there is an error naming it */
    char *w2 = make_store("w2", 300, 200, 42);
    cr_assert_eq(sd_test_semid(&out, "lmdata %s --tokenizer /nonexistent/tok.json", w2), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/tok.json"), "%s", out);
    free(out);
    free(w2);
}
