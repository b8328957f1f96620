/* Qwen3 model: parameters, forward/backward over padded batches, inference helpers. */
#include "lm/qwen3.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "nn/gemm.h"
#include "nn/ops.h"

static sd_block_cfg block_cfg(const sd_qwen3_config *c) {
    return (sd_block_cfg){.C = c->hidden_size, .H = c->num_attention_heads, .KV = c->num_key_value_heads,
                          .hd = c->head_dim, .F = c->intermediate_size, .rmsnorm = true,
                          .norm_eps = (float)c->rms_norm_eps, .bias = false, .qk_norm = true,
                          .rope_theta = (float)c->rope_theta, .swiglu = true, .causal = true};
}

static int add2(sd_params *p, const char *name, int64_t rows, int64_t cols, bool decay) {
    int64_t shape[2] = {rows, cols};
    return sd_params_add(p, name, cols ? 2 : 1, shape, decay);
}

int sd_qwen3_init(sd_qwen3 *m, const sd_qwen3_config *cfg, sd_err *err) {
    memset(m, 0, sizeof *m);
    int rc = sd_qwen3_config_check(cfg, "config", err);
    if (rc) return rc;
    m->cfg = *cfg;
    sd_params_init(&m->p);
    int C = cfg->hidden_size, L = cfg->num_hidden_layers;
    /* Declaration order = Hugging Face's named_parameters order (and the safetensors order). */
    m->embed = add2(&m->p, "model.embed_tokens.weight", cfg->vocab_size, C, true);
    m->layers = sd_xcalloc((size_t)L, sizeof *m->layers);
    sd_block_cfg bc = block_cfg(cfg);
    for (int l = 0; l < L; l++) {
        char pre[64];
        snprintf(pre, sizeof pre, "model.layers.%d.", l);
        sd_block_declare(&m->layers[l], &m->p, pre, &bc);
    }
    m->norm = add2(&m->p, "model.norm.weight", C, 0, false);
    m->lm_head = cfg->tie_word_embeddings ? m->embed : add2(&m->p, "lm_head.weight", cfg->vocab_size, C, true);
    sd_params_alloc(&m->p);
    return 0;
}

void sd_qwen3_init_random(sd_qwen3 *m, uint64_t seed, float std) {
    /* one random stream per view: the views fill in parallel, the same values on any thread count */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->p.n_views; i++) {
        sd_view *v = &m->p.views[i];
        float *w = m->p.data + v->offset;
        if (v->ndim == 1) {
            for (size_t j = 0; j < v->numel; j++) w[j] = 1.0f;
            continue;
        }
        sd_rng r;
        sd_rng_stream(&r, seed, (uint64_t)i);
        for (size_t j = 0; j < v->numel; j++) w[j] = (float)sd_rng_normal(&r) * std;
    }
}

void sd_qwen3_free(sd_qwen3 *m) {
    sd_params_free(&m->p);
    free(m->layers);
    if (m->tok) sd_tok_free(m->tok);
    cJSON_Delete(m->config_json);
    cJSON_Delete(m->tokenizer_config);
    cJSON_Delete(m->generation_config);
    memset(m, 0, sizeof *m);
}

void sd_qwen3_alloc_train(sd_qwen3 *m) { sd_params_alloc_train(&m->p); }

/* ---- state ---- */

static int n_acts(const sd_qwen3_config *c, bool train, bool recompute) {
    return train && !recompute ? c->num_hidden_layers : 1;
}
static int n_x(const sd_qwen3_config *c, bool train) { return train ? c->num_hidden_layers + 1 : 2; }

void sd_qwen3_state_init(sd_qwen3_state *s, const sd_qwen3 *m, int B, int T, bool train, bool recompute) {
    memset(s, 0, sizeof *s);
    const sd_qwen3_config *c = &m->cfg;
    size_t N = (size_t)B * T, NC = N * (size_t)c->hidden_size;
    s->B = B; s->T = T; s->train = train; s->recompute = recompute;
    int nx = n_x(c, train), na = n_acts(c, train, recompute);
    s->nx = nx; s->na = na;
    s->x = sd_xcalloc((size_t)nx, sizeof *s->x);
    for (int i = 0; i < nx; i++) s->x[i] = sd_afloats(NC);
    s->xf = sd_afloats(NC); s->rstd = sd_afloats(N); s->lse = sd_afloats(N);
    sd_block_cfg bc = block_cfg(c);
    s->acts = sd_xcalloc((size_t)na, sizeof *s->acts);
    for (int i = 0; i < na; i++) sd_block_acts_init(&s->acts[i], &bc, B, T);
    if (train) {
        sd_block_scratch_init(&s->scr, &bc, B, T);
        s->dx[0] = sd_afloats(NC); s->dx[1] = sd_afloats(NC); s->dxf = sd_afloats(NC);
        if (recompute) s->ytmp = sd_afloats(NC);
        if (N * (size_t)c->vocab_size <= SD_QWEN3_KEEP_LOGITS) s->logits = sd_afloats(N * (size_t)c->vocab_size);
    }
}

void sd_qwen3_state_free(sd_qwen3_state *s) {
    for (int i = 0; i < s->nx; i++) sd_afree(s->x[i]);
    for (int i = 0; i < s->na; i++) sd_block_acts_free(&s->acts[i]);
    free(s->x);
    free(s->acts);
    sd_afree(s->xf); sd_afree(s->rstd); sd_afree(s->lse);
    if (s->train) {
        sd_block_scratch_free(&s->scr);
        sd_afree(s->dx[0]); sd_afree(s->dx[1]); sd_afree(s->dxf); sd_afree(s->ytmp); sd_afree(s->logits);
    }
    memset(s, 0, sizeof *s);
}

/* Bytes of one sd_block_acts + attention state, mirroring their init functions. */
static size_t block_act_floats(const sd_qwen3_config *c, size_t B, size_t T) {
    size_t N = B * T, C = (size_t)c->hidden_size, qd = (size_t)c->num_attention_heads * c->head_dim;
    size_t kd = (size_t)c->num_key_value_heads * c->head_dim, F = (size_t)c->intermediate_size;
    size_t acts = N * (3 * C + 6 + 2 * qd + 2 * kd + 3 * F);
    size_t attn = B * c->num_attention_heads * T * T        /* probs */
                  + 2 * N * (qd + kd)                        /* qr, kr, dqr, dkr */
                  + N * (c->num_attention_heads + c->num_key_value_heads) /* q/k rstd */
                  + N * (size_t)c->head_dim                  /* cos, sin */
                  + (size_t)omp_get_max_threads() * T * T;        /* per-thread scratch */
    return acts + attn;
}

size_t sd_qwen3_state_bytes(const sd_qwen3_config *c, int B, int T, bool train, bool recompute) {
    size_t N = (size_t)B * T, NC = N * (size_t)c->hidden_size;
    size_t f = (size_t)n_x(c, train) * NC + NC + 2 * N;
    f += (size_t)n_acts(c, train, recompute) * block_act_floats(c, (size_t)B, (size_t)T);
    if (train) {
        size_t qd = (size_t)c->num_attention_heads * c->head_dim, kd = (size_t)c->num_key_value_heads * c->head_dim;
        f += N * (2 * (size_t)c->hidden_size + 2 * qd + 2 * kd + 3 * (size_t)c->intermediate_size); /* scratch */
        f += 3 * NC + (recompute ? NC : 0);
        if (N * (size_t)c->vocab_size <= SD_QWEN3_KEEP_LOGITS) f += N * (size_t)c->vocab_size; /* kept logits */
    }
    return f * sizeof(float);
}

/* ---- forward / backward ---- */

int sd_qwen3_batch_check(const sd_qwen3 *m, const sd_qwen3_batch *b, sd_err *err) {
    if (b->B <= 0 || b->T <= 0 || !b->ids) return sd_errf(err, SD_EUSAGE, "qwen3: empty batch (B %d, T %d)", b->B, b->T);
    int V = m->cfg.vocab_size;
    size_t N = (size_t)b->B * b->T;
    for (size_t i = 0; i < N; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= V)
            return sd_errf(err, SD_ERANGE, "qwen3: input id %d at [%zu, %zu] outside [0, %d)", b->ids[i], i / b->T,
                           i % b->T, V);
        if (b->targets && b->targets[i] != SD_QWEN3_IGNORE && (b->targets[i] < 0 || b->targets[i] >= V))
            return sd_errf(err, SD_ERANGE, "qwen3: target %d at [%zu, %zu] outside [0, %d)", b->targets[i], i / b->T,
                           i % b->T, V);
        if (b->pos && b->pos[i] < 0)
            return sd_errf(err, SD_ERANGE, "qwen3: position %d at [%zu, %zu] is negative", b->pos[i], i / b->T, i % b->T);
    }
    return 0;
}

static float *layer_in(sd_qwen3_state *s, int l) { return s->train ? s->x[l] : s->x[l & 1]; }

/* Embedding, layers and the final norm: s->xf [N, C]. */
static int run_trunk(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, sd_err *err) {
    if (b->B != s->B || b->T != s->T)
        return sd_errf(err, SD_EUSAGE, "qwen3: batch %d x %d, state made for %d x %d", b->B, b->T, s->B, s->T);
    int rc = sd_qwen3_batch_check(m, b, err);
    if (rc) return rc;
    s->logits_ok = false;
    const sd_qwen3_config *c = &m->cfg;
    int N = b->B * b->T, C = c->hidden_size, L = c->num_hidden_layers;
    sd_embedding_forward(s->x[0], b->ids, sd_params_ptr(&m->p, m->embed), N, c->vocab_size, C);
    for (int l = 0; l < L; l++) {
        sd_block_acts *a = &s->acts[s->na == L ? l : 0];
        sd_block_forward(&m->layers[l], &m->p, a, layer_in(s, l + 1), layer_in(s, l), b->key_valid, b->pos);
    }
    sd_rmsnorm_forward(s->xf, s->rstd, layer_in(s, L), sd_params_ptr(&m->p, m->norm), N, C, (float)c->rms_norm_eps);
    return 0;
}

int sd_qwen3_forward(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *loss, sd_err *err) {
    if (loss) *loss = 0;
    s->n_valid = 0;
    s->logits_ok = false;
    int rc = run_trunk(m, s, b, err);
    if (rc) return rc;
    if (b->targets) {
        const sd_qwen3_config *c = &m->cfg;
        float l = sd_xent_chunked_forward_keep(s->lse, s->logits, s->xf, sd_params_ptr(&m->p, m->lm_head), b->targets,
                                               b->B * b->T, c->hidden_size, c->vocab_size, SD_QWEN3_IGNORE, &s->n_valid);
        s->logits_ok = s->logits != NULL;
        if (loss) *loss = l;
    }
    return 0;
}

static float *grad_of(sd_qwen3 *m, int view) {
    return m->p.views[view].requires_grad ? sd_params_grad(&m->p, view) : NULL;
}

static void zero_rows_outside(float *g, int32_t lo, int32_t hi, int32_t rows, int C) {
    if (!g) return;
    if (lo > 0) memset(g, 0, (size_t)lo * C * sizeof(float));
    if (hi < rows) memset(g + (size_t)hi * C, 0, (size_t)(rows - hi) * C * sizeof(float));
}

int sd_qwen3_backward(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float dloss, sd_err *err) {
    if (!s->train || !m->p.grad || !b->targets)
        return sd_errf(err, SD_EUSAGE, "qwen3 backward needs a train state, gradients and a forward with targets");
    if (b->B != s->B || b->T != s->T)
        return sd_errf(err, SD_EUSAGE, "qwen3 backward: batch %d x %d, state made for %d x %d", b->B, b->T, s->B, s->T);
    const sd_qwen3_config *c = &m->cfg;
    int N = s->B * s->T, C = c->hidden_size, L = c->num_hidden_layers, V = c->vocab_size;
    size_t NC = (size_t)N * C;
    memset(s->dxf, 0, NC * sizeof(float));
    /* with a row range, the head's dW is formed for those rows only (the others get none) */
    sd_xent_chunked_backward_rows(s->dxf, grad_of(m, m->lm_head), s->xf, sd_params_ptr(&m->p, m->lm_head),
                                  b->targets, s->lse, s->logits_ok ? s->logits : NULL, N, C, V, SD_QWEN3_IGNORE, dloss,
                                  m->row_hi > 0 ? m->row_lo : 0, m->row_hi > 0 ? m->row_hi : V);
    s->logits_ok = false; /* turned into gradients */
    float *dcur = s->dx[L & 1];
    memset(dcur, 0, NC * sizeof(float));
    sd_rmsnorm_backward(dcur, grad_of(m, m->norm), s->dxf, s->x[L], sd_params_ptr(&m->p, m->norm), s->rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        sd_block_acts *a = &s->acts[s->recompute ? 0 : l];
        /* With recompute the shared set still holds the last layer's activations. */
        if (s->recompute && l != L - 1)
            sd_block_forward(&m->layers[l], &m->p, a, s->ytmp, s->x[l], b->key_valid, b->pos);
        float *dprev = s->dx[l & 1];
        memset(dprev, 0, NC * sizeof(float));
        sd_block_backward(&m->layers[l], &m->p, a, &s->scr, dprev, dcur, s->x[l]);
        dcur = dprev;
    }
    float *gemb = grad_of(m, m->embed);
    if (gemb) sd_embedding_backward(gemb, dcur, b->ids, N, C, -1);
    if (m->row_hi > 0) {
        zero_rows_outside(gemb, m->row_lo, m->row_hi, V, C);
        if (m->lm_head != m->embed) zero_rows_outside(grad_of(m, m->lm_head), m->row_lo, m->row_hi, V, C);
    }
    return 0;
}

void sd_qwen3_logits(const sd_qwen3 *m, const float *h, int n, float *logits) {
    const float *W = m->p.data + m->p.views[m->lm_head].offset;
    sd_linear_forward(logits, h, W, NULL, n, m->cfg.hidden_size, m->cfg.vocab_size);
}

int sd_qwen3_last_logits(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *logits, sd_err *err) {
    int rc = run_trunk(m, s, b, err);
    if (rc) return rc;
    int C = m->cfg.hidden_size;
    float *h = sd_afloats((size_t)b->B * C);
    for (int i = 0; i < b->B; i++) {
        int last = b->T - 1;
        if (b->key_valid)
            while (last > 0 && !b->key_valid[(size_t)i * b->T + last]) last--;
        memcpy(h + (size_t)i * C, s->xf + ((size_t)i * b->T + last) * C, (size_t)C * sizeof(float));
    }
    sd_qwen3_logits(m, h, b->B, logits);
    sd_afree(h);
    return 0;
}

int sd_qwen3_hidden(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *out, sd_err *err) {
    int rc = run_trunk(m, s, b, err);
    if (rc) return rc;
    memcpy(out, s->xf, (size_t)b->B * b->T * m->cfg.hidden_size * sizeof(float));
    return 0;
}

double sd_qwen3_train_flops(const sd_qwen3_config *c, int B, int T, int n_labelled) {
    double N = (double)B * T, C = c->hidden_size, qd = (double)c->num_attention_heads * c->head_dim;
    double kd = (double)c->num_key_value_heads * c->head_dim, F = c->intermediate_size;
    /* per token and layer: q, k, v, o, gate, up, down weight multiply-adds */
    double layer_w = C * qd + 2 * C * kd + qd * C + 3 * C * F;
    /* attention: scores and probs @ v, causal (half the T x T square), per query head */
    double layer_attn = 2.0 * c->num_attention_heads * c->head_dim * (T + 1) / 2.0;
    double fwd = 2.0 * (N * c->num_hidden_layers * (layer_w + layer_attn) + (double)n_labelled * C * c->vocab_size);
    return 3.0 * fwd; /* backward = twice the forward */
}

/* ---- trainable parts ---- */

void sd_qwen3_train_embeddings_only(sd_qwen3 *m) {
    for (int i = 0; i < m->p.n_views; i++) sd_params_set_requires_grad(&m->p, i, i == m->embed || i == m->lm_head);
}

void sd_qwen3_train_all(sd_qwen3 *m) {
    for (int i = 0; i < m->p.n_views; i++) sd_params_set_requires_grad(&m->p, i, true);
}

void sd_qwen3_set_trainable_rows(sd_qwen3 *m, int32_t lo, int32_t hi) {
    int32_t V = m->cfg.vocab_size;
    if (lo < 0) lo = 0;
    if (hi > V) hi = V;
    bool all = hi <= 0 || (lo == 0 && hi == V) || lo >= hi;
    m->row_lo = all ? 0 : lo;
    m->row_hi = all ? 0 : hi;
    m->p.views[m->embed].weight_decay = all;
    m->p.views[m->lm_head].weight_decay = all;
    /* zeroing, clipping and AdamW then touch those rows only (the backward zeroes the others) */
    size_t C = (size_t)m->cfg.hidden_size;
    sd_params_set_train_range(&m->p, m->embed, (size_t)m->row_lo * C, (size_t)m->row_hi * C);
    if (m->lm_head != m->embed) sd_params_set_train_range(&m->p, m->lm_head, (size_t)m->row_lo * C, (size_t)m->row_hi * C);
}
