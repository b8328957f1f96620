/* Library functions that sort with a comparison needing context (code tables, key arrays) must
 * not share that context between threads: each thread here builds from its own input, many times
 * over, while another does the same with different input, and every result must equal the one
 * built alone. A file-scope sort key would let one thread's comparisons read the other's codes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "ids/sid_table.h"
#include "ids/sid_trie.h"
#include "rec/sasrec_sid.h"

enum { N = 20000, LEVELS = 3, K = 64, ROUNDS = 12, WORKERS = 2 };

typedef struct job {
    int32_t sem[N * LEVELS];
    int64_t pop[N];
    sd_sid_table want_table;
    sd_sid_trie want_trie;
    sd_sid_codes want_codes;
    int bad; /* rounds whose result differed */
} job;

static void fill(job *j, uint64_t seed) {
    sd_rng r;
    sd_rng_stream(&r, seed, 1);
    for (int i = 0; i < N * LEVELS; i++) j->sem[i] = (int32_t)sd_rng_below(&r, K);
    for (int i = 0; i < N; i++) j->pop[i] = (int64_t)sd_rng_below(&r, 50);
}

static int make_table(const job *j, sd_sid_table *t) {
    sd_err err = {0};
    return sd_sid_table_make(j->sem, N, LEVELS, K, j->pop, SD_COLLIDE_EXTEND, t, NULL, &err);
}

static int make_codes(const sd_sid_table *t, sd_sid_codes *c) {
    memset(c, 0, sizeof *c);
    c->n_items = t->n_items;
    c->m = t->n_codes;
    c->codes = malloc(sizeof(int32_t) * (size_t)t->n_items * t->n_codes);
    memcpy(c->codes, t->codes, sizeof(int32_t) * (size_t)t->n_items * t->n_codes);
    sd_err err = {0};
    return sd_sid_codes_build(c, &err);
}

static bool same_table(const sd_sid_table *a, const sd_sid_table *b) {
    return a->n_codes == b->n_codes && !memcmp(a->codes, b->codes, sizeof(int32_t) * (size_t)a->n_items * a->n_codes);
}

static bool same_trie(const sd_sid_trie *a, const sd_sid_trie *b) {
    return a->n_nodes == b->n_nodes && !memcmp(a->first_child, b->first_child, sizeof(int64_t) * (size_t)(a->n_nodes + 1)) &&
           !memcmp(a->code, b->code, sizeof(int32_t) * (size_t)a->n_nodes) &&
           !memcmp(a->item, b->item, sizeof(int32_t) * (size_t)a->n_nodes);
}

static bool same_codes(const sd_sid_codes *a, const sd_sid_codes *b) {
    for (int l = 0; l < a->m; l++) {
        if (a->n_nodes[l] != b->n_nodes[l]) return false;
        if (memcmp(a->node[l], b->node[l], sizeof(int32_t) * (size_t)a->n_items)) return false;
    }
    return true;
}

static void *work(void *arg) {
    job *j = arg;
    for (int r = 0; r < ROUNDS; r++) {
        sd_sid_table t;
        sd_sid_trie tr;
        sd_sid_codes c;
        sd_err err = {0};
        if (make_table(j, &t)) { j->bad++; continue; }
        bool ok = same_table(&t, &j->want_table);
        if (ok && !sd_sid_trie_build(&tr, &t, &err)) {
            ok = same_trie(&tr, &j->want_trie);
            sd_sid_trie_free(&tr);
        } else {
            ok = false;
        }
        if (ok && !make_codes(&t, &c)) {
            ok = same_codes(&c, &j->want_codes);
            sd_sid_codes_free(&c);
        } else {
            ok = false;
        }
        j->bad += !ok;
        sd_sid_table_free(&t);
    }
    return NULL;
}

Test(reentrant, sid_sorts_in_parallel_threads) {
    static job jobs[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        fill(&jobs[w], 100 + w);
        sd_err err = {0};
        cr_assert_eq(make_table(&jobs[w], &jobs[w].want_table), 0);
        cr_assert_eq(sd_sid_trie_build(&jobs[w].want_trie, &jobs[w].want_table, &err), 0, "%s", err.msg);
        cr_assert_eq(make_codes(&jobs[w].want_table, &jobs[w].want_codes), 0);
    }
    pthread_t th[WORKERS];
    for (int w = 0; w < WORKERS; w++) pthread_create(&th[w], NULL, work, &jobs[w]);
    for (int w = 0; w < WORKERS; w++) pthread_join(th[w], NULL);
    for (int w = 0; w < WORKERS; w++) {
        cr_expect_eq(jobs[w].bad, 0, "thread %d: %d of %d rounds differ from the single-threaded result", w,
                     jobs[w].bad, ROUNDS);
        sd_sid_table_free(&jobs[w].want_table);
        sd_sid_trie_free(&jobs[w].want_trie);
        sd_sid_codes_free(&jobs[w].want_codes);
    }
}
