/* Recommending with constrained decoding (lm/sid_decode.h): top-K items per user by beam search
 * over the SID trie, for a batch of users, on random Qwen3 models (the numbers depend on shapes,
 * not on training): the "tiny" preset with a demo-sized vocabulary and, unless
 * BENCH_REC_NO_06B is set, the Qwen3-0.6B shape. Prints recommendations/s, the share of the time
 * spent on trie lookups and beam selection (goal < 5%), and the baseline measured in the same
 * run: greedy decoding of the same K items as one masked answer (K SIDs written one after another,
 * the way a free-running model lists them), whose cost is K x (levels + 2) decode steps.
 * Usage: bench_recommend [users] [threads] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "lm/generate.h"
#include "lm/sid_decode.h"
#include "bench_util.h"

enum { LEVELS = 3, CODES = 256, HIST = 10, W = 20, K = 10 };

/* n items with random distinct 3-code prefixes (+ a uniqueness code 0) */
static void random_vocab(sd_sid_vocab *v, sd_sid_table *t, int n, int32_t first_id, int32_t special) {
    t->n_items = n, t->levels = LEVELS, t->n_codes = LEVELS + 1, t->K = CODES;
    t->codes = sd_xcalloc((size_t)n * (LEVELS + 1), sizeof(int32_t));
    sd_rng r;
    sd_rng_seed(&r, 1);
    for (int i = 0; i < n; i++) /* distinct: code 2 and 1 from i, code 0 random */
        t->codes[i * 4 + 0] = (int32_t)sd_rng_below(&r, CODES), t->codes[i * 4 + 1] = i / CODES % CODES,
        t->codes[i * 4 + 2] = i % CODES;
    sd_err err = {0};
    if (sd_sid_vocab_from_table(v, t, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    sd_sid_vocab_bind(v, first_id, special, special + 1, special + 2);
}

static void run(const char *name, const char *preset, int text_vocab, int n_items, int users) {
    sd_sid_vocab v;
    sd_sid_table t;
    int32_t special = text_vocab, first = text_vocab + 3, V = first + (LEVELS + 1) * CODES;
    random_vocab(&v, &t, n_items, first, special);
    sd_qwen3_config c;
    sd_err err = {0};
    if (sd_qwen3_preset(&c, preset, V, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    sd_qwen3 m;
    sd_qwen3_init(&m, &c, &err);
    sd_qwen3_init_random(&m, 7, 0.02f);
    /* prompts: a short instruction, HIST items as SIDs, <|rec|> */
    int plen = 8 + HIST * (LEVELS + 3) + 1;
    int32_t *buf = sd_xmalloc(sizeof(int32_t) * (size_t)users * plen);
    const int32_t **prompts = sd_xmalloc(sizeof *prompts * (size_t)users);
    int *lens = sd_xmalloc(sizeof(int) * (size_t)users);
    sd_rng r;
    sd_rng_seed(&r, 3);
    for (int u = 0; u < users; u++) {
        int32_t *p = buf + (size_t)u * plen;
        int n = 0;
        for (int i = 0; i < 8; i++) p[n++] = (int32_t)sd_rng_below(&r, (uint64_t)text_vocab);
        for (int h = 0; h < HIST; h++) n += sd_sid_vocab_item_tokens(&v, (int32_t)sd_rng_below(&r, (uint64_t)n_items), p + n);
        p[n++] = special + 2;
        prompts[u] = p, lens[u] = n;
    }
    sd_sid_beam_cfg bc;
    sd_sid_beam_cfg_default(&bc);
    bc.width = W, bc.k = K;
    sd_sid_beam_out o;
    if (sd_sid_beam_search(&m, &v, prompts, lens, users, NULL, NULL, &bc, &o, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    /* baseline: greedy, K SIDs in one masked answer after <|sid_start|>-free prompts */
    sd_sid_mask mk;
    sd_sid_mask_init(&mk, &v, &err);
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = K * (LEVELS + 1 + 2);
    g.sample.mask = sd_sid_mask_apply, g.sample.mask_ctx = &mk;
    sd_gen_out go;
    double t0 = sd_now();
    if (sd_generate(&m, prompts, lens, users, &g, &go, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    double greedy = sd_now() - t0;
    printf("%-10s %8zu M params, %d items, %d users, W %d, K %d: beam %.2f s = %.1f users/s (%ld tokens fed), "
           "trie + selection %.1f%% of it; greedy list of %d SIDs %.2f s = %.1f users/s; beam / greedy time %.2f\n",
           name, sd_params_count(&m.p) / 1000000, n_items, users, W, K, o.seconds, users / o.seconds, o.tokens_fed,
           100 * o.mask_seconds / o.seconds, K, greedy, users / greedy, o.seconds / greedy);
    fflush(stdout);
    sd_gen_out_free(&go);
    sd_sid_mask_free(&mk);
    sd_sid_beam_out_free(&o);
    free(buf); free(prompts); free(lens);
    sd_qwen3_free(&m);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
}

int main(int argc, char **argv) {
    bench_start(argv);
    int users = argc > 1 ? atoi(argv[1]) : 64, threads = argc > 2 ? atoi(argv[2]) : 0;
    if (threads > 0) omp_set_num_threads(threads);
    printf("threads: %d\n", omp_get_max_threads());
    run("tiny", "tiny", 4096, 3000, users);
    if (!getenv("BENCH_REC_NO_06B")) run("qwen3-0.6b", "qwen3-0.6b", 151669, 60000, users < 4 ? users : 4);
    return 0;
}
