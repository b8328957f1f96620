/* MovieLens loader throughput on a synthetic ml-25m-shaped folder (movies.csv, ratings.csv,
 * tags.csv). Baseline: one sd_lines pass over ratings.csv (the I/O floor). Usage:
 *   build/bench/ml_load [N_RATINGS (default 2000000)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "base/file.h"
#include "base/log.h"
#include "base/rng.h"
#include "data/loaders.h"
#include "bench_util.h"

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv) {
    bench_start(argv);
    long long n = argc > 1 ? atoll(argv[1]) : 2000000;
    int n_movies = 60000, n_users = (int)(n / 150 + 1);
    char dir[] = "/tmp/semid-bench-ml-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    sd_quiet = true;
    sd_verbose = getenv("VERBOSE") != NULL;
    sd_rng rng;
    sd_rng_seed(&rng, 1);

    char *p = sd_path_join(dir, "movies.csv");
    FILE *f = fopen(p, "w");
    fprintf(f, "movieId,title,genres\n");
    for (int i = 1; i <= n_movies; i++)
        fprintf(f, i % 3 ? "%d,Movie %d (%d),Drama|Comedy\n" : "%d,\"Movie, The %d (%d)\",Action\n", i, i, 1950 + i % 70);
    fclose(f);
    free(p);
    p = sd_path_join(dir, "tags.csv");
    f = fopen(p, "w");
    fprintf(f, "userId,movieId,tag,timestamp\n");
    for (long long i = 0; i < n / 25; i++)
        fprintf(f, "%d,%d,tag %d,1500000000\n", (int)(sd_rng_u64(&rng) % n_users) + 1,
                (int)(sd_rng_u64(&rng) % n_movies) + 1, (int)(sd_rng_u64(&rng) % 5000));
    fclose(f);
    free(p);
    char *ratings = sd_path_join(dir, "ratings.csv");
    f = fopen(ratings, "w");
    fprintf(f, "userId,movieId,rating,timestamp\n");
    /* users in blocks, as in the real file (sorted by user) */
    for (long long i = 0; i < n; i++)
        fprintf(f, "%lld,%d,%d.%d,%lld\n", i / 150 + 1, (int)(sd_rng_u64(&rng) % n_movies) + 1,
                (int)(sd_rng_u64(&rng) % 5), (int)(sd_rng_u64(&rng) & 1) * 5,
                1000000000LL + (long long)(sd_rng_u64(&rng) % 300000000));
    fclose(f);
    double mb = sd_file_size(ratings) / 1e6;

    double t0 = sd_now();
    sd_lines *r;
    sd_err err = {0};
    if (sd_lines_open(&r, ratings, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    char *line;
    size_t len;
    long long lines = 0;
    while (sd_lines_next(r, &line, &len, &err) > 0) lines++;
    sd_lines_close(r);
    double t_lines = sd_now() - t0;

    sd_prep_opts o = {.dir = dir, .seed = 1, .min_user_items = 5};
    sd_catalog *cat;
    sd_sequences seq;
    sd_prep_stats st;
    t0 = sd_now();
    double c0 = cpu_s();
    if (sd_load_movielens(&o, &cat, &seq, &st, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t_load = sd_now() - t0, c_load = cpu_s() - c0;

    printf("ratings.csv: %lld lines, %.0f MB\n", lines, mb);
    printf("sd_lines pass (baseline):   %.3f s  %.1f M lines/s  %.0f MB/s\n", t_lines, lines / t_lines / 1e6, mb / t_lines);
    printf("sd_load_movielens (total):  %.3f s  %.1f M ratings/s  (%d movies, %d users, %lld interactions)\n", t_load,
           n / t_load / 1e6, cat->n_items, seq.n_users, (long long)seq.n_inter);
    printf("sd_load_movielens CPU time: %.3f s (user + sys, all threads)\n", c_load);
    printf("loader / baseline: %.2fx; ml-25m (25M ratings) estimate: %.0f s\n", t_load / t_lines, t_load * 25e6 / n);
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    sd_rm_rf(dir);
    free(ratings);
    return 0;
}
