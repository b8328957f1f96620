#include "lm/embed_qwen3.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/progress.h"
#include "lm/kv_cache.h"

void sd_embed_opts_default(sd_embed_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_tokens = 512;
    o->batch_tokens = 2048;
}

char *sd_embed_query_text(const char *task, const char *text) {
    size_t n = strlen(task) + strlen(text) + 32;
    char *s = sd_xmalloc(n);
    snprintf(s, n, "Instruct: %s\nQuery:%s", task, text);
    return s;
}

int32_t sd_qwen3_embed_eos(const sd_qwen3 *m) {
    int32_t id = m->tok ? sd_tok_token_to_id(m->tok, "<|endoftext|>") : -1;
    if (id < 0 && m->cfg.n_eos) id = m->cfg.eos_token_ids[0];
    return id >= 0 && id < m->cfg.vocab_size ? id : -1;
}

typedef struct by_len { int len, idx; } by_len;
static int cmp_len_desc(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    if (x->len != y->len) return y->len - x->len;
    return x->idx - y->idx;
}

/* Cuts h [C] to its first dim values and scales them to unit length (a zero vector stays zero). */
static void pool_row(float *out, const float *h, int dim) {
    double ss = 0;
    for (int j = 0; j < dim; j++) ss += (double)h[j] * h[j];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int j = 0; j < dim; j++) out[j] = h[j] * inv;
}

int sd_qwen3_embed_ids(sd_qwen3 *m, const int32_t *const *ids, const int *lens, int n, int dim, int batch_tokens,
                       bool progress, float *out, sd_err *err) {
    const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    if (dim == 0) dim = C;
    if (dim < 0 || dim > C)
        return sd_errf(err, SD_EUSAGE, "embedding dimension %d outside 1..%d (the model's hidden size)", dim, C);
    if (batch_tokens <= 0) batch_tokens = 2048;
    by_len *order = sd_xmalloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    int max_len = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] <= 0) { free(order); return sd_errf(err, SD_ERANGE, "embed: text %d has no tokens", i); }
        for (int t = 0; t < lens[i]; t++)
            if (ids[i][t] < 0 || ids[i][t] >= V) {
                free(order);
                return sd_errf(err, SD_ERANGE, "embed: text %d, token %d: id %d outside the vocabulary [0, %d)", i, t,
                               ids[i][t], V);
            }
        order[i] = (by_len){lens[i], i};
        max_len = lens[i] > max_len ? lens[i] : max_len;
    }
    /* longest first: similar lengths share a batch, and a too-large batch shows up at once */
    qsort(order, (size_t)n, sizeof *order, cmp_len_desc);
    size_t cap_tok = (size_t)(batch_tokens > max_len ? batch_tokens : max_len);
    int32_t *tok = sd_xmalloc(sizeof(int32_t) * cap_tok), *seq = sd_xmalloc(sizeof(int32_t) * cap_tok);
    int32_t *rows = sd_xmalloc(sizeof(int32_t) * cap_tok);
    float *hidden = sd_xmalloc(sizeof(float) * cap_tok * (size_t)C);
    sd_progress pg;
    if (progress) sd_progress_start(&pg, "embed", n, "texts");
    int rc = 0;
    for (int s = 0; s < n && !rc;) {
        int e = s, total = 0;
        while (e < n && (e == s || total + order[e].len <= batch_tokens)) total += order[e++].len;
        int B = e - s, k = 0;
        for (int b = 0; b < B; b++) {
            const by_len *o = &order[s + b];
            memcpy(tok + k, ids[o->idx], sizeof(int32_t) * (size_t)o->len);
            for (int t = 0; t < o->len; t++) seq[k + t] = b;
            k += o->len;
            rows[b] = k - 1;
        }
        sd_kv_cache kv;
        rc = sd_kv_cache_init(&kv, &m->cfg, B, order[s].len, err);
        if (!rc) rc = sd_qwen3_step(m, &kv, k, tok, seq, B, rows, NULL, hidden, err);
        sd_kv_cache_free(&kv);
        for (int b = 0; b < B && !rc; b++)
            pool_row(out + (size_t)order[s + b].idx * dim, hidden + (size_t)b * C, dim);
        if (progress) sd_progress_add(&pg, B);
        s = e;
    }
    if (progress) sd_progress_finish(&pg);
    free(order); free(tok); free(seq); free(rows); free(hidden);
    return rc;
}

int sd_qwen3_embed_texts(sd_qwen3 *m, const char *const *texts, int n, const sd_embed_opts *o, float *out,
                         sd_err *err) {
    if (!m->tok) return sd_errf(err, SD_ESTATE, "embed: the model folder has no tokenizer.json");
    int32_t eos = sd_qwen3_embed_eos(m);
    if (eos < 0) return sd_errf(err, SD_EFORMAT, "embed: the tokenizer has no <|endoftext|> and the config no EOS id");
    int max_tokens = o->max_tokens > 0 ? o->max_tokens : 512;
    if (max_tokens < 2) return sd_errf(err, SD_EUSAGE, "embed: max tokens must be >= 2, got %d", max_tokens);
    char **full = NULL;
    if (o->task) {
        full = sd_xmalloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
        for (int i = 0; i < n; i++) full[i] = sd_embed_query_text(o->task, texts[i]);
    }
    const char *const *src = full ? (const char *const *)full : texts;
    size_t *tl = sd_xmalloc(sizeof(size_t) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) tl[i] = strlen(src[i]);
    sd_ids *enc = sd_xcalloc((size_t)(n > 0 ? n : 1), sizeof *enc);
    sd_tok_encode_batch(m->tok, src, tl, (size_t)n, enc, 0);
    const int32_t **ids = sd_xmalloc(sizeof(int32_t *) * (size_t)(n > 0 ? n : 1));
    int *lens = sd_xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        sd_ids *e = &enc[i];
        if (e->n == 0 || e->v[e->n - 1] != eos) {
            SD_GROW(e->v, e->cap, e->n + 1);
            e->v[e->n++] = eos;
        }
        if (e->n > (size_t)max_tokens) { /* keep the start; the pooled token stays <|endoftext|> */
            e->v[max_tokens - 1] = eos;
            e->n = (size_t)max_tokens;
        }
        ids[i] = e->v;
        lens[i] = (int)e->n;
    }
    int rc = sd_qwen3_embed_ids(m, ids, lens, n, o->dim, o->batch_tokens, o->progress, out, err);
    for (int i = 0; i < n; i++) sd_ids_free(&enc[i]);
    if (full)
        for (int i = 0; i < n; i++) free(full[i]);
    free(full); free(tl); free(enc); free(ids); free(lens);
    return rc;
}

/* "genre" -> "Genre", "product_type" -> "Product Type" */
static void put_key(FILE *f, const char *k) {
    bool start = true;
    for (; *k; k++) {
        char c = *k == '_' ? ' ' : *k;
        fputc(start ? toupper((unsigned char)c) : c, f);
        start = c == ' ';
    }
}

char *sd_item_embed_text(const sd_catalog *c, int32_t id) {
    const sd_item *it = &c->items[id];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) sd_oom(0); /* open_memstream fails only for want of memory: sd_xmalloc's policy */
    if (it->title && *it->title) fprintf(f, "Product: %s\n", it->title);
    if (it->description && *it->description) fprintf(f, "Description: %s\n", it->description);
    if (it->n_categories) {
        fputs("Category: ", f);
        const char *const *cat = sd_item_categories(c, it);
        for (uint32_t i = 0; i < it->n_categories; i++) fprintf(f, i ? " > %s" : "%s", cat[i]);
        fputc('\n', f);
    }
    const sd_kv *a = sd_item_attrs(c, it);
    bool *done = sd_xcalloc(it->n_attrs ? it->n_attrs : 1, sizeof(bool));
    for (uint32_t i = 0; i < it->n_attrs; i++) {
        if (done[i] || !a[i].value || !*a[i].value) continue;
        put_key(f, a[i].key);
        fprintf(f, ": %s", a[i].value);
        for (uint32_t j = i + 1; j < it->n_attrs; j++)
            if (!done[j] && !strcmp(a[j].key, a[i].key)) {
                done[j] = true;
                if (a[j].value && *a[j].value) fprintf(f, ", %s", a[j].value);
            }
        fputc('\n', f);
    }
    free(done);
    fclose(f);
    /* no trailing newline */
    if (len && buf[len - 1] == '\n') buf[--len] = 0;
    return buf;
}

int sd_embed_catalog_qwen3(const char *model_dir, const sd_catalog *cat, const sd_embed_opts *o, float **out,
                           int64_t *dim, sd_err *err) {
    sd_qwen3 m;
    int rc = sd_qwen3_load(&m, model_dir, err);
    if (rc) return rc;
    int C = m.cfg.hidden_size, d = o->dim ? o->dim : C;
    if (d < 1 || d > C) {
        sd_qwen3_free(&m);
        return sd_errf(err, SD_EUSAGE, "--dim %d: %s embeds into 1..%d dimensions", d, model_dir, C);
    }
    int n = cat->n_items;
    char **texts = sd_xmalloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) texts[i] = sd_item_embed_text(cat, i);
    float *x = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)(n > 0 ? n : 1), (size_t)d), sizeof(float)));
    sd_embed_opts oo = *o;
    oo.dim = d;
    rc = sd_qwen3_embed_texts(&m, (const char *const *)texts, n, &oo, x, err);
    if (rc) sd_err_prefix(err, "%s", model_dir);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    sd_qwen3_free(&m);
    if (rc) { free(x); return rc; }
    *out = x;
    *dim = d;
    return 0;
}
