/* Qwen3 decoder on the training engine: Hugging Face folders in and out, forward and backward
 * over padded batches with the loss on labelled positions only, last-position logits (generation
 * without a cache), final hidden states (embeddings), vocabulary extension for semantic IDs.
 *
 *   x = embed_tokens[ids]
 *   per layer (sd_block: RMSNorm, q/k/v without bias, per-head q/k RMSNorm, RoPE rotate-half,
 *              grouped-query causal attention, o_proj, residual, RMSNorm, SwiGLU MLP, residual)
 *   h = norm(x);  logits = h lm_head^T   (lm_head = embed_tokens when tie_word_embeddings)
 *
 * Parameters live in one sd_params buffer under Hugging Face names with the "model." prefix
 * ("model.embed_tokens.weight", "model.layers.3.self_attn.q_norm.weight", "model.norm.weight",
 * "lm_head.weight" only when untied). A folder whose tensors lack the prefix (Qwen3-Embedding,
 * saved from Qwen3Model) is detected on load and written back the same way.
 *
 * Shapes: B sequences of T tokens, N = B*T, C = hidden_size, V = vocab_size, L layers,
 * H query heads, KV kv heads, hd head_dim (H*hd may differ from C), F intermediate_size. */
#ifndef SD_QWEN3_H
#define SD_QWEN3_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/err.h"
#include "io/dtype.h"
#include "nn/block.h"
#include "nn/params.h"
#include "text/tokenizer.h"

#define SD_QWEN3_IGNORE (-100) /* target of an unlabelled position */
#define SD_QWEN3_MAX_EOS 8

/* ---- configuration (lm/qwen3_config.c) ---- */
typedef struct sd_qwen3_config {
    int hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim;
    int intermediate_size, vocab_size, max_position_embeddings;
    double rms_norm_eps, rope_theta;
    bool tie_word_embeddings;
    int bos_token_id;                  /* -1 when absent or null */
    int eos_token_ids[SD_QWEN3_MAX_EOS]; /* config's eos_token_id (an int or a list) */
    int n_eos;
    char torch_dtype[16];              /* "bfloat16", "float32", ... ("" when absent) */
    char architectures[64];            /* first entry, default "Qwen3ForCausalLM" */
} sd_qwen3_config;

/* A config with Qwen3's defaults for the fields a test or benchmark does not set
 * (eps 1e-6, theta 1e6, tied, max positions 40960, no bos/eos). Sizes are left 0. */
sd_qwen3_config sd_qwen3_config_default(void);
/* Reads the fields above from a parsed config.json; `where` names the file in errors.
 * head_dim defaults to hidden_size / num_attention_heads. Validates (sd_qwen3_config_check) and
 * rejects what this model does not implement (attention_bias true, rope_scaling, sliding
 * window, hidden_act other than silu). */
int sd_qwen3_config_parse(sd_qwen3_config *c, const cJSON *json, const char *where, sd_err *err);
int sd_qwen3_config_load(sd_qwen3_config *c, const char *path, sd_err *err);
/* Sizes positive, heads divisible by kv heads, head_dim even, eps and theta positive, bos/eos ids
 * in [0, vocab_size). Errors name `where` and the key. */
int sd_qwen3_config_check(const sd_qwen3_config *c, const char *where, sd_err *err);
/* Writes the fields into obj (replacing them; other keys are kept), adding model_type "qwen3"
 * and the keys transformers expects when absent. */
void sd_qwen3_config_to_json(const sd_qwen3_config *c, cJSON *obj);

/* ---- size presets (lm/qwen3_presets.c) ---- */
/* The config of a named preset (sd_qwen3_preset_names lists them) with vocab_size; SD_EUSAGE
 * naming the choices for an unknown name. */
int sd_qwen3_preset(sd_qwen3_config *c, const char *name, int32_t vocab_size, sd_err *err);
const char *sd_qwen3_preset_names(void);
/* Parameters of a model of config c (what sd_params_count gives after sd_qwen3_init). */
size_t sd_qwen3_config_params(const sd_qwen3_config *c);

/* ---- model ---- */
typedef struct sd_qwen3 {
    sd_qwen3_config cfg;
    sd_params p;
    int embed, norm, lm_head;    /* view indices; lm_head == embed when tied */
    sd_block *layers;            /* [L] */
    bool no_prefix;              /* tensors in the folder lack "model." (Qwen3-Embedding) */
    sd_tokenizer *tok;           /* from tokenizer.json; NULL when the folder has none */
    /* The folder's JSON files as loaded (NULL when absent / created in memory); save keeps their
     * other keys. Owned. */
    cJSON *config_json, *tokenizer_config, *generation_config;
    /* Embedding / lm_head rows that train (stage 1 can train the new rows only):
     * [row_lo, row_hi); row_hi 0 = all rows. See sd_qwen3_set_trainable_rows. */
    int32_t row_lo, row_hi;
} sd_qwen3;

/* Declares the parameters for cfg (validated) and allocates them zeroed. */
int sd_qwen3_init(sd_qwen3 *m, const sd_qwen3_config *cfg, sd_err *err);
/* Random weights as a fresh Hugging Face model: matrices N(0, std^2), norm weights 1. */
void sd_qwen3_init_random(sd_qwen3 *m, uint64_t seed, float std);
void sd_qwen3_free(sd_qwen3 *m);
/* Allocates gradients and AdamW moments (sd_params_alloc_train). */
void sd_qwen3_alloc_train(sd_qwen3 *m);

/* ---- Hugging Face folders (lm/qwen3_io.c) ----
 * Loads config.json, model.safetensors or a sharded index (F32/BF16/F16 converted to F32),
 * tokenizer.json when present (its vocabulary must fit in vocab_size), and keeps
 * tokenizer_config.json / generation_config.json. Missing, extra or mis-shaped tensors are errors
 * naming the file and tensor; a tied model's redundant lm_head.weight is ignored. */
int sd_qwen3_load(sd_qwen3 *m, const char *dir, sd_err *err);

typedef struct sd_qwen3_save_opts {
    sd_dtype store_as;       /* 0: F32. BF16/F16 narrow with round-to-nearest-even; config
                                torch_dtype is written to match */
    size_t max_shard_bytes;  /* 0: 5 GB (as transformers); smaller gives shards + index */
    const char *chat_template; /* NULL: keep the loaded one, else a built-in Qwen3 ChatML template */
    unsigned out_flags;      /* SD_OUT_FORCE or 0 (base/file.h): dir may be replaced only when it is
                                absent, empty or a folder semid saved (it holds .semid) */
} sd_qwen3_save_opts;
/* Writes config.json, model.safetensors (or shards + model.safetensors.index.json),
 * tokenizer.json, tokenizer_config.json (added_tokens_decoder for every added token,
 * chat_template) and generation_config.json into dir, atomically (the whole folder appears at
 * once). opts may be NULL. */
int sd_qwen3_save(const sd_qwen3 *m, const char *dir, const sd_qwen3_save_opts *opts, sd_err *err);

/* ---- GGUF for llama.cpp (lm/qwen3_gguf.c) ----
 * Writes llama.cpp's qwen3 layout: general.* and qwen3.* hyper-parameters, the tokenizer
 * (gpt2 model, qwen2 pre-tokenizer, tokens with llama.cpp's types: added special tokens such as
 * the SID tokens control, other added tokens user-defined, ids past the tokenizer "[PADn]"
 * unused; merges; eos / padding / bos ids taken as convert_hf_to_gguf.py's SpecialVocab does,
 * add_bos_token false unless tokenizer_config.json says otherwise; the chat template) and the
 * tensors under llama.cpp's names (token_embd, blk.N.attn_q ..., output_norm; output only when
 * untied). Norm weights stay F32 in every type; Q8_0 applies to the matrices whose row length is
 * a multiple of 32, the others fall back to F16, as llama.cpp's converter does. Needs m->tok. */
typedef enum sd_qwen3_gguf_type { SD_QWEN3_GGUF_F32, SD_QWEN3_GGUF_F16, SD_QWEN3_GGUF_BF16, SD_QWEN3_GGUF_Q8_0 } sd_qwen3_gguf_type;
typedef struct sd_qwen3_gguf_opts {
    sd_qwen3_gguf_type type;
    const char *name;          /* general.name (NULL: "qwen3") */
} sd_qwen3_gguf_opts;
typedef struct sd_qwen3_gguf_info {
    uint64_t bytes;
    int n_tensors, n_f32, n_f16, n_bf16, n_q8_0; /* tensors per stored type */
} sd_qwen3_gguf_info;
/* Parses "f32", "f16", "bf16" or "q8_0"; -1 when unknown. */
int sd_qwen3_gguf_type_parse(const char *s, sd_qwen3_gguf_type *out);
const char *sd_qwen3_gguf_type_name(sd_qwen3_gguf_type t);
/* Writes path atomically (sd_atomic_open's checks on path; the caller decides whether an
 * existing file may be replaced, see sd_gguf_is_semid). info may be NULL. */
int sd_qwen3_save_gguf(const sd_qwen3 *m, const char *path, const sd_qwen3_gguf_opts *opts, sd_qwen3_gguf_info *info,
                       sd_err *err);
/* True when path is a regular file that is a GGUF semid wrote (its "semid.version" key). */
bool sd_qwen3_gguf_is_semid(const char *path);
/* Reads a qwen3 GGUF (any file in llama.cpp's qwen3 layout with F32/F16/BF16/Q8_0 tensors) into
 * m, dequantising to float32, with its tokenizer rebuilt from the tokenizer section (NFC, as
 * Qwen's). Errors name the file and the key or tensor. */
int sd_qwen3_load_gguf(sd_qwen3 *m, const char *path, sd_err *err);

/* ---- forward / backward (lm/qwen3.c) ---- */
typedef struct sd_qwen3_batch {
    int B, T;
    const int32_t *ids;        /* [B, T] in [0, V); padding may hold any valid id */
    const int32_t *pos;        /* [B, T] rotary positions; NULL = 0..T-1 (right padding) */
    const uint8_t *key_valid;  /* [B, T] nonzero = real token; NULL = all real */
    const int32_t *targets;    /* [B, T] next-token ids or SD_QWEN3_IGNORE; NULL = no loss */
} sd_qwen3_batch;

/* Activations for one batch shape. With recompute, only each layer's input is kept and a layer's
 * activations are recomputed during backward into one shared set (activation checkpointing per
 * layer): memory falls from L layer-sets to one at the cost of one more forward of the layers.
 *
 * Memory in floats (N = B*T, qd = H*hd, kd = KV*hd), see sd_qwen3_state_bytes:
 *   residual streams (L+1) N C (2 N C for inference) + final norm N C
 *   per saved layer  N (3C + 2qd + 2kd + 3F) + B H T^2 (softmax) + 2 N (qd + kd) + N hd + threads T^2
 *   train scratch    N (2C + 2qd + 2kd + 3F) + 3 N C (+ N C with recompute)
 * The B H T^2 term dominates at long T: Qwen3-0.6B at B 8, T 512 needs ~16 GB plain, ~1.4 GB
 * with recompute. The head computes its logits in chunks (chunked cross-entropy); a train state
 * keeps them for the backward (N V floats) only when N V <= SD_QWEN3_KEEP_LOGITS, else the
 * backward recomputes them. */
#define SD_QWEN3_KEEP_LOGITS ((size_t)64 << 20) /* floats: 256 MB */
typedef struct sd_qwen3_state {
    int B, T;
    bool train, recompute;
    float **x;                 /* residual streams [N, C]: x[0] embeddings, x[l+1] after layer l
                                  (train: L+1 of them; inference: 2, reused alternately) */
    float *xf, *rstd, *lse;    /* final normed hidden [N, C], its rstd [N], per-row lse [N] */
    sd_block_acts *acts;       /* [L] (or [1] with recompute) */
    sd_block_scratch scr;      /* backward scratch (train only) */
    float *dx[2], *dxf, *ytmp; /* backward buffers [N, C] (train only) */
    float *logits;             /* train, N V <= SD_QWEN3_KEEP_LOGITS: the forward's logits of the
                                  labelled rows, which the backward reuses instead of recomputing */
    bool logits_ok;            /* logits hold the last forward's (the backward consumes them) */
    int n_valid;               /* labelled positions in the last forward */
    int nx, na;                /* entries of x and acts */
} sd_qwen3_state;

void sd_qwen3_state_init(sd_qwen3_state *s, const sd_qwen3 *m, int B, int T, bool train, bool recompute);
void sd_qwen3_state_free(sd_qwen3_state *s);
/* Bytes the state allocates for (B, T): the residual streams, final norm, per-layer saved
 * activations incl. attention probabilities (B*H*T*T per layer) and, when train, the backward
 * scratch. Parameters, gradients and moments (4 * 4 bytes per parameter) are not included. */
size_t sd_qwen3_state_bytes(const sd_qwen3_config *c, int B, int T, bool train, bool recompute);

/* Checks ids, targets (in [0, V) or ignore) and positions (>= 0) against the model. */
int sd_qwen3_batch_check(const sd_qwen3 *m, const sd_qwen3_batch *b, sd_err *err);
/* Runs the model over the batch (s must have been made for b->B, b->T). With targets, *loss gets
 * the mean cross-entropy over labelled positions (0 when none), computed in chunks without a
 * [N, V] buffer; without, *loss = 0. loss may be NULL. Afterwards s->xf holds the final normed
 * hidden states [B, T, C]. */
int sd_qwen3_forward(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *loss, sd_err *err);
/* After a forward with targets on a train state: parameter gradients += d(dloss * loss)/dparam
 * into m->p.grad (dloss 1, or 1/accumulation steps). Frozen views get no gradient; with a row
 * range set, embedding / lm_head rows outside it get none either. Without a train state, a
 * gradient buffer or targets, or for another batch shape: SD_EUSAGE, nothing changed. */
int sd_qwen3_backward(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float dloss, sd_err *err);

/* Logits [B, V] at each sequence's last real position (the last j with key_valid != 0, T-1 when
 * key_valid is NULL): a forward without cache, for generation and scoring. */
int sd_qwen3_last_logits(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *logits, sd_err *err);
/* Final normed hidden states [B, T, C] into out (for embeddings: pool the last real token). */
int sd_qwen3_hidden(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, float *out, sd_err *err);
/* logits [n, V] = h [n, C] lm_head^T (for callers holding hidden states, e.g. a KV-cache decoder). */
void sd_qwen3_logits(const sd_qwen3 *m, const float *h, int n, float *logits);

/* FLOPs of one training forward+backward over B x T tokens, for throughput figures: 2 per
 * multiply-add of every weight matmul, causal attention (scores and probs @ v over the (T+1)/2
 * keys a query sees on average) and the head at n_labelled positions; backward counted as
 * twice the forward. Elementwise ops are not counted. */
double sd_qwen3_train_flops(const sd_qwen3_config *c, int B, int T, int n_labelled);

/* ---- trainable parts ---- */
/* Freezes everything except the embedding and lm_head (stage 1 of fine-tuning). */
void sd_qwen3_train_embeddings_only(sd_qwen3 *m);
void sd_qwen3_train_all(sd_qwen3 *m);
/* Restricts embedding / lm_head training to rows [lo, hi) (e.g. the new SID rows): backward zeroes
 * the other rows' gradients and weight decay of those views is turned off, so AdamW leaves the
 * other rows exactly unchanged. lo = hi = 0 restores all rows (decay back on). */
void sd_qwen3_set_trainable_rows(sd_qwen3 *m, int32_t lo, int32_t hi);

/* ---- vocabulary extension (lm/vocab_extend.c) ---- */
typedef struct sd_qwen3_vocab_ext {
    int32_t rec_id, sid_start_id, sid_end_id, sid_base; /* <|sid_k|> = sid_base + k */
    int32_t n_new;          /* tokens added: 3 + levels * codes (fewer when some existed) */
    int32_t old_tokens;     /* tokenizer size before (= rows that held trained values) */
    int32_t old_rows, new_rows;
} sd_qwen3_vocab_ext;

/* Adds <|rec|>, <|sid_start|>, <|sid_end|>, <|sid_0|> .. <|sid_{L*K-1}|> as special added tokens
 * (ids right after the existing ones) and grows embedding and lm_head to
 * vocab_size = max(old rows, tokens) (no rounding: 152,696 for Qwen3 with 4 x 256 codes, as the
 * original). Every row from the old token count up, including the checkpoint's spare rows, is set
 * to the mean of the old real-token rows plus N(0, (noise * rms deviation)^2) noise from seed.
 * Needs m->tok. Gradients / moments, if allocated, are reallocated zeroed. */
int sd_qwen3_extend_vocab(sd_qwen3 *m, int levels, int codes, uint64_t seed, float noise, sd_qwen3_vocab_ext *out,
                          sd_err *err);
/* The same for a semantic-ID vocabulary (ids/sid_vocab.h: its sid_tokens <|sid_N|>, levels of
 * any size); binds v to the tokenizer ids on success. */
struct sd_sid_vocab;
int sd_qwen3_extend_sid_vocab(sd_qwen3 *m, struct sd_sid_vocab *v, uint64_t seed, float noise,
                              sd_qwen3_vocab_ext *out, sd_err *err);
/* Binds v to a tokenizer extended with it (for fine-tuning and constrained decoding): start, end,
 * rec and <|sid_0|> .. <|sid_{n-1}|> must all be there, consecutive, and no <|sid_n|> beyond
 * them; otherwise an error naming where (the model folder). */
int sd_qwen3_bind_sid_vocab(const sd_tokenizer *tok, struct sd_sid_vocab *v, const char *where, sd_err *err);
/* Grows (or keeps) the embedding / lm_head to new_rows; rows >= init_from get mean-of-[0,init_from)
 * plus noise. The building block of sd_qwen3_extend_vocab. */
int sd_qwen3_resize_vocab(sd_qwen3 *m, int32_t new_rows, int32_t init_from, uint64_t seed, float noise, sd_err *err);

#endif
