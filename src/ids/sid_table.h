/* Semantic-ID tables: every item's code sequence, made unique.
 *
 * A method gives each item `levels` codes in 0..K-1. Items that share all of them form a
 * collision group; they get one more code, their rank in the group by popularity (interactions
 * in the training part of the sequences, more first; then internal id), so the most popular
 * item of a group gets 0. A group larger than K cannot be told apart by one code: that is an
 * error by default (SD_COLLIDE_ERROR), or with SD_COLLIDE_EXTEND every item gets as many
 * uniqueness codes as the largest group needs (its rank written in base K, most significant
 * first). Nothing wraps silently.
 *
 * Tokens (ids/sid_vocab.h owns them): level l, code c -> "<|sid_{l*K + c}|>", wrapped in
 * <|sid_start|> ... <|sid_end|>. The table has one K; `semid ids` writes its vocabulary
 * (WORK/sid_vocab.json) beside it, and readers that have it pass its K and levels.
 *
 * Files:
 *   sids.tsv  header "id\text_id\tc0\t...\tc{m-1}\tsid", then one row per item in internal-id
 *             order: id, external id, the m codes, the token string.
 *   sids.bin  40-byte header (magic "SDSIDTB\0", u32 version 1, u32 levels, u32 codes per item
 *             m, u32 K, i64 items, u32 bytes per code (2 if K <= 32767, else 4), u32 0), then
 *             the codes [items, m] as little-endian int16 or int32.
 * Both readers first check the file against the record of its `semid ids` set (ids/sid_set.h),
 * so a mixed set of outputs is refused. */
#ifndef SD_SID_TABLE_H
#define SD_SID_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "data/workdir.h"

typedef struct sd_sid_table {
    int32_t n_items;
    int levels;      /* semantic levels (codes chosen by the method) */
    int n_codes;     /* codes per item: levels + uniqueness codes */
    int32_t K;       /* codes per level */
    int32_t *codes;  /* [n_items, n_codes] */
} sd_sid_table;

typedef enum { SD_COLLIDE_ERROR = 0, SD_COLLIDE_EXTEND = 1 } sd_collision_policy;
int sd_collision_policy_parse(const char *s, sd_collision_policy *p); /* "error", "extend-level" */

typedef struct sd_sid_collisions {
    int64_t n_prefixes;     /* distinct `levels`-code prefixes */
    int64_t n_unique;       /* items alone in their prefix group */
    int64_t n_groups;       /* groups of two or more items */
    int64_t max_group;      /* size of the largest group */
} sd_sid_collisions;

/* sem [n, levels] codes in 0..K-1 -> t (uniqueness codes appended). popularity [n] may be NULL
 * (then ties go by internal id). st may be NULL. */
int sd_sid_table_make(const int32_t *sem, int32_t n, int levels, int32_t K, const int64_t *popularity,
                      sd_collision_policy pol, sd_sid_table *t, sd_sid_collisions *st, sd_err *err);
void sd_sid_table_free(sd_sid_table *t);

/* Interactions per item [n_items] in the training part of the work directory's split. */
void sd_sid_popularity(const sd_work *w, int64_t *counts);

/* <|sid_N|> number with one K for every level (sd_sid_vocab_sid in general). */
static inline int32_t sd_sid_token_id(int level, int32_t code, int32_t K) { return (int32_t)level * K + code; }
/* Writes item's token string into buf (NUL-terminated, truncated to cap); returns its full length. */
size_t sd_sid_tokens(const sd_sid_table *t, int32_t item, char *buf, size_t cap);

/* Checks codes are in range and no two items share a full code sequence. */
int sd_sid_table_validate(const sd_sid_table *t, const char *path, sd_err *err);

int sd_sid_table_save(const sd_sid_table *t, const char *path, sd_err *err);
int sd_sid_table_load(sd_sid_table *t, const char *path, sd_err *err);
/* Needs cat for the external ids (each must be free of tabs and newlines). */
int sd_sid_table_write_tsv(const sd_sid_table *t, const sd_catalog *cat, const char *path, sd_err *err);
/* Reads sids.tsv. K = 0 derives K from the tokens (for a table without its sid_vocab.json;
 * sd_sid_vocab_open passes the vocabulary's); levels = 0 takes all but the last code as
 * semantic. With cat, row count and external ids must match the catalogue. Every row is checked:
 * field count, id order, codes in range, token string equal to the one the codes give. */
int sd_sid_table_read_tsv(sd_sid_table *t, const char *path, const sd_catalog *cat, int32_t K, int levels,
                          sd_err *err);

#endif
