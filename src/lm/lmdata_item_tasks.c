/* Item tasks of `semid lmdata`: title -> SID, SID -> title / description / attributes, and SID
 * prefix -> what most of its items are. A seeded share of items (--valid-items) is held out of
 * each item task into valid.jsonl, a different share per task, so every item is still taught. */
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/lmdata_internal.h"

#define DESC_MAX 320 /* description shown: its first sentences up to about this many bytes */

static bool held_out(const sd_lm_ctx *c, sd_lm_task t, int32_t item) {
    uint64_t h = sd_mix64(c->o->seed ^ sd_mix64(((uint64_t)t << 40) ^ (uint64_t)item));
    return (double)(h >> 11) * 0x1.0p-53 < c->o->valid_items;
}

/* "PlayStation 5, Sports": the item's place and kinds, else its brand-like values. */
static void short_attrs(sd_lm_ctx *c, int32_t item, sd_sbuf *b) {
    const sd_lm_facts *f = &c->f;
    sd_sb_reset(b);
    sd_sb_puts(b, "");
    for (int64_t i = f->kv_off[item]; i < f->kv_off[item + 1]; i++) {
        char k = sd_lm_claim_kind(f, f->kv[i].key);
        if ((k != 'p' && k != 'k') || b->n > 60) continue;
        if (b->n) sd_sb_puts(b, ", ");
        sd_sb_puts(b, f->kv[i].value);
    }
}

/* "Platform: PC; Genre: RPG, Action; ...": every attribute worth saying (categories when the item
 * has no attributes). */
static void all_attrs(sd_lm_ctx *c, int32_t item, sd_sbuf *b) {
    const sd_lm_facts *f = &c->f;
    const sd_item *it = &c->w->cat->items[item];
    sd_sb_reset(b);
    sd_sb_puts(b, "");
    const char *prev = NULL;
    for (int64_t i = f->kv_off[item]; i < f->kv_off[item + 1]; i++) {
        const sd_kv *kv = &f->kv[i];
        if (sd_lm_key_ignored(kv->key) || strlen(kv->value) > 100) continue;
        if (!strcmp(kv->key, "category") && it->n_attrs) continue;
        if (prev && !strcmp(prev, kv->key)) {
            sd_sb_puts(b, ", ");
        } else {
            char label[128];
            if (b->n) sd_sb_puts(b, "; ");
            sd_sb_puts(b, sd_lm_key_label(kv->key, label, sizeof label));
            sd_sb_puts(b, ": ");
        }
        sd_sb_puts(b, kv->value);
        prev = kv->key;
    }
}

/* The first sentences of the description, up to about DESC_MAX bytes (never cut inside a UTF-8
 * character: the cut is at a sentence end or a space). */
static void short_desc(const char *d, sd_sbuf *b) {
    sd_sb_reset(b);
    sd_sb_puts(b, "");
    size_t n = strlen(d), cut = 0;
    if (n <= DESC_MAX) { sd_sb_puts(b, d); return; }
    for (size_t i = 0; i + 1 < n && i < DESC_MAX; i++)
        if ((d[i] == '.' || d[i] == '!' || d[i] == '?') && d[i + 1] == ' ') cut = i + 1;
    if (!cut) {
        for (size_t i = DESC_MAX; i > 0 && !cut; i--) if (d[i] == ' ') cut = i;
        if (!cut) cut = DESC_MAX;
        while (cut > 0 && ((unsigned char)d[cut] & 0xC0) == 0x80) cut--;
        sd_sb_put(b, d, cut);
        sd_sb_puts(b, " ...");
        return;
    }
    sd_sb_put(b, d, cut);
}

static void item_task(sd_lm_ctx *c, sd_lm_task t, int32_t *order) {
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + t);
    const sd_catalog *cat = c->w->cat;
    for (int32_t i = 0; i < cat->n_items; i++) order[i] = i;
    sd_rng_shuffle_i32(&r, order, (size_t)cat->n_items);
    for (int32_t k = 0; k < cat->n_items; k++) {
        if (c->o->progress) sd_progress_add(&c->pr, 1);
        int32_t item = order[k];
        const sd_item *it = &cat->items[item];
        sd_lm_prov p = {.task = t, .split = held_out(c, t, item) ? SD_LMS_VALID : SD_LMS_TRAIN, .user = -1,
                        .anchor = -1, .n_targets = 1, .targets = {item}};
        if (!sd_lm_room(c, t, p.split)) continue;
        const char *title = it->title ? it->title : "";
        sd_sbuf *val = &c->tmp[0];
        sd_lm_begin(c);
        if (t == SD_LMT_TITLE2SID) {
            if (!title[0]) continue;
            short_attrs(c, item, val);
            bool with = val->n && sd_rng_below(&r, 2);
            const char *kv[] = {"title", title, "attrs", val->p, NULL};
            sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(&r, with ? sd_lmp_title_attrs2sid.train : sd_lmp_title2sid.train), kv);
            sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), c->sid[item]);
        } else {
            const char *kv[] = {"sid", c->sid[item], NULL};
            const sd_lm_phrases *ph = t == SD_LMT_SID2TITLE ? &sd_lmp_sid2title : t == SD_LMT_SID2DESC ? &sd_lmp_sid2desc
                                                                                                       : &sd_lmp_sid2attrs;
            if (t == SD_LMT_SID2TITLE) { sd_sb_reset(val); sd_sb_puts(val, title); }
            else if (t == SD_LMT_SID2DESC) short_desc(it->description ? it->description : "", val);
            else all_attrs(c, item, val);
            if (!val->n) continue; /* an item without this field teaches nothing here */
            sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(&r, ph->train), kv);
            sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), val->p);
        }
        sd_lm_emit(c, &p);
    }
}

void sd_lm_item_tasks(sd_lm_ctx *c) {
    int32_t *order = sd_xmalloc(sizeof(int32_t) * ((size_t)c->w->cat->n_items + 1));
    sd_lm_task ts[] = {SD_LMT_TITLE2SID, SD_LMT_SID2TITLE, SD_LMT_SID2DESC, SD_LMT_SID2ATTRS};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        if (sd_lm_wants(c, ts[i])) item_task(c, ts[i], order);
    free(order);
}

/* ---- SID prefix -> category ---- */
static const sd_lm_ctx *sort_ctx;
static int sort_level;
static int prefix_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const sd_sid_vocab *v = sort_ctx->v;
    for (int l = 0; l <= sort_level; l++) {
        int32_t cx = v->codes[(int64_t)x * v->n_levels + l], cy = v->codes[(int64_t)y * v->n_levels + l];
        if (cx != cy) return cx < cy ? -1 : 1;
    }
    return (x > y) - (x < y);
}

#define MAJORITY 0.6  /* a clear majority of the group */
#define LIFT 1.5      /* and clearly more than the catalogue as a whole */
#define MIN_GROUP 3

/* What a clear majority of the group holds, per facet key, into b; false when nothing. */
static bool group_facts(sd_lm_ctx *c, const int32_t *g, int n, sd_sbuf *b) {
    const sd_lm_facts *f = &c->f;
    sd_sb_reset(b);
    sd_sb_puts(b, "");
    for (int k = 0; k < f->n_facets; k++) {
        const char *key = f->facet_key[k];
        /* count the group's values of this key; the commonest wins (first met on ties) */
        sd_strmap seen;
        sd_strmap_init(&seen, 16);
        int counts[256], nv = 0;
        const char *vals[256];
        for (int i = 0; i < n; i++)
            for (int64_t j = f->kv_off[g[i]]; j < f->kv_off[g[i] + 1]; j++) {
                if (strcmp(f->kv[j].key, key)) continue;
                const char *val = f->kv[j].value;
                int32_t id = sd_strmap_put(&seen, val, strlen(val), nv);
                if (id < 0 && nv < 256) vals[nv] = val, counts[nv] = 0, id = nv++;
                if (id >= 0 && id < nv) counts[id]++;
            }
        sd_strmap_free(&seen);
        const char *best = NULL;
        int best_n = 0;
        for (int i = 0; i < nv; i++) if (counts[i] > best_n) best_n = counts[i], best = vals[i];
        if (!best || best_n < MAJORITY * n) continue;
        double global = (double)sd_lm_value_items(f, key, best) / f->n_items;
        if ((double)best_n / n < LIFT * global) continue;
        char label[128], num[64];
        if (b->n) sd_sb_puts(b, "; ");
        sd_sb_puts(b, sd_lm_key_label(key, label, sizeof label));
        sd_sb_puts(b, ": ");
        sd_sb_puts(b, best);
        snprintf(num, sizeof num, " (%d of %d items)", best_n, n);
        sd_sb_puts(b, num);
    }
    return b->n > 0;
}

void sd_lm_prefix_task(sd_lm_ctx *c) {
    if (!sd_lm_wants(c, SD_LMT_PREFIX2CAT)) return;
    const sd_sid_vocab *v = c->v;
    int32_t n = v->n_items;
    if (c->o->progress) sd_progress_add(&c->pr, n);
    if (!c->f.n_facets) {
        snprintf(c->st->note[SD_LMT_PREFIX2CAT], sizeof c->st->note[0],
                 "skipped: the catalogue has no attribute with a few distinct values to name a prefix by");
        return;
    }
    sd_rng r;
    sd_rng_stream(&r, c->o->seed, 100 + SD_LMT_PREFIX2CAT);
    int32_t *order = sd_xmalloc(sizeof(int32_t) * ((size_t)n + 1));
    int depth = v->levels < 2 ? v->levels : 2; /* first code, first two codes */
    for (int level = 0; level < depth; level++) {
        for (int32_t i = 0; i < n; i++) order[i] = i;
        sort_ctx = c, sort_level = level;
        qsort(order, (size_t)n, sizeof(int32_t), prefix_cmp);
        for (int32_t s = 0; s < n;) {
            int32_t e = s + 1;
            while (e < n && !memcmp(&v->codes[(int64_t)order[e] * v->n_levels], &v->codes[(int64_t)order[s] * v->n_levels],
                                    sizeof(int32_t) * (size_t)(level + 1)))
                e++;
            int gn = e - s;
            sd_lm_prov p = {.task = SD_LMT_PREFIX2CAT, .split = SD_LMS_TRAIN, .user = -1, .anchor = -1};
            if (gn >= MIN_GROUP && gn <= 4096 && sd_lm_room(c, p.task, p.split) && group_facts(c, order + s, gn, &c->tmp[1])) {
                sd_sbuf *pre = &c->tmp[0];
                sd_sb_reset(pre);
                sd_sb_puts(pre, SD_SID_TOKEN_START);
                for (int l = 0; l <= level; l++) {
                    char tok[32];
                    sd_sid_token_name(tok, sizeof tok, sd_sid_vocab_sid(v, l, v->codes[(int64_t)order[s] * v->n_levels + l]));
                    sd_sb_puts(pre, tok);
                }
                const char *kv[] = {"prefix", pre->p, NULL};
                sd_lm_begin(c);
                sd_lm_expand(sd_lm_msg(c, SD_LM_USER), sd_lm_pick(&r, sd_lmp_prefix2cat.train), kv);
                sd_sb_puts(sd_lm_msg(c, SD_LM_ASSISTANT), c->tmp[1].p);
                sd_lm_emit(c, &p);
            }
            s = e;
        }
    }
    free(order);
}
