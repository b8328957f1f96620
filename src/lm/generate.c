#include "lm/generate.h"
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "lm/kv_cache.h"

void sd_gen_cfg_default(sd_gen_cfg *c) {
    memset(c, 0, sizeof *c);
    sd_sample_cfg_default(&c->sample);
    c->max_new_tokens = 64;
}

void sd_gen_out_free(sd_gen_out *o) {
    if (o->tokens)
        for (int b = 0; b < o->B; b++) free(o->tokens[b]);
    free(o->tokens);
    free(o->n);
    free(o->finish);
    memset(o, 0, sizeof *o);
}

static int add_unique(int32_t *ids, int n, int max, int32_t id) {
    if (id < 0 || n >= max) return n;
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return n;
    ids[n] = id;
    return n + 1;
}

int sd_qwen3_stop_ids(const sd_qwen3 *m, int32_t *ids, int max) {
    int n = 0;
    for (int i = 0; i < m->cfg.n_eos; i++) n = add_unique(ids, n, max, m->cfg.eos_token_ids[i]);
    const cJSON *e = m->generation_config ? cJSON_GetObjectItemCaseSensitive(m->generation_config, "eos_token_id")
                                          : NULL;
    if (cJSON_IsNumber(e)) n = add_unique(ids, n, max, (int32_t)e->valuedouble);
    else if (cJSON_IsArray(e)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, e) if (cJSON_IsNumber(x)) n = add_unique(ids, n, max, (int32_t)x->valuedouble);
    }
    if (m->tok) {
        n = add_unique(ids, n, max, sd_tok_token_to_id(m->tok, "<|im_end|>"));
        n = add_unique(ids, n, max, sd_tok_token_to_id(m->tok, "<|endoftext|>"));
    }
    /* ids beyond the model's rows could never be produced; drop them */
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] < m->cfg.vocab_size) ids[k++] = ids[i];
    return k;
}

static bool is_stop(const sd_gen_cfg *c, int32_t t) {
    for (int i = 0; i < c->n_stop; i++)
        if (c->stop_ids[i] == t) return true;
    return false;
}

typedef struct gen_state {
    const sd_gen_cfg *cfg;
    sd_sampler smp;
    int32_t **ctx;      /* [B][prompt + max_new] prompt then generated tokens */
    int *ctx_len;
    bool *done;
    sd_gen_out *out;
} gen_state;

/* Chooses sequence b's next token from its logits row and records it. */
static void choose(gen_state *g, int b, float *logits) {
    sd_gen_out *o = g->out;
    int32_t t = sd_sampler_next(&g->smp, b, logits, g->ctx[b], g->ctx_len[b], o->n[b]);
    if (t < 0) {
        o->finish[b] = SD_GEN_MASKED;
        g->done[b] = true;
        return;
    }
    o->tokens[b][o->n[b]++] = t;
    g->ctx[b][g->ctx_len[b]++] = t;
    if (g->cfg->on_token) g->cfg->on_token(g->cfg->on_token_ctx, b, t);
    if (is_stop(g->cfg, t)) {
        o->finish[b] = SD_GEN_STOP;
        g->done[b] = true;
    } else if (o->n[b] >= g->cfg->max_new_tokens) {
        o->finish[b] = SD_GEN_LENGTH;
        g->done[b] = true;
    }
}

int sd_generate(sd_qwen3 *m, const int32_t *const *prompts, const int *prompt_lens, int B, const sd_gen_cfg *cfg,
                sd_gen_out *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    const int V = m->cfg.vocab_size;
    int rc = sd_sample_cfg_check(&cfg->sample, err);
    if (rc) return rc;
    if (B <= 0) return sd_errf(err, SD_ERANGE, "generate: no prompts");
    if (cfg->max_new_tokens <= 0)
        return sd_errf(err, SD_EUSAGE, "max new tokens must be > 0, got %d", cfg->max_new_tokens);
    int max_prompt = 0;
    long total = 0;
    for (int b = 0; b < B; b++) {
        if (prompt_lens[b] <= 0) return sd_errf(err, SD_ERANGE, "generate: prompt %d is empty", b);
        for (int i = 0; i < prompt_lens[b]; i++)
            if (prompts[b][i] < 0 || prompts[b][i] >= V)
                return sd_errf(err, SD_ERANGE, "generate: prompt %d, token %d: id %d outside the vocabulary [0, %d)",
                               b, i, prompts[b][i], V);
        max_prompt = prompt_lens[b] > max_prompt ? prompt_lens[b] : max_prompt;
        total += prompt_lens[b];
    }
    int cap = max_prompt + cfg->max_new_tokens;
    if (m->cfg.max_position_embeddings > 0 && cap > m->cfg.max_position_embeddings)
        return sd_errf(err, SD_ERANGE, "generate: prompt of %d tokens + %d new tokens exceeds the model's %d positions",
                       max_prompt, cfg->max_new_tokens, m->cfg.max_position_embeddings);

    gen_state g = {.cfg = cfg, .out = out};
    rc = sd_sampler_init(&g.smp, &cfg->sample, V, B, err);
    if (rc) return rc;
    sd_kv_cache kv;
    if ((rc = sd_kv_cache_init(&kv, &m->cfg, B, cap, err))) { sd_sampler_free(&g.smp); return rc; }

    out->B = B;
    out->tokens = sd_xcalloc((size_t)B, sizeof *out->tokens);
    out->n = sd_xcalloc((size_t)B, sizeof(int));
    out->finish = sd_xcalloc((size_t)B, sizeof(int));
    g.ctx = sd_xcalloc((size_t)B, sizeof *g.ctx);
    g.ctx_len = sd_xcalloc((size_t)B, sizeof(int));
    g.done = sd_xcalloc((size_t)B, sizeof(bool));
    for (int b = 0; b < B; b++) {
        out->tokens[b] = sd_xmalloc(sizeof(int32_t) * (size_t)cfg->max_new_tokens);
        g.ctx[b] = sd_xmalloc(sizeof(int32_t) * (size_t)cap);
        memcpy(g.ctx[b], prompts[b], sizeof(int32_t) * (size_t)prompt_lens[b]);
        g.ctx_len[b] = prompt_lens[b];
    }
    float *logits = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)B, (size_t)V), sizeof(float)));
    int chunk = cfg->prefill_chunk > 0 ? cfg->prefill_chunk : 512;
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * (size_t)(chunk > B ? chunk : B));
    int32_t *seq = sd_xmalloc(sizeof(int32_t) * (size_t)(chunk > B ? chunk : B));
    int32_t *rows = sd_xmalloc(sizeof(int32_t) * (size_t)(chunk > B ? chunk : B));
    int32_t *row_seq = sd_xmalloc(sizeof(int32_t) * (size_t)(chunk > B ? chunk : B));

    /* prefill: all prompts as one token stream, cut into chunks; the last token of each prompt
     * yields that sequence's first logits */
    double t0 = sd_now();
    int b = 0, i = 0;
    while (b < B && !rc) {
        int n = 0, n_out = 0;
        while (b < B && n < chunk) {
            ids[n] = prompts[b][i];
            seq[n] = b;
            if (i == prompt_lens[b] - 1) { rows[n_out] = n; row_seq[n_out++] = b; }
            n++;
            if (++i == prompt_lens[b]) { b++; i = 0; }
        }
        rc = sd_qwen3_step(m, &kv, n, ids, seq, n_out, rows, logits, NULL, err);
        for (int r = 0; r < n_out && !rc; r++) choose(&g, row_seq[r], logits + (size_t)r * V);
    }
    out->prefill_tokens = total;
    out->prefill_s = sd_now() - t0;

    t0 = sd_now();
    while (!rc) {
        int n = 0;
        for (int s = 0; s < B; s++)
            if (!g.done[s]) { ids[n] = g.ctx[s][g.ctx_len[s] - 1]; seq[n] = s; rows[n] = n; n++; }
        if (n == 0) break;
        rc = sd_qwen3_step(m, &kv, n, ids, seq, n, rows, logits, NULL, err);
        for (int r = 0; r < n && !rc; r++) choose(&g, seq[r], logits + (size_t)r * V);
        out->decode_tokens += n;
    }
    out->decode_s = sd_now() - t0;

    for (int s = 0; s < B; s++) free(g.ctx[s]);
    free(g.ctx); free(g.ctx_len); free(g.done);
    free(logits); free(ids); free(seq); free(rows); free(row_seq);
    sd_kv_cache_free(&kv);
    sd_sampler_free(&g.smp);
    if (rc) sd_gen_out_free(out);
    return rc;
}
