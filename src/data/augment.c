/* `semid augment` (data/augment.h): rules, the cache, the requests, the merge. */
#include "data/augment.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/strmap.h"
#include "data/augment_rules.h"
#include "data/jsonw.h"
#include "data/workdir.h"
#include "io/json_util.h"

/* Prompt sizes: enough for a model to tell a game from its strategy guide, small enough that a
 * 100k-item catalogue stays cheap to label. */
enum { MAX_DESC_BYTES = 1500, MAX_FEATURES = 6, MAX_FEATURE_BYTES = 200, MAX_DETAILS = 12, MAX_DETAIL_BYTES = 100 };

typedef struct item_state {
    bool had[SD_AUG_N_FIELDS];               /* the item has the key already: never touched */
    sd_aug_values rules;
    const char *rule[SD_AUG_N_FIELDS];
    sd_aug_values llm;
    char *llm_owned;
    bool answered;                           /* llm holds a validated answer (this run or the cache) */
    bool ask;                                /* rules left a field open */
    uint64_t key;                            /* hash of the prompt: a cached answer is for this text only */
} item_state;

typedef struct aug {
    const sd_aug_opts *o;
    const sd_catalog *base;
    item_state *st;
    char *system;
    int32_t *jobs; size_t n_jobs;            /* items asked in this run */
    char *url;
    FILE *cache;
    char *cache_path;
    sd_aug_report *r;
    int64_t kept;                            /* answers validated and cached in this run */
    sd_progress prog;
} aug;

/* ---- the prompt ---- */

/* Appends at most max bytes of s, cut on a character boundary. */
static void put_cut(char **b, size_t *n, size_t *cap, const char *s, size_t max) {
    size_t l = strlen(s);
    if (l > max) {
        l = max;
        while (l && ((unsigned char)s[l] & 0xC0) == 0x80) l--;
    }
    SD_GROW(*b, *cap, *n + l + 1);
    memcpy(*b + *n, s, l);
    *n += l;
    (*b)[*n] = 0;
}

static void put(char **b, size_t *n, size_t *cap, const char *s) { put_cut(b, n, cap, s, (size_t)-1); }

/* Details that say nothing of what a product is (numbers, dates, ranks). */
static bool detail_noise(const char *k) {
    static const char *const noise[] = {"price", "average_rating", "rating_number", "Item Weight", "Best Sellers Rank",
                                        "Product Dimensions", "Date First Available", "ASIN", "UPC",
                                        "Item model number", "Release date", "release_date", "Package Dimensions", NULL};
    for (const char *const *p = noise; *p; p++) if (!strcmp(*p, k)) return true;
    return false;
}

static char *user_prompt(const sd_catalog *c, int32_t id) {
    const sd_item *it = &c->items[id];
    char *b = NULL;
    size_t n = 0, cap = 0;
    put(&b, &n, &cap, "Title: ");
    put_cut(&b, &n, &cap, it->title, 400);
    if (it->n_categories) {
        put(&b, &n, &cap, "\nCategories: ");
        for (uint32_t k = 0; k < it->n_categories; k++) {
            if (k) put(&b, &n, &cap, " > ");
            put_cut(&b, &n, &cap, sd_item_categories(c, it)[k], MAX_DETAIL_BYTES);
        }
    }
    const sd_kv *a = sd_item_attrs(c, it);
    int shown = 0;
    for (uint32_t k = 0; k < it->n_attrs && shown < MAX_DETAILS; k++) {
        if (detail_noise(a[k].key) || !a[k].value[0]) continue;
        put(&b, &n, &cap, shown++ ? "; " : "\nDetails: ");
        put_cut(&b, &n, &cap, a[k].key, 60);
        put(&b, &n, &cap, ": ");
        put_cut(&b, &n, &cap, a[k].value, MAX_DETAIL_BYTES);
    }
    for (uint32_t k = 0; k < it->n_features && k < MAX_FEATURES; k++) {
        put(&b, &n, &cap, k ? "\n- " : "\nFeatures:\n- ");
        put_cut(&b, &n, &cap, sd_item_features(c, it)[k], MAX_FEATURE_BYTES);
    }
    if (it->description[0]) {
        put(&b, &n, &cap, "\nDescription: ");
        put_cut(&b, &n, &cap, it->description, MAX_DESC_BYTES);
    }
    return b;
}

static uint64_t prompt_key(const char *system, const char *user) {
    char v[32];
    int n = snprintf(v, sizeof v, "v%d\x1f", SD_AUG_SCHEMA_VERSION);
    uint64_t h = sd_hash_bytes(v, (size_t)n);
    h = h * 0x9E3779B97F4A7C15ull ^ sd_hash_bytes(system, strlen(system));
    return h * 0x9E3779B97F4A7C15ull ^ sd_hash_bytes(user, strlen(user));
}

static char *request_body(void *ctx, size_t job, size_t *len) {
    aug *g = ctx;
    char *user = user_prompt(g->base, g->jobs[job]);
    cJSON *j = cJSON_CreateObject();
    if (g->o->model) cJSON_AddStringToObject(j, "model", g->o->model);
    cJSON *msgs = cJSON_AddArrayToObject(j, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", g->system);
    cJSON_AddItemToArray(msgs, m);
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", user);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(j, "temperature", 0);
    cJSON_AddNumberToObject(j, "max_tokens", g->o->max_tokens > 0 ? g->o->max_tokens : 256);
    if (g->o->json_mode) cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "response_format"), "type", "json_object");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    free(user);
    *len = strlen(s);
    return s;
}

/* ---- the cache ---- */

static cJSON *values_json(const sd_aug_values *v) {
    cJSON *a = cJSON_CreateObject();
    for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
        const char *key = sd_aug_fields[f].key;
        if (sd_aug_fields[f].list) {
            cJSON *l = cJSON_AddArrayToObject(a, key);
            for (int g = 0; g < v->n_genres; g++) cJSON_AddItemToArray(l, cJSON_CreateString(v->genres[g]));
        } else if (v->v[f]) {
            cJSON_AddStringToObject(a, key, v->v[f]);
        } else {
            cJSON_AddNullToObject(a, key);
        }
    }
    return a;
}

/* One line per answer. A line of another schema or prompt text, or one cut short by a crash,
 * is skipped: its item is asked again. An answer in the cache passes the same validation as a
 * fresh one, so a hand-edited cache cannot bring values outside the schema in. */
static int read_cache(aug *g, sd_err *err) {
    if (!sd_exists(g->cache_path)) return 0;
    sd_lines *lr;
    int rc = sd_lines_open(&lr, g->cache_path, err);
    if (rc) return rc;
    char *line;
    size_t len;
    while ((rc = sd_lines_next(lr, &line, &len, err)) == 1) {
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "ext_id");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
        const cJSON *ans = cJSON_GetObjectItemCaseSensitive(j, "answer");
        int32_t item = cJSON_IsString(id) ? sd_catalog_find(g->base, id->valuestring) : -1;
        if (item >= 0 && !g->st[item].ask) { cJSON_Delete(j); continue; } /* complete without it now */
        char want[17];
        if (item >= 0) snprintf(want, sizeof want, "%016" PRIx64, g->st[item].key);
        if (item < 0 || !cJSON_IsString(key) || strcmp(key->valuestring, want) || !cJSON_IsObject(ans)) {
            g->r->cache_lines_skipped++;
            cJSON_Delete(j);
            continue;
        }
        char *text = cJSON_PrintUnformatted(ans), why[160];
        item_state *s = &g->st[item];
        sd_aug_values v;
        char *owned;
        if (sd_aug_validate(text, strlen(text), &v, &owned, why, sizeof why) == SD_AUG_OK) {
            free(s->llm_owned);
            s->llm = v, s->llm_owned = owned, s->answered = true;
        } else {
            g->r->cache_lines_skipped++;
        }
        free(text);
        cJSON_Delete(j);
    }
    sd_lines_close(lr);
    return rc < 0 ? rc : 0;
}

static int open_cache_append(aug *g, sd_err *err) {
    char *dir = sd_path_join(g->o->work, "augment");
    int rc = sd_mkdir_p(dir, err);
    free(dir);
    if (rc) return rc;
    if ((rc = sd_out_file_check(g->cache_path, err))) return rc;
    g->cache = fopen(g->cache_path, "a+");
    if (!g->cache) return sd_errf(err, SD_EIO, "%s: %s", g->cache_path, strerror(errno));
    /* a line cut short by a killed run must not swallow the next one */
    if (fseek(g->cache, -1, SEEK_END) == 0 && fgetc(g->cache) != '\n') {
        fseek(g->cache, 0, SEEK_END);
        fputc('\n', g->cache);
    }
    return 0;
}

/* Opened at the first answer worth keeping, so a run that gets none writes nothing. */
static int append_cache(aug *g, int32_t item, const sd_aug_values *v, sd_err *err) {
    int rc = g->cache ? 0 : open_cache_append(g, err);
    if (rc) return rc;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "ext_id", g->base->items[item].ext_id);
    char key[17];
    snprintf(key, sizeof key, "%016" PRIx64, g->st[item].key);
    cJSON_AddStringToObject(j, "key", key);
    if (g->o->model) cJSON_AddStringToObject(j, "model", g->o->model);
    cJSON_AddItemToObject(j, "answer", values_json(v));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    fseek(g->cache, 0, SEEK_END);
    bool ok = fputs(s, g->cache) >= 0 && fputc('\n', g->cache) != EOF && fflush(g->cache) == 0 &&
              fsync(fileno(g->cache)) == 0;
    free(s);
    return ok ? 0 : sd_errf(err, SD_EIO, "%s: %s", g->cache_path, strerror(errno));
}

/* ---- answers ---- */

static int on_answer(void *ctx, size_t job, long status, const char *resp, size_t len, sd_err *err) {
    aug *g = ctx;
    int32_t item = g->jobs[job];
    sd_progress_add(&g->prog, 1);
    if (status < 200 || status >= 300) {
        if (status == 0) g->r->failed_timeout++;
        else g->r->failed_http++;
        sd_debug("augment: %s: %s %ld: %.200s", g->base->items[item].ext_id, status ? "HTTP" : "transport", status, resp);
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(resp, len);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    sd_aug_reason r = SD_AUG_R_ENVELOPE;
    sd_aug_values v;
    char *owned = NULL, why[160] = "";
    if (cJSON_IsString(content))
        r = sd_aug_validate(content->valuestring, strlen(content->valuestring), &v, &owned, why, sizeof why);
    cJSON_Delete(j);
    g->r->answered++;
    if (r != SD_AUG_OK) {
        g->r->rejected[r]++;
        sd_debug("augment: %s: rejected: %s%s%s", g->base->items[item].ext_id, sd_aug_reason_name[r], why[0] ? ": " : "", why);
        return 0;
    }
    item_state *s = &g->st[item];
    int rc = append_cache(g, item, &v, err);
    g->kept += !rc;
    free(s->llm_owned);
    s->llm = v, s->llm_owned = owned, s->answered = true;
    return rc;
}

/* ---- the work directory ---- */

/* Files in WORK that later stages made from the catalogue (embeddings, IDs, models): augment
 * makes them stale. What prep/synth write, locks and augment's own folder are not. */
static void find_stale(const char *work, char *out, size_t cap) {
    static const char *const own[] = {"items.jsonl", "sequences.bin", "split.bin", "meta.json", SD_DIR_MARKER,
                                      "augment", "synth_users.jsonl", NULL};
    out[0] = 0;
    DIR *d = opendir(work);
    if (!d) return;
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]))) continue;
        bool skip = strstr(nm, ".tmp.") || strstr(nm, ".lock");
        for (const char *const *p = own; *p && !skip; p++) skip = !strcmp(*p, nm);
        if (skip) continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? " " : "", nm);
        if (w < 0 || (size_t)w >= cap - n) { if (cap > 4) strcpy(out + cap - 4, "..."); break; }
        n += (size_t)w;
    }
    closedir(d);
}

/* WORK/augment/written: the hash and size of the items.jsonl the last augment wrote, so that a
 * rerun (which starts again from items.orig.jsonl) notices a catalogue edited since and refuses
 * rather than drop the edit. */
static int file_stamp(const char *path, char *out, size_t cap, sd_err *err) {
    char *d = NULL;
    size_t n = 0;
    int rc = sd_read_file(path, &d, &n, err);
    if (!rc) snprintf(out, cap, "%016" PRIx64 " %zu\n", sd_hash_bytes(d, n), n);
    free(d);
    return rc;
}

static int check_written(const sd_work *w, sd_err *err) {
    char *stamp_path = sd_path_join(w->dir, "augment/written"), *items = sd_path_join(w->dir, "items.jsonl");
    char *old = NULL, now[64];
    size_t len = 0;
    int rc = 0;
    if (sd_exists(stamp_path) && !(rc = sd_read_small_file(stamp_path, 256, &old, &len, err)) &&
        !(rc = file_stamp(items, now, sizeof now, err)) && strcmp(old, now))
        rc = sd_errf(err, SD_ESTATE, "%s changed since the last augment wrote it (edited by hand?); augment starts "
                     "from %s/augment/items.orig.jsonl and would drop the change. To augment the catalogue as it is "
                     "now, move %s/augment aside (keep it: its items.orig.jsonl is the catalogue as it was before the "
                     "first augment)", items, w->dir, w->dir);
    free(old); free(stamp_path); free(items);
    return rc;
}

/* The catalogue every run starts from: items.orig.jsonl once augment has run, so that a rerun
 * neither stacks on its own output nor loses what the user had. */
static int load_base(sd_catalog **base, const sd_work *w, const char *orig, sd_err *err) {
    *base = NULL;
    if (!sd_exists(orig)) return 0;
    int rc = check_written(w, err);
    if (!rc) rc = sd_catalog_read_jsonl(base, orig, err);
    if (rc) return rc;
    const sd_catalog *a = *base, *b = w->cat;
    bool same = a->n_items == b->n_items;
    int32_t bad = -1;
    for (int32_t i = 0; same && i < a->n_items; i++)
        if (strcmp(a->items[i].ext_id, b->items[i].ext_id)) same = false, bad = i;
    if (!same) {
        rc = sd_errf(err, SD_ESTATE, "%s does not match %s/items.jsonl (%s): the catalogue was replaced since the "
                     "last augment; remove %s/augment to start over", orig, w->dir,
                     bad >= 0 ? "item ids differ" : "item counts differ", w->dir);
        sd_catalog_free(*base);
        *base = NULL;
    }
    return rc;
}

static int write_sources(const aug *g, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    for (int32_t i = 0; i < g->base->n_items; i++) {
        const item_state *s = &g->st[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "ext_id", g->base->items[i].ext_id);
        bool any = false;
        for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
            if (s->had[f]) continue;
            const char *src = s->rules.v[f] ? s->rule[f] : s->llm.v[f] ? "llm" : NULL;
            if (!src) continue;
            char buf[96];
            snprintf(buf, sizeof buf, "%s%s", s->rules.v[f] ? "rule:" : "", src);
            cJSON_AddStringToObject(j, sd_aug_fields[f].key, buf);
            any = true;
        }
        if (any) {
            char *t = cJSON_PrintUnformatted(j);
            fputs(t, a.f);
            fputc('\n', a.f);
            free(t);
        }
        cJSON_Delete(j);
    }
    return sd_atomic_commit(&a, err);
}

/* The base catalogue with every open field filled (rules first, then the LLM). */
static sd_catalog *merged(aug *g, sd_err *err) {
    const sd_catalog *c = g->base;
    sd_catalog *out = sd_catalog_new();
    sd_kv *kv = NULL;
    size_t cap = 0;
    for (int32_t i = 0; i < c->n_items; i++) {
        const sd_item *it = &c->items[i];
        item_state *s = &g->st[i];
        SD_GROW(kv, cap, it->n_attrs + SD_AUG_N_FIELDS + SD_AUG_MAX_GENRES);
        if (it->n_attrs) memcpy(kv, sd_item_attrs(c, it), sizeof *kv * it->n_attrs);
        uint32_t n = it->n_attrs;
        bool by_rules = false, by_llm = false;
        for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
            if (s->had[f]) continue;
            const sd_aug_values *v = s->rules.v[f] ? &s->rules : s->llm.v[f] ? &s->llm : NULL;
            if (!v) continue;
            if (v == &s->rules) g->r->filled_rules[f]++, by_rules = true;
            else g->r->filled_llm[f]++, by_llm = true;
            if (sd_aug_fields[f].list)
                for (int k = 0; k < v->n_genres; k++) kv[n++] = (sd_kv){sd_aug_fields[f].key, v->genres[k]};
            else
                kv[n++] = (sd_kv){sd_aug_fields[f].key, v->v[f]};
        }
        g->r->items_by_rules += by_rules;
        g->r->items_by_llm += by_llm;
        sd_item_in in = {it->ext_id, it->title, it->description, sd_item_features(c, it), it->n_features,
                         sd_item_categories(c, it), it->n_categories, kv, n};
        if (sd_catalog_add(out, &in, err) < 0) { free(kv); sd_catalog_free(out); return NULL; }
    }
    free(kv);
    return out;
}

/* Fields worth a request for a product of this type: a console has no genre and no one asks whether
 * a cable is multiplayer. NULL type (unknown): all of them. */
static bool field_applies(const char *type, sd_aug_field f) {
    if (!type || !strcmp(type, "game") || f == SD_AUG_PRODUCT_TYPE) return true;
    if (!strcmp(type, "console") || !strcmp(type, "accessory")) return f == SD_AUG_PLATFORM;
    if (!strcmp(type, "movie")) return f == SD_AUG_GENRE || f == SD_AUG_FRANCHISE;
    return f == SD_AUG_FRANCHISE;
}

static const char *first_value(const sd_catalog *c, const sd_item *it, const char *key) {
    const sd_kv *a = sd_item_attrs(c, it);
    for (uint32_t k = 0; k < it->n_attrs; k++) if (!strcmp(a[k].key, key) && a[k].value[0]) return a[k].value;
    return NULL;
}

static bool has_key(const sd_catalog *c, const sd_item *it, const char *key) {
    const sd_kv *a = sd_item_attrs(c, it);
    for (uint32_t k = 0; k < it->n_attrs; k++) if (!strcmp(a[k].key, key) && a[k].value[0]) return true;
    return false;
}

static int write_outputs(aug *g, const char *orig, sd_err *err) {
    char *dir = sd_path_join(g->o->work, "augment");
    char *p_src = sd_path_join(dir, "sources.jsonl"), *p_rep = sd_path_join(dir, "report.json");
    char *p_items = sd_path_join(g->o->work, "items.jsonl");
    sd_catalog *out = merged(g, err);
    int rc = out ? 0 : SD_EFORMAT;
    /* nothing gained and never augmented before: the work directory stays exactly as it was */
    bool nothing = out && !g->r->items_by_rules && !g->r->items_by_llm && !sd_exists(orig);
    if (!rc && !nothing) rc = sd_mkdir_p(dir, err);
    if (nothing) {
        sd_catalog_free(out);
        free(dir); free(p_src); free(p_rep); free(p_items);
        return 0;
    }
    /* the catalogue as the user had it, byte for byte, before anything replaces it */
    if (!rc && !sd_exists(orig)) {
        char *data = NULL;
        size_t len = 0;
        rc = sd_read_file(p_items, &data, &len, err);
        if (!rc) rc = sd_write_file_atomic(orig, data, len, err);
        free(data);
    }
    if (!rc) rc = write_sources(g, p_src, err);
    g->r->wrote = !rc;
    if (!rc) {
        char *rep = sd_aug_report_json(g->r);
        rc = sd_write_file_atomic(p_rep, rep, strlen(rep), err);
        free(rep);
    }
    if (!rc) rc = sd_catalog_write_jsonl(out, p_items, err);
    g->r->wrote = !rc;
    if (!rc) {
        char stamp[64], *p_stamp = sd_path_join(dir, "written");
        rc = file_stamp(p_items, stamp, sizeof stamp, err);
        if (!rc) rc = sd_write_file_atomic(p_stamp, stamp, strlen(stamp), err);
        free(p_stamp);
    }
    sd_catalog_free(out);
    free(dir); free(p_src); free(p_rep); free(p_items);
    return rc;
}

int sd_augment(const sd_aug_opts *o, sd_aug_report *r, sd_err *err) {
    memset(r, 0, sizeof *r);
    bool asking = !o->rules_only && !o->dry_run;
    aug g = {.o = o, .r = r};
    if (asking) {
        if (!(g.url = sd_chat_completions_url(o->endpoint)))
            return sd_errf(err, SD_EUSAGE, "augment: --endpoint '%s' is not an http:// or https:// URL",
                           o->endpoint ? o->endpoint : "");
    }
    if (!sd_is_dir(o->work)) {
        free(g.url);
        return sd_errf(err, SD_EIO, "%s: not a work directory (run `semid prep` or `semid synth` first)", o->work);
    }
    sd_lock lk = {.fd = -1};
    sd_work w;
    memset(&w, 0, sizeof w);
    sd_catalog *own_base = NULL;
    char *orig = sd_path_join(o->work, "augment/items.orig.jsonl");
    g.cache_path = sd_path_join(o->work, "augment/cache.jsonl");
    /* WORK/items.jsonl is replaced: no other stage may read WORK meanwhile (exclusive, as prep) */
    int rc = o->dry_run ? 0 : sd_lock_output(&lk, o->work, err);
    if (!rc) rc = sd_work_load(&w, o->work, err);
    if (!rc) rc = load_base(&own_base, &w, orig, err);
    if (rc) goto done;
    g.base = own_base ? own_base : w.cat;
    find_stale(o->work, r->stale, sizeof r->stale);
    if (r->stale[0] && !o->force && !o->dry_run) {
        rc = sd_errf(err, SD_EUSAGE, "%s holds files made from the catalogue before augment (%s); augment would make "
                     "them stale. Run augment before embed/ids/lmdata, or pass --force and rerun those stages after it",
                     o->work, r->stale);
        goto done;
    }
    r->items = g.base->n_items;
    g.st = sd_xcalloc((size_t)g.base->n_items + 1, sizeof *g.st);
    g.system = sd_aug_system_prompt();
    for (int32_t i = 0; i < g.base->n_items; i++) {
        item_state *s = &g.st[i];
        const sd_item *it = &g.base->items[i];
        bool complete = true;
        sd_aug_rules_apply(g.base, i, w.format, &s->rules, s->rule);
        for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
            s->had[f] = has_key(g.base, it, sd_aug_fields[f].key);
            if (s->had[f]) s->rules.v[f] = NULL, s->rule[f] = NULL;
        }
        const char *own_type = first_value(g.base, it, sd_aug_fields[SD_AUG_PRODUCT_TYPE].key);
        const char *type = own_type ? own_type : s->rules.v[SD_AUG_PRODUCT_TYPE];
        for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
            complete &= s->had[f] || !field_applies(own_type, (sd_aug_field)f);
            s->ask |= !s->had[f] && !s->rules.v[f] && field_applies(type, (sd_aug_field)f);
        }
        if (s->had[SD_AUG_GENRE]) s->rules.n_genres = 0;
        r->complete_before += complete;
        r->to_ask += s->ask;
        if (s->ask) {
            char *u = user_prompt(g.base, i);
            s->key = prompt_key(g.system, u);
            free(u);
        }
    }
    if ((rc = read_cache(&g, err))) goto done;
    g.jobs = sd_xmalloc(sizeof(int32_t) * ((size_t)g.base->n_items + 1));
    for (int32_t i = 0; i < g.base->n_items; i++) {
        if (!g.st[i].ask) continue;
        if (g.st[i].answered) { r->from_cache++; continue; }
        if (asking && (o->limit <= 0 || (int64_t)g.n_jobs < o->limit)) g.jobs[g.n_jobs++] = i;
        else r->not_asked++;
    }
    if (g.n_jobs) {
        sd_http_opts ho = {.url = g.url, .api_key = o->api_key, .parallel = o->parallel, .retries = o->retries,
                           .timeout_ms = o->timeout_ms, .backoff_ms = o->backoff_ms, .backoff_max_ms = 30000};
        r->asked = (int64_t)g.n_jobs;
        snprintf(r->url, sizeof r->url, "%s", g.url);
        snprintf(r->model, sizeof r->model, "%s", o->model ? o->model : "");
        if (o->progress) sd_progress_start(&g.prog, "augment", (int64_t)g.n_jobs, "items");
        rc = sd_http_post_all(&ho, g.n_jobs, request_body, on_answer, &g, &r->http, err);
        if (o->progress) sd_progress_finish(&g.prog);
        if (rc) {
            if (g.kept)
                sd_err_prefix(err, "augment: stopped (%lld of %lld answers kept in %s for the next run; items.jsonl "
                              "unchanged)", (long long)g.kept, (long long)g.n_jobs, g.cache_path);
            else
                sd_err_prefix(err, "augment: stopped (no answers; nothing written)");
            goto done;
        }
    }
    if (o->dry_run) {
        sd_catalog *m = merged(&g, err);  /* counts only */
        sd_catalog_free(m);
    } else {
        rc = write_outputs(&g, orig, err);
    }
done:
    if (g.cache) fclose(g.cache);
    if (g.st) for (int32_t i = 0; i < g.base->n_items; i++) free(g.st[i].llm_owned);
    free(g.st);
    free(g.jobs);
    free(g.system);
    free(g.url);
    free(g.cache_path);
    free(orig);
    sd_catalog_free(own_base);
    if (w.dir) sd_work_free(&w);
    sd_unlock(&lk);
    return rc;
}

char *sd_aug_report_json(const sd_aug_report *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "items", (double)r->items);
    cJSON_AddNumberToObject(j, "complete_before", (double)r->complete_before);
    cJSON_AddNumberToObject(j, "items_filled_by_rules", (double)r->items_by_rules);
    cJSON_AddNumberToObject(j, "items_filled_by_llm", (double)r->items_by_llm);
    cJSON *fr = cJSON_AddObjectToObject(j, "filled_by_rules"), *fl = cJSON_AddObjectToObject(j, "filled_by_llm");
    for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
        cJSON_AddNumberToObject(fr, sd_aug_fields[f].key, (double)r->filled_rules[f]);
        cJSON_AddNumberToObject(fl, sd_aug_fields[f].key, (double)r->filled_llm[f]);
    }
    cJSON_AddNumberToObject(j, "to_ask", (double)r->to_ask);
    cJSON_AddNumberToObject(j, "from_cache", (double)r->from_cache);
    cJSON_AddNumberToObject(j, "asked", (double)r->asked);
    cJSON_AddNumberToObject(j, "answered", (double)r->answered);
    cJSON_AddNumberToObject(j, "not_asked", (double)r->not_asked);
    cJSON *rj = cJSON_AddObjectToObject(j, "rejected");
    static const char *const keys[SD_AUG_N_REASONS] = {NULL, "envelope", "bad_json", "missing_field", "wrong_type",
                                                       "out_of_schema"};
    for (int k = 1; k < SD_AUG_N_REASONS; k++) cJSON_AddNumberToObject(rj, keys[k], (double)r->rejected[k]);
    cJSON_AddNumberToObject(j, "failed_http", (double)r->failed_http);
    cJSON_AddNumberToObject(j, "failed_timeout", (double)r->failed_timeout);
    cJSON_AddNumberToObject(j, "requests", (double)r->http.requests);
    cJSON_AddNumberToObject(j, "retries", (double)r->http.retries);
    cJSON_AddNumberToObject(j, "timeouts", (double)r->http.timeouts);
    cJSON_AddNumberToObject(j, "cache_lines_skipped", (double)r->cache_lines_skipped);
    cJSON_AddStringToObject(j, "stale", r->stale);
    cJSON_AddStringToObject(j, "url", r->url);
    cJSON_AddStringToObject(j, "model", r->model);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}
