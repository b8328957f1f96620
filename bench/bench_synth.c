/* Synthetic store at scale: generation time and throughput, time to write the work directory,
 * peak RSS, and time to load it back (sd_work_load).
 *   build/bench/bench_synth [ITEMS [USERS [MEAN_LEN [DIR]]]]   default 1,000,000 items,
 *   1,000,000 users x 10 = 10M interactions, written under $TMPDIR (removed afterwards). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>
#include "base/file.h"
#include "base/log.h"
#include "base/threads.h"
#include "data/synth.h"
#include "data/workdir.h"
#include "bench_util.h"

/* CPU seconds of this process (user + system, all threads): on a shared machine wall time
 * includes waiting for the CPU, so both are printed. */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

int main(int argc, char **argv) {
    bench_start(argv);
    sd_synth_opts o;
    sd_synth_defaults(&o);
    o.n_items = argc > 1 ? atoi(argv[1]) : 1000000;
    o.n_users = argc > 2 ? atoi(argv[2]) : 1000000;
    o.mean_len = argc > 3 ? atof(argv[3]) : 10;
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    if (argc > 4) snprintf(dir, sizeof dir, "%s", argv[4]);
    else snprintf(dir, sizeof dir, "%s/semid-bench-synth-%d", tmp ? tmp : "/tmp", (int)getpid());
    sd_quiet = true;
    sd_err err = {0};

    double t0 = sd_now(), c0 = cpu_s();
    sd_catalog *cat;
    sd_sequences seq;
    if (sd_synth_generate(&o, &cat, &seq, &err)) { fprintf(stderr, "bench_synth: %s\n", err.msg); return 1; }
    double t_gen = sd_now() - t0, c_gen = cpu_s() - c0;
    double rss_gen = peak_rss_mb();

    t0 = sd_now(); c0 = cpu_s();
    char *meta = sd_synth_meta(&o);
    int rc = sd_work_create(dir, cat, &seq, SD_SPLIT_LOO, o.seed, "synth", meta, &err);
    if (!rc) {
        char *p = sd_path_join(dir, "synth_users.jsonl");
        rc = sd_synth_write_users(&o, &seq, p, &err);
        free(p);
    }
    free(meta);
    if (rc) { fprintf(stderr, "bench_synth: %s\n", err.msg); return 1; }
    double t_write = sd_now() - t0, c_write = cpu_s() - c0;
    int64_t n_inter = seq.n_inter;
    char *items_p = sd_path_join(dir, "items.jsonl"), *seq_p = sd_path_join(dir, "sequences.bin");
    double mb_items = sd_file_size(items_p) / 1048576.0, mb_seq = sd_file_size(seq_p) / 1048576.0;
    free(items_p); free(seq_p);
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    double rss_write = peak_rss_mb();

    t0 = sd_now(); c0 = cpu_s();
    sd_work w;
    if (sd_work_load(&w, dir, &err)) { fprintf(stderr, "bench_synth: %s\n", err.msg); return 1; }
    double t_load = sd_now() - t0, c_load = cpu_s() - c0;
    sd_work_free(&w);
    if (argc <= 4) sd_rm_rf(dir);

    printf("synth: %d items, %d users, %lld interactions, %d threads\n", o.n_items, o.n_users, (long long)n_inter,
           sd_threads());
    printf("  generate     %7.2f s wall %7.2f s CPU  %10.0f items/s  %10.0f interactions/s (wall)  peak RSS %.0f MB\n",
           t_gen, c_gen, o.n_items / t_gen, n_inter / t_gen, rss_gen);
    printf("  write WORK   %7.2f s wall %7.2f s CPU  items.jsonl %.0f MB, sequences.bin %.0f MB  peak RSS %.0f MB\n",
           t_write, c_write, mb_items, mb_seq, rss_write);
    printf("  sd_work_load %7.2f s wall %7.2f s CPU  peak RSS (whole run) %.0f MB\n", t_load, c_load, peak_rss_mb());
    return 0;
}
