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

_Thread_local double sd_seqenc_attn_seconds[2];

struct sd_seqenc_ws {
    int C, L, H, maxlen, max_seqs, n_groups;
    size_t max_tok;
    bool train;
    float *in, *tmp, **xs, *out, *mf, *rf;
    sd_block_acts *acts;      /* [L] when training, [1] reused by every block otherwise */
    sd_block_scratch scr;     /* backward scratch of the blocks */
    int32_t *pos, *order;
    sd_attn_state *st;        /* [L * n_groups] when training, [n_groups] reused otherwise */
    float *Qg, *Kg, *Vg, *Og; /* one group, right-padded: [G, maxlen + 1, C] (row 0: the sink) */
    float attn_drop;          /* dropout on attention probabilities in this forward (pmixer, training) */
    int sink;                 /* 1 when the padding keys are modelled by a sink row (pmixer) */
    float *kb;                /* [G, maxlen + 1] key bias: log(number of padding keys) of the sink */
    float *sk, *sv, *dsk, *dsv; /* [L, C] the padding keys' k, v per block; their gradients */
    /* backward */
    float *dout, *dx, *dy, *din;
    float *dQg, *dKg, *dVg, *dOg;
    uint64_t seed, step;
    /* what the blocks' attention hook works on in the current call */
    const sd_seqenc *e;
    sd_params *p;
    const sd_packed *pk;
    int layer;
};

static void hook_forward(void *ctx, float *att, const float *q, const float *k, const float *v, int N);
static void hook_backward(void *ctx, float *dq, float *dk, float *dv, const float *datt, const float *q,
                          const float *k, const float *v, int N);

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
                       .rmsnorm = false, .norm_eps = LN_EPS, .bias = true, .causal = true,
                       .ffn_residual_normed = cfg->block == SD_BLOCK_PMIXER, .mlp_dropout = cfg->dropout};
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

/* Fills a zeroed workspace (its address is the attention hook's context: it never moves). */
static void ws_build(sd_seqenc_ws *ws, const sd_seqenc *e, int max_seqs, bool train) {
    int C = e->cfg.dim, L = e->cfg.blocks, T = e->cfg.maxlen;
    ws->C = C; ws->L = L; ws->H = e->cfg.heads; ws->maxlen = T; ws->max_seqs = max_seqs; ws->train = train;
    size_t N = (size_t)max_seqs * T, NC = N * C;
    ws->max_tok = N;
    ws->in = sd_afloats(NC); ws->tmp = sd_afloats(NC); ws->out = sd_afloats(NC);
    ws->mf = sd_afloats(N); ws->rf = sd_afloats(N);
    ws->xs = sd_xcalloc((size_t)L + 1, sizeof *ws->xs);
    for (int l = 0; l <= L; l++) ws->xs[l] = sd_afloats(NC);
    /* Inference keeps one set of block activations, reused by every block. */
    ws->acts = sd_xcalloc(train ? (size_t)L : 1, sizeof *ws->acts);
    sd_block_attn_hook hook = {.forward = hook_forward, .backward = hook_backward, .ctx = ws};
    for (int l = 0; l < (train ? L : 1); l++) sd_block_acts_init_hooked(&ws->acts[l], &e->blk[l].cfg, (int)N, &hook);
    if (train) sd_block_scratch_init(&ws->scr, &e->blk[0].cfg, 1, (int)N);
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
        float **bufs[] = {&ws->dout, &ws->dx, &ws->dy, &ws->din};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) *bufs[i] = sd_afloats(NC);
        ws->dQg = sd_afloats(GC); ws->dKg = sd_afloats(GC); ws->dVg = sd_afloats(GC); ws->dOg = sd_afloats(GC);
    }
}

sd_seqenc_ws *sd_seqenc_ws_new(const sd_seqenc *e, int max_seqs, bool train) {
    sd_seqenc_ws *ws = sd_xcalloc(1, sizeof *ws);
    ws_build(ws, e, max_seqs, train);
    return ws;
}

static void ws_release(sd_seqenc_ws *ws) {
    sd_afree(ws->in); sd_afree(ws->tmp); sd_afree(ws->out); sd_afree(ws->mf); sd_afree(ws->rf);
    for (int l = 0; l <= ws->L; l++) sd_afree(ws->xs[l]);
    free(ws->xs);
    for (int l = 0; l < (ws->train ? ws->L : 1); l++) sd_block_acts_free(&ws->acts[l]);
    free(ws->acts);
    if (ws->train) sd_block_scratch_free(&ws->scr);
    free(ws->pos); free(ws->order);
    sd_afree(ws->kb); sd_afree(ws->sk); sd_afree(ws->sv); sd_afree(ws->dsk); sd_afree(ws->dsv);
    int n_st = ws->n_groups * (ws->train ? ws->L : 1);
    for (int i = 0; i < n_st; i++) sd_attn_state_free(&ws->st[i]);
    free(ws->st);
    float *bufs[] = {ws->Qg, ws->Kg, ws->Vg, ws->Og, ws->dout, ws->dx, ws->dy, ws->din, ws->dQg, ws->dKg,
                     ws->dVg, ws->dOg};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sd_afree(bufs[i]);
}

void sd_seqenc_ws_free(sd_seqenc_ws *ws) {
    if (!ws) return;
    ws_release(ws);
    free(ws);
}

static bool ws_fits(const sd_seqenc_ws *ws, int B, int N, bool train) {
    return (size_t)N <= ws->max_tok && B <= ws->max_seqs && (!train || ws->train);
}

float *sd_seqenc_input(const sd_seqenc *e, sd_seqenc_ws *ws, int B, int N, bool train) {
    if (!ws_fits(ws, B, N, train)) {
        int T = ws->maxlen, need = (int)(((size_t)N + T - 1) / T);
        int seqs = B > need ? B : need;
        bool tr = train || ws->train;
        ws_release(ws);
        memset(ws, 0, sizeof *ws);
        ws_build(ws, e, seqs > 0 ? seqs : 1, tr);
    }
    return ws->in;
}
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
static float *W(sd_params *p, int v) { return sd_params_ptr(p, v); }
static float *G(sd_params *p, int v) { return sd_block_grad(p, v); }

/* Group g (sequences s0 .. s0 + *Bg of the length order) of q, k, v into the right-padded group
 * buffers, the padding sink's k, v of layer l in front with pmixer; returns the group's attention
 * config. */
static sd_attn_cfg group_in(sd_seqenc_ws *ws, const float *q, const float *k, const float *v, int l, int g, int s0,
                            int *Bg, int *Tg) {
    const sd_packed *pk = ws->pk;
    size_t C = (size_t)ws->C;
    *Bg = pk->B - s0 < SD_SEQENC_GROUP ? pk->B - s0 : SD_SEQENC_GROUP;
    *Tg = pk->len[ws->order[s0]] + ws->sink;
    if (ws->sink) sink_bias(ws, pk, s0, *Bg, *Tg);
    group_copy(ws->Qg, (float *)q, ws, pk, s0, *Bg, *Tg, true, NULL);
    group_copy(ws->Kg, (float *)k, ws, pk, s0, *Bg, *Tg, true, ws->sink ? ws->sk + l * C : NULL);
    group_copy(ws->Vg, (float *)v, ws, pk, s0, *Bg, *Tg, true, ws->sink ? ws->sv + l * C : NULL);
    sd_attn_cfg ac = group_cfg(ws, *Bg, *Tg);
    ac.drop_stream = stream_id(ws, l, 0) * 4096 + (uint64_t)g;
    return ac;
}

/* A padding row is 0 and LN1(0) = the ln1 bias, so the sink's k, v are projections of that bias. */
static void sink_forward(sd_seqenc_ws *ws) {
    int l = ws->layer, C = ws->C;
    sd_params *p = ws->p;
    const sd_block *b = &ws->e->blk[l];
    sd_linear_forward(ws->sk + (size_t)l * C, W(p, b->ln1_b), W(p, b->k_w), W(p, b->k_b), 1, C, C);
    sd_linear_forward(ws->sv + (size_t)l * C, W(p, b->ln1_b), W(p, b->v_w), W(p, b->v_b), 1, C, C);
}

/* The sink's k, v gradients into the k/v projections and, through them, the ln1 bias. */
static void sink_backward(sd_seqenc_ws *ws) {
    int l = ws->layer, C = ws->C;
    sd_params *p = ws->p;
    const sd_block *b = &ws->e->blk[l];
    float *dc = ws->tmp;
    zero(dc, C);
    sd_linear_backward(dc, G(p, b->k_w), G(p, b->k_b), ws->dsk + (size_t)l * C, W(p, b->ln1_b), W(p, b->k_w), 1, C, C);
    sd_linear_backward(dc, G(p, b->v_w), G(p, b->v_b), ws->dsv + (size_t)l * C, W(p, b->ln1_b), W(p, b->v_w), 1, C, C);
    float *gb = G(p, b->ln1_b);
    if (gb) for (int c = 0; c < C; c++) gb[c] += dc[c];
}

/* The blocks' attention over packed rows: each group of length-sorted sequences is copied into
 * right-padded [Bg, Tg] buffers (behind the sink row with pmixer), attended by the engine's op and
 * copied back. The attention op only reads B, T from its cfg: a state sized for [GROUP, maxlen]
 * serves any smaller group. */
static void hook_forward(void *ctx, float *att, const float *q, const float *k, const float *v, int N) {
    (void)N;
    sd_seqenc_ws *ws = ctx;
    if (ws->sink) sink_forward(ws);
    double t0 = sd_now();
    for (int g = 0, s0 = 0; s0 < ws->pk->B; g++, s0 += SD_SEQENC_GROUP) {
        int Bg, Tg;
        sd_attn_cfg ac = group_in(ws, q, k, v, ws->layer, g, s0, &Bg, &Tg);
        sd_attention_forward(ws->Og, group_state(ws, ws->layer, g), ws->Qg, ws->Kg, ws->Vg, &ac);
        group_copy(ws->Og, att, ws, ws->pk, s0, Bg, Tg, false, NULL);
    }
    sd_seqenc_attn_seconds[0] += sd_now() - t0;
}

static void hook_backward(void *ctx, float *dq, float *dk, float *dv, const float *datt, const float *q,
                          const float *k, const float *v, int N) {
    (void)N;
    sd_seqenc_ws *ws = ctx;
    const sd_packed *pk = ws->pk;
    int l = ws->layer, C = ws->C;
    float *dsk = ws->dsk + (size_t)l * C, *dsv = ws->dsv + (size_t)l * C;
    if (ws->sink) { zero(dsk, C); zero(dsv, C); }
    double t0 = sd_now();
    for (int g = 0, s0 = 0; s0 < pk->B; g++, s0 += SD_SEQENC_GROUP) {
        int Bg, Tg;
        sd_attn_cfg ac = group_in(ws, q, k, v, l, g, s0, &Bg, &Tg);
        size_t n = (size_t)Bg * Tg * C;
        group_copy(ws->dOg, (float *)datt, ws, pk, s0, Bg, Tg, true, NULL);
        zero(ws->dQg, n); zero(ws->dKg, n); zero(ws->dVg, n);
        sd_attention_backward(ws->dQg, ws->dKg, ws->dVg, NULL, NULL, ws->dOg, group_state(ws, l, g), ws->Qg,
                              ws->Kg, ws->Vg, &ac);
        group_copy(ws->dQg, dq, ws, pk, s0, Bg, Tg, false, NULL);
        group_copy(ws->dKg, dk, ws, pk, s0, Bg, Tg, false, NULL);
        group_copy(ws->dVg, dv, ws, pk, s0, Bg, Tg, false, NULL);
        if (ws->sink) /* the sink rows' gradients, summed over the group's sequences */
            for (int i = 0; i < Bg; i++)
                for (int c = 0; c < C; c++) {
                    dsk[c] += ws->dKg[(size_t)i * Tg * C + c];
                    dsv[c] += ws->dVg[(size_t)i * Tg * C + c];
                }
    }
    sd_seqenc_attn_seconds[1] += sd_now() - t0;
    if (ws->sink) sink_backward(ws);
}

/* Points the blocks' hook at this call and sets block l's dropout. */
static sd_block_acts *layer_acts(sd_seqenc_ws *ws, int l, bool train) {
    sd_block_acts *a = &ws->acts[ws->train ? l : 0];
    sd_block_acts_rows(a, ws->pk->N);
    a->train = train;
    a->drop_seed = ws->seed;
    a->drop_stream[0] = stream_id(ws, l, 1);
    a->drop_stream[1] = stream_id(ws, l, 2);
    ws->layer = l;
    return a;
}

const float *sd_seqenc_forward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                               bool train, uint64_t seed, uint64_t step) {
    int N = pk->N, C = ws->C, T = ws->maxlen;
    size_t NC = (size_t)N * C;
    if (!ws_fits(ws, pk->B, N, train)) return NULL; /* not the batch given to sd_seqenc_input */
    ws->seed = seed;
    ws->step = step;
    ws->e = e; ws->p = p; ws->pk = pk;
    ws->attn_drop = train && e->cfg.block == SD_BLOCK_PMIXER ? e->cfg.dropout : 0.0f;
    for (int b = 0; b < pk->B; b++)
        for (int t = 0; t < pk->len[b]; t++) ws->pos[pk->off[b] + t] = T - pk->len[b] + 1 + t;
    sd_embedding_forward(ws->tmp, ws->pos, W(p, e->pos_emb), N, T + 1, C);
    sd_add_forward(ws->xs[0], ws->in, ws->tmp, NC);
    drop_fwd(e, ws, train, ws->xs[0], NC, -1, 0);
    sort_groups(ws, pk);
    for (int l = 0; l < ws->L; l++)
        sd_block_forward(&e->blk[l], p, layer_acts(ws, l, train), ws->xs[l + 1], ws->xs[l], NULL, NULL);
    sd_layernorm_forward(ws->out, ws->mf, ws->rf, ws->xs[ws->L], W(p, e->last_w), W(p, e->last_b), N, C, LN_EPS);
    return ws->out;
}

const float *sd_seqenc_backward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                                float *dout) {
    int N = pk->N, C = ws->C;
    size_t NC = (size_t)N * C;
    float *dcur = ws->dx, *dnext = ws->dy;
    ws->e = e; ws->p = p; ws->pk = pk;
    zero(dcur, NC);
    sd_layernorm_backward(dcur, G(p, e->last_w), G(p, e->last_b), dout, ws->xs[ws->L], W(p, e->last_w), ws->mf,
                          ws->rf, N, C);
    for (int l = ws->L - 1; l >= 0; l--) {
        zero(dnext, NC); /* the block's backward adds into dx */
        sd_block_backward(&e->blk[l], p, layer_acts(ws, l, true), &ws->scr, dnext, dcur, ws->xs[l]);
        float *t = dcur; dcur = dnext; dnext = t;
    }
    drop_bwd(e, ws, ws->din, dcur, NC, -1, 0);
    float *gpos = G(p, e->pos_emb);
    if (gpos) sd_embedding_backward(gpos, ws->din, ws->pos, N, C, 0);
    return ws->din;
}
