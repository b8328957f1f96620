/* Text embeddings with a Qwen3-Embedding model (a Qwen3Model folder: tensors without the "model."
 * prefix, no lm_head), as its reference usage computes them:
 *  - the input is the text's tokens followed by <|endoftext|> (what the model's tokenizer
 *    post-processor appends; added here explicitly when missing);
 *  - queries are written "Instruct: {task}\nQuery:{text}", documents are embedded as they are;
 *  - the vector is the final-normed hidden state of the last token (last-token pooling),
 *    optionally cut to its first `dim` values (the model is trained with Matryoshka
 *    representation learning, so a prefix is itself an embedding), then L2-normalised.
 *
 * Texts are grouped by token length into batches of about batch_tokens tokens and run through the
 * KV-cache step (lm/kv_cache.h) without padding. */
#ifndef SD_EMBED_QWEN3_H
#define SD_EMBED_QWEN3_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "lm/qwen3.h"

typedef struct sd_embed_opts {
    int dim;            /* output size: 0 = hidden size; 1..hidden size truncates (MRL) */
    int max_tokens;     /* per text including the final <|endoftext|>; 0 = 512 */
    int batch_tokens;   /* tokens per forward step; 0 = 2048 */
    const char *task;   /* NULL: documents; else queries with this instruction */
    bool progress;      /* progress bar on stderr */
} sd_embed_opts;

void sd_embed_opts_default(sd_embed_opts *o);

/* "Instruct: {task}\nQuery:{text}" (malloc'd). */
char *sd_embed_query_text(const char *task, const char *text);

/* Id of <|endoftext|> in the model's tokenizer, else the config's first EOS; -1 if neither. */
int32_t sd_qwen3_embed_eos(const sd_qwen3 *m);

/* Token lists (already ending as the model expects) -> out [n, dim] unit rows.
 * dim 0 = hidden size. Lists must be non-empty with ids in the vocabulary. */
int sd_qwen3_embed_ids(sd_qwen3 *m, const int32_t *const *ids, const int *lens, int n, int dim, int batch_tokens,
                       bool progress, float *out, sd_err *err);

/* Texts -> out [n, dim] unit rows (dim = o->dim or the hidden size). Needs m->tok. */
int sd_qwen3_embed_texts(sd_qwen3 *m, const char *const *texts, int n, const sd_embed_opts *o, float *out,
                         sd_err *err);

/* The text an item is embedded from, as semantic-ids-llm writes it:
 *   "Product: {title}\nDescription: {description}\nCategory: {c1 > c2 ...}\n{Key}: {v1, v2}\n..."
 * with one line per attribute key (values of a repeated key joined), empty fields left out.
 * malloc'd. */
char *sd_item_embed_text(const sd_catalog *c, int32_t id);

/* Every item of a catalogue (sd_item_embed_text, documents unless o->task) with the Qwen3-Embedding
 * folder model_dir -> *out [n_items, *dim] (malloc'd), rows in internal-id order. */
int sd_embed_catalog_qwen3(const char *model_dir, const sd_catalog *cat, const sd_embed_opts *o, float **out,
                           int64_t *dim, sd_err *err);

#endif
