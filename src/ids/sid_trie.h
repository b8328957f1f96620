/* Prefix trie over the items' code sequences, for constrained decoding: given the codes
 * generated so far, which codes may come next so that the sequence still names an item, and
 * which item a complete sequence names.
 *
 * Layout: nodes numbered breadth first (root 0), so the children of any node are a contiguous
 * run of node ids, stored with their edge codes in ascending order; a lookup is one binary
 * search per level and the allowed-next-codes set is a pointer into the trie (no copying). */
#ifndef SD_SID_TRIE_H
#define SD_SID_TRIE_H
#include <stdint.h>
#include "base/err.h"
#include "ids/sid_table.h"

typedef struct sd_sid_trie {
    int depth;            /* codes per item */
    int32_t K;
    int64_t n_nodes;
    int64_t *first_child; /* [n_nodes + 1]: children of node v are ids first_child[v] .. first_child[v+1]) */
    int32_t *code;        /* [n_nodes]: code on the edge into node v (-1 for the root) */
    int32_t *item;        /* [n_nodes]: item at a leaf (depth codes deep), else -1 */
} sd_sid_trie;

/* Fails (naming both items) if two items share a full code sequence. */
int sd_sid_trie_build(sd_sid_trie *t, const sd_sid_table *tab, sd_err *err);
void sd_sid_trie_free(sd_sid_trie *t);

/* Node reached by prefix [len] (len 0 = root), or -1 if no item starts with it. */
int64_t sd_sid_trie_find(const sd_sid_trie *t, const int32_t *prefix, int len);
/* Codes allowed after prefix: returns their count (0 once the prefix is a full sequence) and
 * points *codes at them (ascending, owned by the trie); -1 if the prefix is not in the trie. */
int sd_sid_trie_next(const sd_sid_trie *t, const int32_t *prefix, int len, const int32_t **codes);
/* The same as <|sid_N|> numbers of a one-K table: tokens[i] = len * K + code; tokens must hold K
 * entries. Returns the count, or -1. Tokenizer ids for any vocabulary: sd_sid_vocab_next. */
int sd_sid_trie_next_tokens(const sd_sid_trie *t, const int32_t *prefix, int len, int32_t *tokens);
/* Item named by a full code sequence [depth], or -1. */
int32_t sd_sid_trie_item(const sd_sid_trie *t, const int32_t *codes);
/* Items under a prefix: number of leaves below the node (computed by walking; for diagnostics). */
int64_t sd_sid_trie_count(const sd_sid_trie *t, int64_t node);

#endif
