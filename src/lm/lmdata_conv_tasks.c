/* Conversational tasks of `semid lmdata`: requests in words, explanations, bundle names and
 * multi-turn conversations. Explanations and bundle names say only what the items truly share
 * (lm/lmdata_facts.h sd_lm_shared). */
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/lmdata_internal.h"

/* examples of each (kind, place) request, different picks and words: 8 gave 720 of ~56k records,
 * too few for a tiny model to learn what the genre words ask for */
#define REQUESTS_PER_VALUE 32

static void answer_items(sd_lm_ctx *c, sd_sbuf *b, const int32_t *items, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sd_sb_puts(b, "\n");
        sd_lm_item_line(c, b, items[i]);
    }
}

static void set_targets(sd_lm_prov *p, const int32_t *items, int n) {
    for (int i = 0; i < n && p->n_targets < 8; i++) p->targets[p->n_targets++] = items[i];
}

/* ---- request: "I like {kind} games for {place}. <|rec|>" ---- */
static void request_one(sd_lm_ctx *c, sd_rng *r, int32_t k, int32_t pl, sd_lm_split split) {
    const sd_lm_role_vals *kind = &c->f.kind, *place = &c->f.place;
    if (!sd_lm_room(c, SD_LMT_REQUEST, split)) return;
    c->mark_gen++; /* no user: nothing excluded */
    int32_t ans[8];
    int n;
    const sd_lm_phrases *ph;
    if (k >= 0 && pl >= 0)
        n = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], place->key, place->vals[pl], c->o->n_recs, ans),
        ph = &sd_lmp_request_kp;
    else if (k >= 0)
        n = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], NULL, NULL, c->o->n_recs, ans), ph = &sd_lmp_request_k;
    else
        n = sd_lm_pick_popular(c, r, place->items[pl], place->n_items[pl], NULL, NULL, c->o->n_recs, ans),
        ph = &sd_lmp_request_p;
    if (n < 1) return;
    const char *kv[] = {"kind", k >= 0 ? kind->vals[k] : "", "place", pl >= 0 ? place->vals[pl] : "", "noun", c->f.noun, NULL};
    sd_lm_begin(c);
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, split == SD_LMS_RESERVED ? ph->reserved : ph->train), kv);
    answer_items(c, sd_lm_msg(c, SD_LM_ASSISTANT), ans, n);
    sd_lm_prov p = {.task = SD_LMT_REQUEST, .split = split, .user = -1, .anchor = -1};
    set_targets(&p, ans, n);
    if (k >= 0) p.claim_key[p.n_claims] = kind->key, p.claim_value[p.n_claims++] = kind->vals[k];
    if (pl >= 0) p.claim_key[p.n_claims] = place->key, p.claim_value[p.n_claims++] = place->vals[pl];
    sd_lm_emit(c, &p);
}

void sd_lm_request_tasks(sd_lm_ctx *c) {
    if (!sd_lm_wants(c, SD_LMT_REQUEST)) return;
    const sd_lm_role_vals *kind = &c->f.kind, *place = &c->f.place;
    if (!kind->key && !place->key) {
        snprintf(c->st->note[SD_LMT_REQUEST], sizeof c->st->note[0], "skipped: the catalogue has no genre or platform attribute");
        return;
    }
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + SD_LMT_REQUEST);
    /* every (kind, place), every kind alone, every place alone; -1 = not asked */
    for (int32_t k = -1; k < kind->n; k++)
        for (int32_t pl = -1; pl < place->n; pl++) {
            if (k < 0 && pl < 0) continue;
            for (int i = 0; i < REQUESTS_PER_VALUE; i++) request_one(c, &r, k, pl, SD_LMS_TRAIN);
            request_one(c, &r, k, pl, SD_LMS_RESERVED);
        }
}

/* ---- explanations ---- */
/* One clause per claim; several kinds go in one clause ("are Adventure and Puzzle games"). */
void sd_lm_claims_text(sd_lm_ctx *c, sd_sbuf *b, const char **keys, const char **vals, int n) {
    int order[8], m = 0, first_kind = -1;
    for (int i = 0; i < n && i < 8; i++) {
        bool kind = sd_lm_claim_kind(&c->f, keys[i]) == 'k';
        if (!kind || first_kind < 0) order[m++] = i;
        if (kind && first_kind < 0) first_kind = i;
    }
    for (int q = 0; q < m; q++) {
        int i = order[q];
        if (q) sd_sb_puts(b, q == m - 1 ? " and " : ", ");
        const char *v = vals[i];
        switch (sd_lm_claim_kind(&c->f, keys[i])) {
        case 'k': {
            sd_sb_puts(b, "are ");
            int nk = 0;
            for (int j = 0; j < n; j++) nk += sd_lm_claim_kind(&c->f, keys[j]) == 'k';
            for (int j = 0, seen = 0; j < n; j++)
                if (sd_lm_claim_kind(&c->f, keys[j]) == 'k') {
                    if (seen) sd_sb_puts(b, seen == nk - 1 ? " and " : ", ");
                    sd_sb_puts(b, vals[j]);
                    seen++;
                }
            sd_sb_puts(b, " ");
            sd_sb_puts(b, c->f.noun);
            break;
        }
        case 'p': sd_sb_puts(b, "are for "); sd_sb_puts(b, v); break;
        case 'f': sd_sb_puts(b, "belong to the "); sd_sb_puts(b, v); sd_sb_puts(b, " series"); break;
        case 'm': sd_sb_puts(b, !strcmp(v, "online") ? "offer online multiplayer" : "can be played with friends"); break;
        case 'b': sd_sb_puts(b, "come from "); sd_sb_puts(b, v); break;
        case 'F': sd_sb_puts(b, "feature \""); sd_sb_puts(b, v); sd_sb_puts(b, "\""); break;
        case 'c': sd_sb_puts(b, "are in the "); sd_sb_puts(b, v); sd_sb_puts(b, " category"); break;
        case 'y': sd_sb_puts(b, "came out in "); sd_sb_puts(b, v); break;
        default: sd_sb_puts(b, "share "); sd_sb_puts(b, keys[i]); sd_sb_puts(b, " "); sd_sb_puts(b, v); break;
        }
    }
}

#define MAX_CLAIMS 3

static bool explain_one(sd_lm_ctx *c, sd_rng *r, int32_t u, int32_t a, int32_t b, sd_lm_split split) {
    const char *keys[MAX_CLAIMS], *vals[MAX_CLAIMS];
    int n = sd_lm_shared(&c->f, a, b, keys, vals, MAX_CLAIMS);
    const char *ta = c->w->cat->items[a].title;
    if (!n || !ta || !ta[0] || a == b) return false;
    sd_sbuf *cl = &c->tmp[0];
    sd_sb_reset(cl);
    sd_lm_claims_text(c, cl, keys, vals, n);
    const char *kv[] = {"title", ta, "claims", cl->p, NULL};
    sd_lm_begin(c);
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER),
                 sd_lm_pick(r, split == SD_LMS_RESERVED ? sd_lmp_explain.reserved : sd_lmp_explain.train), kv);
    sd_sbuf *ans = sd_lm_msg(c, SD_LM_ASSISTANT);
    sd_lm_item_line(c, ans, b);
    sd_sb_puts(ans, "\n");
    sd_lm_expand(ans, sd_lm_pick(r, sd_lmp_reason.train), kv);
    sd_lm_prov p = {.task = SD_LMT_EXPLAIN, .split = split, .user = u, .anchor = a, .n_targets = 1, .targets = {b},
                    .n_claims = n};
    for (int i = 0; i < n; i++) p.claim_key[i] = keys[i], p.claim_value[i] = vals[i];
    sd_lm_emit(c, &p);
    return true;
}

void sd_lm_explain_task(sd_lm_ctx *c) {
    if (!sd_lm_wants(c, SD_LMT_EXPLAIN)) return;
    const sd_sequences *s = &c->w->seq;
    const sd_split *sp = &c->w->split;
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + SD_LMT_EXPLAIN);
    int32_t *users = sd_lm_shuffled_users(c, &r); /* under --max-per-task, a random share of the users */
    for (int32_t k = 0; k < s->n_users; k++) {
        int32_t u = users[k];
        if (c->o->progress) sd_progress_add(&c->pr, 1);
        const int32_t *it = sd_seq_items(s, u);
        /* the latest pair of consecutive training items that share something */
        for (int32_t t = sp->train_len[u] - 1; t >= 1 && sd_lm_room(c, SD_LMT_EXPLAIN, SD_LMS_TRAIN); t--)
            if (explain_one(c, &r, u, it[t - 1], it[t], SD_LMS_TRAIN)) break;
        int32_t tp = sp->test_pos[u];
        if (tp > 0) explain_one(c, &r, u, it[tp - 1], it[tp], SD_LMS_RESERVED);
        if (c->o->max_per_task && !sd_lm_room(c, SD_LMT_EXPLAIN, SD_LMS_TRAIN) && !sd_lm_room(c, SD_LMT_EXPLAIN, SD_LMS_RESERVED))
            break;
    }
    free(users);
}

/* ---- bundles ---- */
bool sd_lm_bundle_name(sd_lm_ctx *c, sd_rng *r, const int32_t *items, int n, sd_sbuf *b, sd_lm_prov *p) {
    const char *keys[6], *vals[6];
    int m = sd_lm_shared_all(&c->f, items, n, keys, vals, 6);
    const char *kind = NULL, *place = NULL, *fr = NULL, *kk = NULL, *pk = NULL, *fk = NULL;
    bool party = false;
    for (int i = 0; i < m; i++) {
        char role = sd_lm_claim_kind(&c->f, keys[i]);
        if (role == 'k' && !kind) kind = vals[i], kk = keys[i];
        if (role == 'p' && !place) place = vals[i], pk = keys[i];
        if (role == 'f' && !fr) fr = vals[i], fk = keys[i];
        if (role == 'm') party = true;
    }
    const char *tmpl;
    if (fr) tmpl = sd_lm_pick(r, (const char *const[]){"The Complete {franchise} Collection", "{franchise} Saga Bundle",
                                                       "{franchise} Series Pack", "All of {franchise}", NULL});
    else if (kind && place)
        tmpl = sd_lm_pick(r, (const char *const[]){"Ultimate {kind} Bundle for {place}", "{place} {kind} Essentials",
                                                   "The {kind} Collection for {place}", "{kind} Starter Pack for {place}", NULL});
    else if (kind)
        tmpl = sd_lm_pick(r, (const char *const[]){"Ultimate {kind} Bundle", "{kind} Essentials Pack",
                                                   "The {kind} Collection", "{kind} Fan Pack", NULL});
    else if (place)
        tmpl = sd_lm_pick(r, (const char *const[]){"{place} Starter Bundle", "Best of {place}", "{place} Essentials",
                                                   "The {place} Collection", NULL});
    else return false;
    const char *kv[] = {"franchise", fr, "kind", kind, "place", place, NULL};
    sd_lm_expand(b, tmpl, kv);
    if (party && sd_rng_below(r, 2)) sd_sb_puts(b, " (Party Edition)");
    else party = false;
    /* the claims the name makes, for checks */
    if (fr) p->claim_key[p->n_claims] = fk, p->claim_value[p->n_claims++] = fr;
    else {
        if (kind) p->claim_key[p->n_claims] = kk, p->claim_value[p->n_claims++] = kind;
        if (place) p->claim_key[p->n_claims] = pk, p->claim_value[p->n_claims++] = place;
    }
    for (int i = 0; i < m && party; i++)
        if (sd_lm_claim_kind(&c->f, keys[i]) == 'm') p->claim_key[p->n_claims] = keys[i], p->claim_value[p->n_claims++] = vals[i];
    return true;
}

void sd_lm_bundle_task(sd_lm_ctx *c) {
    if (!sd_lm_wants(c, SD_LMT_BUNDLE)) return;
    const sd_lm_role_vals *kind = &c->f.kind, *place = &c->f.place;
    int32_t n_items = c->w->cat->n_items;
    if (c->o->progress) sd_progress_add(&c->pr, n_items);
    if (!kind->key && !place->key) {
        snprintf(c->st->note[SD_LMT_BUNDLE], sizeof c->st->note[0], "skipped: the catalogue has no genre or platform attribute");
        return;
    }
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + SD_LMT_BUNDLE);
    int32_t *order = sd_xmalloc(sizeof(int32_t) * ((size_t)n_items + 1));
    for (int32_t i = 0; i < n_items; i++) order[i] = i;
    sd_rng_shuffle_i32(&r, order, (size_t)n_items);
    int want = c->o->n_recs < 2 ? 2 : c->o->n_recs;
    for (int32_t q = 0; q < n_items; q++) {
        int32_t item = order[q];
        sd_lm_split split = q % 10 == 9 ? SD_LMS_RESERVED : SD_LMS_TRAIN; /* every tenth in reserved words */
        if (!sd_lm_room(c, SD_LMT_BUNDLE, split)) continue;
        /* the item with popular partners of its kind (on its place when there is one) */
        int32_t k = kind->key ? kind->first[item] : -1, pl = place->key ? place->first[item] : -1;
        const int32_t *list = k >= 0 ? kind->items[k] : pl >= 0 ? place->items[pl] : NULL;
        int32_t n_list = k >= 0 ? kind->n_items[k] : pl >= 0 ? place->n_items[pl] : 0;
        if (!list) continue;
        c->mark_gen++;
        c->mark[item] = c->mark_gen;
        int32_t g[8] = {item};
        int n = 1 + sd_lm_pick_popular(c, &r, list, n_list, k >= 0 && pl >= 0 ? place->key : NULL,
                                       pl >= 0 ? place->vals[pl] : NULL, want - 1, g + 1);
        if (n < 2) continue;
        sd_lm_prov p = {.task = SD_LMT_BUNDLE, .split = split, .user = -1, .anchor = -1};
        sd_sbuf *name = &c->tmp[1];
        sd_sb_reset(name);
        sd_sb_puts(name, "");
        if (!sd_lm_bundle_name(c, &r, g, n, name, &p)) continue;
        sd_sbuf *list_s = &c->tmp[0];
        sd_sb_reset(list_s);
        for (int i = 0; i < n; i++) {
            if (i) sd_sb_puts(list_s, ", ");
            sd_lm_item_line(c, list_s, g[i]);
        }
        const char *kv[] = {"items", list_s->p, NULL};
        sd_lm_begin(c);
        sd_lm_expand(sd_lm_msg(c, SD_LM_USER),
                     sd_lm_pick(&r, split == SD_LMS_RESERVED ? sd_lmp_bundle.reserved : sd_lmp_bundle.train), kv);
        sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), name->p);
        set_targets(&p, g, n);
        sd_lm_emit(c, &p);
    }
    free(order);
}

/* ---- multi-turn: recommend, steer, name the bundle ---- */
static int32_t other_value(sd_rng *r, int32_t n, int32_t not) {
    if (n < 2) return -1;
    int32_t v = (int32_t)sd_rng_below(r, (uint64_t)n - 1);
    return v >= not && not >= 0 ? v + 1 : v;
}

static void multiturn_one(sd_lm_ctx *c, sd_rng *r, int32_t u) {
    const sd_lm_role_vals *kind = &c->f.kind, *place = &c->f.place;
    const int32_t *it = sd_seq_items(&c->w->seq, u);
    int32_t tl = c->w->split.train_len[u];
    if (tl < 1) return;
    int32_t anchor = it[tl - 1]; /* the user's latest training item */
    int32_t k = kind->first[anchor], pl = place->first[anchor];
    if (k < 0 || pl < 0) return;
    sd_lm_mark_user(c, u);
    int32_t a1[8], a2[8];
    int n1 = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], place->key, place->vals[pl], c->o->n_recs, a1);
    int32_t pl2 = other_value(r, place->n, pl);
    if (n1 < 1 || pl2 < 0) return;
    int n2 = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], place->key, place->vals[pl2], c->o->n_recs, a2);
    if (n2 < 1) return;
    sd_lm_begin(c);
    const char *title = c->w->cat->items[anchor].title;
    const char *kv1[] = {"title", title, "kind", kind->vals[k], "place", place->vals[pl], "noun", c->f.noun, NULL};
    /* turn 1 starts from the user's own latest item or from a request in words */
    bool similar = title && title[0] && sd_rng_below(r, 2);
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, similar ? sd_lmp_similar.train : sd_lmp_request_kp.train), kv1);
    answer_items(c, sd_lm_msg(c, SD_LM_ASSISTANT), a1, n1);
    const char *kv2[] = {"value", place->vals[pl2], NULL};
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, sd_lmp_turn_steer.train), kv2);
    answer_items(c, sd_lm_msg(c, SD_LM_ASSISTANT), a2, n2);
    sd_lm_prov p = {.task = SD_LMT_MULTITURN, .split = SD_LMS_TRAIN, .user = u, .anchor = -1};
    set_targets(&p, a1, n1);
    set_targets(&p, a2, n2);
    /* a third turn when the last picks share something to name a bundle by */
    sd_sbuf *name = &c->tmp[1];
    sd_sb_reset(name);
    sd_sb_puts(name, "");
    sd_lm_prov claims = {0};
    if (n2 >= 2 && sd_rng_below(r, 3) && sd_lm_bundle_name(c, r, a2, n2, name, &claims)) {
        sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, sd_lmp_turn_bundle.train), (const char *const[]){NULL});
        sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), name->p);
    }
    p.n_claims = claims.n_claims;
    memcpy(p.claim_key, claims.claim_key, sizeof p.claim_key);
    memcpy(p.claim_value, claims.claim_value, sizeof p.claim_value);
    sd_lm_emit(c, &p);
}

void sd_lm_multiturn_task(sd_lm_ctx *c) {
    if (!sd_lm_wants(c, SD_LMT_MULTITURN)) return;
    int32_t n = c->w->seq.n_users;
    if (!c->f.kind.key || !c->f.place.key || c->f.place.n < 2) {
        snprintf(c->st->note[SD_LMT_MULTITURN], sizeof c->st->note[0],
                 "skipped: conversations steer by platform within a genre; the catalogue lacks one of them");
        if (c->o->progress) sd_progress_add(&c->pr, n);
        return;
    }
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + SD_LMT_MULTITURN);
    int32_t *users = sd_lm_shuffled_users(c, &r);
    for (int32_t k = 0; k < n && sd_lm_room(c, SD_LMT_MULTITURN, SD_LMS_TRAIN); k++) {
        if (c->o->progress) sd_progress_add(&c->pr, 1);
        multiturn_one(c, &r, users[k]);
    }
    free(users);
}
