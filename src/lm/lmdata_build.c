/* `semid lmdata` core: task names, options, the build context, emission with token counts, and
 * the order the task builders run in (lm/lmdata_tasks.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/lmdata_internal.h"

static const char *const task_names[SD_LMT_COUNT] = {
    "title2sid", "sid2title", "sid2desc", "sid2attrs", "prefix2cat", "next_item", "copurchase",
    "request", "request_history", "steer", "explain", "bundle", "multiturn"};

/* One short fixed system message for every record: it names the ID notation once. */
/* One short fixed system message for every record. It holds no special token, so a reader that
 * scans records for SID strings finds only items. */
static const char system_message[] =
    "You are a recommender that speaks English and item IDs. Items are written as semantic IDs, a few "
    "code tokens each; when asked to recommend, answer with items.";

const char *sd_lm_system_message(void) { return system_message; }

const char *sd_lm_task_name(sd_lm_task t) { return t < SD_LMT_COUNT ? task_names[t] : "?"; }

bool sd_lm_task_uses_history(sd_lm_task t) {
    return t == SD_LMT_NEXT_ITEM || t == SD_LMT_COPURCHASE || t == SD_LMT_REQUEST_HISTORY || t == SD_LMT_STEER ||
           t == SD_LMT_EXPLAIN || t == SD_LMT_MULTITURN;
}

int sd_lm_tasks_parse(const char *list, uint32_t *mask, sd_err *err) {
    *mask = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        if (n == 3 && !strncmp(p, "all", 3)) *mask = (1u << SD_LMT_COUNT) - 1, found = 0;
        for (int t = 0; t < SD_LMT_COUNT && found < 0; t++)
            if (strlen(task_names[t]) == n && !strncmp(p, task_names[t], n)) *mask |= 1u << t, found = t;
        if (found < 0) {
            char names[512] = "";
            for (int t = 0; t < SD_LMT_COUNT; t++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", t ? ", " : "", task_names[t]);
            return sd_errf(err, SD_EUSAGE, "lmdata: unknown task '%.*s' in --tasks (valid: %s, or all)", (int)n, p, names);
        }
        p += n + (e != NULL);
    }
    if (!*mask) return sd_errf(err, SD_EUSAGE, "lmdata: --tasks names no task");
    return 0;
}

void sd_lmdata_defaults(sd_lmdata_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->tasks = (1u << SD_LMT_COUNT) - 1;
    o->max_per_user = 5;
    o->max_history = 20;
    o->n_recs = 3;
    o->valid_items = 0.05;
    o->system = true;
}

/* ---- string buffer ---- */
void sd_sb_reset(sd_sbuf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}
void sd_sb_put(sd_sbuf *b, const char *s, size_t n) {
    SD_GROW(b->p, b->cap, b->n + n + 1);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
void sd_sb_puts(sd_sbuf *b, const char *s) { sd_sb_put(b, s, strlen(s)); }

/* ---- tokens ---- */
typedef struct { int64_t n; } piece_count;
static void count_piece(void *ctx, size_t s, size_t e) { (void)s, (void)e, ((piece_count *)ctx)->n++; }

static int64_t count_plain(const sd_tokenizer *tok, const char *s, size_t n) {
    if (!n) return 0;
    if (tok) {
        sd_ids ids = {0};
        sd_tok_encode(tok, NULL, s, n, &ids);
        int64_t k = (int64_t)ids.n;
        sd_ids_free(&ids);
        return k;
    }
    piece_count pc = {0};
    sd_pretok_split(s, n, count_piece, &pc);
    return pc.n;
}

/* Each "<|...|>" special token is one token (the SID vocabulary is added to the tokenizer before
 * fine-tuning, so a base tokenizer that lacks them would miscount); the text between is counted
 * with the tokenizer or as pre-tokenizer pieces. */
int64_t sd_lm_count_tokens(const sd_tokenizer *tok, const char *text) {
    int64_t n = 0;
    const char *p = text;
    for (;;) {
        const char *s = strstr(p, "<|");
        const char *e = s ? strstr(s + 2, "|>") : NULL;
        if (!s || !e) break;
        n += count_plain(tok, p, (size_t)(s - p)) + 1;
        p = e + 2;
    }
    return n + count_plain(tok, p, strlen(p));
}

/* ---- records ---- */
void sd_lm_begin(sd_lm_ctx *c) { c->nm = 0; }

sd_sbuf *sd_lm_msg(sd_lm_ctx *c, sd_lm_role role) {
    sd_sbuf *b = &c->m[c->nm];
    sd_sb_reset(b);
    sd_sb_puts(b, "");
    c->roles[c->nm++] = role;
    return b;
}

bool sd_lm_room(const sd_lm_ctx *c, sd_lm_task t, sd_lm_split s) {
    return !c->o->max_per_task || c->st->n[s][t] < c->o->max_per_task;
}

void sd_lm_emit(sd_lm_ctx *c, const sd_lm_prov *p) {
    if (!sd_lm_room(c, p->task, p->split)) return;
    sd_lm_record r = {.task = task_names[p->task]};
    if (c->o->system) r.messages[r.n_messages++] = (sd_lm_message){SD_LM_SYSTEM, (char *)system_message};
    for (int i = 0; i < c->nm; i++) r.messages[r.n_messages++] = (sd_lm_message){c->roles[i], c->m[i].p};
    if (sd_lm_record_write(c->out[p->split], &r)) c->write_rc = SD_EIO;
    int64_t tokens = 0;
    for (int i = 0; i < r.n_messages; i++) tokens += sd_lm_count_tokens(c->o->tok, r.messages[i].content);
    c->st->n[p->split][p->task]++;
    c->st->tokens[p->split][p->task] += tokens;
    if (c->o->hook) c->o->hook(c->o->hook_ctx, p, &r);
}

void sd_lm_expand(sd_sbuf *out, const char *tmpl, const char *const *kv) {
    const char *p = tmpl;
    while (*p) {
        const char *s = strchr(p, '{');
        const char *e = s ? strchr(s, '}') : NULL;
        if (!s || !e) { sd_sb_puts(out, p); return; }
        sd_sb_put(out, p, (size_t)(s - p));
        const char *val = NULL;
        for (const char *const *k = kv; k[0] && !val; k += 2)
            if (strlen(k[0]) == (size_t)(e - s - 1) && !strncmp(k[0], s + 1, (size_t)(e - s - 1))) val = k[1] ? k[1] : "";
        if (val) sd_sb_puts(out, val);
        else sd_sb_put(out, s, (size_t)(e - s + 1)); /* not a placeholder: the text as written */
        p = e + 1;
    }
}

char *sd_lmp_expand(const char *tmpl, const char *const *kv) {
    sd_sbuf b = {0};
    sd_sb_puts(&b, "");
    sd_lm_expand(&b, tmpl, kv);
    return b.p;
}

const char *sd_lm_pick(sd_rng *r, const char *const *list) {
    int n = sd_lmp_count(list);
    return n ? list[sd_rng_below(r, (uint64_t)n)] : "";
}

void sd_lm_history(sd_lm_ctx *c, sd_sbuf *b, const int32_t *items, int32_t from, int32_t to) {
    if (c->o->max_history > 0 && to - from > c->o->max_history) from = to - c->o->max_history;
    for (int32_t t = from; t < to; t++) {
        if (t > from) sd_sb_puts(b, ", ");
        sd_sb_puts(b, c->sid[items[t]]);
    }
}

void sd_lm_item_line(sd_lm_ctx *c, sd_sbuf *b, int32_t item) {
    sd_sb_puts(b, c->sid[item]);
    const char *title = c->w->cat->items[item].title;
    if (title && title[0]) {
        sd_sb_puts(b, " ");
        sd_sb_puts(b, title);
        char kinds[256];
        sd_sb_puts(b, sd_lm_kind_suffix(c->w->cat, c->f.kind.key, item, kinds, sizeof kinds));
    }
}

void sd_lm_mark_user(sd_lm_ctx *c, int32_t u) {
    c->mark_gen++;
    const int32_t *it = sd_seq_items(&c->w->seq, u);
    for (int32_t t = 0; t < sd_seq_len(&c->w->seq, u); t++) c->mark[it[t]] = c->mark_gen;
}

int sd_lm_pick_popular(sd_lm_ctx *c, sd_rng *r, const int32_t *list, int32_t n_list, const char *key2,
                       const char *val2, int want, int32_t *out) {
    int32_t pool[64];
    int np = 0, cap = 4 * want < 64 ? 4 * want : 64;
    for (int32_t i = 0; i < n_list && np < cap; i++) {
        int32_t it = list[i];
        if (c->mark[it] == c->mark_gen) continue;
        if (key2 && !sd_lm_item_has(&c->f, it, key2, val2)) continue;
        pool[np++] = it;
    }
    /* keep `want` of the pool at random, in popularity order */
    int keep = np < want ? np : want, got = 0;
    for (int i = 0; i < np && got < keep; i++)
        if (sd_rng_below(r, (uint64_t)(np - i)) < (uint64_t)(keep - got)) {
            out[got++] = pool[i];
            c->mark[pool[i]] = c->mark_gen;
        }
    return got;
}

int32_t *sd_lm_shuffled_users(const sd_lm_ctx *c, sd_rng *r) {
    int32_t n = c->w->seq.n_users;
    int32_t *u = sd_xmalloc(sizeof(int32_t) * ((size_t)n + 1));
    for (int32_t i = 0; i < n; i++) u[i] = i;
    sd_rng_shuffle_i32(r, u, (size_t)n);
    return u;
}

static void sid_strings(sd_lm_ctx *c) {
    const sd_sid_vocab *v = c->v;
    c->sid = sd_xmalloc(sizeof(char *) * (size_t)(v->n_items ? v->n_items : 1));
    for (int32_t i = 0; i < v->n_items; i++) c->sid[i] = sd_sid_vocab_item_string(v, i);
}

int sd_lmdata_build(const sd_work *w, const sd_sid_vocab *v, const sd_lmdata_opts *o, FILE *train, FILE *valid,
                    FILE *reserved, sd_lmdata_stats *st, sd_err *err) {
    memset(st, 0, sizeof *st);
    if (v->n_items != w->cat->n_items || !v->codes)
        return sd_errf(err, SD_ESTATE, "lmdata: the semantic IDs cover %d items but the catalogue has %d", v->n_items,
                       w->cat->n_items);
    sd_lm_ctx c = {.w = w, .v = v, .o = o, .out = {train, valid, reserved}, .st = st};
    st->system_message = o->system ? system_message : NULL;
    sd_lm_facts_init(&c.f, w);
    sid_strings(&c);
    c.mark = sd_xcalloc((size_t)w->cat->n_items + 1, sizeof(int32_t));
    int64_t units = 0; /* progress: items for item tasks, users for history tasks */
    for (int t = 0; t < SD_LMT_COUNT; t++)
        if (sd_lm_wants(&c, (sd_lm_task)t)) units += t <= SD_LMT_PREFIX2CAT || t == SD_LMT_BUNDLE ? w->cat->n_items
                                                      : t == SD_LMT_REQUEST ? 0 : w->seq.n_users;
    if (o->progress) sd_progress_start(&c.pr, "lmdata", units, "units");
    sd_lm_item_tasks(&c);
    sd_lm_prefix_task(&c);
    sd_lm_history_tasks(&c);
    sd_lm_request_tasks(&c);
    sd_lm_explain_task(&c);
    sd_lm_bundle_task(&c);
    sd_lm_multiturn_task(&c);
    if (o->progress) sd_progress_finish(&c.pr);
    for (int t = 0; t < SD_LMT_COUNT; t++)
        if (sd_lm_wants(&c, (sd_lm_task)t) && !st->n[SD_LMS_TRAIN][t] && !st->note[t][0])
            snprintf(st->note[t], sizeof st->note[t], "no examples: the data has nothing this task can be built from");
    for (int32_t i = 0; i < v->n_items; i++) free(c.sid[i]);
    free(c.sid);
    free(c.mark);
    for (int i = 0; i < SD_LM_MAX_MESSAGES; i++) free(c.m[i].p);
    for (int i = 0; i < 4; i++) free(c.tmp[i].p);
    sd_lm_facts_free(&c.f);
    if (c.write_rc) return sd_errf(err, SD_EIO, "lmdata: writing the records failed (disk full?)");
    return 0;
}
