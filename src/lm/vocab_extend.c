/* Semantic-ID vocabulary: new special tokens and the embedding / lm_head rows behind them.
 *
 * New rows start at the mean of the trained rows (as semantic-ids-llm and transformers'
 * mean_resizing do), so the new tokens begin as an "average token" rather than at random
 * logits that would swamp the softmax, with a little seeded noise so the rows are not identical
 * (identical rows would get identical gradients at the output). Qwen3 checkpoints carry spare
 * rows beyond the tokenizer (151,936 rows for 151,669 tokens) whose values were never trained;
 * they are overwritten the same way rather than reused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/finite.h"
#include "base/mem.h"
#include "base/rng.h"
#include "ids/sid_vocab.h"
#include "lm/qwen3.h"

/* Rows [init_from, rows) of W [rows, C] = column mean of rows [0, init_from) + noise. */
static void init_rows(float *W, int32_t rows, int32_t init_from, int C, uint64_t seed, uint64_t stream, float noise) {
    if (init_from >= rows) return;
    double *mean = sd_xcalloc((size_t)C, sizeof(double));
    for (int32_t r = 0; r < init_from; r++)
        for (int j = 0; j < C; j++) mean[j] += W[(size_t)r * C + j];
    for (int j = 0; j < C; j++) mean[j] /= init_from;
    double ss = 0;
    for (int32_t r = 0; r < init_from; r++)
        for (int j = 0; j < C; j++) {
            double d = W[(size_t)r * C + j] - mean[j];
            ss += d * d;
        }
    double sigma = noise * sqrt(ss / ((double)init_from * C));
    sd_rng rng;
    sd_rng_stream(&rng, seed, stream);
    for (int32_t r = init_from; r < rows; r++)
        for (int j = 0; j < C; j++) W[(size_t)r * C + j] = (float)(mean[j] + sigma * sd_rng_normal(&rng));
    free(mean);
}

int sd_qwen3_resize_vocab(sd_qwen3 *m, int32_t new_rows, int32_t init_from, uint64_t seed, float noise, sd_err *err) {
    int32_t old_rows = m->cfg.vocab_size;
    if (init_from <= 0 || init_from > old_rows || init_from > new_rows)
        return sd_errf(err, SD_ERANGE, "vocabulary resize: %d trained rows, model has %d, new size %d", init_from,
                       old_rows, new_rows);
    if (!(noise >= 0)) return sd_errf(err, SD_ERANGE, "vocabulary resize: noise %g must be >= 0", noise);
    sd_qwen3_config cfg = m->cfg;
    cfg.vocab_size = new_rows;
    sd_qwen3 n;
    int rc = sd_qwen3_init(&n, &cfg, err);
    if (rc) return rc;
    int C = cfg.hidden_size;
    for (int i = 0; i < m->p.n_views; i++) {
        const sd_view *ov = &m->p.views[i];
        sd_view *nv = &n.p.views[i];
        nv->requires_grad = ov->requires_grad;
        nv->weight_decay = ov->weight_decay;
        size_t numel = ov->numel < nv->numel ? ov->numel : nv->numel;
        memcpy(n.p.data + nv->offset, m->p.data + ov->offset, numel * sizeof(float));
        if (i == n.embed || i == n.lm_head) {
            float *W = n.p.data + nv->offset;
            init_rows(W, new_rows, init_from, C, seed, (uint64_t)(i == n.lm_head && !cfg.tie_word_embeddings), noise);
            /* finite old rows can still give a mean plus noise beyond float range */
            size_t cnt = (size_t)(new_rows - init_from) * (size_t)C;
            size_t bad = sd_first_nonfinite(W + (size_t)init_from * C, cnt);
            if (bad < cnt) {
                rc = sd_errf(err, SD_ERANGE, "vocabulary resize: new row %lld of \"%s\" is not finite (the mean of the "
                             "old rows plus noise %g overflows float32)", (long long)(init_from + (int64_t)(bad / (size_t)C)),
                             nv->name, noise);
                sd_qwen3_free(&n);
                return rc;
            }
        }
    }
    if (m->p.grad) sd_params_alloc_train(&n.p);
    /* Everything but the parameters carries over. */
    n.no_prefix = m->no_prefix;
    n.tok = m->tok; m->tok = NULL;
    n.config_json = m->config_json; m->config_json = NULL;
    n.tokenizer_config = m->tokenizer_config; m->tokenizer_config = NULL;
    n.generation_config = m->generation_config; m->generation_config = NULL;
    int32_t row_lo = m->row_lo, row_hi = m->row_hi;
    sd_qwen3_free(m);
    *m = n;
    /* the trained row range carries over (clipped to the new size), with the views' ranges */
    if (row_hi > 0) sd_qwen3_set_trainable_rows(m, row_lo, row_hi > new_rows ? new_rows : row_hi);
    return 0;
}

int sd_qwen3_extend_vocab(sd_qwen3 *m, int levels, int codes, uint64_t seed, float noise, sd_qwen3_vocab_ext *out,
                          sd_err *err) {
    if (levels < 1 || codes < 1 || levels > SD_SID_MAX_LEVELS || (int64_t)levels * codes > (1 << 20))
        return sd_errf(err, SD_EUSAGE, "vocabulary extension: %d levels x %d codes (each >= 1, at most 2^20 in all)",
                       levels, codes);
    int32_t K[SD_SID_MAX_LEVELS];
    for (int l = 0; l < levels; l++) K[l] = codes;
    sd_sid_vocab v;
    int rc = sd_sid_vocab_init(&v, levels, levels, K, err);
    if (!rc) rc = sd_qwen3_extend_sid_vocab(m, &v, seed, noise, out, err);
    sd_sid_vocab_free(&v);
    return rc;
}

int sd_qwen3_extend_sid_vocab(sd_qwen3 *m, sd_sid_vocab *v, uint64_t seed, float noise, sd_qwen3_vocab_ext *out,
                              sd_err *err) {
    if (!m->tok) return sd_errf(err, SD_ESTATE, "vocabulary extension: the model has no tokenizer");
    int32_t n_sid = v->offset[v->n_levels];
    if (n_sid < 1 || n_sid > (1 << 20))
        return sd_errf(err, SD_EUSAGE, "vocabulary extension: %d SID tokens (at least 1, at most 2^20)", n_sid);
    int n = 3 + n_sid;
    sd_added_token *toks = sd_xcalloc((size_t)n, sizeof *toks);
    char **names = sd_xcalloc((size_t)n, sizeof *names);
    static const char *const fixed[3] = {SD_SID_TOKEN_REC, SD_SID_TOKEN_START, SD_SID_TOKEN_END};
    for (int i = 0; i < n; i++) {
        char buf[32];
        if (i < 3) snprintf(buf, sizeof buf, "%s", fixed[i]);
        else sd_sid_token_name(buf, sizeof buf, i - 3);
        names[i] = sd_xstrdup(buf);
        toks[i] = (sd_added_token){.content = names[i], .special = true};
    }
    int32_t *ids = sd_xcalloc((size_t)n, sizeof *ids);
    sd_qwen3_vocab_ext x = {.old_tokens = sd_tok_vocab_size(m->tok), .old_rows = m->cfg.vocab_size};
    int rc = sd_tok_add_tokens(m->tok, toks, (size_t)n, ids, err);
    if (rc >= 0) {
        x.n_new = rc;
        rc = 0;
        x.rec_id = ids[0]; x.sid_start_id = ids[1]; x.sid_end_id = ids[2]; x.sid_base = ids[3];
        for (int k = 1; k < n_sid && !rc; k++)
            if (ids[3 + k] != x.sid_base + k)
                rc = sd_errf(err, SD_ESTATE, "vocabulary extension: <|sid_%d|> has id %d, expected %d (the tokenizer "
                             "already holds some SID tokens out of order)", k, ids[3 + k], x.sid_base + k);
    }
    if (!rc) {
        int32_t need = sd_tok_vocab_size(m->tok);
        x.new_rows = need > x.old_rows ? need : x.old_rows;
        rc = sd_qwen3_resize_vocab(m, x.new_rows, x.old_tokens, seed, noise, err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(toks);
    free(ids);
    if (!rc) sd_sid_vocab_bind(v, x.sid_base, x.sid_start_id, x.sid_end_id, x.rec_id);
    if (!rc && out) *out = x;
    return rc;
}

int sd_qwen3_bind_sid_vocab(const sd_tokenizer *tok, sd_sid_vocab *v, const char *where, sd_err *err) {
    static const char *const fixed[3] = {SD_SID_TOKEN_START, SD_SID_TOKEN_END, SD_SID_TOKEN_REC};
    int32_t id[3];
    for (int i = 0; i < 3; i++)
        if ((id[i] = sd_tok_token_to_id(tok, fixed[i])) < 0)
            return sd_errf(err, SD_ESTATE, "%s: the tokenizer has no %s (run `semid extend --work WORK`)", where, fixed[i]);
    int32_t n_sid = v->offset[v->n_levels], first = sd_tok_token_to_id(tok, "<|sid_0|>");
    char name[32];
    for (int32_t k = 0; k <= n_sid; k++) {
        sd_sid_token_name(name, sizeof name, k);
        int32_t got = sd_tok_token_to_id(tok, name);
        if (k < n_sid && (first < 0 || got != first + k))
            return sd_errf(err, SD_ESTATE, "%s: %s is %s in the tokenizer, expected %s%d (the tokenizer was not "
                           "extended with this vocabulary's %d SID tokens)", where, name, got < 0 ? "missing" : "elsewhere",
                           first < 0 ? "an id" : "id ", first < 0 ? 0 : first + k, n_sid);
        if (k == n_sid && got >= 0)
            return sd_errf(err, SD_ESTATE, "%s: the tokenizer has %s, beyond this vocabulary's %d SID tokens (extended "
                           "for other semantic IDs)", where, name, n_sid);
    }
    sd_sid_vocab_bind(v, first, id[0], id[1], id[2]);
    return 0;
}
