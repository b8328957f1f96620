/* semid embed WORK: item vectors -> WORK/emb.npy (TF-IDF + randomized SVD, or imported). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/workdir.h"
#include "ids/embfile.h"
#include "lm/embed_qwen3.h"
#include "text/rsvd.h"
#include "text/tfidf.h"

typedef struct embed_args {
    int dim, min_df, max_vocab, power_iters;
    float title_weight;
    bool bigrams;
} embed_args;

/* TF-IDF rows -> rank-D SVD -> U*S (the rows' coordinates in the top singular subspace), then
 * unit rows so cosine and Euclidean geometry agree for k-means. */
static int embed_tfidf(const sd_work *w, const embed_args *a, float **out, int64_t *dim, sd_err *err) {
    sd_tfidf_opts o;
    sd_tfidf_defaults(&o);
    o.min_df = a->min_df;
    o.max_vocab = a->max_vocab;
    o.title_weight = a->title_weight;
    o.bigrams = a->bigrams;
    sd_csr m;
    int64_t empty = 0;
    double t0 = sd_now();
    int rc = sd_tfidf_build(w->cat, &o, &m, NULL, &empty, err);
    if (rc) return rc;
    double t1 = sd_now();
    sd_info("tf-idf: %lld items x %lld terms, %lld non-zeros (%.2f s)", (long long)m.n_rows, (long long)m.n_cols,
            (long long)sd_csr_nnz(&m), t1 - t0);
    if (empty) sd_warn("%lld items have no term in the vocabulary; their vectors are zero", (long long)empty);
    int64_t d = a->dim, mn = m.n_rows < m.n_cols ? m.n_rows : m.n_cols;
    if (d > mn) {
        sd_warn("--dim %d exceeds min(items, terms) = %lld; using %lld", a->dim, (long long)mn, (long long)mn);
        d = mn;
    }
    float *u = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)m.n_rows, (size_t)d), sizeof(float)));
    float *s = sd_xmalloc(sizeof(float) * (size_t)d);
    sd_rsvd_opts so = {.rank = (int)d, .oversample = 10, .power_iters = a->power_iters, .seed = sd_seed,
                       .show_progress = !sd_quiet};
    rc = sd_rsvd(&m, &so, u, s, NULL, err);
    if (!rc) {
        for (int64_t i = 0; i < m.n_rows; i++)
            for (int64_t j = 0; j < d; j++) u[i * d + j] *= s[j];
        sd_emb_l2_normalize(u, m.n_rows, d);
        sd_info("svd: rank %lld, singular values %.4g .. %.4g (%.2f s)", (long long)d, s[0], s[d - 1], sd_now() - t1);
        *out = u;
        *dim = d;
    } else {
        free(u);
    }
    free(s);
    sd_csr_free(&m);
    return rc;
}

static int embed_import(const sd_work *w, const char *npy, const char *ids, float **out, int64_t *dim, sd_err *err) {
    int64_t n, d;
    float *x;
    int rc = sd_embfile_read_npy(npy, &x, &n, &d, err);
    if (rc) return rc;
    if (ids) rc = sd_embfile_reorder_by_ids(&x, n, d, ids, w->cat, err);
    else if (n != w->cat->n_items)
        rc = sd_errf(err, SD_EFORMAT, "%s: %lld rows but %s has %d items (rows must follow internal-id order, or pass --ids)",
                     npy, (long long)n, w->dir, w->cat->n_items);
    if (rc) { free(x); return rc; }
    *out = x;
    *dim = d;
    return 0;
}

static int run(int argc, char **argv) {
    const char *method = "tfidf", *npy = NULL, *ids = NULL;
    embed_args a = {.dim = INT_MIN, .min_df = 2, .max_vocab = 100000, .power_iters = 3, .title_weight = 3.0f,
                    .bigrams = false}; /* INT_MIN: --dim not given */
    /* --model: Qwen3-Embedding (src/lm/embed_qwen3.h) */
    const char *model = NULL;
    sd_embed_opts eo;
    sd_embed_opts_default(&eo);
    sd_opt opts[] = {
        {.name = "method", .type = SD_OPT_STR, .ptr = &method, .metavar = "NAME",
         .help = "tfidf (default): TF-IDF over item text + randomized SVD"},
        {.name = "dim", .type = SD_OPT_INT, .ptr = &a.dim, .metavar = "D",
         .help = "embedding dimension (256; with --model: the model's, or a prefix of it)"},
        {.name = "npy", .type = SD_OPT_STR, .ptr = &npy, .metavar = "FILE",
         .help = "import N x D float32/float16 vectors instead (rows in internal-id order)"},
        {.name = "ids", .type = SD_OPT_STR, .ptr = &ids, .metavar = "FILE",
         .help = "with --npy: external item id of each row, one per line"},
        {.name = "min-df", .type = SD_OPT_INT, .ptr = &a.min_df, .metavar = "N",
         .help = "tf-idf: keep terms in at least N items (2)"},
        {.name = "max-vocab", .type = SD_OPT_INT, .ptr = &a.max_vocab, .metavar = "N",
         .help = "tf-idf: keep the N most frequent terms (100000)"},
        {.name = "title-weight", .type = SD_OPT_FLOAT, .ptr = &a.title_weight, .metavar = "W",
         .help = "tf-idf: weight of title tokens (3)"},
        {.name = "bigrams", .type = SD_OPT_FLAG, .ptr = &a.bigrams, .help = "tf-idf: add adjacent-token bigrams"},
        {.name = "power-iters", .type = SD_OPT_INT, .ptr = &a.power_iters, .metavar = "N",
         .help = "svd: subspace iterations (3)"},
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "embed with a Qwen3-Embedding folder instead (last-token pooling, unit rows)"},
        {.name = "instruct", .type = SD_OPT_STR, .ptr = &eo.task, .metavar = "TEXT",
         .help = "--model: prefix items with \"Instruct: TEXT\\nQuery:\" (default: none)"},
        {.name = "max-tokens", .type = SD_OPT_INT, .ptr = &eo.max_tokens, .metavar = "N",
         .help = "--model: tokens per item, <|endoftext|> included (512)"},
        {0},
    };
    sd_usage u = {.usage = "semid embed WORK [options]",
                  .about = "Computes one vector per item and writes WORK/emb.npy (float32, N x D, rows in internal-id "
                           "order). Without model weights: TF-IDF over title, description, features, categories and "
                           "attributes, reduced by a randomized truncated SVD to D dimensions, rows scaled to unit "
                           "length. --npy imports vectors made elsewhere (float32 or float16), copied as they are "
                           "after checking every row. --model DIR embeds each item's text (\"Product: "
                           "...\\nDescription: ...\\nCategory: ...\" and its attributes) with a Qwen3-Embedding "
                           "folder: last-token pooling, --dim keeps a prefix (MRL), unit rows.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *dir = pos[0];
    free(pos);
    if (a.dim == INT_MIN) a.dim = model ? 0 : 256; /* --model: 0 = the model's size */
    else if (a.dim < 1) return sd_errf(&err, SD_EUSAGE, "embed: --dim must be >= 1"), sd_cmd_error(&err);
    if (model && npy) return sd_errf(&err, SD_EUSAGE, "embed: --model and --npy exclude each other"), sd_cmd_error(&err);
    if (model && eo.max_tokens < 2) return sd_errf(&err, SD_EUSAGE, "embed: --max-tokens must be >= 2"), sd_cmd_error(&err);
    if (a.min_df < 1) return sd_errf(&err, SD_EUSAGE, "embed: --min-df must be >= 1"), sd_cmd_error(&err);
    if (a.max_vocab < 1) return sd_errf(&err, SD_EUSAGE, "embed: --max-vocab must be >= 1"), sd_cmd_error(&err);
    if (a.power_iters < 0 || a.power_iters > 20) return sd_errf(&err, SD_EUSAGE, "embed: --power-iters must be 0..20"), sd_cmd_error(&err);
    if (ids && !npy) return sd_errf(&err, SD_EUSAGE, "embed: --ids needs --npy"), sd_cmd_error(&err);
    if (!npy && !model && strcmp(method, "tfidf"))
        return sd_errf(&err, SD_EUSAGE, "embed: unknown --method '%s' (available: tfidf; or --npy FILE)", method), sd_cmd_error(&err);
    /* WORK stays as it is while this runs (shared lock), and one writer of WORK/emb.npy */
    sd_lock lk = {.fd = -1}, lk_out = {.fd = -1};
    char *out = sd_path_join(dir, "emb.npy");
    sd_work w;
    rc = sd_lock_output_shared(&lk, dir, &err);
    if (!rc) rc = sd_work_load(&w, dir, &err);
    if (!rc && (rc = sd_lock_output(&lk_out, out, &err))) sd_work_free(&w);
    if (rc) { sd_unlock(&lk); free(out); return sd_cmd_error(&err); }
    float *x = NULL;
    int64_t d = 0;
    double t0 = sd_now();
    eo.dim = a.dim;
    eo.progress = !sd_quiet;
    rc = npy ? embed_import(&w, npy, ids, &x, &d, &err)
         : model ? sd_embed_catalog_qwen3(model, w.cat, &eo, &x, &d, &err)
                 : embed_tfidf(&w, &a, &x, &d, &err);
    if (!rc) rc = sd_embfile_write_npy(out, x, w.cat->n_items, d, &err);
    if (!rc) sd_info("wrote %s: %d x %lld (%.2f s)", out, w.cat->n_items, (long long)d, sd_now() - t0);
    free(out);
    free(x);
    sd_work_free(&w);
    sd_unlock(&lk_out);
    sd_unlock(&lk);
    return rc ? sd_cmd_error(&err) : 0;
}
SD_COMMAND(embed, "embed", "item vectors (TF-IDF + SVD, or imported .npy) -> WORK/emb.npy", run)
