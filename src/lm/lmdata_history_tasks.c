/* History tasks of `semid lmdata`: next item, co-purchase, request with a history, steering.
 * The leakage rule (lm/lmdata_tasks.h): training examples take context and targets from the
 * training prefix items[0 .. train_len) only, and popular picks never name an item of the user's
 * sequence, so the validation and test targets are never training targets. valid.jsonl gets
 * next_item with the validation target; reserved.jsonl the test users' contexts in reserved
 * phrasings. */
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/lmdata_internal.h"

/* next_item: context items[0, t) -> items[t] */
static void next_item(sd_lm_ctx *c, sd_rng *r, int32_t u, const int32_t *it, int32_t t, sd_lm_split split) {
    if (t < 1 || !sd_lm_room(c, SD_LMT_NEXT_ITEM, split)) return;
    sd_sbuf *h = &c->tmp[0];
    sd_sb_reset(h);
    sd_lm_history(c, h, it, 0, t);
    const char *kv[] = {"history", h->p, NULL};
    sd_lm_begin(c);
    const sd_lm_phrases *ph = &sd_lmp_next_item;
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, split == SD_LMS_RESERVED ? ph->reserved : ph->train), kv);
    sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), c->sid[it[t]]);
    sd_lm_prov p = {.task = SD_LMT_NEXT_ITEM, .split = split, .user = u, .anchor = -1, .n_targets = 1, .targets = {it[t]}};
    sd_lm_emit(c, &p);
}

static void copurchase(sd_lm_ctx *c, sd_rng *r, int32_t u, const int32_t *it, int32_t t) {
    int32_t a = it[t - 1], b = it[t];
    const char *kv[] = {"sid", c->sid[a], "title", c->w->cat->items[a].title, NULL};
    sd_lm_begin(c);
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, sd_lmp_copurchase.train), kv);
    sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), c->sid[b]);
    sd_lm_prov p = {.task = SD_LMT_COPURCHASE, .split = SD_LMS_TRAIN, .user = u, .anchor = a, .n_targets = 1,
                    .targets = {b}};
    sd_lm_emit(c, &p);
}

/* The answer lines "<SID> Title (Genre)" of items, one per line. */
static void answer_items(sd_lm_ctx *c, sd_sbuf *b, const int32_t *items, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sd_sb_puts(b, "\n");
        sd_lm_item_line(c, b, items[i]);
    }
}

/* The value of role rv most of items[0, t) have (first values; ties: the lower id). */
static int32_t main_value(const sd_lm_role_vals *rv, const int32_t *it, int32_t t, int32_t *counts) {
    memset(counts, 0, sizeof(int32_t) * (size_t)rv->n);
    int32_t best = -1;
    for (int32_t i = 0; i < t; i++) {
        int32_t v = rv->first[it[i]];
        if (v >= 0 && (++counts[v] > (best >= 0 ? counts[best] : 0) || (counts[v] == counts[best] && v < best))) best = v;
    }
    return best;
}

/* "... now something {kind}", two ways. As the next item: the target items[t] has that kind and
 * two popular ones join it. As a change of kind: a kind other than the one most of the history
 * has, answered with popular items of it on the user's main place. Users mostly stay with their
 * kind, so from the first way alone the history already tells the answer's kind and the words
 * need not be read; the second way makes them matter (the steering eval asks for another kind). */
static void request_history(sd_lm_ctx *c, sd_rng *r, int32_t u, const int32_t *it, int32_t t, bool change,
                            sd_lm_split split, int32_t *counts) {
    const sd_lm_role_vals *kind = &c->f.kind, *place = &c->f.place;
    if (!kind->key || t < 1 || !sd_lm_room(c, SD_LMT_REQUEST_HISTORY, split)) return;
    int32_t ans[8], n = 0, k;
    sd_lm_mark_user(c, u);
    if (!change) {
        k = kind->first[it[t]];
        if (k < 0) return;
        ans[0] = it[t];
        n = 1 + sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], NULL, NULL, c->o->n_recs - 1, ans + 1);
    } else {
        if (kind->n < 2) return;
        int32_t mine = main_value(kind, it, t, counts);
        k = (int32_t)sd_rng_below(r, (uint64_t)kind->n - 1);
        if (k >= mine && mine >= 0) k++;
        if (k >= kind->n) return;
        int32_t pl = place->key ? main_value(place, it, t, counts) : -1;
        if (pl >= 0)
            n = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], place->key, place->vals[pl], c->o->n_recs, ans);
        if (!n) n = sd_lm_pick_popular(c, r, kind->items[k], kind->n_items[k], NULL, NULL, c->o->n_recs, ans);
        if (!n) return;
    }
    sd_sbuf *h = &c->tmp[0];
    sd_sb_reset(h);
    sd_lm_history(c, h, it, 0, t);
    const char *kv[] = {"history", h->p, "kind", kind->vals[k], "noun", c->f.noun, NULL};
    sd_lm_begin(c);
    const sd_lm_phrases *ph = &sd_lmp_request_history;
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, split == SD_LMS_RESERVED ? ph->reserved : ph->train), kv);
    answer_items(c, sd_lm_msg(c, SD_LM_ASSISTANT), ans, n);
    sd_lm_prov p = {.task = SD_LMT_REQUEST_HISTORY, .split = split, .user = u, .anchor = -1, .n_targets = n,
                    .n_claims = 1, .claim_key = {kind->key}, .claim_value = {kind->vals[k]}};
    memcpy(p.targets, ans, sizeof(int32_t) * (size_t)n);
    sd_lm_emit(c, &p);
}

/* "... but for {place}": popular items of the place asked for, of the user's main kind when
 * there are any. "... but {kind}" (by_place false): popular items of the kind asked for, on the
 * user's main place when there are any. A catalogue with a place gets both: a genre has twice as
 * many values as a platform and, unlike the platform, is not in the titles, so steering by kind
 * needs examples of its own. */
static void steer(sd_lm_ctx *c, sd_rng *r, int32_t u, const int32_t *it, int32_t t, bool by_place, sd_lm_split split,
                  int32_t *counts) {
    const sd_lm_role_vals *sv = by_place ? &c->f.place : &c->f.kind, *other = by_place ? &c->f.kind : &c->f.place;
    if (!sv->key || sv->n < 2 || t < 1 || !sd_lm_room(c, SD_LMT_STEER, split)) return;
    int32_t mine = main_value(sv, it, t, counts);
    int32_t want = (int32_t)sd_rng_below(r, (uint64_t)sv->n - 1);
    if (want >= mine && mine >= 0) want++;
    if (want >= sv->n) return;
    sd_lm_mark_user(c, u);
    int32_t ans[8];
    int n = 0;
    int32_t k = other->key ? main_value(other, it, t, counts) : -1;
    if (k >= 0) /* the user's other value, with the one asked for */
        n = sd_lm_pick_popular(c, r, sv->items[want], sv->n_items[want], other->key, other->vals[k], c->o->n_recs, ans);
    if (!n) n = sd_lm_pick_popular(c, r, sv->items[want], sv->n_items[want], NULL, NULL, c->o->n_recs, ans);
    if (!n) return;
    sd_sbuf *h = &c->tmp[0];
    sd_sb_reset(h);
    sd_lm_history(c, h, it, 0, t);
    const char *kv[] = {"history", h->p, "value", sv->vals[want], NULL};
    const sd_lm_phrases *ph = by_place ? &sd_lmp_steer_place : &sd_lmp_steer_kind;
    sd_lm_begin(c);
    sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(r, split == SD_LMS_RESERVED ? ph->reserved : ph->train), kv);
    answer_items(c, sd_lm_msg(c, SD_LM_ASSISTANT), ans, n);
    sd_lm_prov p = {.task = SD_LMT_STEER, .split = split, .user = u, .anchor = -1, .n_targets = n, .n_claims = 1,
                    .claim_key = {sv->key}, .claim_value = {sv->vals[want]}};
    memcpy(p.targets, ans, sizeof(int32_t) * (size_t)n);
    sd_lm_emit(c, &p);
}

void sd_lm_history_tasks(sd_lm_ctx *c) {
    const sd_sequences *s = &c->w->seq;
    const sd_split *sp = &c->w->split;
    sd_lm_task ts[] = {SD_LMT_NEXT_ITEM, SD_LMT_COPURCHASE, SD_LMT_REQUEST_HISTORY, SD_LMT_STEER};
    int32_t *counts = sd_xmalloc(sizeof(int32_t) * (size_t)(c->f.kind.n + c->f.place.n + 1));
    for (size_t q = 0; q < sizeof ts / sizeof *ts; q++) {
        sd_lm_task task = ts[q];
        if (!sd_lm_wants(c, task)) continue;
        if ((task == SD_LMT_REQUEST_HISTORY && !c->f.kind.key) ||
            (task == SD_LMT_STEER && !c->f.kind.key && !c->f.place.key)) {
            snprintf(c->st->note[task], sizeof c->st->note[0], "skipped: the catalogue has no %s attribute",
                     task == SD_LMT_STEER ? "platform or genre" : "genre");
            if (c->o->progress) sd_progress_add(&c->pr, s->n_users);
            continue;
        }
        sd_rng r;
        sd_rng_stream(&r, c->o->seed, 100 + task);
        int32_t *users = sd_lm_shuffled_users(c, &r);
        for (int32_t k = 0; k < s->n_users; k++) {
            if (c->o->progress) sd_progress_add(&c->pr, 1);
            int32_t u = users[k], tl = sp->train_len[u];
            const int32_t *it = sd_seq_items(s, u);
            int cap = c->o->max_per_user;
            if (task == SD_LMT_NEXT_ITEM) {
                for (int32_t t = tl - cap > 1 ? tl - cap : 1; t < tl; t++) next_item(c, &r, u, it, t, SD_LMS_TRAIN);
                if (sp->valid_pos[u] > 0) next_item(c, &r, u, it, sp->valid_pos[u], SD_LMS_VALID);
                if (sp->test_pos[u] > 0) next_item(c, &r, u, it, sp->test_pos[u], SD_LMS_RESERVED);
            } else if (task == SD_LMT_COPURCHASE) {
                /* up to half the per-user cap of adjacent training pairs, drawn at random */
                int want = cap / 2 > 0 ? cap / 2 : 1;
                for (int32_t t = 1, left = tl - 1; t < tl && want > 0 && sd_lm_room(c, task, SD_LMS_TRAIN); t++, left--)
                    if (sd_rng_below(&r, (uint64_t)left) < (uint64_t)want) { copurchase(c, &r, u, it, t); want--; }
            } else if (task == SD_LMT_REQUEST_HISTORY) {
                request_history(c, &r, u, it, tl - 1, false, SD_LMS_TRAIN, counts);
                request_history(c, &r, u, it, tl, true, SD_LMS_TRAIN, counts);
                if (sp->test_pos[u] > 0)
                    request_history(c, &r, u, it, sp->test_pos[u], sd_rng_below(&r, 2), SD_LMS_RESERVED, counts);
            } else {
                bool place = c->f.place.key != NULL, both = place && c->f.kind.key;
                steer(c, &r, u, it, tl, place, SD_LMS_TRAIN, counts);
                if (both) steer(c, &r, u, it, tl, false, SD_LMS_TRAIN, counts);
                if (sp->test_pos[u] > 0)
                    steer(c, &r, u, it, sp->test_pos[u], both ? sd_rng_below(&r, 2) : place, SD_LMS_RESERVED, counts);
            }
        }
        free(users);
    }
    free(counts);
}
