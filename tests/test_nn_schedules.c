/* The decoding schedule's kernels against the training ones they stand in for:
 *  - sd_sgemm's small-row kernel (few rows of A against a large B^T, as in decoding) against a
 *    float64 product, over the edges it has (odd K, a last block of fewer than 4 columns, strides,
 *    beta 0 and 1), and sd_sgemm_multi against one sd_sgemm per output, bit for bit;
 *  - sd_attention_cached_forward over a cache against sd_attention_forward (causal, grouped
 *    query heads) on the same q, k, v. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn_ref.h"

static float *randn(size_t n, uint64_t seed) {
    float *x = malloc(n * sizeof(float));
    sd_rng r;
    sd_rng_stream(&r, seed, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)sd_rng_normal(&r);
    return x;
}

Test(nn_schedules, small_row_sgemm_matches_float64) {
    const int K = 517, N = 2031, lda = K + 3, ldb = K + 1, ldc = N + 5; /* N * K >= SD_SGEMM_THIN_B */
    cr_assert(sd_sgemm_thin_shape(1, N, K) && sd_sgemm_thin_shape(SD_SGEMM_THIN_M, N, K));
    cr_assert(!sd_sgemm_thin_shape(SD_SGEMM_THIN_M + 1, N, K) && !sd_sgemm_thin_shape(4, N, 64));
    float *A = randn((size_t)SD_SGEMM_THIN_M * lda, 1), *B = randn((size_t)N * ldb, 2);
    float *C = malloc(sizeof(float) * SD_SGEMM_THIN_M * ldc), *want = malloc(sizeof(float) * SD_SGEMM_THIN_M * N);
    float *got = malloc(sizeof(float) * SD_SGEMM_THIN_M * N);
    int Ms[] = {1, 2, 3, SD_SGEMM_THIN_M};
    for (int mi = 0; mi < 4; mi++)
        for (int beta = 0; beta <= 1; beta++) {
            int M = Ms[mi];
            for (int i = 0; i < M * ldc; i++) C[i] = beta ? 0.25f * (float)(i % 7) : NAN; /* beta 0 must not read C */
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = beta ? C[(size_t)i * ldc + j] : 0;
                    for (int k = 0; k < K; k++) s += (double)A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
                    want[(size_t)i * N + j] = (float)s;
                }
            sd_sgemm(false, true, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
            for (int i = 0; i < M; i++) memcpy(got + (size_t)i * N, C + (size_t)i * ldc, sizeof(float) * N);
            char what[48];
            snprintf(what, sizeof what, "M %d beta %d", M, beta);
            check_close(what, got, want, (size_t)M * N, 1e-4, 1e-5);
        }
    free(A), free(B), free(C), free(want), free(got);
}

static void multi_case(int M, int K, const int *Ns, int n) {
    float *A = randn((size_t)M * K, 3);
    float *Bs[4], *Cm[4], *Cs[4];
    sd_sgemm_out outs[4];
    for (int i = 0; i < n; i++) {
        Bs[i] = randn((size_t)Ns[i] * K, 10 + i);
        Cm[i] = randn((size_t)M * Ns[i], 20 + i);
        Cs[i] = malloc(sizeof(float) * M * Ns[i]);
        memcpy(Cs[i], Cm[i], sizeof(float) * M * Ns[i]);
        outs[i] = (sd_sgemm_out){.C = Cm[i], .ldc = Ns[i], .B = Bs[i], .ldb = K, .N = Ns[i], .beta = (float)(i & 1)};
    }
    sd_sgemm_multi(M, K, A, K, outs, n);
    for (int i = 0; i < n; i++) {
        sd_sgemm(false, true, M, Ns[i], K, 1.0f, A, K, Bs[i], K, (float)(i & 1), Cs[i], Ns[i]);
        cr_assert(!memcmp(Cm[i], Cs[i], sizeof(float) * M * Ns[i]), "M %d K %d output %d differs", M, K, i);
        free(Bs[i]), free(Cm[i]), free(Cs[i]);
    }
    free(A);
}

Test(nn_schedules, multi_equals_separate_products) {
    int big[3] = {2048, 1030, 1030}, small[2] = {24, 40};
    multi_case(3, 1024, big, 3);  /* the small-row kernel, one parallel loop */
    multi_case(12, 1024, big, 3); /* too many rows: sgemm per output */
    multi_case(2, 16, small, 2);  /* too small a B: sgemm per output */
}

Test(nn_schedules, cached_attention_matches_full) {
    const int T = 13, H = 4, KV = 2, hd = 16, cap = 20, B = 2;
    float *q = randn((size_t)B * T * H * hd, 4), *k = randn((size_t)B * T * KV * hd, 5);
    float *v = randn((size_t)B * T * KV * hd, 6);
    sd_attn_cfg ac = {.B = B, .T = T, .H = H, .KV = KV, .hd = hd, .causal = true};
    sd_attn_state st;
    sd_attn_state_init(&st, &ac);
    float *full = malloc(sizeof(float) * B * T * H * hd), *cached = malloc(sizeof(float) * B * T * H * hd);
    sd_attention_forward(full, &st, q, k, v, &ac);
    /* the cache as kv_cache lays it out: [B, KV, cap, hd]; sequence 1's tokens come first in the
     * list, sequence 0's in two steps */
    size_t head = (size_t)cap * hd;
    float *kc = calloc((size_t)B * KV * head, sizeof(float)), *vc = calloc((size_t)B * KV * head, sizeof(float));
    float *scratch = malloc(sizeof(float) * (size_t)omp_get_max_threads() * cap);
    sd_attn_cache cache = {.k = kc, .v = vc, .seq_stride = KV * head, .head_stride = head, .cap = cap};
    int32_t seq[2 * 13], pos[2 * 13];
    int order[3][2] = {{1, 0}, {0, 0}, {0, 6}}; /* (sequence, first position): seq 1 whole, seq 0 as 0..5, 6..12 */
    for (int o = 0; o < 3; o++) {
        int b = order[o][0], p0 = order[o][1], p1 = b == 1 || p0 == 6 ? T : 6, n = p1 - p0;
        for (int i = 0; i < n; i++) seq[i] = b, pos[i] = p0 + i;
        size_t r = (size_t)b * T + p0;
        sd_attn_cache_append(&cache, k + r * KV * hd, v + r * KV * hd, n, seq, pos, KV, hd);
        sd_attention_cached_forward(cached + r * H * hd, q + r * H * hd, n, seq, pos, H, KV, hd, &cache, scratch);
    }
    check_close("cached vs full attention", cached, full, (size_t)B * T * H * hd, 1e-5, 1e-5);
    sd_attn_state_free(&st);
    free(q), free(k), free(v), free(full), free(cached), free(kc), free(vc), free(scratch);
}
