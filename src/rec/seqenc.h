/* The transformer over a user's sequence shared by SASRec and SID-SASRec (Kang & McAuley 2018,
 * in the layouts of pmixer's PyTorch SASRec):
 *
 *   x0 = dropout(in + P[pos])                          in: the caller's token embeddings
 *   per block:  h = x + o_proj(attention(LN1(x)))      causal, H heads
 *               x = r + dropout(W2 relu(dropout(W1 LN2(h) + b1)) + b2)
 *                   r = LN2(h) with the PMIXER layout (default), r = h with STANDARD (pre-LN)
 *   out = LN_last(x)                                   LayerNorm eps 1e-8 everywhere
 *
 * Each block is nn/block's (sd_block_forward / sd_block_backward) with SASRec's options of the
 * block config: LayerNorm and biases, ReLU MLP of width dim, MLP dropout, and with the pmixer
 * layout the MLP's residual taken from its normalised input; the attention over the packed rows
 * is this file's hook (seqenc.c).
 *
 * Dropout (training only, masks keyed by (seed, step)): on the embedding sum and twice in the
 * FFN, as pmixer / the paper's code. With the PMIXER layout the attention probabilities are
 * dropped too, at the same rate, as their nn.MultiheadAttention(dropout=...) does; STANDARD
 * leaves attention undropped. The padding sink below is one key, so it is dropped or kept as a
 * whole where pmixer draws a mask entry per padding key (same expectation).
 *
 * Sequences are PACKED: only real tokens are stored, sequence b's tokens are rows
 * off[b] .. off[b+1) (oldest first) of every [N, C] activation. Positions follow left padding to
 * maxlen as in the paper: token t of a sequence of length L has position id maxlen - L + 1 + t
 * (1 .. maxlen, so the newest token is always maxlen; row 0 of P is the padding row and unused).
 * The padding itself is never computed, and the result is the padded computation restricted to
 * real tokens: STANDARD masks the padding keys; PMIXER attends to them (its mask is causal only)
 * and its padding rows are zero at every block's input, so their k, v are the projections of
 * LN1(0) = the ln1 bias, all equal: one "sink" key in front of each sequence stands for them,
 * with key bias log(maxlen - L), their multiplicity (masked when L = maxlen). For the engine's
 * attention op the sequences are sorted by length and cut into groups of SD_SEQENC_GROUP, each
 * right-padded to its longest member (right padding needs no key mask under a causal mask), so
 * attention costs about sum(L^2) instead of B * maxlen^2. */
#ifndef SD_SEQENC_H
#define SD_SEQENC_H
#include <stdbool.h>
#include <stdint.h>
#include "nn/block.h"
#include "nn/params.h"

#define SD_SEQENC_GROUP 16

/* Block layout. PMIXER (default): the FFN's residual is its normalised input, as pmixer's
 * PointWiseFeedForward adds its own input:  x = LN2(h) + FFN(LN2(h)).  STANDARD: pre-LN,
 * x = h + FFN(LN2(h)). */
typedef enum { SD_BLOCK_PMIXER = 0, SD_BLOCK_STANDARD = 1 } sd_seqenc_block;
const char *sd_seqenc_block_name(sd_seqenc_block b);
int sd_seqenc_block_parse(const char *s, sd_seqenc_block *b); /* "pmixer", "standard"; SD_EUSAGE otherwise */
/* cfg's "block" field of a saved config.json; absent = standard (models saved before the field) */
struct cJSON;
sd_seqenc_block sd_seqenc_block_of_json(const struct cJSON *cfg);

typedef struct sd_seqenc_cfg {
    int dim, blocks, heads, maxlen;
    float dropout;
    sd_seqenc_block block;
} sd_seqenc_cfg;

#define SD_SEQENC_MAX_BLOCKS 16

typedef struct sd_seqenc {
    sd_seqenc_cfg cfg;
    sd_block blk[SD_SEQENC_MAX_BLOCKS]; /* parameter views of each block (HF names, LayerNorm + biases) */
    int pos_emb, last_w, last_b;
} sd_seqenc;

/* A packed batch: B sequences, N tokens, len[b] in 1 .. maxlen, off[B + 1]. */
typedef struct sd_packed {
    int B, N;
    const int32_t *len;
    const int64_t *off;
} sd_packed;

typedef struct sd_seqenc_ws sd_seqenc_ws;

/* Declares the encoder's parameters (pos_emb.weight, layers.L.*, last_layernorm.*) into p. */
void sd_seqenc_declare(sd_seqenc *e, sd_params *p, const sd_seqenc_cfg *cfg);
/* pmixer's initialisation: Xavier-normal matrices (q/k/v as one [3C, C] in_proj), zero
 * attention biases, FFN biases U(-1/sqrt(C), 1/sqrt(C)) as Conv1d, LayerNorm 1/0, P row 0 = 0. */
void sd_seqenc_init_weights(const sd_seqenc *e, sd_params *p, uint64_t seed);
/* Xavier-normal fill of a [rows, cols] matrix (std sqrt(2 / (rows + cols))). */
void sd_xavier_normal(float *w, int64_t rows, int64_t cols, uint64_t seed, uint64_t stream);

/* Workspace for batches of up to max_seqs sequences; train: also the backward buffers. */
sd_seqenc_ws *sd_seqenc_ws_new(const sd_seqenc *e, int max_seqs, bool train);
void sd_seqenc_ws_free(sd_seqenc_ws *ws);
/* [N, C] buffer the caller fills with the token embeddings of a batch of B sequences, N tokens,
 * before sd_seqenc_forward on that batch; grows the workspace first when the batch is larger than
 * it was made for (or train on an inference workspace), so any batch fits. */
float *sd_seqenc_input(const sd_seqenc *e, sd_seqenc_ws *ws, int B, int N, bool train);

/* Runs the encoder on ws's input; returns out [N, C] (owned by ws, valid until the next call).
 * train: dropout on, with masks keyed by (seed, step). NULL if pk is larger than the batch last
 * given to sd_seqenc_input (its input was never written). */
const float *sd_seqenc_forward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                               bool train, uint64_t seed, uint64_t step);
/* Backward of the last forward (which must have been a train forward): dout [N, C] -> parameter
 * gradients += into p->grad; returns d input [N, C] (owned by ws). dout is clobbered. */
const float *sd_seqenc_backward(const sd_seqenc *e, sd_params *p, sd_seqenc_ws *ws, const sd_packed *pk,
                                float *dout);
/* out of the last forward. */
const float *sd_seqenc_forward_out(const sd_seqenc_ws *ws);
/* [N, C] scratch of the workspace the caller may use for the gradient of out. */
float *sd_seqenc_dout(sd_seqenc_ws *ws);

/* Seconds the calling thread spent in attention (forward, backward), for benchmarks; per thread,
 * so concurrent callers do not race on it. */
extern _Thread_local double sd_seqenc_attn_seconds[2];

#endif
