/* Qwen3 training step on the engine: a small Qwen3-shaped model (hidden 384, 6 layers, 6 query /
 * 2 kv heads of 64, SwiGLU 1024, vocabulary 8192 untied, T 256, B 8) forward + backward + AdamW,
 * every position labelled. Prints tokens/s and GFLOP/s (sd_qwen3_train_flops: matmuls, causal
 * attention, chunked head) against the sgemm rate measured between steps in the same run (the
 * ceiling), for plain and recomputed (activation-checkpointed) layers, with activation memory.
 * Usage: bench_qwen3 [steps] [threads]   (threads 0 = all cores; on a shared machine 1 thread
 * avoids OpenMP barriers waiting on descheduled threads and gives steadier figures) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "lm/qwen3.h"
#include "nn/gemm.h"
#include "nn/optim.h"
#include "bench_util.h"

enum { B = 8, T = 256 };

/* Best sgemm time at the MLP's shape [B*T, hidden] x [hidden, ffn]. */
static double sgemm_best(int M, int N, int K, int reps) { return bench_sgemm_best(M, N, K, reps); }

int main(int argc, char **argv) {
    bench_start(argv);
    int steps = argc > 1 ? atoi(argv[1]) : 3;
    if (steps < 1) steps = 1;
    sd_set_threads(argc > 2 ? atoi(argv[2]) : 0);
    sd_qwen3_config cfg = sd_qwen3_config_default();
    cfg.hidden_size = 384; cfg.num_hidden_layers = 6; cfg.num_attention_heads = 6; cfg.num_key_value_heads = 2;
    cfg.head_dim = 64; cfg.intermediate_size = 1024; cfg.vocab_size = 8192; cfg.tie_word_embeddings = false;
    sd_qwen3 m;
    sd_err err = {0};
    if (sd_qwen3_init(&m, &cfg, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_qwen3_init_random(&m, 1, 0.02f);
    sd_qwen3_alloc_train(&m);
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * B * T), *tg = sd_xmalloc(sizeof(int32_t) * B * T);
    sd_rng r;
    sd_rng_seed(&r, 2);
    for (int i = 0; i < B * T; i++) { ids[i] = (int32_t)sd_rng_below(&r, cfg.vocab_size); tg[i] = (int32_t)sd_rng_below(&r, cfg.vocab_size); }
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids, .targets = tg};
    sd_adamw opt = sd_adamw_default();
    double flops = sd_qwen3_train_flops(&cfg, B, T, B * T);
    double gemm_t = sgemm_best(B * T, cfg.intermediate_size, cfg.hidden_size, 3);
    printf("qwen3 train step: %.1fM params (hidden %d, %d layers, %d/%d heads x %d, ffn %d, vocab %d untied), "
           "B=%d T=%d, %d threads\n", sd_params_count(&m.p) / 1e6,
           cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
           cfg.intermediate_size, cfg.vocab_size, B, T, sd_threads());
    long t_step = 0;
    for (int rec = 0; rec < 2; rec++) {
        sd_qwen3_state s;
        sd_qwen3_state_init(&s, &m, B, T, true, rec);
        double best = 1e9, sum = 0, fb_best = 1e9, fb_sum = 0;
        float loss = 0;
        for (int it = 0; it <= steps; it++) {
            if (it == 1) { sd_block_profile = true; memset(sd_block_times, 0, sizeof sd_block_times); }
            sd_params_zero_grad(&m.p);
            double t0 = omp_get_wtime();
            if (sd_qwen3_forward(&m, &s, &b, &loss, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            if (sd_qwen3_backward(&m, &s, &b, 1.0f, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            double t1 = omp_get_wtime();
            sd_clip_grad_norm(&m.p, 1.0f);
            sd_adamw_step(&m.p, &opt, ++t_step, 1e-4);
            double t = omp_get_wtime() - t0;
            if (it) { /* the first step warms caches and page-faults the buffers */
                sum += t;
                if (t < best) best = t;
                if (t1 - t0 < fb_best) fb_best = t1 - t0;
                fb_sum += t1 - t0;
            }
            double g = sgemm_best(B * T, cfg.intermediate_size, cfg.hidden_size, 2);
            if (g < gemm_t) gemm_t = g;
        }
        double gemm = 2.0 * B * T * cfg.intermediate_size * cfg.hidden_size / gemm_t / 1e9;
        printf("%s: step %.1f ms best, %.1f ms mean (fwd+bwd %.1f ms) -> %.0f tokens/s, %.1f GFLOP/s "
               "(%.1f GFLOP per step) = %.0f%% of sgemm %.1f GFLOP/s; activations %.0f MB; loss %.3f\n",
               rec ? "recompute " : "plain     ", best * 1e3, sum / steps * 1e3, fb_best * 1e3, B * T / best,
               flops / best / 1e9, flops / 1e9, 100.0 * flops / best / 1e9 / gemm, gemm,
               sd_qwen3_state_bytes(&cfg, B, T, true, rec) / 1e6, loss);
        double blk[2] = {0, 0};
        for (int k = 0; k < SD_PROF_N; k++) { blk[0] += sd_block_times[0][k]; blk[1] += sd_block_times[1][k]; }
        printf("  per step (mean, ms): layers fwd %.1f bwd %.1f (matmuls %.1f/%.1f, attention %.1f/%.1f, "
               "norms+act+resid %.1f/%.1f)%s; outside the layers (embedding, final norm, chunked head + loss) "
               "fwd+bwd %.1f; clip+AdamW %.1f\n",
               blk[0] * 1e3 / steps, blk[1] * 1e3 / steps,
               (sd_block_times[0][SD_PROF_QKV] + sd_block_times[0][SD_PROF_OPROJ] + sd_block_times[0][SD_PROF_MLP_MM]) * 1e3 / steps,
               (sd_block_times[1][SD_PROF_QKV] + sd_block_times[1][SD_PROF_OPROJ] + sd_block_times[1][SD_PROF_MLP_MM]) * 1e3 / steps,
               sd_block_times[0][SD_PROF_ATTN] * 1e3 / steps, sd_block_times[1][SD_PROF_ATTN] * 1e3 / steps,
               (sd_block_times[0][SD_PROF_NORM] + sd_block_times[0][SD_PROF_ACT] + sd_block_times[0][SD_PROF_RESID]) * 1e3 / steps,
               (sd_block_times[1][SD_PROF_NORM] + sd_block_times[1][SD_PROF_ACT] + sd_block_times[1][SD_PROF_RESID]) * 1e3 / steps,
               rec ? " (fwd includes the recomputation)" : "", (fb_sum - blk[0] - blk[1]) * 1e3 / steps, (sum - fb_sum) * 1e3 / steps);
        sd_block_profile = false;
        sd_qwen3_state_free(&s);
    }
    printf("0.6B-shaped activations at B=8 T=512: %.2f GB plain, %.2f GB with recompute\n",
           sd_qwen3_state_bytes(&(sd_qwen3_config){.hidden_size = 1024, .num_hidden_layers = 28,
                                                   .num_attention_heads = 16, .num_key_value_heads = 8, .head_dim = 128,
                                                   .intermediate_size = 3072, .vocab_size = 151936}, 8, 512, true, false) / 1e9,
           sd_qwen3_state_bytes(&(sd_qwen3_config){.hidden_size = 1024, .num_hidden_layers = 28,
                                                   .num_attention_heads = 16, .num_key_value_heads = 8, .head_dim = 128,
                                                   .intermediate_size = 3072, .vocab_size = 151936}, 8, 512, true, true) / 1e9);
    free(ids); free(tg);
    sd_qwen3_free(&m);
    return 0;
}
