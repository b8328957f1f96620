/* A pre-norm transformer block built from the ops, configurable for SASRec and Qwen3:
 *   h = x + o_proj(attention(norm1(x)))
 *   y = h + mlp(norm2(h)),  mlp = down(relu(up(.))) or down(silu(gate(.)) * up(.))
 * (y = norm2(h) + mlp(norm2(h)) with ffn_residual_normed, pmixer's SASRec layout).
 * Two schedules run it: full-sequence forward/backward (training, prefill) and the incremental
 * cached forward (sd_block_step, decoding).
 * Parameters are declared into an sd_params buffer with Hugging Face (Qwen3) names under a prefix:
 *   input_layernorm.{weight,bias}, self_attn.{q,k,v,o}_proj.{weight,bias},
 *   self_attn.{q,k}_norm.weight, post_attention_layernorm.{weight,bias},
 *   mlp.{gate,up,down}_proj.{weight,bias}
 * (biases only with cfg.bias; norm biases only for LayerNorm; gate only for SwiGLU). */
#ifndef SD_BLOCK_H
#define SD_BLOCK_H
#include <stdbool.h>
#include "nn/ops.h"
#include "nn/params.h"

typedef struct sd_block_cfg {
    int C, H, KV, hd, F;   /* model dim, query heads, kv heads, head dim, MLP hidden dim */
    bool rmsnorm;          /* RMSNorm (weight only) instead of LayerNorm (weight + bias) */
    float norm_eps;        /* also used for the q/k norms */
    bool bias;             /* biases on the projections and the MLP linears */
    bool qk_norm;          /* per-head RMSNorm of q and k before rope */
    float rope_theta;      /* > 0: rotary embedding */
    bool swiglu;           /* SwiGLU MLP instead of ReLU */
    bool causal;
    /* SASRec as pmixer's PyTorch code has it: */
    bool ffn_residual_normed; /* the MLP's residual is its normalised input (PointWiseFeedForward adds its own input) */
    float mlp_dropout;        /* dropout on the MLP hidden (before the activation) and on its output, in training */
} sd_block_cfg;

/* Attention supplied by the caller instead of the block's sd_attention_forward over [B, T] rows
 * (SASRec's packed sequences, attended in length-sorted groups with a padding sink). forward
 * writes att [N, H*hd] from q, k, v; backward writes dq, dk, dv (they arrive zeroed) from d att
 * and adds any parameter gradients of its own. */
typedef struct sd_block_attn_hook {
    void (*forward)(void *ctx, float *att, const float *q, const float *k, const float *v, int N);
    void (*backward)(void *ctx, float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                     const float *v, int N);
    void *ctx;
} sd_block_attn_hook;

/* View indices into the params (-1 where absent). */
typedef struct sd_block {
    sd_block_cfg cfg;
    int ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, qn_w, kn_w, ln2_w, ln2_b;
    int gate_w, up_w, up_b, down_w, down_b;
} sd_block;

/* Saved activations of one block for one batch shape [B, T]. */
typedef struct sd_block_acts {
    int B, T;
    float *ln1, *ln1_mean, *ln1_rstd, *q, *k, *v, *att, *h, *ln2, *ln2_mean, *ln2_rstd, *gate, *up, *act;
    sd_attn_cfg acfg;
    sd_attn_state attn;
    sd_block_attn_hook hook;  /* forward NULL: the block's own attention */
    int max_rows;             /* rows allocated (B * T) */
    /* MLP dropout of this forward (on when train and cfg.mlp_dropout > 0), masks keyed by
     * (drop_seed, drop_stream[0]) for the hidden and (drop_seed, drop_stream[1]) for the output;
     * the backward regenerates them, so they must not change in between */
    bool train;
    uint64_t drop_seed, drop_stream[2];
} sd_block_acts;

/* Backward scratch, shareable by all blocks of a model. */
typedef struct sd_block_scratch {
    float *d_ln, *dq, *dk, *dv, *d_att, *dh, *d_gate, *d_up, *d_act, *d_y;
} sd_block_scratch;

/* Weight decay goes to matrices, not to norms or biases. */
void sd_block_declare(sd_block *blk, sd_params *p, const char *prefix, const sd_block_cfg *cfg);
void sd_block_acts_init(sd_block_acts *a, const sd_block_cfg *cfg, int B, int T);
/* Activations for up to max_rows rows with the attention done by hook (no attention state); each
 * call's row count is set with sd_block_acts_rows (one batch of N rows: B = 1, T = N). */
void sd_block_acts_init_hooked(sd_block_acts *a, const sd_block_cfg *cfg, int max_rows, const sd_block_attn_hook *hook);
void sd_block_acts_rows(sd_block_acts *a, int N);
void sd_block_acts_free(sd_block_acts *a);
void sd_block_scratch_init(sd_block_scratch *s, const sd_block_cfg *cfg, int B, int T);
void sd_block_scratch_free(sd_block_scratch *s);
/* x, y [B, T, C]; key_valid [B, T] (NULL: all valid) and pos [B, T] (NULL: 0..T-1) must stay
 * alive until the backward. y must not alias x. */
void sd_block_forward(const sd_block *blk, sd_params *p, sd_block_acts *a, float *y, const float *x,
                      const uint8_t *key_valid, const int32_t *pos);
/* dx [B, T, C] += d loss / dx; parameter gradients += into p->grad. */
void sd_block_backward(const sd_block *blk, sd_params *p, sd_block_acts *a, sd_block_scratch *s, float *dx,
                       const float *dy, const float *x);
/* The gradient of a view, NULL when absent (-1) or frozen (requires_grad false): what the block
 * passes to the ops, for callers adding gradients of their own (a hook, embeddings). */
float *sd_block_grad(sd_params *p, int view);

/* ---- the incremental (cached) schedule of the same layer, for decoding ----
 * x [n, C] is updated in place: n new tokens, token i of sequence seq[i] at position pos[i]. Its
 * k, v are normed and rotated as in the full forward and appended to the layer's cache, then it
 * attends over that cache's keys 0 .. pos[i] (sd_attention_cached_forward). cos, sin [n, hd/2]:
 * the tokens' rotary tables (sd_rope_tables; unused without rope). Causal blocks only (a token
 * sees no later one); no masks or dropout. Same parameters, norms, linears, RoPE and MLP as
 * sd_block_forward, so the two agree up to float summation order. */
typedef struct sd_block_step_ws {
    float *xn, *q, *k, *v, *att, *tmp, *gate, *up; /* [n, C], [n, H*hd], [n, KV*hd] x 2, [n, H*hd], [n, C], [n, F] x 2 */
    float *scores;                                 /* [omp_get_max_threads() * cache cap] */
} sd_block_step_ws;
void sd_block_step(const sd_block *blk, sd_params *p, sd_block_step_ws *w, float *x, int n, const int32_t *seq,
                   const int32_t *pos, const float *cos_t, const float *sin_t, const sd_attn_cache *cache);

/* Wall-clock seconds spent per op kind, accumulated while sd_block_profile is true
 * (for benchmarks). Per thread: a server's workers neither see nor race on a benchmark's counters. */
enum { SD_PROF_NORM, SD_PROF_QKV, SD_PROF_ATTN, SD_PROF_OPROJ, SD_PROF_MLP_MM, SD_PROF_ACT, SD_PROF_RESID,
       SD_PROF_N };
extern _Thread_local bool sd_block_profile;
extern _Thread_local double sd_block_times[2][SD_PROF_N]; /* [0] forward, [1] backward */
extern const char *sd_block_prof_names[SD_PROF_N];

#endif
