/* TF-IDF + randomized SVD time on a generated product catalogue: N items (66,000 by default, the
 * size of the semantic-ids-llm Video Games set) with ~8-word titles, ~60-word descriptions,
 * 3 features, 2 categories and platform/genre attributes, words drawn Zipf-like from a 30,000
 * word vocabulary with topic-specific word pools so the SVD has structure to find.
 *   build/bench/bench_embed [--n N] [--dim D] [--power-iters Q] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "text/rsvd.h"
#include "text/tfidf.h"
#include "bench_util.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { VOCAB = 30000, TOPICS = 200 };

/* a pronounceable pseudo-word per index, so the tokenizer sees ordinary lowercase runs */
static void word(int i, char *out) {
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "po", "qui", "dra", "fen", "gor", "hal", "jax"};
    int p = 0;
    i += 16;
    while (i) { p += sprintf(out + p, "%s", syl[i % 16]); i /= 16; }
}

/* Zipf-like pick: topic-specific pool of 300 words 60% of the time, global otherwise */
static int pick(sd_rng *r, int topic) {
    double u = sd_rng_double(r);
    if (sd_rng_float(r) < 0.6f) return (topic * 131 + (int)(300 * u * u)) % VOCAB;
    return (int)(VOCAB * u * u * u);
}

static void sentence(sd_rng *r, int topic, int words, char *out) {
    int p = 0;
    char w[64];
    for (int k = 0; k < words; k++) {
        word(pick(r, topic), w);
        p += sprintf(out + p, "%s%s", k ? " " : "", w);
    }
    if (!words) out[0] = 0;
}

int main(int argc, char **argv) {
    bench_start(argv);
    int n = 66000, dim = 256, q = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--power-iters")) q = atoi(argv[i + 1]);
    }
    sd_set_threads(0);
    sd_catalog *c = sd_catalog_new();
    sd_rng r;
    sd_rng_seed(&r, 1);
    static const char *plat[] = {"PlayStation 5", "PlayStation 4", "Xbox One", "Xbox Series X", "Nintendo Switch", "PC"};
    static const char *genre[] = {"RPG", "Racing", "Shooter", "Puzzle", "Sports", "Strategy", "Platformer", "Fighting"};
    char title[1024], desc[8192], f[3][512], cat2[256], id[32];
    for (int i = 0; i < n; i++) {
        int topic = (int)sd_rng_below(&r, TOPICS);
        snprintf(id, sizeof id, "B%08d", i);
        sentence(&r, topic, 6 + (int)sd_rng_below(&r, 5), title);
        sentence(&r, topic, 30 + (int)sd_rng_below(&r, 60), desc);
        for (int k = 0; k < 3; k++) sentence(&r, topic, 5, f[k]);
        snprintf(cat2, sizeof cat2, "Topic %d", topic % 40);
        const char *feats[] = {f[0], f[1], f[2]};
        const char *cats[] = {"Video Games", cat2};
        sd_kv attrs[] = {{"platform", plat[topic % 6]}, {"genre", genre[(topic / 6) % 8]}};
        sd_item_in in = {id, title, desc, feats, 3, cats, 2, attrs, 2};
        if (sd_catalog_add(c, &in, NULL) < 0) return 1;
    }
    sd_tfidf_opts o;
    sd_tfidf_defaults(&o);
    sd_csr m;
    sd_err err = {0};
    double t0 = sd_now(), c0 = cpu_now();
    if (sd_tfidf_build(c, &o, &m, NULL, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t1 = sd_now(), c1 = cpu_now();
    float *u = sd_xmalloc(sizeof(float) * (size_t)n * dim), *s = sd_xmalloc(sizeof(float) * dim);
    sd_rsvd_opts so = {dim, 10, q, 42, false};
    if (sd_rsvd(&m, &so, u, s, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t2 = sd_now(), c2 = cpu_now();
    printf("bench_embed: %d items, %lld terms, %lld non-zeros, %d threads\n", n, (long long)m.n_cols,
           (long long)sd_csr_nnz(&m), sd_threads());
    printf("  tf-idf      %.2f s wall, %.2f s cpu\n", t1 - t0, c1 - c0);
    printf("  svd (D=%d, q=%d) %.2f s wall, %.2f s cpu; s[0] %.3f s[D-1] %.3f\n", dim, q, t2 - t1, c2 - c1, s[0], s[dim - 1]);
    printf("  total       %.2f s wall, %.2f s cpu\n", t2 - t0, c2 - c0);
    free(u); free(s);
    sd_csr_free(&m);
    sd_catalog_free(c);
    return 0;
}
