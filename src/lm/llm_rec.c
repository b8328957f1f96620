/* The fine-tuned model as a recommender (lm/llm_rec.h). */
#include "lm/llm_rec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "lm/lmdata_facts.h"
#include "lm/lmdata_phrases.h"
#include "lm/lmdata_tasks.h"
#include "text/chat_template.h"

int sd_llm_rec_open(sd_llm_rec *r, const char *model_dir, const char *sids_path, const sd_catalog *cat, sd_err *err) {
    memset(r, 0, sizeof *r);
    if (!sd_is_dir(model_dir))
        return sd_errf(err, SD_EIO, "%s: no such model folder (train one with `semid finetune WORK`)", model_dir);
    int rc = sd_qwen3_load(&r->m, model_dir, err);
    if (rc) return rc;
    if (!r->m.tok) {
        sd_qwen3_free(&r->m);
        return sd_errf(err, SD_EFORMAT, "%s: no tokenizer.json: the recommender needs the model's tokenizer", model_dir);
    }
    if ((rc = sd_sid_vocab_open(&r->v, sids_path, cat, err))) { sd_qwen3_free(&r->m); return rc; }
    if ((rc = sd_qwen3_bind_sid_vocab(r->m.tok, &r->v, model_dir, err))) {
        sd_sid_vocab_free(&r->v);
        sd_qwen3_free(&r->m);
        return rc;
    }
    r->n_items = r->v.n_items;
    r->sid_str = sd_xmalloc(sizeof(char *) * (size_t)(r->n_items ? r->n_items : 1));
    for (int32_t i = 0; i < r->n_items; i++) r->sid_str[i] = sd_sid_vocab_item_string(&r->v, i);
    r->max_history = 20;
    r->width = 20;
    r->dir = sd_xstrdup(model_dir);
    return 0;
}

void sd_llm_rec_free(sd_llm_rec *r) {
    for (int32_t i = 0; r->sid_str && i < r->n_items; i++) free(r->sid_str[i]);
    free(r->sid_str);
    free(r->dir);
    sd_sid_vocab_free(&r->v);
    sd_qwen3_free(&r->m);
    memset(r, 0, sizeof *r);
}

/* s += t, growing */
static void cat_str(char **s, size_t *n, size_t *cap, const char *t) {
    size_t k = strlen(t);
    if (*n + k + 1 > *cap) {
        *cap = (*n + k + 1) * 2;
        *s = sd_xrealloc(*s, *cap);
    }
    memcpy(*s + *n, t, k + 1);
    *n += k;
}

char *sd_llm_rec_history_text(const sd_llm_rec *r, const int32_t *hist, int n) {
    int from = n > r->max_history ? n - r->max_history : 0;
    size_t len = 0, cap = 64;
    char *h = sd_xmalloc(cap);
    h[0] = 0;
    for (int i = from; i < n; i++) {
        if (hist[i] < 0 || hist[i] >= r->n_items) continue; /* checked by the callers */
        if (i > from) cat_str(&h, &len, &cap, ", ");
        cat_str(&h, &len, &cap, r->sid_str[hist[i]]);
    }
    return h;
}

int sd_llm_rec_encode(const sd_llm_rec *r, const char *user_msg, sd_ids *out, sd_err *err) {
    out->n = 0;
    sd_chat_msg msgs[2] = {{.role = "system", .content = sd_lm_system_message()}, {.role = "user", .content = user_msg}};
    char *text = sd_chat_render(msgs, 2, true, false);
    int rc = sd_tok_encode(r->m.tok, NULL, text, strlen(text), out);
    free(text);
    if (rc) return sd_errf(err, rc, "recommend: could not tokenise the prompt");
    return 0;
}

int sd_llm_rec_prompt(const sd_llm_rec *r, const int32_t *hist, int n, const char *request, sd_ids *out, sd_err *err) {
    out->n = 0;
    bool has_req = request && request[0];
    if (n <= 0 && !has_req) return sd_errf(err, SD_EUSAGE, "recommend: give a history, a request in words, or both");
    for (int i = 0; i < n; i++)
        if (hist[i] < 0 || hist[i] >= r->n_items)
            return sd_errf(err, SD_ERANGE, "recommend: item %d outside the catalogue's %d", hist[i], r->n_items);
    char *h = sd_llm_rec_history_text(r, hist, n);
    size_t len = 0, cap = 256;
    char *user = sd_xmalloc(cap);
    user[0] = 0;
    /* the wording lmdata trains with: its first next-item phrasing; with a request, the steer
     * phrasings' frame "I bought {history}. ..." */
    if (!has_req) {
        const char *kv[] = {"history", h, NULL};
        free(user);
        user = sd_lmp_expand(sd_lmp_next_item.train[0], kv);
    } else {
        if (n > 0) {
            cat_str(&user, &len, &cap, "I bought ");
            cat_str(&user, &len, &cap, h);
            cat_str(&user, &len, &cap, ". ");
        }
        cat_str(&user, &len, &cap, request);
        if (!strstr(request, SD_SID_TOKEN_REC)) cat_str(&user, &len, &cap, " " SD_SID_TOKEN_REC);
    }
    free(h);
    int rc = sd_llm_rec_encode(r, user, out, err);
    free(user);
    return rc;
}

char *sd_llm_rec_decode(const sd_llm_rec *r, const sd_catalog *cat, const int32_t *t, int n, const int32_t *stop,
                        int n_stop) {
    size_t cap = 64, len = 0;
    char *s = sd_xmalloc(cap);
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        bool is_stop = false;
        for (int j = 0; j < n_stop; j++) is_stop |= t[i] == stop[j];
        if (is_stop) break;
        int32_t named = cat && t[i] == r->v.start_id && i + r->v.n_levels + 1 < n
                            ? sd_sid_vocab_tokens_item(&r->v, t + i, r->v.n_levels + 2)
                            : -1;
        size_t bl;
        const char *b;
        if (named >= 0) {
            b = cat->items[named].title;
            bl = strlen(b);
            i += r->v.n_levels + 1;
        } else if (!(b = sd_tok_token_bytes(r->m.tok, t[i], &bl))) {
            continue;
        }
        if (len + bl + 1 > cap) { cap = (len + bl + 1) * 2; s = sd_xrealloc(s, cap); }
        memcpy(s + len, b, bl);
        len += bl;
        s[len] = 0;
    }
    return s;
}

int sd_llm_rec_explain_prompt(const sd_llm_rec *r, const sd_catalog *cat, int32_t anchor, int32_t item, sd_ids *out,
                              sd_err *err) {
    const char *kv[] = {"title", cat->items[anchor].title, NULL};
    char *user = sd_lmp_expand(sd_lmp_explain.train[0], kv);
    sd_chat_msg msgs[2] = {{.role = "system", .content = sd_lm_system_message()}, {.role = "user", .content = user}};
    char *text = sd_chat_render(msgs, 2, true, false);
    free(user);
    if (item >= 0) { /* the answer's first line, as lmdata writes it: "<SID> Title (Genre)\n" */
        char kinds[256];
        sd_lm_kind_suffix(cat, sd_lm_catalog_kind_key(cat), item, kinds, sizeof kinds);
        size_t tl = strlen(text), al = strlen(r->sid_str[item]) + strlen(cat->items[item].title) + strlen(kinds) + 3;
        text = sd_xrealloc(text, tl + al);
        snprintf(text + tl, al, "%s %s%s\n", r->sid_str[item], cat->items[item].title, kinds);
    }
    out->n = 0;
    int rc = sd_tok_encode(r->m.tok, NULL, text, strlen(text), out);
    free(text);
    return rc ? sd_errf(err, rc, "explain: could not tokenise the prompt") : 0;
}

int sd_llm_rec_beam(sd_llm_rec *r, int n, const sd_ids *prompts, const int32_t *const *exclude, const int32_t *n_exclude,
                    int k, int32_t *items, float *scores, int32_t *n_found, sd_err *err) {
    const int32_t **pp = sd_xmalloc(sizeof *pp * (size_t)(n ? n : 1));
    int *lens = sd_xmalloc(sizeof(int) * (size_t)(n ? n : 1)), *nex = NULL;
    for (int u = 0; u < n; u++) pp[u] = prompts[u].v, lens[u] = (int)prompts[u].n;
    if (exclude) {
        nex = sd_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
        for (int u = 0; u < n; u++) nex[u] = n_exclude[u];
    }
    sd_sid_beam_cfg cfg;
    sd_sid_beam_cfg_default(&cfg);
    cfg.k = k;
    cfg.width = r->width > k ? r->width : k;
    sd_sid_beam_out o = {0};
    int rc = sd_sid_beam_search(&r->m, &r->v, pp, lens, n, exclude, nex, &cfg, &o, err);
    for (int u = 0; u < n && !rc; u++) {
        n_found[u] = o.n[u];
        for (int j = 0; j < k; j++) {
            items[(size_t)u * k + j] = o.items[(size_t)u * k + j];
            if (scores) scores[(size_t)u * k + j] = o.scores[(size_t)u * k + j];
        }
    }
    sd_sid_beam_out_free(&o);
    free(pp); free(lens); free(nex);
    return rc;
}

int sd_llm_rec_topk(sd_llm_rec *r, int n_users, const int32_t *const *hist, const int32_t *hist_len,
                    const char *const *request, bool exclude_history, int k, int32_t *items, float *scores,
                    int32_t *n_found, sd_err *err) {
    sd_ids *ids = sd_xcalloc((size_t)(n_users ? n_users : 1), sizeof *ids);
    int rc = 0;
    for (int u = 0; u < n_users && !rc; u++)
        rc = sd_llm_rec_prompt(r, hist[u], hist_len[u], request ? request[u] : NULL, &ids[u], err);
    if (!rc)
        rc = sd_llm_rec_beam(r, n_users, ids, exclude_history ? hist : NULL, exclude_history ? hist_len : NULL, k,
                             items, scores, n_found, err);
    for (int u = 0; u < n_users; u++) sd_ids_free(&ids[u]);
    free(ids);
    return rc;
}

/* ---- scorer ---- */

typedef struct llm_scorer {
    sd_llm_rec *r;
    bool own;
} llm_scorer;

static int score_topk(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                      const int32_t *hist_len, int k, int32_t *top, int32_t *n_top, sd_err *err) {
    (void)users;
    llm_scorer *s = model;
    /* an empty context has no prompt of its own: the history-less request "<|rec|>" */
    const char **req = sd_xmalloc(sizeof *req * (size_t)(n_users ? n_users : 1));
    for (int u = 0; u < n_users; u++) req[u] = hist_len[u] > 0 ? NULL : SD_SID_TOKEN_REC;
    int rc = sd_llm_rec_topk(s->r, n_users, hist, hist_len, req, true, k, top, NULL, n_top, err);
    free(req);
    return rc;
}

static int score_candidates(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                            const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores, sd_err *err) {
    (void)users;
    llm_scorer *s = model;
    sd_ids ids = {0};
    int rc = 0;
    for (int u = 0; u < n_users && !rc; u++) {
        rc = sd_llm_rec_prompt(s->r, hist[u], hist_len[u], hist_len[u] > 0 ? NULL : SD_SID_TOKEN_REC, &ids, err);
        if (!rc)
            rc = sd_sid_score_items(&s->r->m, &s->r->v, ids.v, (int)ids.n, true, cand + (size_t)u * n_cand, n_cand,
                                    scores + (size_t)u * n_cand, err);
    }
    sd_ids_free(&ids);
    return rc;
}

static void scorer_free(void *model) {
    llm_scorer *s = model;
    if (s->own) { sd_llm_rec_free(s->r); free(s->r); }
    free(s);
}

void sd_llm_rec_scorer(sd_llm_rec *r, bool own, sd_scorer *out) {
    llm_scorer *s = sd_xcalloc(1, sizeof *s);
    s->r = r;
    s->own = own;
    *out = (sd_scorer){.name = "llm", .n_items = r->n_items, .model = s, .score_topk = score_topk,
                       .score_candidates = score_candidates, .concurrent = false, .batch_hint = 64,
                       .free = scorer_free};
}
