/* semid augment: the rule table on fixture titles and categories; the client against the scripted
 * chat-completions server of chat_stub.h (good answers, malformed and out-of-schema ones, 500s,
 * 429, slow answers); the cache across an interrupted run; bad input. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/file.h"
#include "chat_stub.h"
#include "data/augment.h"
#include "data/augment_rules.h"
#include "data/workdir.h"
#include "io/http_pool.h"
#include "lm/lmdata_facts.h"
#include "test_util.h"

/* ---- rules ---- */

static void expect_platform(const char *title, const char *want) {
    const char *got = sd_aug_platform_from_title(title);
    if (!want) cr_expect_null(got, "%s -> %s, expected none", title, got);
    else cr_expect(got && !strcmp(got, want), "%s -> %s, expected %s", title, got ? got : "(none)", want);
}

Test(augment_rules, platform_from_title_suffix) {
    expect_platform("Halo 4 - Xbox 360", "Xbox 360");
    expect_platform("Uncharted 4 (PS4)", "PlayStation 4");
    expect_platform("Ratchet & Clank: Rift Apart [PS5] ", "PlayStation 5");
    expect_platform("Mario Kart 8 Deluxe for Nintendo Switch", "Nintendo Switch");
    expect_platform("Zelda: Breath of the Wild \xe2\x80\x93 Switch", "Nintendo Switch");
    expect_platform("Mario Kart 8 - Wii U", "Wii U");
    expect_platform("Wii Sports - Wii", "Wii");
    expect_platform("Forza Horizon 5 - Xbox Series X|S", "Xbox Series X");
    expect_platform("The Sims 4 - PC/Mac Download", "PC");
    expect_platform("Pokemon X (3DS)", "Nintendo 3DS");
    /* no suffix, or a suffix that names no platform */
    expect_platform("Halo: Reach", NULL);
    expect_platform("Game of the Year Edition - Deluxe", NULL);
    expect_platform("Switchblade Saga (Collector's Edition)", NULL);
    expect_platform("Tetris (PS44)", NULL);
    expect_platform("", NULL);
    /* a short name is not trusted inside a title */
    cr_expect_null(sd_aug_platform_in("Light Switch Cover"));
    cr_expect_str_eq(sd_aug_platform_in("DualShock 4 for PlayStation 4 Pro"), "PlayStation 4");
}

Test(augment_rules, genres_and_canonical_values) {
    cr_expect_str_eq(sd_aug_genre_in("Role-Playing"), "RPG");
    cr_expect_str_eq(sd_aug_genre_in("First-person shooter"), "Shooter");
    cr_expect_str_eq(sd_aug_genre_in("Action-Adventure"), "Adventure"); /* table order: Adventure above Action */
    cr_expect_null(sd_aug_genre_in("Roguelike"));
    cr_expect_str_eq(sd_aug_canonical(SD_AUG_PLATFORM, "xbox 360"), "Xbox 360");
    cr_expect_null(sd_aug_canonical(SD_AUG_PLATFORM, "Dreamcast 2"));
    cr_expect_str_eq(sd_aug_canonical(SD_AUG_FRANCHISE, "Anything"), "Anything");
}

/* The Amazon fixture through prep, then the rules on each item. */
static const char *rule_value(const sd_catalog *c, const char *ext, sd_aug_field f, const char **rule) {
    int32_t id = sd_catalog_find(c, ext);
    cr_assert_geq(id, 0, "%s missing", ext);
    sd_aug_values v;
    const char *r[SD_AUG_N_FIELDS];
    sd_aug_rules_apply(c, id, "amazon2023", &v, r);
    if (rule) *rule = r[f];
    return v.v[f];
}

static void expect_rule(const sd_catalog *c, const char *ext, sd_aug_field f, const char *want, const char *why) {
    const char *rule = NULL, *got = rule_value(c, ext, f, &rule);
    if (!want) { cr_expect_null(got, "%s %s = %s, expected none", ext, sd_aug_fields[f].key, got); return; }
    cr_expect(got && !strcmp(got, want), "%s %s = %s, expected %s", ext, sd_aug_fields[f].key, got ? got : "-", want);
    if (why) cr_expect(rule && !strcmp(rule, why), "%s %s by %s, expected %s", ext, sd_aug_fields[f].key, rule, why);
}

Test(augment_rules, amazon_fixture_items, .timeout = 60) {
    char dir[256], work[300];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *fx = sd_test_fixtures();
    cr_assert_eq(sd_test_semid(NULL, "prep --format amazon2023 --items %s/amazon/meta.jsonl --interactions "
                                     "%s/amazon/reviews.jsonl --min-title 0 --min-desc 0 --min-user-items 1 -o %s --quiet",
                               fx, fx, work), 0);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    const sd_catalog *c = w.cat;
    /* Zelda: "... – Nintendo Switch" and categories [Video Games, Nintendo Switch, Games] */
    int32_t zelda = -1;
    for (int32_t i = 0; i < c->n_items; i++) if (strstr(c->items[i].title, "Breath of the Wild")) zelda = i;
    cr_assert_geq(zelda, 0);
    const char *z = c->items[zelda].ext_id;
    expect_rule(c, z, SD_AUG_PLATFORM, "Nintendo Switch", "title suffix");
    expect_rule(c, z, SD_AUG_PRODUCT_TYPE, "game", "category");
    for (int32_t i = 0; i < c->n_items; i++) {
        const char *t = c->items[i].title, *e = c->items[i].ext_id;
        if (strstr(t, "Halo 3")) expect_rule(c, e, SD_AUG_PLATFORM, "Xbox 360", "details.Platform");
        if (strstr(t, "Super Mario Odyssey")) expect_rule(c, e, SD_AUG_GENRE, "Platformer", "details.Genre");
        if (strstr(t, "DOOM")) expect_rule(c, e, SD_AUG_GENRE, "Shooter", "details.Genre");
        if (strstr(t, "Sims")) expect_rule(c, e, SD_AUG_PLATFORM, "PC", "title suffix");
        if (strstr(t, "Hades")) expect_rule(c, e, SD_AUG_GENRE, NULL, NULL); /* "Roguelike" is not in the schema */
        if (strstr(t, "Controller Grip")) {
            expect_rule(c, e, SD_AUG_PRODUCT_TYPE, "accessory", "category");
            expect_rule(c, e, SD_AUG_PLATFORM, "Nintendo Switch", "title suffix");
            expect_rule(c, e, SD_AUG_MULTIPLAYER, NULL, NULL); /* accessories are not played together */
        }
        if (strstr(t, "Thumbstick")) expect_rule(c, e, SD_AUG_PLATFORM, NULL, NULL);
    }
    sd_work_free(&w);
}

/* ---- against the scripted server ---- */

/* A work directory of n items titled by the markers (NULL: a plain title), no categories, so that
 * the rules leave every item to the LLM. extra: an attribute every item already has, or NULL. */
static void make_work(const char *dir, const char *const *markers, int n, const char *extra_key, const char *extra_val) {
    sd_catalog *c = sd_catalog_new();
    for (int i = 0; i < n; i++) {
        char id[32], title[96];
        snprintf(id, sizeof id, "it%02d", i);
        snprintf(title, sizeof title, "Stub Product %d %s", i, markers && markers[i] ? markers[i] : "");
        sd_kv kv = {extra_key, extra_val};
        sd_item_in in = {id, title, "A product made for a test.", NULL, 0, NULL, 0, &kv, extra_key ? 1 : 0};
        cr_assert_eq(sd_catalog_add(c, &in, NULL), i);
    }
    sd_seqbuilder *b = sd_seqbuilder_new();
    for (int u = 0; u < 4; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        for (int k = 0; k < 3; k++) sd_seqbuilder_add(b, name, strlen(name), (u + k) % n, k);
    }
    sd_seq_opts so = {.seed = 1};
    sd_sequences s;
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n, &so, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_work_create(dir, c, &s, SD_SPLIT_LOO, 1, "generic", NULL, &err), 0, "%s", err.msg);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
}

static sd_aug_opts opts_for(const char *work, const char *url) {
    return (sd_aug_opts){.work = work, .endpoint = url, .parallel = 3, .retries = 3, .timeout_ms = 5000,
                         .backoff_ms = 20, .json_mode = true};
}

static char *slurp(const char *path) {
    char *d = NULL;
    size_t n = 0;
    sd_err err = {0};
    return sd_read_file(path, &d, &n, &err) ? NULL : d;
}

static int count_lines(const char *path) {
    char *d = slurp(path);
    int n = 0;
    for (char *p = d; p && *p; p++) n += *p == '\n';
    free(d);
    return n;
}

/* Values of key on item ext in WORK/items.jsonl, joined by ","; "" when absent. */
static void attr_of(const char *work, const char *ext, const char *key, char *out, size_t cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    sd_catalog *c;
    sd_err err = {0};
    cr_assert_eq(sd_catalog_read_jsonl(&c, path, &err), 0, "%s", err.msg);
    int32_t id = sd_catalog_find(c, ext);
    cr_assert_geq(id, 0);
    out[0] = 0;
    const sd_item *it = &c->items[id];
    const sd_kv *a = sd_item_attrs(c, it);
    for (uint32_t k = 0; k < it->n_attrs; k++)
        if (!strcmp(a[k].key, key)) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s", l ? "," : "", a[k].value);
        }
    sd_catalog_free(c);
}

Test(augment_llm, good_answers_fill_and_mark_sources, .timeout = 60) {
    char dir[256], work[300], url[64], path[400], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *markers[] = {NULL, NULL, "[fenced]", NULL, NULL};
    make_work(work, markers, 5, NULL, NULL);
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    char *before = slurp(path);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    sd_aug_opts o = opts_for(work, url);
    o.api_key = "sk-test";
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.items, 5);
    cr_expect_eq(r.to_ask, 5);
    cr_expect_eq(r.asked, 5);
    cr_expect_eq(r.answered, 5);
    cr_expect_eq(r.items_by_llm, 5);
    cr_expect_eq(r.filled_llm[SD_AUG_FRANCHISE], 5);
    cr_expect_eq(r.http.requests, 5);
    cr_expect_eq(chat_stub_requests(s), 5);
    char auth[256];
    chat_stub_last_auth(s, auth, sizeof auth);
    cr_expect_str_eq(auth, "Bearer sk-test");
    attr_of(work, "it02", "genre", v, sizeof v);
    cr_expect_str_eq(v, "Action,RPG");
    attr_of(work, "it02", "franchise", v, sizeof v);
    cr_expect_str_eq(v, "Stub Saga");
    attr_of(work, "it00", "platform", v, sizeof v);
    cr_expect_str_eq(v, "PC");
    /* the original is kept byte for byte; sources say where each value came from */
    snprintf(path, sizeof path, "%s/augment/items.orig.jsonl", work);
    char *orig = slurp(path);
    cr_assert_not_null(orig);
    cr_expect_str_eq(orig, before);
    snprintf(path, sizeof path, "%s/augment/sources.jsonl", work);
    char *src = slurp(path);
    cr_assert_not_null(src);
    cr_expect(strstr(src, "\"franchise\":\"llm\""), "%s", src);
    snprintf(path, sizeof path, "%s/augment/cache.jsonl", work);
    cr_expect_eq(count_lines(path), 5);
    /* a rerun starts from the original, finds every answer in the cache and asks nothing */
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.from_cache, 5);
    cr_expect_eq(r.asked, 0);
    cr_expect_eq(r.filled_llm[SD_AUG_FRANCHISE], 5);
    cr_expect_eq(chat_stub_requests(s), 5);
    attr_of(work, "it01", "genre", v, sizeof v);
    cr_expect_str_eq(v, "Action,RPG"); /* not stacked twice */
    free(before); free(orig); free(src);
    chat_stub_stop(s);
}

Test(augment_llm, bad_answers_are_counted_and_never_written, .timeout = 60) {
    char dir[256], work[300], url[64], path[400], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *markers[] = {"[bad-json]", "[missing]", "[type]", "[value]", "[envelope]", NULL, "[value] again"};
    make_work(work, markers, 7, NULL, NULL);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", chat_stub_port(s)); /* .../v1 form of the endpoint */
    sd_aug_opts o = opts_for(work, url);
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.answered, 7);
    cr_expect_eq(r.rejected[SD_AUG_R_BAD_JSON], 1);
    cr_expect_eq(r.rejected[SD_AUG_R_MISSING], 1);
    cr_expect_eq(r.rejected[SD_AUG_R_TYPE], 1);
    cr_expect_eq(r.rejected[SD_AUG_R_VALUE], 2);
    cr_expect_eq(r.rejected[SD_AUG_R_ENVELOPE], 1);
    cr_expect_eq(r.items_by_llm, 1);
    for (int i = 0; i < 7; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "it%02d", i);
        attr_of(work, ext, "platform", v, sizeof v);
        if (i == 5) cr_expect_str_eq(v, "PC");
        else cr_expect_str_eq(v, "", "%s: rejected answer written: platform %s", ext, v);
        attr_of(work, ext, "product_type", v, sizeof v);
        cr_expect_str_eq(v, i == 5 ? "game" : "");
    }
    snprintf(path, sizeof path, "%s/augment/cache.jsonl", work);
    cr_expect_eq(count_lines(path), 1, "only the good answer is cached");
    snprintf(path, sizeof path, "%s/augment/report.json", work);
    char *rep = slurp(path);
    cr_assert_not_null(rep);
    cr_expect(strstr(rep, "\"out_of_schema\":\t2") || strstr(rep, "\"out_of_schema\": 2"), "%s", rep);
    free(rep);
    /* a rejected item is asked again by the next run; the good one is not */
    int before = chat_stub_requests(s);
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(chat_stub_requests(s) - before, 6);
    chat_stub_stop(s);
}

Test(augment_llm, retries_500_and_429_then_succeeds, .timeout = 60) {
    char dir[256], work[300], url[64], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *markers[] = {"[flaky]", "[429]", NULL};
    make_work(work, markers, 3, NULL, NULL);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", chat_stub_port(s)); /* full URL form */
    sd_aug_opts o = opts_for(work, url);
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(chat_stub_requests_with(s, "[flaky]"), 3);
    cr_expect_eq(chat_stub_requests_with(s, "[429]"), 2);
    cr_expect_eq(r.http.retries, 3);
    cr_expect_eq(r.http.requests, 6);
    cr_expect_eq(r.answered, 3);
    cr_expect_eq(r.failed_http, 0);
    attr_of(work, "it00", "franchise", v, sizeof v);
    cr_expect_str_eq(v, "Stub Saga");
    /* with fewer retries than the server's failures, the item is given up, counted, not written */
    char work2[320];
    snprintf(work2, sizeof work2, "%s/w2", dir);
    make_work(work2, markers, 1, NULL, NULL);
    chat_stub_stop(s);
    s = chat_stub_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    o = opts_for(work2, url);
    o.retries = 1;
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.failed_http, 1);
    cr_expect_eq(r.http.requests, 2);
    attr_of(work2, "it00", "franchise", v, sizeof v);
    cr_expect_str_eq(v, "");
    chat_stub_stop(s);
}

Test(augment_llm, slow_answers_time_out, .timeout = 60) {
    char dir[256], work[300], url[64], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *markers[] = {"[slow]", NULL};
    make_work(work, markers, 2, NULL, NULL);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    sd_aug_opts o = opts_for(work, url);
    o.timeout_ms = 300;
    o.retries = 1;
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.failed_timeout, 1);
    cr_expect_eq(r.http.timeouts, 2);
    cr_expect_eq(chat_stub_requests_with(s, "[slow]"), 2);
    cr_expect_eq(r.answered, 1);
    attr_of(work, "it00", "platform", v, sizeof v);
    cr_expect_str_eq(v, "");
    attr_of(work, "it01", "platform", v, sizeof v);
    cr_expect_str_eq(v, "PC");
    chat_stub_stop(s);
}

Test(augment_llm, interrupted_run_resumes_from_cache, .timeout = 60) {
    char dir[256], work[300], url[64], path[400];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    make_work(work, NULL, 12, NULL, NULL);
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    char *before = slurp(path);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    sd_aug_opts o = opts_for(work, url);
    o.parallel = 1;  /* exactly 4 answers before the server turns the key away */
    chat_stub_fail_after(s, 4);
    sd_aug_report r;
    sd_err err = {0};
    int rc = sd_augment(&o, &r, &err);
    cr_assert_neq(rc, 0);
    cr_expect(strstr(err.msg, "HTTP 401"), "%s", err.msg);
    cr_expect(strstr(err.msg, "4 of 12 answers kept"), "%s", err.msg);
    char *after = slurp(path);
    cr_expect_str_eq(after, before, "items.jsonl changed by a failed run");
    free(after);
    snprintf(path, sizeof path, "%s/augment/cache.jsonl", work);
    cr_expect_eq(count_lines(path), 4);
    snprintf(path, sizeof path, "%s/augment/report.json", work);
    cr_expect(!sd_exists(path));
    /* the rerun asks only the 8 items not answered */
    chat_stub_fail_after(s, -1);
    int n0 = chat_stub_requests(s);
    o.parallel = 4;
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(chat_stub_requests(s) - n0, 8);
    cr_expect_eq(r.from_cache, 4);
    cr_expect_eq(r.asked, 8);
    cr_expect_eq(r.items_by_llm, 12);
    free(before);
    chat_stub_stop(s);
}

Test(augment_llm, existing_values_kept_and_limit, .timeout = 60) {
    char dir[256], work[300], url[64], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    make_work(work, NULL, 4, "platform", "Wii");
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    sd_aug_opts o = opts_for(work, url);
    o.limit = 3;
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.asked, 3);
    cr_expect_eq(r.not_asked, 1);
    cr_expect_eq(r.filled_llm[SD_AUG_PLATFORM], 0);
    for (int i = 0; i < 4; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "it%02d", i);
        attr_of(work, ext, "platform", v, sizeof v);
        cr_expect_str_eq(v, "Wii", "%s: the item's own platform was replaced by %s", ext, v);
        attr_of(work, ext, "franchise", v, sizeof v);
        cr_expect_str_eq(v, i < 3 ? "Stub Saga" : "");
    }
    chat_stub_stop(s);
}

Test(augment_llm, urls) {
    char *u = sd_chat_completions_url("http://h:8080");
    cr_expect_str_eq(u, "http://h:8080/v1/chat/completions");
    free(u);
    u = sd_chat_completions_url("https://h/api/v1/");
    cr_expect_str_eq(u, "https://h/api/v1/chat/completions");
    free(u);
    u = sd_chat_completions_url("http://h/openai/chat/completions");
    cr_expect_str_eq(u, "http://h/openai/chat/completions");
    free(u);
    u = sd_chat_completions_url("https://h/deployments/d/chat/completions?api-version=1");
    cr_expect_str_eq(u, "https://h/deployments/d/chat/completions?api-version=1");
    free(u);
    cr_expect_null(sd_chat_completions_url("ftp://h"));
    cr_expect_null(sd_chat_completions_url("localhost:8080"));
    cr_expect_null(sd_chat_completions_url("http://"));
}

/* ---- bad input through the command ---- */

Test(augment_cli, bad_input_fails_clearly_and_writes_nothing, .timeout = 60) {
    char dir[256], work[300], path[400];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    make_work(work, NULL, 3, NULL, NULL);
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    char *before = slurp(path), *out = NULL;
    /* no work directory */
    cr_expect_eq(sd_test_semid(&out, "augment %s/absent --endpoint http://127.0.0.1:9 --quiet", dir), 1);
    cr_expect(strstr(out, "not a work directory"), "%s", out);
    free(out);
    /* bad URL and missing endpoint: usage errors */
    cr_expect_eq(sd_test_semid(&out, "augment %s --endpoint ftp://127.0.0.1/x --quiet", work), 2);
    cr_expect(strstr(out, "not an http:// or https:// URL"), "%s", out);
    free(out);
    cr_expect_eq(sd_test_semid(&out, "augment %s --quiet", work), 2);
    cr_expect(strstr(out, "--endpoint"), "%s", out);
    free(out);
    /* a server that is down: the port of one that was just stopped */
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    int port = chat_stub_port(s);
    chat_stub_stop(s);
    cr_expect_eq(sd_test_semid(&out, "augment %s --endpoint http://127.0.0.1:%d --retries 2 --backoff-ms 10 --quiet",
                               work, port), 1);
    cr_expect(strstr(out, "cannot reach the server"), "%s", out);
    free(out);
    char *after = slurp(path);
    cr_expect_str_eq(after, before);
    free(after);
    snprintf(path, sizeof path, "%s/augment", work);
    cr_expect(!sd_exists(path), "a failed run left %s", path);
    /* a wrong path on a live server: 404 names the URL */
    s = chat_stub_start();
    cr_expect_eq(sd_test_semid(&out, "augment %s --endpoint http://127.0.0.1:%d/nowhere/chat/completions --quiet", work,
                               chat_stub_port(s)), 1);
    cr_expect(strstr(out, "HTTP 404"), "%s", out);
    free(out);
    cr_expect(!sd_exists(path));
    /* --dry-run writes nothing and sends nothing */
    cr_expect_eq(sd_test_semid(&out, "augment %s --dry-run", work), 0);
    cr_expect(strstr(out, "dry run"), "%s", out);
    free(out);
    cr_expect(!sd_exists(path));
    cr_expect_eq(chat_stub_requests(s), 0);
    /* files made from the catalogue would go stale: refused without --force */
    char emb[400];
    snprintf(emb, sizeof emb, "%s/emb.npy", work);
    FILE *f = fopen(emb, "w");
    fputs("x", f);
    fclose(f);
    cr_expect_eq(sd_test_semid(&out, "augment %s --endpoint http://127.0.0.1:%d --quiet", work, chat_stub_port(s)), 2);
    cr_expect(strstr(out, "emb.npy"), "%s", out);
    free(out);
    cr_expect(!sd_exists(path));
    cr_expect_eq(sd_test_semid(&out, "augment %s --endpoint http://127.0.0.1:%d --force --json", work, chat_stub_port(s)), 0);
    cr_expect(strstr(out, "\"asked\":\t3") || strstr(out, "\"asked\": 3"), "%s", out);
    free(out);
    free(before);
    chat_stub_stop(s);
}

/* A real-shaped catalogue: rules win over the LLM, and lmdata finds the roles under the keys written. */
Test(augment_llm, amazon_catalogue_feeds_lmdata, .timeout = 60) {
    char dir[256], work[300], url[64], v[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    const char *fx = sd_test_fixtures();
    cr_assert_eq(sd_test_semid(NULL, "prep --format amazon2023 --items %s/amazon/meta.jsonl --interactions "
                                     "%s/amazon/reviews.jsonl --min-title 0 --min-desc 0 --min-user-items 1 -o %s --quiet",
                               fx, fx, work), 0);
    chat_stub *s = chat_stub_start();
    cr_assert_not_null(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", chat_stub_port(s));
    sd_aug_opts o = opts_for(work, url);
    o.model = "stub-model";
    sd_aug_report r;
    sd_err err = {0};
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_gt(r.items_by_rules, 10);
    cr_expect_eq(r.asked, chat_stub_requests(s));
    cr_expect_eq(chat_stub_requests_with(s, "\"model\":\"stub-model\""), r.asked);
    attr_of(work, "B00ZELDA01", "platform", v, sizeof v);
    cr_expect_str_eq(v, "Nintendo Switch", "the rule's value, not the stub's PC");
    attr_of(work, "B00ZELDA01", "franchise", v, sizeof v);
    cr_expect_str_eq(v, "Stub Saga");
    attr_of(work, "B00MARIO02", "Platform", v, sizeof v);
    cr_expect_str_eq(v, "Nintendo Switch", "the item's own details stay");
    sd_work w;
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    sd_lm_facts f;
    sd_lm_facts_init(&f, &w);
    cr_expect(f.place.key && !strcmp(f.place.key, "platform"), "place %s", f.place.key);
    cr_expect(f.kind.key && !strcmp(f.kind.key, "genre"), "kind %s", f.kind.key);
    cr_expect(f.main_type && !strcmp(f.main_type, "game"), "main type %s", f.main_type);
    cr_expect_eq(sd_lm_claim_kind(&f, "franchise"), 'f');
    sd_lm_facts_free(&f);
    sd_work_free(&w);
    chat_stub_stop(s);
}

/* A catalogue edited by hand after augment is not silently replaced from items.orig.jsonl. */
Test(augment_llm, hand_edit_after_augment_is_refused, .timeout = 60) {
    char dir[256], work[300], path[400];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/w", dir);
    make_work(work, NULL, 2, NULL, NULL);
    /* rules alone fill nothing here; an item with a platform in its title gives them something */
    sd_aug_opts o = {.work = work, .rules_only = true};
    sd_aug_report r;
    sd_err err = {0};
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    char *d = slurp(path);
    char *p = strstr(d, "Stub Product 0 ");
    cr_assert_not_null(p);
    FILE *f = fopen(path, "w");
    fwrite(d, 1, (size_t)(p - d) + 15, f);
    fputs("- PS4", f);
    fputs(p + 15, f);
    fclose(f);
    free(d);
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.filled_rules[SD_AUG_PLATFORM], 1);
    /* a rerun as it is: fine */
    cr_assert_eq(sd_augment(&o, &r, &err), 0, "%s", err.msg);
    /* edited after that (a title changed): refused, file unchanged */
    d = slurp(path);
    p = strstr(d, "Stub Product 1");
    cr_assert_not_null(p);
    p[13] = 'X';
    f = fopen(path, "w");
    fputs(d, f);
    fclose(f);
    free(d);
    char *before = slurp(path);
    cr_expect_neq(sd_augment(&o, &r, &err), 0);
    cr_expect(strstr(err.msg, "changed since the last augment"), "%s", err.msg);
    char *after = slurp(path);
    cr_expect_str_eq(after, before);
    free(before); free(after);
}
