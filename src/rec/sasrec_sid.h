/* SID-SASRec: SASRec over semantic IDs (WORK/sids.tsv: every item = m codes, m = levels + 1
 * uniqueness code). Code (level l, value c) is embedding row 1 + off[l] + c of one table; row 0
 * is padding and belongs to no code (semantic-ids-llm uses id 0 both for padding and for the code
 * sid_0, so its first code of level 0 is never learnt properly).
 *
 * Modes:
 *   tokens  each item becomes its m code tokens; the encoder (rec/seqenc.h) runs over the token
 *           stream (maxlen items = maxlen * m tokens, positions per token). At the last token of
 *           each item the hidden state h predicts the next item level by level: level l's head
 *           (tied to the level-l code embeddings) gives logits h . e_l(c), normalised over the
 *           codes that follow the earlier levels in the code trie (teacher forcing: in training
 *           the earlier levels are the target's). So log p(item) = sum_l log p_l(c_l | h, c_<l),
 *           a hierarchical softmax over the trie whose item probabilities sum to one; training
 *           minimises -log p(target); scoring computes it for every item from per-level logit
 *           tables (one sgemm) and per-trie-node log-sum-exps.
 *   sum     the item sequence as in SASRec, but an item's embedding is the sum of its codes'
 *           embeddings, input and output (tied): items sharing a prefix share statistics.
 *           Loss as --loss (bce or softmax).
 *   prefix  as sum, but the parts are prefix embeddings (Singh et al., "Better Generalization
 *           with Semantic IDs", 2023): item = e(c_0) + e(c_0 c_1) + ... + e(c_0 .. c_{m-1}).
 *           The deepest prefix (with the uniqueness code) is the item's own row, so a seen item
 *           has as much capacity as in SASRec, while the shallower prefixes are shared by similar
 *           items: an item never seen in training is scored through what its prefixes learnt
 *           (its own row, which only negatives reach, is zeroed for such items before scoring).
 * Difference to semantic-ids-llm: its heads predict level l from the hidden state after
 * feeding the earlier codes as tokens; ours condition on them through the trie instead, which
 * lets every item be scored exactly from one hidden state. */
#ifndef SD_SASREC_SID_H
#define SD_SASREC_SID_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "data/sequences.h"
#include "data/split.h"
#include "eval/scorer.h"
#include "ids/sid_vocab.h"
#include "nn/params.h"
#include "rec/sasrec.h"
#include "rec/seqenc.h"

typedef enum { SD_SID_TOKENS = 0, SD_SID_SUM = 1, SD_SID_PREFIX = 2 } sd_sid_mode;
const char *sd_sid_mode_name(sd_sid_mode m);
int sd_sid_mode_parse(const char *s, sd_sid_mode *m); /* "tokens", "sum", "prefix" */

/* Codes of every item and the trie over them: the SID vocabulary (ids/sid_vocab.h) and this
 * model's per-level views of its trie. */
typedef struct sd_sid_codes {
    sd_sid_vocab vocab;    /* levels, codes, the trie */
    int32_t n_items;
    int m;                 /* codes per item */
    int32_t V[8], off[8];  /* rows per level (codes in use, from the vocabulary) and their offset in the table */
    int32_t n_codes;       /* sum of V */
    int32_t *codes;        /* [n_items, m] */
    /* trie: node[l][i] = index of item i's prefix c_0..c_{l-1} among level l's nodes (level 0:
     * the root, 0); children of node n at level l: child[l][child_off[l][n] .. child_off[l][n+1]) */
    int32_t *node[8], n_nodes[8], *child_off[8], *child[8];
    /* prefixes: prefix[l][i] = index of item i's prefix c_0..c_l among the P[l] distinct ones,
     * whose table rows start at poff[l]; n_prefixes = sum of P */
    int32_t *prefix[8], P[8], poff[8], n_prefixes;
} sd_sid_codes;

/* Reads sids.tsv and the sid_vocab.json beside it through ids/sid_vocab.h (every row checked
 * in ids/sid_table.c; the two must agree); its rows must be the
 * catalogue's items, in order and by ext_id (an edited or stale table is refused, naming the row).
 * Missing file: "run `semid ids WORK` first". */
int sd_sid_codes_read(sd_sid_codes *c, const char *path, const sd_catalog *cat, sd_err *err);
/* The vocabulary and views of bare c->codes (done by sd_sid_codes_read; exposed for tests). */
int sd_sid_codes_build(sd_sid_codes *c, sd_err *err);
void sd_sid_codes_free(sd_sid_codes *c);

typedef struct sd_sasrec_sid {
    sd_sasrec_cfg cfg;     /* maxlen in items */
    uint64_t seed;         /* of the initialisation and of the dropout masks in training */
    sd_sid_mode mode;
    sd_sid_codes codes;
    sd_params p;
    int code_emb;          /* [1 + n_codes, dim] */
    sd_seqenc enc;
} sd_sasrec_sid;

/* seed: as sd_sasrec_init's (the training options' seed). */
int sd_sasrec_sid_init(sd_sasrec_sid *m, const sd_sasrec_cfg *cfg, uint64_t seed, sd_sid_mode mode,
                       const char *sids_path, const sd_catalog *cat, sd_err *err);
void sd_sasrec_sid_free(sd_sasrec_sid *m);

typedef struct sd_sasrec_sid_ws sd_sasrec_sid_ws;
sd_sasrec_sid_ws *sd_sasrec_sid_ws_new(const sd_sasrec_sid *m, int max_seqs);
void sd_sasrec_sid_ws_free(sd_sasrec_sid_ws *ws);
/* Batches of items as SASRec's (rec/seqbatch.h). */
float sd_sasrec_sid_loss_forward(sd_sasrec_sid *m, sd_sasrec_sid_ws *ws, const sd_seqbatch *b, bool train,
                                 uint64_t step);
void sd_sasrec_sid_loss_backward(sd_sasrec_sid *m, sd_sasrec_sid_ws *ws, const sd_seqbatch *b);

int sd_sasrec_sid_fit(sd_sasrec_sid *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                      sd_fit_report *rep, sd_err *err);
/* With checkpoints (rec/sasrec.h sd_rec_ckpt_opts; ck may be NULL); a resume also checks the
 * codes table is unchanged. */
int sd_sasrec_sid_fit_ckpt(sd_sasrec_sid *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                           const sd_rec_ckpt_opts *ck, sd_fit_report *rep, sd_err *err);
void sd_sasrec_sid_scorer(sd_sasrec_sid *m, bool own, sd_scorer *out);
sd_sasrec_sid *sd_sasrec_sid_of(const sd_scorer *sc);

/* dir/model.safetensors + dir/config.json (+ the codes are re-read from sids_path at load);
 * trained: the training options written beside the model's fields (NULL: none). */
int sd_sasrec_sid_save(const sd_sasrec_sid *m, const sd_train_opts *trained, const char *dir, const char *extra_json,
                       sd_err *err);
int sd_sasrec_sid_load(sd_sasrec_sid *m, const char *dir, const char *sids_path, const sd_catalog *cat, sd_err *err);

#endif
