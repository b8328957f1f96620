/* Prefill and decode throughput of the KV-cache Qwen3 forward on a random Qwen3-0.6B-shaped model in
 * F32 (hidden 1024, 28 layers, 16 query / 8 kv heads of 128, ffn 3072, vocab 151936, tied; about
 * 2.4 GB of weights, made in memory), against the memory-bandwidth bound measured in the same run.
 *
 * Decode reads every weight once per step (the tied embedding once, as lm_head), so a step can take
 * no less than weight_bytes / read_bandwidth; with B sequences per step the bound on tokens/s is
 * B times that. Bandwidth: a read-only pass (sum) over 1 GB and a STREAM triad
 * (a = b + s c, 12 bytes per element counted), best of 3, on the same threads; the read figure is
 * measured again after prefill and the better one kept.
 *
 * Usage: bench_generate [--threads N] [--prompt T] [--new N] [--batch B] [--layers L] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "lm/generate.h"
#include "lm/kv_cache.h"
#include "bench_util.h"

static double read_bw(const float *a, size_t n) {
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = sd_now();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            /* 4 independent 8-lane sums so the loop is load-bound, not add-latency-bound */
            typedef float v8 __attribute__((vector_size(32)));
            v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
            size_t nv = n / 32;
#pragma omp for schedule(static)
            for (size_t i = 0; i < nv; i++) {
                const v8 *p = (const v8 *)(a + i * 32);
                s0 += p[0], s1 += p[1], s2 += p[2], s3 += p[3];
            }
            v8 t = s0 + s1 + s2 + s3;
            for (int j = 0; j < 8; j++) total += t[j];
        }
        double dt = sd_now() - t0;
        sink += total;
        double bw = n * sizeof(float) / dt;
        best = bw > best ? bw : best;
    }
    (void)sink;
    return best;
}

static double triad_bw(float *a, const float *b, const float *c, size_t n) {
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = sd_now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
        double dt = sd_now() - t0;
        double bw = 3.0 * n * sizeof(float) / dt;
        best = bw > best ? bw : best;
    }
    return best;
}

/* Cheap random weights: uniform with the given std from a per-chunk xorshift (normal draws over
 * 600M values would take longer than the benchmark). */
static void fill(float *w, size_t n, float std, uint64_t seed) {
    const float scale = std * 3.4641016f; /* uniform(-0.5, 0.5) has std 1/sqrt(12) */
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < (n + 65535) / 65536; c++) {
        uint64_t x = seed * 0x9e3779b97f4a7c15ULL + c * 0xbf58476d1ce4e5b9ULL + 1;
        size_t e = (c + 1) * 65536 < n ? (c + 1) * 65536 : n;
        for (size_t i = c * 65536; i < e; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w[i] = ((float)(x >> 40) * (1.0f / 16777216.0f) - 0.5f) * scale;
        }
    }
}

int main(int argc, char **argv) {
    bench_start(argv);
    int threads = 2, prompt = 128, n_new = 16, batch = 4, layers = 28;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--new")) n_new = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
    }
    sd_set_threads(threads);

    size_t nb = (size_t)1 << 28; /* 1 GB per array */
    float *a = sd_afloats(nb), *b = sd_afloats(nb), *c = sd_afloats(nb);
    fill(b, nb, 1, 1), fill(c, nb, 1, 2);
    double rbw = read_bw(b, nb), tbw = triad_bw(a, b, c, nb);
    sd_afree(a), sd_afree(c);

    sd_qwen3_config cfg = sd_qwen3_config_default();
    cfg.hidden_size = 1024, cfg.num_hidden_layers = layers, cfg.num_attention_heads = 16;
    cfg.num_key_value_heads = 8, cfg.head_dim = 128, cfg.intermediate_size = 3072, cfg.vocab_size = 151936;
    sd_qwen3 m;
    sd_err err;
    if (sd_qwen3_init(&m, &cfg, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    for (int i = 0; i < m.p.n_views; i++) {
        sd_view *v = &m.p.views[i];
        if (v->ndim == 1) for (size_t j = 0; j < v->numel; j++) m.p.data[v->offset + j] = 1.0f;
        else fill(m.p.data + v->offset, v->numel, 0.02f, (uint64_t)i + 10);
    }
    size_t n_params = sd_params_count(&m.p);
    double wbytes = 4.0 * n_params; /* the tied embedding is read once per step, as lm_head */
    printf("model: Qwen3-0.6B shape, %d layers, %.1fM parameters, %.2f GB F32; %d threads\n", layers,
           n_params / 1e6, wbytes / 1e9, threads);
    printf("memory bandwidth: read %.1f GB/s, triad %.1f GB/s\n", rbw / 1e9, tbw / 1e9);

    /* prefill: one prompt of `prompt` tokens in one step */
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * (size_t)prompt), *seq = sd_xcalloc((size_t)prompt, sizeof(int32_t));
    for (int i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919u) % 151000u);
    sd_kv_cache kv;
    if (sd_kv_cache_init(&kv, &cfg, 1, prompt + 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    float *logits = sd_xmalloc(sizeof(float) * (size_t)cfg.vocab_size * (size_t)(batch > 1 ? batch : 1));
    int32_t last = prompt - 1;
    sd_qwen3_step(&m, &kv, 8, ids, seq, 0, NULL, NULL, NULL, &err); /* warm-up: page in the weights */
    sd_kv_cache_clear(&kv);
    double t0 = sd_now();
    if (sd_qwen3_step(&m, &kv, prompt, ids, seq, 1, &last, logits, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double tp = sd_now() - t0;
    double flops = 2.0 * prompt * (n_params - (double)cfg.vocab_size * cfg.hidden_size) +
                   2.0 * cfg.vocab_size * cfg.hidden_size; /* weight matmuls; lm_head at the last token */
    printf("prefill: %d tokens in %.2f s = %.1f tok/s (%.1f GFLOP/s in weight matmuls)\n", prompt, tp, prompt / tp,
           flops / tp / 1e9);
    sd_kv_cache_free(&kv);

    /* The machine may be shared: measure the bandwidth again now and keep the better figure, so
     * the bound is not understated by a noisy first measurement. */
    double rbw2 = read_bw(b, nb);
    if (rbw2 > rbw) rbw = rbw2;
    printf("read bandwidth again: %.1f GB/s (bound below uses %.1f GB/s)\n", rbw2 / 1e9, rbw / 1e9);
    sd_afree(b);
    /* decode: generate after a short prompt, batch 1 and batch B */
    int bsizes[2] = {1, batch};
    for (int k = 0; k < (batch > 1 ? 2 : 1); k++) {
        int B = bsizes[k];
        int32_t *p[64];
        int lens[64];
        for (int s = 0; s < B && s < 64; s++) { p[s] = ids + s; lens[s] = 16; }
        sd_gen_cfg g;
        sd_gen_cfg_default(&g);
        g.max_new_tokens = n_new;
        sd_gen_out o;
        if (sd_generate(&m, (const int32_t *const *)p, lens, B, &g, &o, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double step_s = o.decode_s / (n_new - 1), tok_s = o.decode_tokens / o.decode_s;
        double bound = B * rbw / wbytes;
        printf("decode batch %d: %ld tokens in %.2f s = %.2f tok/s (%.0f ms/step); bandwidth bound %.2f tok/s "
               "(%.0f ms/step at %.1f GB/s) -> %.0f%% of bound, effective %.1f GB/s\n",
               B, o.decode_tokens, o.decode_s, tok_s, step_s * 1e3, bound, wbytes / rbw * 1e3, rbw / 1e9,
               100.0 * tok_s / bound, wbytes / step_s / 1e9);
        sd_gen_out_free(&o);
    }
    free(ids), free(seq), free(logits);
    sd_qwen3_free(&m);
    return 0;
}
