/* The trie mask's `distinct` setting (lm/sid_decode.h), which chat replies use: a code under which
 * every item was named in the reply is refused at whatever level, so a reply that would repeat
 * itself turns to a new item instead of running out of choices; a code with an item still free
 * stays. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ids/sid_table.h"
#include "lm/sid_decode.h"

enum { V = 64, START = 37, END = 38, REC = 39, FIRST = 40, NL = 3, K = 4 };

/* A = 0 0 0, B = 0 1 0, C = 0 1 1, D = 1 0 0 */
static const int32_t CODES[] = {0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0};

static int32_t tok(const sd_sid_vocab *v, int level, int32_t code) { return v->first_id + v->offset[level] + code; }

/* The tokens the mask leaves after generated[n]. */
static int allowed(sd_sid_mask *mk, const int32_t *gen, int n, int32_t *out) {
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = 0;
    sd_sid_mask_apply(mk, 0, gen, n, lg, V);
    int k = 0;
    for (int i = 0; i < V; i++)
        if (lg[i] != -INFINITY) out[k++] = i;
    return k;
}

/* gen += the item's tokens (start, codes, end) */
static int put_item(const sd_sid_vocab *v, int32_t *gen, int n, int item) {
    gen[n++] = START;
    for (int l = 0; l < NL; l++) gen[n++] = tok(v, l, CODES[item * NL + l]);
    gen[n++] = END;
    return n;
}

Test(sid_distinct, exhausted_prefixes_are_refused_at_every_level) {
    sd_sid_table t = {.n_items = 4, .levels = 2, .n_codes = NL, .K = K};
    t.codes = sd_xmalloc(sizeof CODES);
    memcpy(t.codes, CODES, sizeof CODES);
    sd_sid_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_sid_vocab_from_table(&v, &t, &err), 0, "%s", err.msg);
    sd_sid_vocab_bind(&v, FIRST, START, END, REC);
    sd_sid_mask mk;
    cr_assert_eq(sd_sid_mask_init(&mk, &v, &err), 0, "%s", err.msg);
    int32_t gen[64], ok[V];
    int n = put_item(&v, gen, 0, 0); /* A named */

    /* without distinct, A's codes stay open */
    gen[n] = START, gen[n + 1] = tok(&v, 0, 0);
    int k = allowed(&mk, gen, n + 2, ok);
    cr_assert_eq(k, 2, "codes 0 and 1 at level 1");
    mk.distinct = true;
    /* level 1 under 0: code 0 holds only A (named) and goes; code 1 (B, C) stays */
    k = allowed(&mk, gen, n + 2, ok);
    cr_assert_eq(k, 1);
    cr_assert_eq(ok[0], tok(&v, 1, 1));
    /* level 0: 0 still has B and C, 1 has D */
    k = allowed(&mk, gen, n + 1, ok);
    cr_assert_eq(k, 2);
    /* B and C named as well: all of prefix 0 is named, so only D's first code is left */
    n = put_item(&v, gen, n, 1);
    n = put_item(&v, gen, n, 2);
    gen[n] = START;
    k = allowed(&mk, gen, n + 1, ok);
    cr_assert_eq(k, 1);
    cr_assert_eq(ok[0], tok(&v, 0, 1));
    /* every item named: nothing is left, and the mask says so by leaving no token */
    n = put_item(&v, gen, n, 3);
    gen[n] = START;
    cr_assert_eq(allowed(&mk, gen, n + 1, ok), 0);
    sd_sid_mask_free(&mk);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
}
