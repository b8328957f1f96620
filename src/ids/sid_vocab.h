/* The semantic-ID vocabulary: the one place that knows how items become tokens.
 *
 * An item is `n_levels` codes: `levels` semantic codes chosen by the method, then the uniqueness
 * code(s) (ids/sid_table.h). Level l has K[l] codes; level l code c is the token "<|sid_N|>" with
 * N = offset[l] + c, offset[l] = K[0] + .. + K[l-1] (one K for every level, as `semid ids`
 * writes today: N = l * K + c, the strings sids.tsv has always held). An item's token string is
 * "<|sid_start|>" + its code tokens + "<|sid_end|>"; "<|rec|>" marks a recommendation turn.
 * Once the tokens are in a tokenizer (`semid extend`), <|sid_N|> has id first_id + N.
 *
 * Every reader of semantic IDs goes through this: `semid extend` (which tokens to add),
 * SID-SASRec (levels, codes and the trie), fine-tuning (item -> token ids) and constrained
 * decoding (token ids -> item, allowed next tokens after a prefix).
 *
 * File: `semid ids` writes WORK/PREFIXsid_vocab.json beside sids.tsv, as part of the set its
 * record PREFIXids_set.json lists (ids/sid_set.h), so a vocabulary of another run is refused:
 *   {"format": "semid-sid-vocab", "version": 1, "items": 1234,
 *    "levels": 3,                      semantic levels
 *    "codes_per_item": 4,              token levels: semantic + uniqueness
 *    "codes": [256, 256, 256, 256],    K per token level
 *    "offsets": [0, 256, 512, 768],    <|sid_N|> of level l code c: N = offsets[l] + c
 *    "sid_tokens": 1024,               <|sid_0|> .. <|sid_1023|> (sum of codes)
 *    "start": "<|sid_start|>", "end": "<|sid_end|>", "rec": "<|rec|>"}
 * Every field is checked on reading (the message names the file and the field); offsets and
 * sid_tokens are redundant on purpose, so a hand edit that changes one of them is caught. */
#ifndef SD_SID_VOCAB_H
#define SD_SID_VOCAB_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "ids/sid_table.h"
#include "ids/sid_trie.h"

#define SD_SID_MAX_LEVELS 128
#define SD_SID_TOKEN_START "<|sid_start|>"
#define SD_SID_TOKEN_END "<|sid_end|>"
#define SD_SID_TOKEN_REC "<|rec|>"
#define SD_SID_VOCAB_FILE "sid_vocab.json"

typedef struct sd_sid_vocab {
    int levels;                                /* semantic levels */
    int n_levels;                              /* token levels per item (codes per item) */
    int32_t K[SD_SID_MAX_LEVELS];              /* codes of each token level */
    int32_t offset[SD_SID_MAX_LEVELS + 1];     /* offset[n_levels] = number of <|sid_N|> tokens */
    int32_t n_items;                           /* items of the table it was made from (0: none) */
    /* tokenizer ids, -1 until sd_sid_vocab_bind* */
    int32_t first_id, start_id, end_id, rec_id;
    /* the items' codes and the prefix trie over them, once a table is attached */
    int32_t *codes;                            /* [n_items, n_levels] */
    sd_sid_trie trie;
    int64_t level_begin[SD_SID_MAX_LEVELS + 2]; /* trie nodes at depth l: [level_begin[l], level_begin[l+1]) */
} sd_sid_vocab;

/* "<|sid_N|>" into buf; returns its length (snprintf's). */
int sd_sid_token_name(char *buf, size_t cap, int32_t n);

/* Vocabulary of n_levels levels, the first `levels` semantic, K[l] codes each (no table). */
int sd_sid_vocab_init(sd_sid_vocab *v, int levels, int n_levels, const int32_t *K, sd_err *err);
/* The vocabulary of a table (one K for all levels, as sids.tsv holds), with its trie. */
int sd_sid_vocab_from_table(sd_sid_vocab *v, const sd_sid_table *t, sd_err *err);
/* Attaches a table to a vocabulary read from a file: sizes, levels and codes must agree (the
 * message names the table as where, the vocabulary as vocab_path, and the field), then builds
 * the trie. */
int sd_sid_vocab_attach(sd_sid_vocab *v, const sd_sid_table *t, const char *where, const char *vocab_path,
                        sd_err *err);
void sd_sid_vocab_free(sd_sid_vocab *v);

int sd_sid_vocab_write(const sd_sid_vocab *v, const char *path, sd_err *err);
/* Reads the file only (no table, no trie). Checks the set record when it has one. */
int sd_sid_vocab_read(sd_sid_vocab *v, const char *path, sd_err *err);
/* PREFIXsid_vocab.json beside a PREFIXsids.tsv / PREFIXsids.bin path (malloc'd), or NULL. */
char *sd_sid_vocab_path_for(const char *sids_path);
/* The vocabulary of a semantic-ID table file: sids_path (sids.tsv or sids.bin) read and checked
 * (against cat, when given and the file is a .tsv), with the sid_vocab.json beside it when there is
 * one (they must agree), else derived from the table (files of an older semid). Trie built. */
int sd_sid_vocab_open(sd_sid_vocab *v, const char *sids_path, const sd_catalog *cat, sd_err *err);

/* <|sid_N|> number of level l code c. */
static inline int32_t sd_sid_vocab_sid(const sd_sid_vocab *v, int l, int32_t c) { return v->offset[l] + c; }
/* Level and code of <|sid_N|>; -1 if N is no SID token of this vocabulary. */
int sd_sid_vocab_code_of(const sd_sid_vocab *v, int32_t n, int *level, int32_t *code);
/* Most codes any level has (buffer size for sd_sid_vocab_next). */
int32_t sd_sid_vocab_max_codes(const sd_sid_vocab *v);
/* Codes in use at level l (largest code an item has there + 1; needs the trie). */
int32_t sd_sid_vocab_used(const sd_sid_vocab *v, int l);

/* Tokenizer ids once the tokens are added (lm/qwen3.h sd_qwen3_extend_vocab reports them):
 * <|sid_N|> = first_id + N. */
void sd_sid_vocab_bind(sd_sid_vocab *v, int32_t first_id, int32_t start_id, int32_t end_id, int32_t rec_id);

/* ---- lookups for fine-tuning and constrained decoding (need a table attached) ---- */
/* Token ids of item: [start, code tokens .., end] (n_levels + 2 entries); needs bind. Returns
 * the count, or -1 (item out of range or no ids bound). */
int sd_sid_vocab_item_tokens(const sd_sid_vocab *v, int32_t item, int32_t *ids);
/* An item's token string "<|sid_start|><|sid_N|>...<|sid_end|>" (malloc'd; needs a table, no
 * bind), or NULL when item is out of range. */
char *sd_sid_vocab_item_string(const sd_sid_vocab *v, int32_t item);
/* Item named by n token ids: the n_levels code tokens, optionally wrapped in start / end; -1 if
 * they name none. */
int32_t sd_sid_vocab_tokens_item(const sd_sid_vocab *v, const int32_t *ids, int n);
/* Token ids allowed after the code tokens prefix[len] (len 0: right after <|sid_start|>):
 * returns their count and fills next (sd_sid_vocab_max_codes entries at most); once the prefix
 * names an item the only one is <|sid_end|>; -1 if no item starts with the prefix. */
int sd_sid_vocab_next(const sd_sid_vocab *v, const int32_t *prefix, int len, int32_t *next);

#endif
