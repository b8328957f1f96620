/* Valid-item rate, steering accuracy and explanation truth of the LLM recommender (lm/llm_eval.h). */
#include "lm/llm_eval.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/strmap.h"
#include "eval/evaluate.h"
#include "lm/generate.h"
#include "lm/lmdata_facts.h"
#include "lm/lmdata_phrases.h"
#include "lm/sid_decode.h"

/* ---- small text helpers ---- */
/* Item named by the first complete SID in tokens, or -1. */
static int32_t first_sid_item(const sd_sid_vocab *v, const int32_t *t, int n) {
    for (int i = 0; i < n; i++)
        if (t[i] == v->start_id) return i + v->n_levels + 1 < n ? sd_sid_vocab_tokens_item(v, t + i, v->n_levels + 2) : -1;
    return -1;
}

/* value occurs in text as a whole phrase (not inside a longer word) */
static bool mentions(const char *text, const char *value) {
    size_t n = strlen(value);
    if (!n) return false;
    for (const char *p = strstr(text, value); p; p = strstr(p + 1, value)) {
        bool left = p == text || !((p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= '0' && p[-1] <= '9'));
        char c = p[n];
        bool right = !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
        if (left && right) return true;
    }
    return false;
}

/* ---- the parts ---- */

typedef struct users {
    int32_t n;
    int32_t *u;
    const int32_t **ctx;
    int32_t *len;
} users;

static void users_of(users *us, const sd_work *w, const sd_llm_eval_opts *o) {
    int32_t n = 0;
    us->u = sd_eval_users_sample(&w->split, SD_PART_TEST, o->users, o->seed, &n, NULL);
    us->n = n;
    us->ctx = sd_xmalloc(sizeof *us->ctx * (size_t)(n ? n : 1));
    us->len = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        us->ctx[i] = sd_seq_items(&w->seq, us->u[i]);
        us->len[i] = w->split.test_pos[us->u[i]];
    }
}

static void users_free(users *us) {
    free(us->u); free(us->ctx); free(us->len);
}

static int valid_rates(sd_llm_rec *r, const users *us, const sd_llm_eval_opts *o, sd_llm_eval *out, sd_err *err) {
    int n = us->n, rc = 0;
    sd_ids *ids = sd_xcalloc((size_t)(n ? n : 1), sizeof *ids);
    const int32_t **pp = sd_xmalloc(sizeof *pp * (size_t)(n ? n : 1));
    int *lens = sd_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n && !rc; i++) {
        rc = sd_llm_rec_prompt(r, us->ctx[i], us->len[i], us->len[i] ? NULL : SD_SID_TOKEN_REC, &ids[i], err);
        pp[i] = ids[i].v, lens[i] = (int)ids[i].n;
    }
    int32_t stop[16];
    for (int masked = 0; masked < 2 && !rc && n; masked++) {
        sd_gen_cfg g;
        sd_gen_cfg_default(&g);
        g.max_new_tokens = r->v.n_levels + 4;
        g.sample.temperature = 0.3f, g.sample.top_p = 0.7f, g.sample.top_k = 20, g.sample.seed = o->seed;
        g.n_stop = sd_qwen3_stop_ids(&r->m, stop, 16);
        g.stop_ids = stop;
        sd_sid_mask mk = {0};
        if (masked) {
            if ((rc = sd_sid_mask_init(&mk, &r->v, err))) break;
            g.sample.mask = sd_sid_mask_apply, g.sample.mask_ctx = &mk;
        }
        sd_gen_out go;
        rc = sd_generate(&r->m, pp, lens, n, &g, &go, err);
        if (!rc) {
            int ok = 0;
            for (int i = 0; i < n; i++) ok += first_sid_item(&r->v, go.tokens[i], go.n[i]) >= 0;
            if (masked) out->valid_constrained = (double)ok / n;
            else out->valid_free = (double)ok / n;
            sd_gen_out_free(&go);
        }
        if (masked) sd_sid_mask_free(&mk);
    }
    out->valid_users = n;
    for (int i = 0; i < n; i++) sd_ids_free(&ids[i]);
    free(ids); free(pp); free(lens);
    return rc;
}

/* Top-k of a scorer for the users' contexts, history excluded (-1 past what it has). */
static int scorer_topk(const sd_scorer *sc, const users *us, int k, int32_t *top, sd_err *err) {
    int n = us->n, rc = 0;
    int32_t N = sc->n_items;
    float *S = sd_afloats((size_t)(n ? n : 1) * N);
    rc = sc->score_batch(sc->model, n, us->u, us->ctx, us->len, S, err);
    for (int i = 0; i < n && !rc; i++) {
        float *s = S + (size_t)i * N;
        for (int32_t j = 0; j < us->len[i]; j++) s[us->ctx[i][j]] = -INFINITY;
        for (int j = 0; j < k; j++) { /* k is small: repeated argmax */
            int32_t best = -1;
            for (int32_t t = 0; t < N; t++)
                if (s[t] > -INFINITY && (best < 0 || s[t] > s[best])) best = t;
            top[(size_t)i * k + j] = best;
            if (best >= 0) s[best] = -INFINITY;
        }
    }
    sd_afree(S);
    return rc;
}

/* What one prompt kind asks of each user: platform and/or genre (NULL: not asked). */
typedef struct ask { const char *platform, *genre; } ask;

static void add_row(sd_llm_eval *out, const char *model, const char *prompt, const sd_lm_facts *f, const users *us,
                    const ask *a, const int32_t *top, int k) {
    int64_t n = 0, hp = 0, hg = 0, hb = 0;
    bool ap = false, ag = false;
    for (int i = 0; i < us->n; i++)
        for (int j = 0; j < k; j++) {
            int32_t it = top[(size_t)i * k + j];
            if (it < 0) continue;
            n++;
            bool p = a[i].platform && sd_lm_item_has(f, it, f->place.key, a[i].platform);
            bool g = a[i].genre && sd_lm_item_has(f, it, f->kind.key, a[i].genre);
            ap |= a[i].platform != NULL, ag |= a[i].genre != NULL;
            hp += p, hg += g, hb += p && g;
        }
    out->steer = sd_xrealloc(out->steer, sizeof *out->steer * (size_t)(out->n_steer + 1));
    sd_steer_row *r = &out->steer[out->n_steer++];
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->prompt, sizeof r->prompt, "%s", prompt);
    r->users = us->n;
    r->platform = ap && n ? (double)hp / n : NAN;
    r->genre = ag && n ? (double)hg / n : NAN;
    r->both = ap && ag && n ? (double)hb / n : NAN;
}

/* A value of role rv other than `not` (uniform over values with at least min_items items). */
static const char *pick_value(const sd_lm_role_vals *rv, sd_rng *rg, const char *not, int min_items) {
    for (int tries = 0; tries < 50; tries++) {
        int v = (int)sd_rng_below(rg, (uint64_t)rv->n);
        if (rv->n_items[v] < min_items || (not && !strcmp(rv->vals[v], not))) continue;
        return rv->vals[v];
    }
    return NULL;
}

static int steering(sd_llm_rec *r, const sd_work *w, const sd_lm_facts *f, const users *us,
                    const sd_scorer *const *others, int n_others, const sd_llm_eval_opts *o, sd_llm_eval *out,
                    sd_err *err) {
    const int k = o->top_k, n = us->n;
    const char *prompts[3] = {"request", "steer_platform", "steer_genre"};
    ask *a = sd_xcalloc((size_t)(n ? n : 1), sizeof *a);
    sd_ids *ids = sd_xcalloc((size_t)(n ? n : 1), sizeof *ids);
    int32_t *top = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1) * k), *found = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int rc = 0;
    for (int q = 0; q < 3 && !rc; q++) {
        /* the asks and the LLM's prompts */
        for (int i = 0; i < n && !rc; i++) {
            sd_rng rg;
            sd_rng_stream(&rg, o->seed, 0x7374656572ull * 4 + (uint64_t)q + ((uint64_t)us->u[i] << 3)); /* "steer" */
            int32_t last = us->len[i] ? us->ctx[i][us->len[i] - 1] : -1;
            const char *lp = last >= 0 ? sd_lm_item_first(f, last, f->place.key) : NULL;
            const char *lg = last >= 0 ? sd_lm_item_first(f, last, f->kind.key) : NULL;
            a[i] = (ask){0};
            char *h = sd_llm_rec_history_text(r, us->ctx[i], us->len[i]);
            char *msg = NULL;
            if (q == 0) {
                a[i].genre = pick_value(&f->kind, &rg, NULL, k);
                a[i].platform = pick_value(&f->place, &rg, NULL, k);
                const char *kv[] = {"kind", a[i].genre ? a[i].genre : "", "place", a[i].platform ? a[i].platform : "",
                                    "noun", f->noun, NULL};
                msg = sd_lmp_expand(sd_lmp_request_kp.reserved[0], kv);
            } else if (q == 1) {
                a[i].platform = pick_value(&f->place, &rg, lp, k);
                const char *kv[] = {"history", h, "value", a[i].platform ? a[i].platform : "", NULL};
                msg = sd_lmp_expand(sd_lmp_steer_place.reserved[0], kv);
            } else {
                a[i].genre = pick_value(&f->kind, &rg, lg, k);
                const char *kv[] = {"history", h, "kind", a[i].genre ? a[i].genre : "", "noun", f->noun, NULL};
                msg = sd_lmp_expand(sd_lmp_request_history.reserved[0], kv);
            }
            rc = sd_llm_rec_encode(r, msg, &ids[i], err);
            free(msg);
            free(h);
        }
        if (!rc) rc = sd_llm_rec_beam(r, n, ids, us->ctx, us->len, k, top, NULL, found, err);
        if (!rc) {
            for (int i = 0; i < n; i++)
                for (int j = found[i]; j < k; j++) top[(size_t)i * k + j] = -1;
            add_row(out, o->name ? o->name : "llm", prompts[q], f, us, a, top, k);
        }
        for (int m = 0; m < n_others && !rc; m++) {
            if (!others[m]->score_batch) continue;
            if (!(rc = scorer_topk(others[m], us, k, top, err))) add_row(out, others[m]->name, prompts[q], f, us, a, top, k);
        }
    }
    (void)w;
    for (int i = 0; i < n; i++) sd_ids_free(&ids[i]);
    free(ids); free(a); free(top); free(found);
    return rc;
}

/* Every distinct value of key in the catalogue, interned in map (ids into vals). */
static int values_of(const sd_catalog *c, const char *key, sd_strmap *map, const char ***vals) {
    int n = 0, cap = 64;
    *vals = sd_xmalloc(sizeof **vals * (size_t)cap);
    for (int32_t i = 0; i < c->n_items; i++) {
        const sd_kv *kv = sd_item_attrs(c, &c->items[i]);
        for (uint32_t j = 0; j < c->items[i].n_attrs; j++) {
            if (strcmp(kv[j].key, key) || sd_strmap_put(map, kv[j].value, strlen(kv[j].value), n) >= 0) continue;
            if (n == cap) *vals = sd_xrealloc(*vals, sizeof **vals * (size_t)(cap *= 2));
            (*vals)[n++] = kv[j].value;
        }
    }
    return n;
}

static int explanations(sd_llm_rec *r, const sd_work *w, const sd_lm_facts *f, const users *us, sd_llm_eval *out,
                        sd_err *err) {
    int n = 0, rc = 0;
    sd_ids *ids = sd_xcalloc((size_t)(us->n ? us->n : 1), sizeof *ids);
    const int32_t **pp = sd_xmalloc(sizeof *pp * (size_t)(us->n ? us->n : 1));
    int *lens = sd_xmalloc(sizeof(int) * (size_t)(us->n ? us->n : 1));
    int32_t *anchor = sd_xmalloc(sizeof(int32_t) * (size_t)(us->n ? us->n : 1));
    for (int i = 0; i < us->n && !rc; i++) {
        if (!us->len[i]) continue;
        int32_t a = us->ctx[i][us->len[i] - 1];
        rc = sd_llm_rec_explain_prompt(r, w->cat, a, -1, &ids[n], err);
        pp[n] = ids[n].v, lens[n] = (int)ids[n].n, anchor[n] = a;
        n++;
    }
    /* the claims a reason can make: genre, platform and franchise values of the catalogue */
    const char *keys[3] = {f->kind.key, f->place.key, "franchise"};
    sd_strmap maps[3];
    const char **vals[3] = {NULL, NULL, NULL};
    int nv[3] = {0, 0, 0};
    for (int q = 0; q < 3; q++) {
        sd_strmap_init(&maps[q], 64);
        if (keys[q]) nv[q] = values_of(w->cat, keys[q], &maps[q], &vals[q]);
    }
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = 96;
    int32_t stop[16];
    g.n_stop = sd_qwen3_stop_ids(&r->m, stop, 16);
    g.stop_ids = stop;
    sd_sid_mask mk;
    if (!rc && n) rc = sd_sid_mask_init(&mk, &r->v, err);
    if (!rc && n) {
        g.sample.mask = sd_sid_mask_apply, g.sample.mask_ctx = &mk;
        sd_gen_out go;
        rc = sd_generate(&r->m, pp, lens, n, &g, &go, err);
        for (int i = 0; i < n && !rc; i++) {
            int32_t b = first_sid_item(&r->v, go.tokens[i], go.n[i]);
            if (b < 0) continue;
            char *text = sd_llm_rec_decode(r, NULL, go.tokens[i], go.n[i], stop, g.n_stop); /* SIDs as tokens */
            const char *reason = strchr(text, '\n'); /* "<SID> Title (Genre)\n<reason>" */
            reason = reason ? reason + 1 : "";
            out->explained++;
            for (int q = 0; q < 3; q++)
                for (int v = 0; v < nv[q]; v++)
                    if (mentions(reason, vals[q][v])) {
                        out->claims++;
                        out->claims_true += sd_lm_item_has(f, anchor[i], keys[q], vals[q][v]) &&
                                            sd_lm_item_has(f, b, keys[q], vals[q][v]);
                    }
            free(text);
        }
        if (!rc) sd_gen_out_free(&go);
        sd_sid_mask_free(&mk);
    }
    for (int q = 0; q < 3; q++) { sd_strmap_free(&maps[q]); free(vals[q]); }
    for (int i = 0; i < us->n; i++) sd_ids_free(&ids[i]);
    free(ids); free(pp); free(lens); free(anchor);
    return rc;
}

int sd_llm_evaluate(sd_llm_rec *r, const sd_work *w, const sd_scorer *const *others, int n_others,
                    const sd_llm_eval_opts *o, sd_llm_eval *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    users us;
    users_of(&us, w, o);
    sd_info("eval: %s on %d test users: valid items, steering, explanations", o->name ? o->name : "llm", us.n);
    int rc = valid_rates(r, &us, o, out, err);
    sd_lm_facts f;
    sd_lm_facts_init(&f, w);
    if (!rc && (!f.kind.key || !f.place.key))
        out->note = "the catalogue has no genre-like or no platform-like attribute: no steering or explanation rows";
    else if (!rc) {
        rc = steering(r, w, &f, &us, others, n_others, o, out, err);
        if (!rc) sd_info("eval: steering done; generating %d explanations", us.n);
        if (!rc) rc = explanations(r, w, &f, &us, out, err);
    }
    sd_lm_facts_free(&f);
    users_free(&us);
    if (rc) sd_llm_eval_free(out);
    return rc;
}

void sd_llm_eval_free(sd_llm_eval *e) {
    free(e->steer);
    memset(e, 0, sizeof *e);
}

static void put_share(cJSON *o, const char *k, double x) {
    if (isnan(x)) cJSON_AddNullToObject(o, k);
    else cJSON_AddNumberToObject(o, k, x);
}

cJSON *sd_llm_eval_json(const sd_llm_eval *e, const sd_llm_eval_opts *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON *v = cJSON_AddObjectToObject(j, "valid_items");
    cJSON_AddNumberToObject(v, "users", e->valid_users);
    cJSON_AddNumberToObject(v, "constrained", e->valid_constrained);
    cJSON_AddNumberToObject(v, "unconstrained", e->valid_free);
    cJSON_AddStringToObject(v, "sampling", "temperature 0.3, top-p 0.7, top-k 20");
    cJSON *s = cJSON_AddArrayToObject(j, "steering");
    for (int i = 0; i < e->n_steer; i++) {
        const sd_steer_row *r = &e->steer[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "model", r->model);
        cJSON_AddStringToObject(x, "prompt", r->prompt);
        cJSON_AddNumberToObject(x, "users", r->users);
        cJSON_AddNumberToObject(x, "top_k", o->top_k);
        put_share(x, "platform", r->platform);
        put_share(x, "genre", r->genre);
        put_share(x, "both", r->both);
        cJSON_AddItemToArray(s, x);
    }
    cJSON *x = cJSON_AddObjectToObject(j, "explanations");
    cJSON_AddNumberToObject(x, "explained", e->explained);
    cJSON_AddNumberToObject(x, "claims", (double)e->claims);
    cJSON_AddNumberToObject(x, "claims_true", (double)e->claims_true);
    if (e->note) cJSON_AddStringToObject(j, "note", e->note);
    return j;
}

static void print_share(double x) {
    if (isnan(x)) printf(" - |");
    else printf(" %.3f |", x);
}

void sd_llm_eval_print(const sd_llm_eval *e) {
    printf("\nLLM answers naming a real item (%d test users, sampled at temperature 0.3, top-p 0.7, top-k 20): "
           "constrained %.1f%%, unconstrained %.1f%%\n", e->valid_users, 100 * e->valid_constrained,
           100 * e->valid_free);
    if (e->note) { printf("%s\n", e->note); return; }
    printf("\nsteering (reserved phrasings; share of top-10 items with what was asked)\n");
    printf("| model | prompt | users | platform | genre | both |\n|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < e->n_steer; i++) {
        const sd_steer_row *r = &e->steer[i];
        printf("| %s | %s | %d |", r->model, r->prompt, r->users);
        print_share(r->platform);
        print_share(r->genre);
        print_share(r->both);
        printf("\n");
    }
    printf("\nexplanations: %d generated, %lld attribute claims, %.1f%% true of both items\n", e->explained,
           (long long)e->claims, e->claims ? 100.0 * e->claims_true / e->claims : 0.0);
}
