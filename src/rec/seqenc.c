#include "rec/seqenc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/sort.h"
#include <cjson/cJSON.h>
#include "base/err.h"
#include "nn/ops.h"

const char *sd_seqenc_block_name(sd_seqenc_block b) { return b == SD_BLOCK_STANDARD ? "standard" : "pmixer"; }

int sd_seqenc_block_parse(const char *s, sd_seqenc_block *b) {
    if (!strcmp(s, "pmixer")) *b = SD_BLOCK_PMIXER;
    else if (!strcmp(s, "standard")) *b = SD_BLOCK_STANDARD;
    else return SD_EUSAGE;
    return 0;
}

sd_seqenc_block sd_seqenc_block_of_json(const struct cJSON *cfg) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "block");
    sd_seqenc_block b = SD_BLOCK_STANDARD;
    if (cJSON_IsString(v)) sd_seqenc_block_parse(v->valuestring, &b);
    return b;
}

#define LN_EPS 1e-8f

double sd_seqenc_attn_seconds[2];

typedef struct blk_acts {
    float *ln1, *m1, *r1, *q, *k, *v, *att, *h, *ln2, *m2, *r2, *up, *act;
} blk_acts;

struct sd_seqenc_ws {
    int C, L, H, maxlen, max_seqs, n_groups;
    size_t max_tok;
    bool train;
    float *in, *tmp, **xs, *out, *mf, *rf;
    blk_acts *b;
    int32_t *pos, *order;
    sd_attn_state *st;        /* [L * n_groups] when training, [n_groups] reused otherwise */
    float *Qg, *Kg, *Vg, *Og; /* one group, right-padded: [G, maxlen + 1, C] (row 0: the sink) */
    float attn_drop;          /* dropout on attention probabilities in this forward (pmixer, training) */
    int sink;                 /* 1 when the padding keys are modelled by a sink row (pmixer) */
    float *kb;                /* [G, maxlen + 1] key bias: log(number of padding keys) of the sink */
    float *sk, *sv, *dsk, *dsv; /* [L, C] the padding keys' k, v per block; their gradients */
    /* backward */
    float *dout, *dx, *dy, *dh, *d_o, *d_att, *dq, *dk, *dv, *d_ln, *d_up, *d_act, *din;
    float *dQg, *dKg, *dVg, *dOg;
    uint64_t seed, step;
};

static int add_view(sd_params *p, const char *name, int64_t rows, int64_t cols, bool decay) {
    int64_t shape[2] = {rows, cols};
    return sd_params_add(p, name, cols ? 2 : 1, shape, decay);
}

void sd_seqenc_declare(sd_seqenc *e, sd_params *p, const sd_seqenc_cfg *cfg) {
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    int C = cfg->dim;
    e->pos_emb = add_view(p, "pos_emb.weight", cfg->maxlen + 1, C, true);
    sd_block_cfg bc = {.C = C, .H = cfg->heads, .KV = cfg->heads, .hd = C / cfg->heads, .F = C,
                       .rmsnorm = false, .norm_eps = LN_EPS, .bias = true, .causal = true};
    for (int l = 0; l < cfg->blocks; l++) {
        char pre[32];
        snprintf(pre, sizeof pre, "layers.%d.", l);
        sd_block_declare(&e->blk[l], p, pre, &bc);
    }
    e->last_w = add_view(p, "last_layernorm.weight", C, 0, false);
    e->last_b = add_view(p, "last_layernorm.bias", C, 0, false);
}

void sd_xavier_normal(float *w, int64_t rows, int64_t cols, uint64_t seed, uint64_t stream) {
    sd_rng r;
    sd_rng_stream(&r, seed, stream);
    double sd = sqrt(2.0 / (double)(rows + cols));
    for (int64_t i = 0; i < rows * cols; i++) w[i] = (float)(sd_rng_normal(&r) * sd);
}

static void fill(float *w, size_t n, float v) { for (size_t i = 0; i < n; i++) w[i] = v; }

void sd_seqenc_init_weights(const sd_seqenc *e, sd_params *p, uint64_t seed) {
    int C = e->cfg.dim;
    uint64_t stream = 100;
    float *P = sd_params_ptr(p, e->pos_emb);
    sd_xavier_normal(P, e->cfg.maxlen + 1, C, seed, stream++);
    memset(P, 0, (size_t)C * sizeof(float));
    for (int l = 0; l < e->cfg.blocks; l++) {
        const sd_block *b = &e->blk[l];
        fill(sd_params_ptr(p, b->ln1_w), C, 1.0f);
        fill(sd_params_ptr(p, b->ln2_w), C, 1.0f);
        memset(sd_params_ptr(p, b->ln1_b), 0, C * sizeof(float));
        memset(sd_params_ptr(p, b->ln2_b), 0, C * sizeof(float));
        /* q, k, v as the rows of one [3C, C] in_proj (nn.MultiheadAttention) */
        int qkv[3] = {b->q_w, b->k_w, b->v_w}, qkvb[3] = {b->q_b, b->k_b, b->v_b};
        sd_rng r;
        sd_rng_stream(&r, seed, stream++);
        double sd3 = sqrt(2.0 / (4.0 * C));
        for (int j = 0; j < 3; j++) {
            float *w = sd_params_ptr(p, qkv[j]);
            for (int i = 0; i < C * C; i++) w[i] = (float)(sd_rng_normal(&r) * sd3);
            memset(sd_params_ptr(p, qkvb[j]), 0, C * sizeof(float));
        }
        sd_xavier_normal(sd_params_ptr(p, b->o_w), C, C, seed, stream++);
        memset(sd_params_ptr(p, b->o_b), 0, C * sizeof(float));
        sd_xavier_normal(sd_params_ptr(p, b->up_w), C, C, seed, stream++);
        sd_xavier_normal(sd_params_ptr(p, b->down_w), C, C, seed, stream++);
        sd_rng_stream(&r, seed, stream++);
        float bound = 1.0f / sqrtf((float)C);
        float *b1 = sd_params_ptr(p, b->up_b), *b2 = sd_params_ptr(p, b->down_b);
        for (int i = 0; i < C; i++) b1[i] = (2 * sd_rng_float(&r) - 1) * bound;
        for (int i = 0; i < C; i++) b2[i] = (2 * sd_rng_float(&r) - 1) * bound;
    }
    fill(sd_params_ptr(p, e->last_w), C, 1.0f);
    memset(sd_params_ptr(p, e->last_b), 0, C * sizeof(float));
}

sd_seqenc_ws *sd_seqenc_ws_new(const sd_seqenc *e, int max_seqs, bool train) {
    sd_seqenc_ws *ws = sd_xcalloc(1, sizeof *ws);
    int C = e->cfg.dim, L = e->cfg.blocks, T = e->cfg.maxlen;
    ws->C = C; ws->L = L; ws->H = e->cfg.heads; ws->maxlen = T; ws->max_seqs = max_seqs; ws->train = train;
    size_t N = (size_t)max_seqs * T, NC = N * C;
    ws->max_tok = N;
    ws->in = sd_afloats(NC); ws->tmp = sd_afloats(NC); ws->out = sd_afloats(NC);
    ws->mf = sd_afloats(N); ws->rf = sd_afloats(N);
    ws->xs = sd_xcalloc((size_t)L + 1, sizeof *ws->xs);
    for (int l = 0; l <= L; l++) ws->xs[l] = sd_afloats(NC);
    ws->b = sd_xcalloc((size_t)L, sizeof *ws->b);
    /* Inference keeps one set of block activations, reused by every block. */
    for (int l = 0; l < (train ? L : 1); l++) {
        blk_acts *a = &ws->b[l];
        a->ln1 = sd_afloats(NC); a->m1 = sd_afloats(N); a->r1 = sd_afloats(N);
        a->q = sd_afloats(NC); a->k = sd_afloats(NC); a->v = sd_afloats(NC); a->att = sd_afloats(NC);
        a->h = sd_afloats(NC); a->ln2 = sd_afloats(NC); a->m2 = sd_afloats(N); a->r2 = sd_afloats(N);
        a->up = sd_afloats(NC); a->act = sd_afloats(NC);
    }
    for (int l = 1; l < L && !train; l++) ws->b[l] = ws->b[0];
    ws->pos = sd_xmalloc(N * sizeof(int32_t));
    ws->order = sd_xmalloc((size_t)max_seqs * sizeof(int32_t));
    ws->n_groups = (max_seqs + SD_SEQENC_GROUP - 1) / SD_SEQENC_GROUP;
    int n_st = ws->n_groups * (train ? L : 1);
    ws->st = sd_xcalloc((size_t)n_st, sizeof *ws->st);
    ws->sink = e->cfg.block == SD_BLOCK_PMIXER;
    ws->kb = sd_afloats((size_t)SD_SEQENC_GROUP * (T + 1));
    ws->sk = sd_afloats((size_t)L * C); ws->sv = sd_afloats((size_t)L * C);
    ws->dsk = sd_afloats((size_t)L * C); ws->dsv = sd_afloats((size_t)L * C);
    sd_attn_cfg ac = {.B = SD_SEQENC_GROUP, .T = T + ws->sink, .H = ws->H, .KV = ws->H, .hd = C / ws->H, .causal = true};
    for (int i = 0; i < n_st; i++) sd_attn_state_init(&ws->st[i], &ac);
    size_t GC = (size_t)SD_SEQENC_GROUP * (T + 1) * C;
    ws->Qg = sd_afloats(GC); ws->Kg = sd_afloats(GC); ws->Vg = sd_afloats(GC); ws->Og = sd_afloats(GC);
    if (train) {
        float **bufs[] = {&ws->dout, &ws->dx, &ws->dy, &ws->dh, &ws->d_o, &ws->d_att, &ws->dq, &ws->dk,
                          &ws->dv, &ws->d_ln, &ws->d_up, &ws->d_act, &ws->din};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) *bufs[i] = sd_afloats(NC);
        ws->dQg = sd_afloats(GC); ws->dKg = sd_afloats(GC); ws->dVg = sd_afloats(GC); ws->dOg = sd_afloats(GC);
    }
    return ws;
}

void sd_seqenc_ws_free(sd_seqenc_ws *ws) {
    if (!ws) return;
    sd_afree(ws->in); sd_afree(ws->tmp); sd_afree(ws->out); sd_afree(ws->mf); sd_afree(ws->rf);
    for (int l = 0; l <= ws->L; l++) sd_afree(ws->xs[l]);
    free(ws->xs);
    for (int l = 0; l < (ws->train ? ws->L : 1); l++) {
        blk_acts *a = &ws->b[l];
        float *bufs[] = {a->ln1, a->m1, a->r1, a->q, a->k, a->v, a->att, a->h, a->ln2, a->m2, a->r2, a->up, a->act};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sd_afree(bufs[i]);
    }
    free(ws->b);
    free(ws->pos); free(ws->order);
    sd_afree(ws->kb); sd_afree(ws->sk); sd_afree(ws->sv); sd_afree(ws->dsk); sd_afree(ws->dsv);
    int n_st = ws->n_groups * (ws->train ? ws->L : 1);
    for (int i = 0; i < n_st; i++) sd_attn_state_free(&ws->st[i]);
    free(ws->st);
    float *bufs[] = {ws->Qg, ws->Kg, ws->Vg, ws->Og, ws->dout, ws->dx, ws->dy, ws->dh, ws->d_o, ws->d_att,
                     ws->dq, ws->dk, ws->dv, ws->d_ln, ws->d_up, ws->d_act, ws->din, ws->dQg, ws->dKg,
                     ws->dVg, ws->dOg};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sd_afree(bufs[i]);
    free(ws);
}

float *sd_seqenc_input(sd_seqenc_ws *ws) { return ws->in; }
float *sd_seqenc_dout(sd_seqenc_ws *ws) { return ws->dout; }
const float *sd_seqenc_forward_out(const sd_seqenc_ws *ws) { return ws->out; }

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* Dropout stream ids per step: 0 embeddings, then per block 0 (attention probabilities, mixed
 * with the group and head), 1 (FFN hidden) and 2 (FFN output). */
static uint64_t stream_id(const sd_seqenc_ws *ws, int l, int which) {
    return ws->step * 256 + (l < 0 ? 0 : (uint64_t)(1 + l * 3 + which));
}

static void drop_fwd(const sd_seqenc *e, sd_seqenc_ws *ws, bool train, float *x, size_t n, int l, int which) {
    if (train && e->cfg.dropout > 0)
        sd_dropout_forward(x, NULL, x, n, e->cfg.dropout, ws->seed, stream_id(ws, l, which));
}

/* dx = dropout backward of dy (dx is overwritten). */
static void drop_bwd(const sd_seqenc *e, sd_seqenc_ws *ws, float *dx, const float *dy, size_t n, int l, int which) {
    if (e->cfg.dropout > 0) {
        zero(dx, n);
        sd_dropout_backward(dx, dy, n, e->cfg.dropout, ws->seed, stream_id(ws, l, which));
    } else {
        memcpy(dx, dy, n * sizeof(float));
    }
}

/* Sequences by decreasing length (ties by index), so each group's padding is small. */
static int by_len_desc(const void *a, const void *b, void *ctx) {
    const int32_t *sort_len = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (sort_len[i] != sort_len[j]) return sort_len[j] - sort_len[i];
    return i - j;
}

static void sort_groups(sd_seqenc_ws *ws, const sd_packed *pk) {
    for (int b = 0; b < pk->B; b++) ws->order[b] = b;
    sd_sort(ws->order, (size_t)pk->B, sizeof(int32_t), by_len_desc, (void *)pk->len);
}

/* Copies packed rows of the group's sequences into right-padded [Bg, Tg, C] (pads zeroed), or
 * back (to_group false: only the real rows). With the sink, row 0 of each sequence is row0
 * (zeros if NULL) and the real rows start at row 1 (Tg counts the sink). */
static void group_copy(float *grp, float *packed, const sd_seqenc_ws *ws, const sd_packed *pk, int s0, int Bg,
                       int Tg, bool to_group, const float *row0) {
    int C = ws->C;
    for (int i = 0; i < Bg; i++) {
        int b = ws->order[s0 + i], L = pk->len[b];
        float *g = grp + (size_t)i * Tg * C, *x = packed + (size_t)pk->off[b] * C;
        if (ws->sink) {
            if (to_group) {
                if (row0) memcpy(g, row0, (size_t)C * sizeof(float));
                else zero(g, (size_t)C);
            }
            g += C;
            L = L < Tg - 1 ? L : Tg - 1;
            if (to_group && L < Tg - 1) zero(g + (size_t)L * C, (size_t)(Tg - 1 - L) * C);
            if (to_group) memcpy(g, x, (size_t)L * C * sizeof(float));
            else memcpy(x, g, (size_t)L * C * sizeof(float));
            continue;
        }
        if (to_group) {
            memcpy(g, x, (size_t)L * C * sizeof(float));
            if (L < Tg) zero(g + (size_t)L * C, (size_t)(Tg - L) * C);
        } else {
            memcpy(x, g, (size_t)L * C * sizeof(float));
        }
    }
}

static sd_attn_cfg group_cfg(const sd_seqenc_ws *ws, int Bg, int Tg) {
    return (sd_attn_cfg){.B = Bg, .T = Tg, .H = ws->H, .KV = ws->H, .hd = ws->C / ws->H, .causal = true,
                         .key_bias = ws->sink ? ws->kb : NULL, .drop_p = ws->attn_drop, .drop_seed = ws->seed};
}

/* The sink's key bias: a sequence of L tokens has maxlen - L padding keys before it in pmixer's
 * left-padded window, all with the same k and v, i.e. one key of multiplicity maxlen - L; none
 * (masked) when L = maxlen. */
static void sink_bias(sd_seqenc_ws *ws, const sd_packed *pk, int s0, int Bg, int Tg) {
    for (int i = 0; i < Bg; i++) {
        int L = pk->len[ws->order[s0 + i]];
        float *kb = ws->kb + (size_t)i * Tg;
        kb[0] = L < ws->maxlen ? logf((float)(ws->maxlen - L)) : -INFINITY;
        for (int j = 1; j < Tg; j++) kb[j] = 0.0f;
    }
}

static sd_attn_state *group_state(sd_seqenc_ws *ws, int l, int g) {
    return &ws->st[(ws->train ? l : 0) * ws->n_groups + g];
}

/* The attention op only reads B, T from its cfg: a state sized for [GROUP, maxlen] serves any
 * smaller group. */
static void attn_forward(sd_seqenc_ws *ws, const sd_packed *pk, blk_acts *a, int l) {
    double t0 = sd_now();
    for (int g = 0, s0 = 0; s0 < pk->B; g++, s0 += SD_SEQENC_GROUP) {
        int Bg = pk->B - s0 < SD_SEQENC_GROUP ? pk->B - s0 : SD_SEQENC_GROUP;
        int Tg = pk->len[ws->order[s0]] + ws->sink;
        const float *sk = ws->sink ? ws->sk + (size_t)l * ws->C : NULL, *sv = ws->sink ? ws->sv + (size_t)l * ws->C : NULL;
        if (ws->sink) sink_bias(ws, pk, s0, Bg, Tg);
        group_copy(ws->Qg, a->q, ws, pk, s0, Bg, Tg, true, NULL);
        group_copy(ws->Kg, a->k, ws, pk, s0, Bg, Tg, true, sk);
        group_copy(ws->Vg, a->v, ws, pk, s0, Bg, Tg, true, sv);
        sd_attn_cfg ac = group_cfg(ws, Bg, Tg);
        ac.drop_stream = stream_id(ws, l, 0) * 4096 + (uint64_t)g;
        sd_attention_forward(ws->Og, group_state(ws, l, g), ws->Qg, ws->Kg, ws->Vg, &ac);
        group_copy(ws->Og, a->att, ws, pk, s0, Bg, Tg, false, NULL);
    }
    sd_seqenc_attn_seconds[0] += sd_now() - t0;
}

static void attn_backward(sd_seqenc_ws *ws, const sd_packed *pk, blk_acts *a, int l) {
    int C = ws->C;
    double t0 = sd_now();
    for (int g = 0, s0 = 0; s0 < pk->B; g++, s0 += SD_SEQENC_GROUP) {
        int Bg = pk->B - s0 < SD_SEQENC_GROUP ? pk->B - s0 : SD_SEQENC_GROUP;
        int Tg = pk->len[ws->order[s0]] + ws->sink;
        size_t n = (size_t)Bg * Tg * C;
        const float *sk = ws->sink ? ws->sk + (size_t)l * C : NULL, *sv = ws->sink ? ws->sv + (size_t)l * C : NULL;
        if (ws->sink) sink_bias(ws, pk, s0, Bg, Tg);
        group_copy(ws->Qg, a->q, ws, pk, s0, Bg, Tg, true, NULL);
        group_copy(ws->Kg, a->k, ws, pk, s0, Bg, Tg, true, sk);
        group_copy(ws->Vg, a->v, ws, pk, s0, Bg, Tg, true, sv);
        group_copy(ws->dOg, ws->d_att, ws, pk, s0, Bg, Tg, true, NULL);
        zero(ws->dQg, n); zero(ws->dKg, n); zero(ws->dVg, n);
        sd_attn_cfg ac = group_cfg(ws, Bg, Tg);
        ac.drop_stream = stream_id(ws, l, 0) * 4096 + (uint64_t)g;
        sd_attention_backward(ws->dQg, ws->dKg, ws->dVg, NULL, NULL, ws->dOg, group_state(ws, l, g), ws->Qg,
                              ws->Kg, ws->Vg, &ac);
        group_copy(ws->dQg, ws->dq, ws, pk, s0, Bg, Tg, false, NULL);
        group_copy(ws->dKg, ws->dk, ws, pk, s0, Bg, Tg, false, NULL);
        group_copy(ws->dVg, ws->dv, ws, pk, s0, Bg, Tg, false, NULL);
        if (ws->sink) /* the sink rows' gradients, summed over the group's sequences */
            for (int i = 0; i < Bg; i++)
                for (int c = 0; c < C; c++) {
                    ws->dsk[(size_t)l * C + c] += ws->dKg[(size_t)i * Tg * C + c];
                    ws->dsv[(size_t)l * C + c] += ws->dVg[(size_t)i * Tg * C + c];
                }
    }
    sd_seqenc_attn_seconds[1] += sd_now() - t0;
}

static float *W(sd_params *p, int v) { return sd_params_ptr(p, v); }
static float *G(sd_params *p, int v) { return sd_params_grad(p, v); }

static void block_forward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk, int l,
                          bool train) {
    const sd_block *b = &e->blk[l];
    blk_acts *a = &ws->b[l];
    int N = pk->N, C = ws->C;
    size_t NC = (size_t)N * C;
    const float *x = ws->xs[l];
    float *y = ws->xs[l + 1];
    sd_layernorm_forward(a->ln1, a->m1, a->r1, x, W(p, b->ln1_w), W(p, b->ln1_b), N, C, LN_EPS);
    sd_linear_forward(a->q, a->ln1, W(p, b->q_w), W(p, b->q_b), N, C, C);
    sd_linear_forward(a->k, a->ln1, W(p, b->k_w), W(p, b->k_b), N, C, C);
    sd_linear_forward(a->v, a->ln1, W(p, b->v_w), W(p, b->v_b), N, C, C);
    if (ws->sink) { /* a padding row is 0, LN1(0) = ln1 bias, so its k, v are projections of that bias */
        sd_linear_forward(ws->sk + (size_t)l * C, W(p, b->ln1_b), W(p, b->k_w), W(p, b->k_b), 1, C, C);
        sd_linear_forward(ws->sv + (size_t)l * C, W(p, b->ln1_b), W(p, b->v_w), W(p, b->v_b), 1, C, C);
    }
    attn_forward(ws, pk, a, l);
    sd_linear_forward(a->h, a->att, W(p, b->o_w), W(p, b->o_b), N, C, C);
    sd_add_forward(a->h, a->h, x, NC);
    sd_layernorm_forward(a->ln2, a->m2, a->r2, a->h, W(p, b->ln2_w), W(p, b->ln2_b), N, C, LN_EPS);
    sd_linear_forward(a->up, a->ln2, W(p, b->up_w), W(p, b->up_b), N, C, C);
    drop_fwd(e, ws, train, a->up, NC, l, 1);
    sd_relu_forward(a->act, a->up, NC);
    sd_linear_forward(y, a->act, W(p, b->down_w), W(p, b->down_b), N, C, C);
    drop_fwd(e, ws, train, y, NC, l, 2);
    sd_add_forward(y, y, e->cfg.block == SD_BLOCK_PMIXER ? a->ln2 : a->h, NC);
}

const float *sd_seqenc_forward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                               bool train, uint64_t seed, uint64_t step) {
    int N = pk->N, C = ws->C, T = ws->maxlen;
    size_t NC = (size_t)N * C;
    if ((size_t)N > ws->max_tok || pk->B > ws->max_seqs || (train && !ws->train)) {
        fprintf(stderr, "semid: seqenc: batch of %d sequences / %d tokens exceeds the workspace\n", pk->B, N);
        abort();
    }
    ws->seed = seed;
    ws->step = step;
    ws->attn_drop = train && e->cfg.block == SD_BLOCK_PMIXER ? e->cfg.dropout : 0.0f;
    for (int b = 0; b < pk->B; b++)
        for (int t = 0; t < pk->len[b]; t++) ws->pos[pk->off[b] + t] = T - pk->len[b] + 1 + t;
    sd_embedding_forward(ws->tmp, ws->pos, W(p, e->pos_emb), N, T + 1, C);
    sd_add_forward(ws->xs[0], ws->in, ws->tmp, NC);
    drop_fwd(e, ws, train, ws->xs[0], NC, -1, 0);
    sort_groups(ws, pk);
    for (int l = 0; l < ws->L; l++) block_forward(e, p, ws, pk, l, train);
    sd_layernorm_forward(ws->out, ws->mf, ws->rf, ws->xs[ws->L], W(p, e->last_w), W(p, e->last_b), N, C, LN_EPS);
    return ws->out;
}

/* dy: gradient w.r.t. the block's output; dx (overwritten): w.r.t. its input. */
static void block_backward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk, int l,
                           float *dx, const float *dy) {
    const sd_block *b = &e->blk[l];
    blk_acts *a = &ws->b[l];
    int N = pk->N, C = ws->C;
    size_t NC = (size_t)N * C;
    const float *x = ws->xs[l];
    bool pm = e->cfg.block == SD_BLOCK_PMIXER;
    /* the FFN's residual: from h (standard) or from LN2(h) (pmixer) */
    if (pm) zero(ws->dh, NC);
    else memcpy(ws->dh, dy, NC * sizeof(float));
    drop_bwd(e, ws, ws->d_o, dy, NC, l, 2);
    zero(ws->d_act, NC);
    sd_linear_backward(ws->d_act, G(p, b->down_w), G(p, b->down_b), ws->d_o, a->act, W(p, b->down_w), N, C, C);
    zero(ws->d_up, NC);
    sd_relu_backward(ws->d_up, ws->d_act, a->up, NC);
    drop_bwd(e, ws, ws->d_act, ws->d_up, NC, l, 1);
    if (pm) memcpy(ws->d_ln, dy, NC * sizeof(float));
    else zero(ws->d_ln, NC);
    sd_linear_backward(ws->d_ln, G(p, b->up_w), G(p, b->up_b), ws->d_act, a->ln2, W(p, b->up_w), N, C, C);
    sd_layernorm_backward(ws->dh, G(p, b->ln2_w), G(p, b->ln2_b), ws->d_ln, a->h, W(p, b->ln2_w), a->m2, a->r2, N, C);
    zero(ws->d_att, NC);
    sd_linear_backward(ws->d_att, G(p, b->o_w), G(p, b->o_b), ws->dh, a->att, W(p, b->o_w), N, C, C);
    zero(ws->dq, NC); zero(ws->dk, NC); zero(ws->dv, NC);
    if (ws->sink) { zero(ws->dsk + (size_t)l * C, C); zero(ws->dsv + (size_t)l * C, C); }
    attn_backward(ws, pk, a, l);
    if (ws->sink) {
        float *dc = ws->tmp; /* d LN1 bias through the sink's k and v */
        zero(dc, C);
        sd_linear_backward(dc, G(p, b->k_w), G(p, b->k_b), ws->dsk + (size_t)l * C, W(p, b->ln1_b), W(p, b->k_w), 1, C, C);
        sd_linear_backward(dc, G(p, b->v_w), G(p, b->v_b), ws->dsv + (size_t)l * C, W(p, b->ln1_b), W(p, b->v_w), 1, C, C);
        float *g = G(p, b->ln1_b);
        for (int c = 0; c < C; c++) g[c] += dc[c];
    }
    zero(ws->d_ln, NC);
    sd_linear_backward(ws->d_ln, G(p, b->q_w), G(p, b->q_b), ws->dq, a->ln1, W(p, b->q_w), N, C, C);
    sd_linear_backward(ws->d_ln, G(p, b->k_w), G(p, b->k_b), ws->dk, a->ln1, W(p, b->k_w), N, C, C);
    sd_linear_backward(ws->d_ln, G(p, b->v_w), G(p, b->v_b), ws->dv, a->ln1, W(p, b->v_w), N, C, C);
    memcpy(dx, ws->dh, NC * sizeof(float));
    sd_layernorm_backward(dx, G(p, b->ln1_w), G(p, b->ln1_b), ws->d_ln, x, W(p, b->ln1_w), a->m1, a->r1, N, C);
}

const float *sd_seqenc_backward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                                float *dout) {
    int N = pk->N, C = ws->C;
    size_t NC = (size_t)N * C;
    float *dcur = ws->dx, *dnext = ws->dy;
    zero(dcur, NC);
    sd_layernorm_backward(dcur, G(p, e->last_w), G(p, e->last_b), dout, ws->xs[ws->L], W(p, e->last_w), ws->mf,
                          ws->rf, N, C);
    for (int l = ws->L - 1; l >= 0; l--) {
        block_backward(e, p, ws, pk, l, dnext, dcur);
        float *t = dcur; dcur = dnext; dnext = t;
    }
    drop_bwd(e, ws, ws->din, dcur, NC, -1, 0);
    sd_embedding_backward(G(p, e->pos_emb), ws->din, ws->pos, N, C, 0);
    return ws->din;
}
