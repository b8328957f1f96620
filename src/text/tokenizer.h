/* Byte-level BPE tokenizer compatible with Hugging Face tokenizer.json (the Qwen2/Qwen3 family):
 * NFC normaliser, the Qwen2 Split pre-tokenizer (hand-written over Unicode categories), the
 * GPT-2 byte<->unicode map, BPE with merge ranks, added tokens (special or not) split out before
 * normalisation, ByteLevel decoder. Ids match the `tokenizers` library exactly (tests/js).
 *
 * Input text that is not valid UTF-8 is first repaired the way Rust's String::from_utf8_lossy and
 * the WHATWG decoder do: each maximal invalid subsequence becomes one U+FFFD. Decoding returns
 * valid UTF-8 the same way (a token sequence that splits a character yields U+FFFD, as in HF);
 * sd_tok_token_bytes gives the raw bytes of a token for streaming output.
 *
 * A loaded tokenizer is read-only during encoding, so many threads may encode with it at once;
 * adding tokens must not overlap with encoding. */
#ifndef SD_TOKENIZER_H
#define SD_TOKENIZER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

typedef struct sd_tokenizer sd_tokenizer;
typedef struct sd_tok_cache sd_tok_cache;

/* A growable id list (reuse one across calls to avoid allocations). */
typedef struct sd_ids { int32_t *v; size_t n, cap; } sd_ids;
void sd_ids_free(sd_ids *ids);

typedef struct sd_added_token {
    const char *content;
    bool special;     /* skipped by decode(skip_special) */
    bool normalized;  /* matched in NFC text instead of the raw text */
    bool lstrip, rstrip, single_word;
} sd_added_token;

/* ---- load / save (tokenizer_json.c) ---- */
int sd_tok_load(sd_tokenizer **out, const char *path, sd_err *err);
/* Parses a tokenizer.json held in memory; `name` is used in error messages. */
int sd_tok_load_mem(sd_tokenizer **out, const char *json, size_t len, const char *name, sd_err *err);
/* Writes the same schema (model, merges as pairs, added tokens, normaliser ...) atomically. */
int sd_tok_save(const sd_tokenizer *t, const char *path, sd_err *err);
void sd_tok_free(sd_tokenizer *t);

/* A tokenizer from arrays, as a GGUF file's tokenizer section holds them (text/tok_build.c):
 * tokens[id] (byte-level form; added tokens as their content) with llama.cpp's token types
 * (normal: a BPE model token; control: a special added token; user-defined: a non-special added
 * token; unused: an id left empty) and merges "left right" in rank order. Added tokens get no
 * strip / normalised flags. Errors name `where` and the token or merge. */
enum { SD_TOK_TYPE_NORMAL = 1, SD_TOK_TYPE_CONTROL = 3, SD_TOK_TYPE_USER_DEFINED = 4, SD_TOK_TYPE_UNUSED = 5 };
typedef struct sd_tok_build_in {
    int32_t n_tokens;
    const char *const *tokens;
    const size_t *lens;
    const int32_t *types;
    int32_t n_merges;
    const char *const *merges;
    const size_t *merge_lens;
    bool nfc;             /* NFC normaliser (Qwen's) */
    const char *where;
} sd_tok_build_in;
int sd_tok_build(sd_tokenizer **out, const sd_tok_build_in *in, sd_err *err);

/* ---- vocabulary ---- */
int32_t sd_tok_vocab_size(const sd_tokenizer *t);      /* largest id + 1, added tokens included */
int32_t sd_tok_model_vocab_size(const sd_tokenizer *t); /* BPE model entries only */
int32_t sd_tok_merge_count(const sd_tokenizer *t);
int32_t sd_tok_added_count(const sd_tokenizer *t);
/* Merge of rank i (0 <= i < sd_tok_merge_count): the ids of its left and right parts; returns 0,
 * or -1 when i is out of range. */
int sd_tok_merge_at(const sd_tokenizer *t, int32_t i, int32_t *left, int32_t *right);
/* The i-th added token (0 <= i < sd_tok_added_count) in file order: returns its id (-1 when i is
 * out of range) and, if out is not NULL, its content and flags (content valid while t lives). */
int32_t sd_tok_added_at(const sd_tokenizer *t, int32_t i, sd_added_token *out);
/* Token string as stored in the vocabulary (byte-level form, e.g. "Ġthe"), or the added token's
 * content; NULL for an unused id. */
const char *sd_tok_id_to_token(const sd_tokenizer *t, int32_t id);
/* -1 if absent. Looks at added tokens and the model vocabulary. */
int32_t sd_tok_token_to_id(const sd_tokenizer *t, const char *token);
bool sd_tok_is_special(const sd_tokenizer *t, int32_t id);
/* Raw bytes the token stands for (what the ByteLevel decoder emits for it); *len set. */
const char *sd_tok_token_bytes(const sd_tokenizer *t, int32_t id, size_t *len);

/* Adds tokens at run time (e.g. the semantic-ID vocabulary). A token already added is kept; one
 * that is in the model vocabulary keeps its id; others get the next free ids in order. ids (may
 * be NULL) receives each token's id. Returns the number of new ids, or <0 on error. */
int sd_tok_add_tokens(sd_tokenizer *t, const sd_added_token *toks, size_t n, int32_t *ids, sd_err *err);

/* ---- encode / decode (tokenizer.c) ---- */
/* Appends the ids of text[0..len) to out. The cache (may be NULL) remembers the BPE of words
 * across calls; one cache per thread. */
int sd_tok_encode(const sd_tokenizer *t, sd_tok_cache *cache, const char *text, size_t len, sd_ids *out);
/* Encodes n documents over `threads` threads (0 = all); outs[i] is reset and filled. */
void sd_tok_encode_batch(const sd_tokenizer *t, const char *const *texts, const size_t *lens, size_t n,
                         sd_ids *outs, int threads);
sd_tok_cache *sd_tok_cache_new(void);
void sd_tok_cache_free(sd_tok_cache *c);

/* malloc'd NUL-terminated valid UTF-8 (length in *len if not NULL). Unknown ids are skipped. */
char *sd_tok_decode(const sd_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, size_t *len);

/* ---- helpers shared with the trainer ---- */
/* Repairs invalid UTF-8 (maximal subparts -> U+FFFD). Returns NULL when s is already valid
 * (nothing to do), else a malloc'd repaired copy with its length in *out_len. */
char *sd_utf8_repair(const char *s, size_t len, size_t *out_len);
/* NFC of valid UTF-8 into a malloc'd string, or NULL when s is already NFC (quick check). */
char *sd_utf8_nfc(const char *s, size_t len, size_t *out_len);

/* The Qwen2 pre-tokenizer regex, split by hand:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * s is valid UTF-8. Calls fn(start, end) for each piece (byte offsets) in order. */
extern const char *const SD_QWEN2_PATTERN;
void sd_pretok_split(const char *s, size_t len, void (*fn)(void *ctx, size_t start, size_t end), void *ctx);

#endif
