/* A conversation kept across turns (lm/chat_session.h). */
#include "lm/chat_session.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ids/sid_vocab.h"
#include "lm/lmdata_facts.h"
#include "lm/lmdata_phrases.h"

void sd_chat_session_init(sd_chat_session *s, sd_chat_engine *e) {
    memset(s, 0, sizeof *s);
    s->e = e;
}

static void free_turns(sd_chat_session *s) {
    for (int i = 0; i < s->n_turns; i++) {
        free(s->turns[i].role);
        free(s->turns[i].raw);
        free(s->turns[i].display);
    }
    s->n_turns = 0;
}

void sd_chat_session_free(sd_chat_session *s) {
    free_turns(s);
    free(s->turns);
    free(s->hist);
    memset(s, 0, sizeof *s);
}

void sd_chat_session_reset(sd_chat_session *s) {
    free_turns(s);
    s->n_hist = s->n_hist_sent = s->n_dropped = 0;
}

int sd_chat_session_add(sd_chat_session *s, int32_t item) {
    for (int i = 0; i < s->n_hist; i++)
        if (s->hist[i] == item) return 1;
    if (s->n_hist == s->cap_hist) {
        s->cap_hist = s->cap_hist ? 2 * s->cap_hist : 8;
        s->hist = sd_xrealloc(s->hist, sizeof *s->hist * (size_t)s->cap_hist);
    }
    s->hist[s->n_hist++] = item;
    return 0;
}

static char *concat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *o = sd_xmalloc(la + lb + lc + 1);
    memcpy(o, a, la);
    memcpy(o + la, b, lb);
    memcpy(o + la + lb, c, lc + 1);
    return o;
}

char *sd_chat_session_user_text(const sd_chat_session *s, const char *line, bool rec) {
    while (*line == ' ' || *line == '\t') line++;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r' || line[n - 1] == '\n')) n--;
    char *text = sd_xstrndup(line, n);
    bool is_req = rec || strstr(text, SD_SID_TOKEN_REC) != NULL;
    bool fresh = s->n_hist > s->n_hist_sent;
    if (!is_req || !fresh) {
        if (!n) { free(text); return NULL; }
        if (rec && !strstr(text, SD_SID_TOKEN_REC)) {
            char *t = concat3(text, n ? " " : "", SD_SID_TOKEN_REC);
            free(text);
            text = t;
        }
        return text;
    }
    /* the history goes out whole: the request is answered from all of it, as lmdata asks */
    char *h = sd_llm_rec_history_text(&s->e->rec, s->hist, s->n_hist);
    char *out;
    if (!n) {
        const char *kv[] = {"history", h, NULL};
        out = sd_lmp_expand(sd_lmp_next_item.train[0], kv);
    } else {
        char *head = concat3("I bought ", h, ". ");
        out = concat3(head, text, strstr(text, SD_SID_TOKEN_REC) ? "" : " " SD_SID_TOKEN_REC);
        free(head);
    }
    free(h);
    free(text);
    return out;
}

void sd_chat_reply_free(sd_chat_reply *r) {
    free(r->text);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void push_turn(sd_chat_session *s, const char *role, char *raw, char *display) {
    if (s->n_turns == s->cap_turns) {
        s->cap_turns = s->cap_turns ? 2 * s->cap_turns : 8;
        s->turns = sd_xrealloc(s->turns, sizeof *s->turns * (size_t)s->cap_turns);
    }
    s->turns[s->n_turns++] = (sd_chat_turn){.role = sd_xstrdup(role), .raw = raw, .display = display};
}

/* Cuts an SID the reply left unfinished (and the blanks before it) off the raw text, so the next
 * prompt holds only whole items. */
static void drop_open_sid(char *raw, size_t *n) {
    char *open = NULL;
    for (char *p = strstr(raw, SD_SID_TOKEN_START); p; p = strstr(p + 1, SD_SID_TOKEN_START)) open = p;
    if (!open || strstr(open, SD_SID_TOKEN_END)) return;
    while (open > raw && (open[-1] == ' ' || open[-1] == '\n')) open--;
    *open = 0;
    *n = (size_t)(open - raw);
}

typedef struct tok_ctx {
    sd_chat_stream *st;
    const sd_chat_reply_cb *cb;
} tok_ctx;

static void on_token(void *ctx, int seq, int32_t t) {
    (void)seq;
    tok_ctx *c = ctx;
    int before = c->st->n_items;
    sd_chat_stream_push(c->st, t, NAN);
    /* no stop strings: the stream holds nothing back, so the title is out when the item lands */
    if (c->st->n_items > before && c->cb && c->cb->item) c->cb->item(c->cb->ctx, c->st->items[before].item);
}

int sd_chat_session_turn(sd_chat_session *s, const char *user_msg, const char *typed, const sd_gen_cfg *g,
                         const sd_chat_reply_cb *cb, sd_chat_reply *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    if (!user_msg || !user_msg[0]) return sd_errf(err, SD_EUSAGE, "chat: an empty message");
    sd_chat_engine *e = s->e;
    int max_pos = e->rec.m.cfg.max_position_embeddings;
    if (max_pos <= 0) max_pos = INT_MAX / 2; /* the config sets no limit */
    if (g->max_new_tokens < 1 || g->max_new_tokens >= max_pos)
        return sd_errf(err, SD_EUSAGE, "chat: --max-new-tokens %d: the model's context holds %d tokens",
                       g->max_new_tokens, max_pos);
    /* the conversation as messages; the oldest pairs go when it does not fit */
    int first = 0, rc = 0;
    sd_chat_msg *msgs = sd_xmalloc(sizeof *msgs * (size_t)(s->n_turns + 1));
    sd_ids in = {0};
    for (;;) {
        int m = 0;
        for (int i = first; i < s->n_turns; i++) msgs[m++] = (sd_chat_msg){.role = s->turns[i].role, .content = s->turns[i].raw};
        msgs[m++] = (sd_chat_msg){.role = "user", .content = user_msg};
        if ((rc = sd_chat_engine_prompt(e, msgs, m, &in, err))) break;
        if ((int)in.n + g->max_new_tokens <= max_pos) break;
        if (first + 2 > s->n_turns) {
            rc = sd_errf(err, SD_EUSAGE,
                         "chat: the message is %zu tokens; with --max-new-tokens %d it does not fit the model's "
                         "context of %d", in.n, g->max_new_tokens, max_pos);
            break;
        }
        first += 2;
    }
    free(msgs);
    if (rc) { sd_ids_free(&in); return rc; }

    sd_sid_mask mk;
    if ((rc = sd_chat_engine_mask(e, &mk, err))) { sd_ids_free(&in); return rc; }
    mk.begin_sid = strstr(user_msg, SD_SID_TOKEN_REC) != NULL;
    sd_chat_stream st;
    sd_chat_stream_init(&st, e, NULL, 0, cb ? cb->piece : NULL, cb ? cb->ctx : NULL);
    tok_ctx tc = {.st = &st, .cb = cb};
    sd_gen_cfg gc = *g;
    gc.sample.mask = sd_sid_mask_apply;
    gc.sample.mask_ctx = &mk;
    gc.stop_ids = e->stop_ids;
    gc.n_stop = e->n_stop_ids;
    gc.on_token = on_token;
    gc.on_token_ctx = &tc;
    const int32_t *prompts[1] = {in.v};
    int lens[1] = {(int)in.n};
    sd_gen_out o;
    rc = sd_generate(&e->rec.m, prompts, lens, 1, &gc, &o, err);
    if (!rc) {
        sd_chat_stream_finish(&st);
        /* SD_GEN_MASKED: the reply wanted an item it had named already (a prefix whose items are all
         * named); the list is over, as when the model ends it */
        out->hit_length = o.finish[0] == SD_GEN_LENGTH;
        drop_open_sid(st.raw, &st.raw_n);
        sd_gen_out_free(&o);
        out->text = sd_xstrdup(st.text);
        out->n_items = st.n_items;
        out->items = sd_xmalloc(sizeof *out->items * (size_t)(st.n_items + 1));
        for (int i = 0; i < st.n_items; i++) out->items[i] = st.items[i].item;
        out->n_tokens = st.n_tokens;
        out->dropped = first;
        /* the dropped turns are gone for good: the next prompt starts where this one did */
        for (int i = 0; i < first; i++) {
            free(s->turns[i].role);
            free(s->turns[i].raw);
            free(s->turns[i].display);
        }
        memmove(s->turns, s->turns + first, sizeof *s->turns * (size_t)(s->n_turns - first));
        s->n_turns -= first;
        s->n_dropped += first;
        push_turn(s, "user", sd_xstrdup(user_msg), sd_xstrdup(typed ? typed : user_msg));
        push_turn(s, "assistant", sd_xstrdup(st.raw), sd_xstrdup(st.text));
        if (strstr(user_msg, SD_SID_TOKEN_REC)) s->n_hist_sent = s->n_hist;
    }
    sd_chat_stream_free(&st);
    sd_sid_mask_free(&mk);
    sd_ids_free(&in);
    return rc;
}

static bool in_keys(const char *k, const char *const *keys) {
    for (int i = 0; keys[i]; i++)
        if (!strcmp(k, keys[i])) return true;
    return false;
}

int sd_chat_item_facets(const sd_catalog *cat, int32_t item, int max, const char **keys, const char **vals) {
    static const char *const first_keys[] = {"platform", "Platform", "genre", "Genre", "genres", NULL};
    const sd_item *it = &cat->items[item];
    const sd_kv *kv = sd_item_attrs(cat, it);
    const char *title = it->title ? it->title : "";
    int n = 0;
    /* the platform- and genre-like keys; the other attributes only for a catalogue without them */
    for (int pass = 0; pass < 2 && n < max && !(pass == 1 && n > 0); pass++)
        for (uint32_t i = 0; i < it->n_attrs && n < max; i++) {
            const char *k = kv[i].key, *v = kv[i].value;
            if (!k || !v || !v[0] || in_keys(k, first_keys) != (pass == 0) || sd_lm_key_ignored(k)) continue;
            bool seen = strstr(title, v) != NULL;
            for (int j = 0; j < n && !seen; j++) seen = !strcmp(keys[j], k);
            if (seen) continue;
            keys[n] = k;
            vals[n++] = v;
        }
    return n;
}
