/* SASRec training and evaluation speed at the size of Amazon Video Games (31k users, 24k items,
 * ~287k interactions), paper configuration (d 50, 2 blocks, 1 head, maxlen 50, dropout 0.5,
 * batch 128, BCE, Adam lr 1e-3 betas 0.9/0.98), against the same model in PyTorch
 * (bench/bench_sasrec_torch.py: pmixer's SASRec.pytorch layout on padded [128, 50] batches),
 * run in the same process run on the same data, same number of epochs, both then evaluated on
 * the test targets with full ranking (history excluded, pessimistic ties).
 *
 * The data: users with 5 + geometric extra items (mean ~9.3, as the 5-core Games data), each
 * walking through one or two of 400 item "series" in order with 20% random items, so a
 * sequential model has something to learn and the metrics can be compared.
 * Usage: build/bench/bench_sasrec [epochs (3)] [users (31000)] [items (24000)] [threads (1)]
 *        SASREC_BENCH_NO_TORCH=1 skips PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "nn/gemm.h"
#include "eval/evaluate.h"
#include "rec/sasrec.h"
#include "bench_util.h"

/* The machine's own ceiling for data parallelism: aggregate sgemm rate of T threads each running
 * its own single-threaded 256^3 products (the shape class of SASRec's layers), in GFLOP/s. A
 * thread-scaling figure means little without it: shared cores or memory cap it below T. */
static double sgemm_aggregate(int T) {
    enum { N = 256, REPS = 60 };
    double t0 = sd_now();
#pragma omp parallel num_threads(T)
    {
        float *a = sd_afloats(N * N), *b = sd_afloats(N * N), *c = sd_afloats(N * N);
        for (int i = 0; i < N * N; i++) a[i] = b[i] = 1e-3f * (float)(i % 7);
        for (int r = 0; r < REPS; r++) sd_sgemm_nt(1, false, false, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        sd_afree(a); sd_afree(b); sd_afree(c);
    }
    return T * REPS * 2.0 * N * N * N / (sd_now() - t0) / 1e9;
}

int main(int argc, char **argv) {
    bench_start(argv);
    int epochs = argc > 1 ? atoi(argv[1]) : 3;
    int n_users = argc > 2 ? atoi(argv[2]) : 31000, n_items = argc > 3 ? atoi(argv[3]) : 24000;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    sd_quiet = true;
    sd_set_threads(threads);
    sd_rng r;
    sd_rng_seed(&r, 1);
    sd_seqbuilder *b = sd_seqbuilder_new();
    int series = 400, per = n_items / series;
    for (int u = 0; u < n_users; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        int len = 5;
        while (len < 200 && sd_rng_float(&r) < 0.81f) len++;
        int s1 = (int)sd_rng_below(&r, (uint64_t)series), s2 = (int)sd_rng_below(&r, (uint64_t)series);
        int p1 = (int)sd_rng_below(&r, (uint64_t)per), p2 = (int)sd_rng_below(&r, (uint64_t)per);
        for (int k = 0; k < len; k++) {
            int32_t item;
            if (sd_rng_float(&r) < 0.2f) item = (int32_t)(sd_rng_below(&r, (uint64_t)n_items) * sd_rng_below(&r, (uint64_t)n_items) / (uint64_t)n_items);
            else if (sd_rng_float(&r) < 0.7f) item = s1 * per + (p1++ % per);
            else item = s2 * per + (p2++ % per);
            sd_seqbuilder_add(b, name, strlen(name), item, k);
        }
    }
    sd_seq_opts so = {.seed = 1, .min_len = 3, .max_len = 0};
    sd_sequences s;
    sd_split sp;
    sd_err err = {0};
    if (sd_seqbuilder_finish(b, n_items, &so, &s, &err) || sd_split_make(&sp, &s, SD_SPLIT_LOO, 1, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sd_seqbuilder_free(b);
    printf("data: %d users, %d items, %lld interactions; %d epochs, %d thread(s)\n", s.n_users, s.n_items,
           (long long)s.n_inter, epochs, threads);

    sd_sasrec_cfg cfg = sd_sasrec_defaults();
    sd_train_opts to = sd_sasrec_train_defaults();
    to.epochs = epochs;
    to.eval_every_epochs = epochs; /* one validation at the end: the figures are the last epoch's */
    to.progress = NULL;
    sd_sasrec m;
    if (sd_sasrec_init(&m, &cfg, to.seed, s.n_items, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_fit_report rep;
    double cpu0 = (double)clock() / CLOCKS_PER_SEC;
    if (sd_sasrec_fit(&m, &to, &s, &sp, &rep, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double cpu_fit = (double)clock() / CLOCKS_PER_SEC - cpu0; /* includes the one validation */
    long steps = 0;
    for (int u = 0; u < s.n_users; u++) steps += sp.train_len[u] >= 2;
    steps = (steps + to.batch - 1) / to.batch;
    double c_epoch = rep.train_seconds / epochs;
    sd_scorer sc;
    sd_sasrec_scorer(&m, false, &sc);
    sd_eval_opts eo = sd_eval_defaults();
    eo.progress = false;
    sd_metrics mt;
    double t0 = sd_now();
    if (sd_evaluate(&sc, &s, &sp, &eo, &mt, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double c_eval = sd_now() - t0;
    printf("semid : %.2f s/epoch (%.1f ms/step, %ld steps), loss %.4f; test full ranking of %lld users in %.2f s: "
           "NDCG@10 %.4f HR@10 %.4f\n",
           c_epoch, 1000 * c_epoch / steps, steps, rep.last_loss, (long long)mt.n_users, c_eval, mt.ndcg[1], mt.hit[1]);
    printf("semid : CPU time of training + one validation: %.2f s per epoch\n", cpu_fit / epochs);
    if (threads > 1) {
        double g1 = sgemm_aggregate(1), gt = sgemm_aggregate(threads);
        printf("machine: independent sgemm per thread, 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s: ceiling %.2fx\n",
               g1, threads, gt, gt / g1);
    }
    printf("semid : per epoch forward %.2f s (attention %.2f), backward %.2f s (attention %.2f), optimizer %.2f s\n",
           rep.phase_seconds[0] / epochs, sd_seqenc_attn_seconds[0] / epochs, rep.phase_seconds[1] / epochs,
           sd_seqenc_attn_seconds[1] / epochs, rep.phase_seconds[2] / epochs);
    sd_scorer_free(&sc);
    sd_sasrec_free(&m);

    if (getenv("SASREC_BENCH_NO_TORCH")) return 0;
    /* the same sequences and split for PyTorch: "train_len test_pos item item ..." per user */
    char path[] = "/tmp/semid_bench_sasrec_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) { perror("bench_sasrec: temp file"); return 1; }
    fprintf(f, "%d %d\n", s.n_users, s.n_items);
    for (int u = 0; u < s.n_users; u++) {
        fprintf(f, "%d %d", sp.train_len[u], sp.test_pos[u]);
        for (int k = 0; k < sd_seq_len(&s, u); k++) fprintf(f, " %d", sd_seq_items(&s, u)[k]);
        fputc('\n', f);
    }
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/bench_sasrec_torch.py %s %d 2>&1", path, epochs);
    FILE *p = popen(cmd, "r");
    char line[1024];
    double t_epoch = 0, t_model = 0;
    while (p && fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        bench_check_core(line);
        sscanf(line, "TORCH_EPOCH_S %lf TORCH_MODEL_EPOCH_S %lf", &t_epoch, &t_model);
    }
    if (p) pclose(p);
    remove(path);
    if (t_epoch > 0)
        printf("speed-up per epoch: %.1fx against PyTorch's model steps alone (%.2f s), %.1fx with its sampling "
               "(%.2f s); semid %.2f s\n", t_model / c_epoch, t_model, t_epoch / c_epoch, t_epoch, c_epoch);
    sd_split_free(&sp);
    sd_sequences_free(&s);
    return 0;
}
