/* One pre-LN transformer block (SASRec shape: LayerNorm, causal 8-head attention with biases,
 * ReLU MLP) forward + backward at B=16, T=256, d=512, ffn 2048. Prints time, GFLOP/s, the
 * sgemm rate measured in the same run (the ceiling) and the per-op breakdown, then runs
 * bench/bench_block_torch.py (PyTorch, same block) and prints the speed ratio.
 * Usage: bench_block [iters]   (SEMID_BENCH_TORCH=0 skips PyTorch) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "nn/block.h"
#include "nn/gemm.h"
#include "bench_util.h"

enum { B = 16, T = 256, C = 512, H = 8, HD = 64, FF = 2048 };

/* Best sgemm time at the MLP's shape ([B*T, d] x [d, ffn]), where the block spends most of its
 * time; called between block iterations so both see the same machine load. */
static double sgemm_best(int reps) { return bench_sgemm_best(B * T, FF, C, reps); }

static double torch_ms(void) {
    const char *skip = getenv("SEMID_BENCH_TORCH");
    if (skip && !strcmp(skip, "0")) return 0;
    FILE *f = popen("/usr/bin/python3 bench/bench_block_torch.py 3 2>&1", "r");
    if (!f) return 0;
    char line[512];
    double ms = 0;
    int threads = 0;
    while (fgets(line, sizeof line, f)) {
        bench_check_core(line);
        if (sscanf(line, "TORCH_MS %lf THREADS %d", &ms, &threads) == 2)
            printf("pytorch 1.13 (%d thread%s): %.1f ms\n", threads, threads > 1 ? "s" : "", ms);
    }
    pclose(f);
    return ms;
}

int main(int argc, char **argv) {
    bench_start(argv);
    int iters = argc > 1 ? atoi(argv[1]) : 3;
    sd_set_threads(0);
    sd_block_cfg cfg = {.C = C, .H = H, .KV = H, .hd = HD, .F = FF, .rmsnorm = false, .norm_eps = 1e-8f,
                        .bias = true, .causal = true};
    sd_params p;
    sd_params_init(&p);
    sd_block blk;
    sd_block_declare(&blk, &p, "", &cfg);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    for (size_t i = 0; i < p.n; i++) p.data[i] = (float)sd_rng_normal(&rng) * 0.04f;
    for (int v = 0; v < p.n_views; v++)
        if (strstr(p.views[v].name, "layernorm.weight"))
            for (size_t i = 0; i < p.views[v].numel; i++) sd_params_ptr(&p, v)[i] = 1.0f;
    size_t NC = (size_t)B * T * C;
    float *x = sd_afloats(NC), *y = sd_afloats(NC), *dx = sd_afloats(NC), *dy = sd_afloats(NC);
    for (size_t i = 0; i < NC; i++) { x[i] = (float)sd_rng_normal(&rng); dy[i] = (float)sd_rng_normal(&rng); }
    sd_block_acts acts;
    sd_block_scratch scr;
    sd_block_acts_init(&acts, &cfg, B, T);
    sd_block_scratch_init(&scr, &cfg, B, T);

    double gemm_t = sgemm_best(3);
    double fwd_flops = 2.0 * B * T * (4.0 * C * C + 2.0 * C * FF) + 2.0 * 2.0 * B * H * (double)T * T * HD;
    double flops = 3 * fwd_flops; /* backward = 2 x forward */
    double best = 1e9;
    for (int it = 0; it <= iters; it++) {
        if (it == 1) { sd_block_profile = true; memset(sd_block_times, 0, sizeof sd_block_times); }
        memset(dx, 0, NC * sizeof(float));
        sd_params_zero_grad(&p);
        double t0 = omp_get_wtime();
        sd_block_forward(&blk, &p, &acts, y, x, NULL, NULL);
        sd_block_backward(&blk, &p, &acts, &scr, dx, dy, x);
        double t = omp_get_wtime() - t0;
        if (it && t < best) best = t;
        double g = sgemm_best(3);
        if (g < gemm_t) gemm_t = g;
    }
    double gemm = 2.0 * B * T * FF * C / gemm_t / 1e9;
    printf("block fwd+bwd B=%d T=%d d=%d heads=%d ffn=%d, %d threads\n", B, T, C, H, FF, sd_threads());
    printf("semid: %.1f ms  %.1f GFLOP/s (%.1f GFLOP counted: matmuls incl. full T x T attention)\n",
           best * 1e3, flops / best / 1e9, flops / 1e9);
    printf("sgemm %dx%dx%d: %.1f GFLOP/s -> block at %.0f%% of sgemm rate\n", B * T, FF, C, gemm,
           100.0 * flops / best / 1e9 / gemm);
    printf("per-op time (mean over %d iters, ms):   forward  backward\n", iters);
    for (int k = 0; k < SD_PROF_N; k++)
        printf("  %-14s %8.1f %8.1f\n", sd_block_prof_names[k], sd_block_times[0][k] * 1e3 / iters,
               sd_block_times[1][k] * 1e3 / iters);
    fflush(stdout);
    double tm = torch_ms();
    if (tm > 0) printf("speedup vs pytorch: %.2fx\n", tm / (best * 1e3));
    sd_block_acts_free(&acts);
    sd_block_scratch_free(&scr);
    sd_params_free(&p);
    sd_afree(x); sd_afree(y); sd_afree(dx); sd_afree(dy);
    return 0;
}
