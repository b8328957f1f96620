#include "lm/gen_batch.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

int sd_gen_batch_init(sd_gen_batch *b, sd_qwen3 *m, int n_slots, int cap, int prefill_chunk, const int32_t *stop_ids,
                      int n_stop, sd_err *err) {
    memset(b, 0, sizeof *b);
    if (n_slots < 1 || cap < 2)
        return sd_errf(err, SD_EUSAGE, "batch generator: need >= 1 slot (%d) and >= 2 positions (%d)", n_slots, cap);
    if (m->cfg.max_position_embeddings > 0 && cap > m->cfg.max_position_embeddings)
        cap = m->cfg.max_position_embeddings;
    if (n_stop > 16) n_stop = 16;
    int rc = sd_kv_cache_init(&b->kv, &m->cfg, n_slots, cap, err);
    if (rc) return rc;
    b->m = m;
    b->n_slots = n_slots;
    b->cap = cap;
    b->chunk = prefill_chunk > 0 ? prefill_chunk : 256;
    b->n_stop = n_stop;
    if (n_stop > 0) memcpy(b->stop_ids, stop_ids, sizeof(int32_t) * (size_t)n_stop);
    b->s = sd_xcalloc((size_t)n_slots, sizeof *b->s);
    size_t V = (size_t)m->cfg.vocab_size;
    b->logits = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n_slots, V), sizeof(float)));
    b->row = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n_slots, V), sizeof(float)));
    b->tok = sd_xmalloc(sizeof(int32_t) * (size_t)n_slots);
    b->lp = sd_xmalloc(sizeof(float) * (size_t)n_slots);
    size_t n = (size_t)(b->chunk + n_slots);
    b->ids = sd_xmalloc(n * sizeof(int32_t));
    b->seq = sd_xmalloc(n * sizeof(int32_t));
    b->rows = sd_xmalloc(n * sizeof(int32_t));
    b->row_slot = sd_xmalloc(n * sizeof(int32_t));
    return 0;
}

void sd_gen_batch_free(sd_gen_batch *b) {
    if (!b->s) return;
    for (int i = 0; i < b->n_slots; i++) sd_gen_batch_stop(b, i);
    free(b->s);
    sd_kv_cache_free(&b->kv);
    free(b->logits); free(b->row); free(b->tok); free(b->lp); free(b->ids); free(b->seq); free(b->rows); free(b->row_slot);
    memset(b, 0, sizeof *b);
}

int sd_gen_batch_free_slot(const sd_gen_batch *b) {
    for (int i = 0; i < b->n_slots; i++)
        if (!b->s[i].used) return i;
    return -1;
}

int sd_gen_batch_live(const sd_gen_batch *b) {
    int n = 0;
    for (int i = 0; i < b->n_slots; i++) n += b->s[i].used;
    return n;
}

int sd_gen_batch_add(sd_gen_batch *b, const int32_t *prompt, int len, const sd_sample_cfg *cfg, int max_new,
                     void *user, sd_err *err) {
    int i = sd_gen_batch_free_slot(b);
    if (i < 0) return sd_errf(err, SD_ESTATE, "batch generator: all %d slots are busy", b->n_slots);
    if (len < 1 || max_new < 1)
        return sd_errf(err, SD_ERANGE, "batch generator: empty prompt (%d tokens) or no new tokens (%d)", len, max_new);
    if ((long)len + max_new > b->cap)
        return sd_errf(err, SD_ERANGE, "prompt of %d tokens + %d new tokens exceeds the %d positions of a slot", len,
                       max_new, b->cap);
    const int V = b->m->cfg.vocab_size;
    for (int t = 0; t < len; t++)
        if (prompt[t] < 0 || prompt[t] >= V)
            return sd_errf(err, SD_ERANGE, "prompt token %d: id %d outside the vocabulary [0, %d)", t, prompt[t], V);
    sd_gb_slot *s = &b->s[i];
    int rc = sd_sampler_init(&s->smp, cfg, V, 1, err);
    if (rc) return rc;
    s->ctx = sd_xmalloc(sizeof(int32_t) * (size_t)(len + max_new));
    memcpy(s->ctx, prompt, sizeof(int32_t) * (size_t)len);
    s->ctx_len = s->prompt_len = len;
    s->prefilled = 0;
    s->n_gen = 0;
    s->max_new = max_new;
    s->user = user;
    s->used = true;
    b->kv.len[i] = 0;
    return i;
}

void sd_gen_batch_stop(sd_gen_batch *b, int slot) {
    if (slot < 0 || slot >= b->n_slots || !b->s[slot].used) return;
    sd_gb_slot *s = &b->s[slot];
    sd_sampler_free(&s->smp);
    free(s->ctx);
    memset(s, 0, sizeof *s);
    b->kv.len[slot] = 0;
}

static bool is_stop(const sd_gen_batch *b, int32_t t) {
    for (int i = 0; i < b->n_stop; i++)
        if (b->stop_ids[i] == t) return true;
    return false;
}

/* log-softmax of logits[t] over the whole row */
static float log_softmax_at(const float *x, int V, int32_t t) {
    float M = -INFINITY;
    for (int i = 0; i < V; i++) M = x[i] > M ? x[i] : M;
    double z = 0;
    for (int i = 0; i < V; i++) z += exp((double)x[i] - M);
    return (float)((double)x[t] - M - log(z));
}

/* Applies slot i's chosen token t (-1: the mask left none) and reports it. */
static void apply(sd_gen_batch *b, int i, int32_t t, float lp, sd_gb_token_fn cb, void *ctx) {
    sd_gb_slot *s = &b->s[i];
    if (t < 0) {
        cb(ctx, i, -1, NAN, SD_GB_MASKED);
        sd_gen_batch_stop(b, i);
        return;
    }
    s->ctx[s->ctx_len++] = t;
    s->n_gen++;
    int fin = is_stop(b, t) ? SD_GB_STOP : s->n_gen >= s->max_new ? SD_GB_LENGTH : SD_GB_RUNNING;
    bool halt = cb(ctx, i, t, lp, fin);
    if (fin != SD_GB_RUNNING || halt) sd_gen_batch_stop(b, i);
}

int sd_gen_batch_step(sd_gen_batch *b, sd_gb_token_fn cb, void *ctx, sd_err *err) {
    int n = 0, n_out = 0, budget = b->chunk;
    /* decoding slots first: one token each */
    for (int i = 0; i < b->n_slots; i++) {
        sd_gb_slot *s = &b->s[i];
        if (!s->used || s->prefilled < s->prompt_len) continue;
        b->ids[n] = s->ctx[s->ctx_len - 1];
        b->seq[n] = i;
        b->rows[n_out] = n;
        b->row_slot[n_out++] = i;
        n++;
    }
    int decode = n;
    /* then prompt tokens, oldest slot index first, within the chunk budget */
    for (int i = 0; i < b->n_slots && budget > 0; i++) {
        sd_gb_slot *s = &b->s[i];
        if (!s->used || s->prefilled >= s->prompt_len) continue;
        int take = s->prompt_len - s->prefilled;
        if (take > budget) take = budget;
        for (int t = 0; t < take; t++) {
            b->ids[n] = s->ctx[s->prefilled + t];
            b->seq[n] = i;
            n++;
        }
        s->prefilled += take;
        budget -= take;
        if (s->prefilled == s->prompt_len) { b->rows[n_out] = n - 1; b->row_slot[n_out++] = i; }
    }
    b->last_batch = n;
    if (n == 0) return 0;
    int rc = sd_qwen3_step(b->m, &b->kv, n, b->ids, b->seq, n_out, b->rows, b->logits, NULL, err);
    if (rc) {
        for (int i = 0; i < b->n_slots; i++) sd_gen_batch_stop(b, i);
        return rc;
    }
    b->steps++;
    b->decode_tokens += decode;
    b->prefill_tokens += n - decode;
    /* the choices are independent (each slot has its own sampler and mask), and each costs a few
     * passes over the vocabulary, so they run in parallel; the callbacks then run in order */
    const int V = b->m->cfg.vocab_size;
#pragma omp parallel for schedule(dynamic, 1) if (n_out > 1)
    for (int r = 0; r < n_out; r++) {
        int i = b->row_slot[r];
        sd_gb_slot *s = &b->s[i];
        float *lg = b->logits + (size_t)r * (size_t)V, *raw = b->row + (size_t)r * (size_t)V;
        memcpy(raw, lg, sizeof(float) * (size_t)V); /* the sampler edits logits in place */
        int32_t t = sd_sampler_next(&s->smp, 0, lg, s->ctx, s->ctx_len, s->n_gen);
        b->tok[r] = t;
        b->lp[r] = t >= 0 ? log_softmax_at(raw, V, t) : NAN;
    }
    for (int r = 0; r < n_out; r++) apply(b, b->row_slot[r], b->tok[r], b->lp[r], cb, ctx);
    return 0;
}
