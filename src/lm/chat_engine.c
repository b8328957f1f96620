/* Conversation with the fine-tuned recommender (lm/chat_engine.h). */
#include "lm/chat_engine.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/generate.h"
#include "lm/lmdata_tasks.h"

int sd_chat_engine_open(sd_chat_engine *e, const char *model_dir, const char *sids_path, const sd_catalog *cat,
                        sd_err *err) {
    memset(e, 0, sizeof *e);
    int rc = sd_llm_rec_open(&e->rec, model_dir, sids_path, cat, err);
    if (rc) return rc;
    e->cat = cat;
    e->n_stop_ids = sd_qwen3_stop_ids(&e->rec.m, e->stop_ids, 16);
    sd_strmap_init(&e->by_title, (size_t)cat->n_items);
    for (int32_t i = 0; i < cat->n_items; i++) {
        const char *t = cat->items[i].title;
        if (t && t[0]) sd_strmap_put(&e->by_title, t, strlen(t), i);
    }
    return 0;
}

void sd_chat_engine_free(sd_chat_engine *e) {
    sd_strmap_free(&e->by_title);
    sd_llm_rec_free(&e->rec);
    memset(e, 0, sizeof *e);
}

typedef struct sbuf { char *p; size_t n, cap; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = sd_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

char *sd_chat_engine_raw_text(const sd_chat_engine *e, const char *display) {
    sbuf b = {0};
    sb_put(&b, "", 0);
    const char *p = display;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        int32_t item = sd_strmap_get(&e->by_title, p, len);
        if (item >= 0 && item < e->rec.n_items) {
            const char *sid = e->rec.sid_str[item];
            sb_put(&b, sid, strlen(sid));
            sb_put(&b, " ", 1);
        }
        sb_put(&b, p, len);
        if (!nl) break;
        sb_put(&b, "\n", 1);
        p = nl + 1;
    }
    return b.p;
}

/* A copy of a user's or system text without the template's turn tokens: typed into a message they
 * would open a turn of another role (a forged system prompt). SID tokens and <|rec|> stay. */
static char *without_turn_tokens(const char *s) {
    static const char *const turn[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>"};
    char *c = sd_xstrdup(s);
    for (size_t k = 0; k < sizeof turn / sizeof *turn; k++) {
        size_t l = strlen(turn[k]);
        for (char *p; (p = strstr(c, turn[k]));) memmove(p, p + l, strlen(p + l) + 1);
    }
    return c;
}

int sd_chat_engine_prompt(const sd_chat_engine *e, const sd_chat_msg *msgs, int n, sd_ids *out, sd_err *err) {
    out->n = 0;
    if (n <= 0) return sd_errf(err, SD_EUSAGE, "chat: no messages");
    for (int i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")))
            return sd_errf(err, SD_EUSAGE, "chat: messages[%d].role: \"%s\" is not system, user or assistant", i,
                           r ? r : "(none)");
        if (!msgs[i].content) return sd_errf(err, SD_EUSAGE, "chat: messages[%d].content is missing", i);
    }
    if (strcmp(msgs[n - 1].role, "user"))
        return sd_errf(err, SD_EUSAGE, "chat: the last message must be the user's, not \"%s\"", msgs[n - 1].role);
    bool has_system = !strcmp(msgs[0].role, "system");
    int m = n + !has_system;
    sd_chat_msg *all = sd_xmalloc(sizeof *all * (size_t)m);
    char **raw = sd_xcalloc((size_t)m, sizeof *raw);
    int j = 0;
    if (!has_system) all[j++] = (sd_chat_msg){.role = "system", .content = sd_lm_system_message()};
    for (int i = 0; i < n; i++, j++) {
        all[j] = msgs[i];
        if (!strcmp(msgs[i].role, "assistant")) all[j].content = raw[j] = sd_chat_engine_raw_text(e, msgs[i].content);
        else all[j].content = raw[j] = without_turn_tokens(msgs[i].content);
    }
    char *text = sd_chat_render(all, (size_t)m, true, false);
    int rc = sd_tok_encode(e->rec.m.tok, NULL, text, strlen(text), out);
    free(text);
    for (int i = 0; i < m; i++) free(raw[i]);
    free(raw);
    free(all);
    if (rc) return sd_errf(err, rc, "chat: could not tokenise the conversation");
    return 0;
}

int sd_chat_engine_mask(const sd_chat_engine *e, sd_sid_mask *mk, sd_err *err) {
    int rc = sd_sid_mask_init(mk, &e->rec.v, err);
    if (!rc) mk->distinct = true;
    return rc;
}

bool sd_chat_engine_asks_items(const sd_chat_msg *msgs, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (msgs[i].role && !strcmp(msgs[i].role, "user"))
            return msgs[i].content && strstr(msgs[i].content, SD_SID_TOKEN_REC);
    return false;
}

/* ---- the stream ---- */

void sd_chat_stream_init(sd_chat_stream *s, const sd_chat_engine *e, const char *const *stop, int n_stop,
                         sd_chat_piece_fn piece, void *piece_ctx) {
    memset(s, 0, sizeof *s);
    s->e = e;
    s->stop = stop;
    s->n_stop = n_stop;
    for (int i = 0; i < n_stop; i++) {
        size_t l = strlen(stop[i]);
        if (l > 1 && l - 1 > s->hold) s->hold = l - 1;
    }
    s->sid_n = -1;
    s->piece = piece;
    s->piece_ctx = piece_ctx;
    s->raw = sd_xstrdup("");
    s->raw_cap = 1;
    s->text = sd_xstrdup("");
    s->text_cap = 1;
}

void sd_chat_stream_free(sd_chat_stream *s) {
    free(s->raw);
    free(s->text);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static void put(char **p, size_t *n, size_t *cap, const char *s, size_t k) {
    sbuf b = {*p, *n, *cap};
    sb_put(&b, s, k);
    *p = b.p, *n = b.n, *cap = b.cap;
}

/* Emits display text up to `upto` (never inside a UTF-8 character). */
static void emit_upto(sd_chat_stream *s, size_t upto) {
    if (upto <= s->emitted) return;
    size_t n = s->emitted + sd_utf8_complete_len(s->text + s->emitted, upto - s->emitted);
    if (n > s->emitted && s->piece) s->piece(s->piece_ctx, s->text + s->emitted, n - s->emitted);
    s->emitted = n > s->emitted ? n : s->emitted;
}

/* Looks for a stop string in the text not yet emitted (a match may start up to hold bytes
 * before it); on a match the text is cut there. */
static bool check_stop(sd_chat_stream *s) {
    size_t from = s->emitted;
    size_t best = (size_t)-1;
    for (int i = 0; i < s->n_stop; i++) {
        if (!s->stop[i][0]) continue;
        const char *hit = strstr(s->text + from, s->stop[i]);
        if (hit && (size_t)(hit - s->text) < best) best = (size_t)(hit - s->text);
    }
    if (best == (size_t)-1) return false;
    s->text_n = best;
    s->text[best] = 0;
    return true;
}

/* Appends valid UTF-8 display text (from the utf8 stream). */
static void add_text(void *ctx, const char *t, size_t n) {
    sd_chat_stream *s = ctx;
    put(&s->text, &s->text_n, &s->text_cap, t, n);
}

static void add_item(sd_chat_stream *s, int32_t item, float lp) {
    for (int i = 0; i < s->n_items; i++)
        if (s->items[i].item == item) return;
    if (s->n_items == s->cap_items) {
        s->cap_items = s->cap_items ? 2 * s->cap_items : 8;
        s->items = sd_xrealloc(s->items, sizeof *s->items * (size_t)s->cap_items);
    }
    s->items[s->n_items++] = (sd_chat_named){.item = item, .logprob = lp};
}

/* A token's bytes outside an SID: dropped while hiding the model's copy of a title (up to the
 * newline), else shown. */
static void show_bytes(sd_chat_stream *s, const char *b, size_t n) {
    if (s->hide_line) {
        const char *nl = memchr(b, '\n', n);
        if (!nl) return;
        s->hide_line = false;
        n -= (size_t)(nl - b);
        b = nl;
    }
    sd_utf8_stream_push(&s->utf8, b, n, add_text, s);
}

bool sd_chat_stream_push(sd_chat_stream *s, int32_t token, float logprob) {
    if (s->done) return true;
    s->n_tokens++;
    const sd_sid_vocab *v = &s->e->rec.v;
    for (int i = 0; i < s->e->n_stop_ids; i++)
        if (token == s->e->stop_ids[i]) {
            sd_chat_stream_finish(s);
            return true;
        }
    size_t bl = 0;
    const char *b = sd_tok_token_bytes(s->e->rec.m.tok, token, &bl);
    if (b) put(&s->raw, &s->raw_n, &s->raw_cap, b, bl);
    if (token == v->start_id) {
        if (s->hide_line) { /* another item on the same line: end the hidden copy of the last title */
            s->hide_line = false;
            put(&s->text, &s->text_n, &s->text_cap, ", ", 2);
        }
        s->sid_n = 0;
        s->sid[s->sid_n++] = token;
        s->sid_lp = 0;
        return false;
    }
    if (s->sid_n >= 0) {
        if (s->sid_n < SD_SID_MAX_LEVELS + 2) s->sid[s->sid_n++] = token;
        if (token != v->end_id) {
            if (token != v->start_id) s->sid_lp += isnan(logprob) ? NAN : logprob;
            return false;
        }
        int32_t item = sd_sid_vocab_tokens_item(v, s->sid, s->sid_n);
        s->sid_n = -1;
        if (item < 0) return false; /* not an item (unconstrained decoding): shown as nothing */
        sd_utf8_stream_flush(&s->utf8, add_text, s);
        const char *title = s->e->cat->items[item].title;
        if (!title || !title[0]) title = s->e->cat->items[item].ext_id;
        put(&s->text, &s->text_n, &s->text_cap, title, strlen(title));
        add_item(s, item, s->sid_lp);
        s->hide_line = true;
    } else if (b) {
        show_bytes(s, b, bl);
    }
    if (check_stop(s)) {
        s->stopped_by_string = true;
        emit_upto(s, s->text_n);
        s->done = true;
        return true;
    }
    emit_upto(s, s->text_n > s->hold ? s->text_n - s->hold : 0);
    return false;
}

void sd_chat_stream_finish(sd_chat_stream *s) {
    if (s->done) return;
    s->sid_n = -1;
    sd_utf8_stream_flush(&s->utf8, add_text, s);
    if (check_stop(s)) s->stopped_by_string = true;
    emit_upto(s, s->text_n);
    /* a character repaired at the end may still be held by emit_upto's boundary check */
    if (s->emitted < s->text_n && s->piece) s->piece(s->piece_ctx, s->text + s->emitted, s->text_n - s->emitted);
    s->emitted = s->text_n;
    s->done = true;
}
