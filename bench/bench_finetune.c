/* Fine-tuning speed of the Qwen3 engine against PyTorch, in one run:
 *  - the sgemm ceiling at each model's MLP shape ([B*T, hidden] x [hidden, ffn]) on 1 and 2 threads;
 *  - "tiny" and "small" presets, vocabulary 5,123 (4,096 BPE + 1,027 SID tokens), B 16 x T 256,
 *    half the positions labelled (assistant-only loss: in each 64-token turn the last 32 are
 *    labelled): a full training step (zero grad, forward, backward, clip 1.0, AdamW) on 1 and 2
 *    threads, tokens/s and GFLOP/s (sd_qwen3_train_flops), the same model and step in PyTorch
 *    (bench/bench_finetune_torch.py: same config, shapes and labels, torch.optim.AdamW, its faster
 *    of 1 and 2 threads) and the ratio of the faster semid setting to the faster PyTorch one;
 *  - "qwen3-0.6b" (random weights, vocabulary 151,936 + 1,027, 2 threads, B 1 x T 256): stage 1
 *    (embedding rows of the new tokens only: train_embeddings_only + set_trainable_rows) and stage 2
 *    (all weights, recomputed layers) tokens/s and memory: peak RSS (VmHWM) against the prediction
 *    sd_qwen3_state_bytes + 16 bytes per parameter (weights, gradients, two AdamW moments).
 * Usage: bench_finetune [steps (3)]   SEMID_BENCH_TORCH=0 skips PyTorch, SEMID_BENCH_06B=0 the 0.6B part.
 * The first step of each setting warms caches and page-faults buffers and is not timed; the best
 * of the timed steps is reported (the machine is shared). */
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

enum { BPE = 4096, SIDS = 1027, QWEN_VOCAB = 151936, B_SMALL = 16, T_SMALL = 256, B_06 = 1, T_06 = 256 };

static bool env_off(const char *name) {
    const char *s = getenv(name);
    return s && !strcmp(s, "0");
}

/* Best sgemm rate (GFLOP/s) of C [M, N] = A [M, K] B^T on the calling thread's thread count. */
static double sgemm_gflops(int M, int N, int K, int reps) {
    return 2.0 * M * N * K / bench_sgemm_best(M, N, K, reps) / 1e9;
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* Random ids; targets the next id, labelled on the last 32 of every 64 positions (or all, full). */
static void make_batch(int32_t *ids, int32_t *tg, int B, int T, int V, uint64_t seed, int *n_lab) {
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)sd_rng_below(&r, (uint64_t)V);
    *n_lab = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            bool lab = t % 64 >= 32 && t + 1 < T;
            tg[i] = lab ? ids[i + 1] : SD_QWEN3_IGNORE;
            *n_lab += lab;
        }
}

typedef struct step_times { double best, fb_best, mean, outside_fb; double prof[2][SD_PROF_N]; } step_times;

/* steps timed training steps after one warm-up: zero grad, forward, backward, clip, AdamW. */
static int time_steps(sd_qwen3 *m, sd_qwen3_state *s, const sd_qwen3_batch *b, int steps, long *t_step,
                      step_times *st, float *loss) {
    sd_adamw opt = sd_adamw_default();
    sd_err err = {0};
    memset(st, 0, sizeof *st);
    st->best = st->fb_best = 1e9;
    double sum = 0, fb_sum = 0;
    for (int it = 0; it <= steps; it++) {
        if (it == 1) { sd_block_profile = true; memset(sd_block_times, 0, sizeof sd_block_times); }
        double t0 = omp_get_wtime();
        sd_params_zero_grad(&m->p);
        double ta = omp_get_wtime();
        if (sd_qwen3_forward(m, s, b, loss, &err) || sd_qwen3_backward(m, s, b, 1.0f, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = omp_get_wtime();
        sd_clip_grad_norm(&m->p, 1.0f);
        sd_adamw_step(&m->p, &opt, ++*t_step, 1e-4);
        double t = omp_get_wtime() - t0;
        if (it) {
            sum += t;
            fb_sum += t1 - ta;
            if (t < st->best) st->best = t;
            if (t1 - ta < st->fb_best) st->fb_best = t1 - ta;
        }
    }
    sd_block_profile = false;
    double layers = 0;
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < SD_PROF_N; k++) { st->prof[d][k] = sd_block_times[d][k] / steps; layers += st->prof[d][k]; }
    st->mean = sum / steps;
    st->outside_fb = fb_sum / steps - layers; /* embedding, final norm, head + loss */
    return 0;
}

static void print_profile(const step_times *st) {
    double l[2] = {0, 0};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < SD_PROF_N; k++) l[d] += st->prof[d][k];
    printf("    per step (ms, mean, fwd/bwd): layers %.1f/%.1f [", l[0] * 1e3, l[1] * 1e3);
    for (int k = 0; k < SD_PROF_N; k++)
        printf("%s%s %.1f/%.1f", k ? ", " : "", sd_block_prof_names[k], st->prof[0][k] * 1e3, st->prof[1][k] * 1e3);
    printf("]; outside the layers (embedding, final norm, head + loss) %.1f; zero grad + clip + AdamW %.1f\n",
           st->outside_fb * 1e3, (st->mean - l[0] - l[1] - st->outside_fb) * 1e3);
}

/* PyTorch's tokens/s for a config (0 when skipped or failed); *threads gets its faster setting. */
static double torch_tokens(const sd_qwen3_config *c, int B, int T, int steps, int *threads) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 bench/bench_finetune_torch.py %d %d %d %d %d %d %d %d %d %d 2>&1",
             c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, c->head_dim,
             c->intermediate_size, c->vocab_size, B, T, steps);
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    char line[512];
    double tps = 0;
    *threads = 0;
    while (fgets(line, sizeof line, f)) {
        bench_check_core(line);
        double ms;
        int th;
        if (sscanf(line, "TORCH_STEP_MS %lf THREADS %d", &ms, &th) == 2)
            printf("    pytorch 1.13, %d thread%s: step %.1f ms -> %.0f tokens/s\n", th, th > 1 ? "s" : "", ms,
                   B * T / (ms / 1e3));
        else if (sscanf(line, "TORCH_BEST_TOKENS %lf THREADS %d", &tps, threads) == 2) {
        } else if (strncmp(line, "TORCH_BLAS_CORE", 15)) fputs(line, stdout); /* errors */
    }
    pclose(f);
    return tps;
}

typedef struct row { const char *name; double params, ceil[2], tps[2], gflops[2], torch_tps; int torch_th; } row;

static int bench_preset(const char *name, int steps, bool torch, long *t_step, row *out) {
    sd_qwen3_config cfg;
    sd_err err = {0};
    if (sd_qwen3_preset(&cfg, name, BPE + SIDS, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_qwen3 m;
    if (sd_qwen3_init(&m, &cfg, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_qwen3_init_random(&m, 1, 0.02f);
    sd_qwen3_alloc_train(&m);
    int B = B_SMALL, T = T_SMALL, n_lab;
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * B * T), *tg = sd_xmalloc(sizeof(int32_t) * B * T);
    make_batch(ids, tg, B, T, cfg.vocab_size, 7, &n_lab);
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids, .targets = tg};
    double flops = sd_qwen3_train_flops(&cfg, B, T, n_lab);
    memset(out, 0, sizeof *out);
    out->name = name;
    out->params = (double)sd_params_count(&m.p);
    printf("%s: %.2fM params (hidden %d, %d layers, %d/%d heads x %d, ffn %d, vocab %d tied), B %d x T %d, "
           "%d labelled (%.0f%%), %.1f GFLOP per step\n", name, out->params / 1e6, cfg.hidden_size,
           cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
           cfg.intermediate_size, cfg.vocab_size, B, T, n_lab, 100.0 * n_lab / (B * T), flops / 1e9);
    for (int th = 1; th <= 2; th++) {
        sd_set_threads(th);
        out->ceil[th - 1] = sgemm_gflops(B * T, cfg.intermediate_size, cfg.hidden_size, 5);
        sd_qwen3_state s;
        sd_qwen3_state_init(&s, &m, B, T, true, false);
        step_times st;
        float loss;
        if (time_steps(&m, &s, &b, steps, t_step, &st, &loss)) return 1;
        double g = sgemm_gflops(B * T, cfg.intermediate_size, cfg.hidden_size, 3);
        if (g > out->ceil[th - 1]) out->ceil[th - 1] = g;
        out->tps[th - 1] = B * T / st.best;
        out->gflops[th - 1] = flops / st.best / 1e9;
        printf("  semid %d thread%s: step %.1f ms best, %.1f ms mean (fwd+bwd %.1f) -> %.0f tokens/s, %.1f GFLOP/s "
               "= %.0f%% of sgemm %.1f GFLOP/s; loss %.3f\n", th, th > 1 ? "s" : " ", st.best * 1e3, st.mean * 1e3,
               st.fb_best * 1e3, out->tps[th - 1], out->gflops[th - 1], 100.0 * out->gflops[th - 1] / out->ceil[th - 1],
               out->ceil[th - 1], loss);
        print_profile(&st);
        fflush(stdout);
        sd_qwen3_state_free(&s);
    }
    if (torch) out->torch_tps = torch_tokens(&cfg, B, T, steps, &out->torch_th);
    free(ids); free(tg);
    sd_qwen3_free(&m);
    return 0;
}

static int bench_06b(int steps, long *t_step) {
    sd_qwen3_config cfg;
    sd_err err = {0};
    if (sd_qwen3_preset(&cfg, "qwen3-0.6b", QWEN_VOCAB + SIDS, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_set_threads(2);
    int B = B_06, T = T_06, n_lab;
    double ceil = sgemm_gflops(B * T, cfg.intermediate_size, cfg.hidden_size, 5);
    sd_qwen3 m;
    double t0 = omp_get_wtime();
    if (sd_qwen3_init(&m, &cfg, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    sd_qwen3_init_random(&m, 1, 0.02f);
    sd_qwen3_alloc_train(&m);
    double P = (double)sd_params_count(&m.p);
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * B * T), *tg = sd_xmalloc(sizeof(int32_t) * B * T);
    make_batch(ids, tg, B, T, cfg.vocab_size, 9, &n_lab);
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids, .targets = tg};
    printf("qwen3-0.6b: %.1fM params (vocab %d tied), B %d x T %d, %d labelled, 2 threads, sgemm at its MLP shape "
           "%.1f GFLOP/s; init %.1f s\n", P / 1e6, cfg.vocab_size, B, T, n_lab, ceil, omp_get_wtime() - t0);
    double tps[2], flops[2], hwm[2], pred[2];
    for (int stage = 1; stage <= 2; stage++) {
        bool rec = stage == 2;
        if (stage == 1) {
            sd_qwen3_train_embeddings_only(&m);
            sd_qwen3_set_trainable_rows(&m, QWEN_VOCAB, QWEN_VOCAB + SIDS);
        } else {
            sd_qwen3_train_all(&m);
            sd_qwen3_set_trainable_rows(&m, 0, 0);
        }
        sd_qwen3_state s;
        sd_qwen3_state_init(&s, &m, B, T, true, rec);
        step_times st;
        float loss;
        if (time_steps(&m, &s, &b, steps, t_step, &st, &loss)) return 1;
        tps[stage - 1] = B * T / st.best;
        /* (stage 1 does no weight products of the frozen body: sd_qwen3_train_flops counts them) */
        flops[stage - 1] = sd_qwen3_train_flops(&cfg, B, T, n_lab) / st.best / 1e9;
        hwm[stage - 1] = vm_hwm_kb() * 1024.0;
        pred[stage - 1] = (double)sd_qwen3_state_bytes(&cfg, B, T, true, rec) + 16.0 * P;
        printf("  stage %d (%s): step %.0f ms best, %.0f ms mean (fwd+bwd %.0f) -> %.1f tokens/s", stage,
               rec ? "all weights, recomputed layers" : "new embedding rows only, plain", st.best * 1e3, st.mean * 1e3,
               st.fb_best * 1e3, tps[stage - 1]);
        if (rec) printf(", %.1f GFLOP/s", flops[stage - 1]);
        printf("; loss %.3f; peak RSS so far %.2f GB, predicted %.2f GB (state %.2f GB + 16 B x params)\n", loss,
               hwm[stage - 1] / 1e9, pred[stage - 1] / 1e9, sd_qwen3_state_bytes(&cfg, B, T, true, rec) / 1e9);
        print_profile(&st);
        fflush(stdout);
        sd_qwen3_state_free(&s);
    }
    printf("\n0.6B summary: stage 1 %.1f tokens/s, stage 2 %.1f tokens/s (%.1f GFLOP/s); peak RSS %.2f GB, "
           "predicted %.2f GB (the larger stage's state + 16 B x %.0fM params)\n", tps[0], tps[1], flops[1], hwm[1] / 1e9,
           (pred[0] > pred[1] ? pred[0] : pred[1]) / 1e9, P / 1e6);
    free(ids); free(tg);
    sd_qwen3_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    bench_start(argv);
    int steps = argc > 1 ? atoi(argv[1]) : 3;
    if (steps < 1) steps = 1;
    bool torch = !env_off("SEMID_BENCH_TORCH"), big = !env_off("SEMID_BENCH_06B");
    long t_step = 0;
    row rows[2];
    const char *names[2] = {"tiny", "small"};
    for (int i = 0; i < 2; i++)
        if (bench_preset(names[i], steps, torch, &t_step, &rows[i])) return 1;
    printf("\n%-6s %8s | %17s | %19s | %17s | %18s | %6s\n", "preset", "params", "sgemm GFLOP/s 1/2",
           "semid tokens/s 1/2", "semid GFLOP/s 1/2", "pytorch tokens/s", "ratio");
    for (int i = 0; i < 2; i++) {
        const row *r = &rows[i];
        double best = r->tps[0] > r->tps[1] ? r->tps[0] : r->tps[1];
        char tt[32] = "-", ratio[16] = "-";
        if (r->torch_tps > 0) {
            snprintf(tt, sizeof tt, "%.0f (%d th)", r->torch_tps, r->torch_th);
            snprintf(ratio, sizeof ratio, "%.2fx", best / r->torch_tps);
        }
        printf("%-6s %7.2fM | %8.1f %8.1f | %9.0f %9.0f | %8.1f %8.1f | %18s | %6s\n", r->name, r->params / 1e6,
               r->ceil[0], r->ceil[1], r->tps[0], r->tps[1], r->gflops[0], r->gflops[1], tt, ratio);
    }
    printf("(ratio: semid's faster thread setting over PyTorch's faster one)\n\n");
    fflush(stdout);
    if (big && bench_06b(steps < 2 ? steps : 2, &t_step)) return 1;
    return 0;
}
