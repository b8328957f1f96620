/* Benchmark of `semid prep --format amazon2023` at Amazon scale: generates a deterministic
 * metadata JSONL (default 1M items) and benchmark CSV with history (default 10M rows) under
 * $TMPDIR (reused when present), runs prep as a child, and reports throughput, peak RSS and the
 * time to load the resulting work directory. Sizes: BENCH_PREP_ITEMS, BENCH_PREP_INTER. */
#include "base/file.h"
#include "base/log.h"
#include "base/rng.h"
#include "data/workdir.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench_util.h"

static void make_asin(char *out, int64_t i) { snprintf(out, 16, "B%09lld", (long long)(i * 7919 % 1000000007LL)); }

static const char *const k_words[] = {"wireless", "controller", "edition", "deluxe", "bundle", "remastered", "pro",
                                      "racing", "adventure", "legend", "ultimate", "collection", "headset", "gaming",
                                      "keyboard", "console", "limited", "classic", "digital", "charging", "station",
                                      "&amp;", "&ndash;", "&trade;", "<br>", "caf&eacute;", "world&rsquo;s"};
#define NW (sizeof k_words / sizeof *k_words)

static void words(FILE *f, sd_rng *r, int n) {
    for (int i = 0; i < n; i++) {
        if (i) fputc(' ', f);
        fputs(k_words[sd_rng_below(r, NW)], f);
    }
}

static void gen_meta(const char *path, int64_t n) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    sd_rng r;
    sd_rng_seed(&r, 1);
    char id[16];
    for (int64_t i = 0; i < n; i++) {
        make_asin(id, i);
        fputs("{\"main_category\": \"Video Games\", \"title\": \"", f);
        words(f, &r, 2 + (int)sd_rng_below(&r, 8)); /* some titles stay <= 20 chars: filtered */
        fprintf(f, "\", \"average_rating\": %.1f, \"rating_number\": %d, \"features\": [\"", 1 + sd_rng_float(&r) * 4,
                (int)sd_rng_below(&r, 5000));
        words(f, &r, 6);
        fputs("\", \"", f);
        words(f, &r, 5);
        fputs("\"], \"description\": [\"", f);
        words(f, &r, 5 + (int)sd_rng_below(&r, 25));
        fputs("\", \"", f);
        words(f, &r, (int)sd_rng_below(&r, 20));
        fputs("\"], \"price\": ", f);
        int pk = (int)sd_rng_below(&r, 3);
        if (pk == 0) fprintf(f, "%.2f", 5 + sd_rng_float(&r) * 60);
        else if (pk == 1) fputs("null", f);
        else fprintf(f, "\"$%.2f\"", 5 + sd_rng_float(&r) * 60);
        fputs(", \"images\": [{\"thumb\": \"https://m.media-amazon.com/images/I/41abc._SS40_.jpg\"}], \"videos\": [], "
              "\"store\": \"", f);
        words(f, &r, 1);
        fputs("\", \"categories\": [\"Video Games\", \"PC\", \"Accessories\"], \"details\": {\"Platform\": \"PC\", "
              "\"Item Weight\": \"2.4 ounces\", \"Release date\": \"March 3, 2017\"}, \"parent_asin\": \"", f);
        fprintf(f, "%s\", \"bought_together\": null}\n", id);
    }
    fclose(f);
}

/* Rows grouped by user, chronological, each with the full history so far (capped at 50 like
 * the published files' practical lengths); item popularity is skewed. */
static void gen_inter(const char *path, int64_t n_items, int64_t n_rows) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fputs("user_id,parent_asin,rating,timestamp,history\n", f);
    sd_rng r;
    sd_rng_seed(&r, 2);
    char hist[64][16];
    int64_t done = 0, user = 0;
    while (done < n_rows) {
        int len = 1 + (int)(-log(1 - sd_rng_double(&r)) * 7);
        if (len > 300) len = 300;
        if (len > n_rows - done) len = (int)(n_rows - done);
        int64_t ts = 1400000000000LL + (int64_t)sd_rng_below(&r, 200000000000ULL);
        int nh = 0;
        for (int k = 0; k < len; k++) {
            int64_t it = (int64_t)(n_items * pow(sd_rng_double(&r), 2.5));
            char a[16];
            make_asin(a, it);
            ts += 1000 + (int64_t)sd_rng_below(&r, 1000000000ULL);
            fprintf(f, "AGX%025lld,%s,%d.0,%lld,", (long long)user, a, 1 + (int)sd_rng_below(&r, 5), (long long)ts);
            int start = nh > 50 ? nh - 50 : 0;
            for (int h = start; h < nh; h++) {
                if (h > start) fputc(' ', f);
                fputs(hist[h % 64], f);
            }
            fputc('\n', f);
            memcpy(hist[nh % 64], a, 16);
            nh++;
        }
        done += len;
        user++;
    }
    fclose(f);
}

static int64_t env_i64(const char *name, int64_t def) {
    const char *s = getenv(name);
    return s && *s ? atoll(s) : def;
}

int main(int argc, char **argv) {
    bench_start(argv);
    (void)argc;
    int64_t n_items = env_i64("BENCH_PREP_ITEMS", 1000000), n_inter = env_i64("BENCH_PREP_INTER", 10000000);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *bin = getenv("SEMID_BIN") ? getenv("SEMID_BIN") : "./semid";
    char dir[512], meta[600], inter[600], work[600];
    snprintf(dir, sizeof dir, "%s/semid-bench-prep-%lld-%lld", tmp, (long long)n_items, (long long)n_inter);
    snprintf(meta, sizeof meta, "%s/meta.jsonl", dir);
    snprintf(inter, sizeof inter, "%s/inter.csv", dir);
    snprintf(work, sizeof work, "%s/work", dir);
    mkdir(dir, 0755);
    double t = sd_now();
    if (!sd_exists(meta)) gen_meta(meta, n_items);
    if (!sd_exists(inter)) gen_inter(inter, n_items, n_inter);
    double t_gen = sd_now() - t;
    int64_t in_bytes = sd_file_size(meta) + sd_file_size(inter);
    printf("input: %lld items (%.0f MB), %lld interaction rows (%.0f MB) in %s (generated in %.1f s)\n",
           (long long)n_items, sd_file_size(meta) / 1e6, (long long)n_inter, sd_file_size(inter) / 1e6, dir, t_gen);
    fflush(stdout);

    t = sd_now();
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "prep", "--format", "amazon2023", "--items", meta, "--interactions", inter, "-o", work, "--quiet",
              (char *)NULL);
        perror(bin);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double secs = sd_now() - t;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "prep failed (status %d)\n", status); return 1; }
    printf("prep: %.2f s wall (%.2f user + %.2f sys), peak RSS %.0f MB\n", secs,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6,
           ru.ru_maxrss / 1024.0);
    printf("      %.0f items/s, %.0f interaction rows/s, %.1f MB/s of input\n", n_items / secs, n_inter / secs,
           in_bytes / 1e6 / secs);
    sd_work w;
    sd_err err = {0};
    t = sd_now();
    if (sd_work_load(&w, work, &err)) { fprintf(stderr, "load: %s\n", err.msg); return 1; }
    double tl = sd_now() - t;
    printf("work: %d items, %d users, %lld interactions; sd_work_load %.2f s\n", w.cat->n_items, w.seq.n_users,
           (long long)w.seq.n_inter, tl);
    printf("goal: 10M interactions under 60 s and 4 GB: %s\n",
           secs < 60 && ru.ru_maxrss < 4 * 1024 * 1024 ? "met" : "NOT met");
    sd_work_free(&w);
    return 0;
}
