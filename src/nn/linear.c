#include <string.h>
#include "nn/gemm.h"
#include "nn/ops.h"
#include <omp.h>

void sd_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in, int out) {
    if (b) {
        /* Bias first, then sgemm with beta = 1: one pass over y instead of two. */
#pragma omp parallel for schedule(static) if ((long)N * out > 32768)
        for (int i = 0; i < N; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
    }
    sd_sgemm(false, true, N, out, in, 1.0f, x, in, W, in, b ? 1.0f : 0.0f, y, out);
}

void sd_linear_forward_multi(const sd_linear_out *o, int n, const float *x, int N, int in) {
    for (int i0 = 0; i0 < n; i0 += SD_SGEMM_MULTI_MAX) {
        sd_sgemm_out outs[SD_SGEMM_MULTI_MAX];
        int k = n - i0 < SD_SGEMM_MULTI_MAX ? n - i0 : SD_SGEMM_MULTI_MAX;
        for (int i = 0; i < k; i++) {
            const sd_linear_out *s = &o[i0 + i];
            if (s->b)
#pragma omp parallel for schedule(static) if ((long)N * s->out > 32768)
                for (int r = 0; r < N; r++) memcpy(s->y + (size_t)r * s->out, s->b, (size_t)s->out * sizeof(float));
            outs[i] = (sd_sgemm_out){.C = s->y, .ldc = s->out, .B = s->W, .ldb = in, .N = s->out, .beta = s->b ? 1.0f : 0.0f};
        }
        sd_sgemm_multi(N, in, x, in, outs, k);
    }
}

static void linear_backward(float *dx, float dx_beta, float *dW, float *db, const float *dy, const float *x,
                            const float *W, int N, int in, int out) {
    if (dx) sd_sgemm(false, false, N, in, out, 1.0f, dy, out, W, in, dx_beta, dx, in);
    if (dW) sd_sgemm(true, false, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) {
        /* Columns split across threads: each sums its slice over all rows, in row order. */
#pragma omp parallel if ((long)N * out > 32768)
        {
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int j0 = (int)((long)out * t / nt), j1 = (int)((long)out * (t + 1) / nt);
            for (int i = 0; i < N; i++) {
                const float *r = dy + (size_t)i * out;
                for (int j = j0; j < j1; j++) db[j] += r[j];
            }
        }
    }
}

void sd_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                        int N, int in, int out) {
    linear_backward(dx, 1.0f, dW, db, dy, x, W, N, in, out);
}

void sd_linear_backward_set_dx(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                               int N, int in, int out) {
    linear_backward(dx, 0.0f, dW, db, dy, x, W, N, in, out);
}
