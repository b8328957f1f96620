#include <math.h>
#include <omp.h>
#include <string.h>
#include "base/mem.h"
#include "nn/ops.h"

/* Rows are split into one contiguous range per thread; weight gradients are summed per thread
 * into partial buffers and added in thread order, so the result depends only on thread count. */
#define ROWS_OF_THREAD(N, r0, r1)                                              \
    int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();                \
    int r0 = (int)((long)(N) * t_ / nt_), r1 = (int)((long)(N) * (t_ + 1) / nt_)

static void add_partials(float *dst, const float *part, int nparts, int C) {
    if (!dst) return;
    for (int t = 0; t < nparts; t++)
        for (int c = 0; c < C; c++) dst[c] += part[(size_t)t * C + c];
}

void sd_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > 16384)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float s = 0;
        for (int c = 0; c < C; c++) s += xi[c];
        float m = s / C, v = 0;
        for (int c = 0; c < C; c++) { float d = xi[c] - m; v += d * d; }
        float r = 1.0f / sqrtf(v / C + eps);
        if (b) for (int c = 0; c < C; c++) yi[c] = (xi[c] - m) * r * w[c] + b[c];
        else for (int c = 0; c < C; c++) yi[c] = (xi[c] - m) * r * w[c];
        if (mean) mean[i] = m;
        if (rstd) rstd[i] = r;
    }
}

void sd_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const float *mean, const float *rstd, int N, int C) {
    int nth = (long)N * C > 16384 ? omp_get_max_threads() : 1;
    float *part = sd_afloats((size_t)nth * 2 * C);
#pragma omp parallel num_threads(nth)
    {
        ROWS_OF_THREAD(N, r0, r1);
        float *pw = part + (size_t)t_ * C, *pb = part + (size_t)(nth + t_) * C;
        for (int i = r0; i < r1; i++) {
            const float *xi = x + (size_t)i * C, *gi = dy + (size_t)i * C;
            float m = mean[i], r = rstd[i];
            float sg = 0, sgx = 0; /* mean of dnorm and of dnorm * xhat */
            for (int c = 0; c < C; c++) {
                float xh = (xi[c] - m) * r, g = gi[c] * w[c];
                sg += g; sgx += g * xh;
                pw[c] += gi[c] * xh;
                pb[c] += gi[c];
            }
            sg /= C; sgx /= C;
            if (dx) {
                float *di = dx + (size_t)i * C;
                for (int c = 0; c < C; c++) {
                    float xh = (xi[c] - m) * r;
                    di[c] += r * (gi[c] * w[c] - sg - xh * sgx);
                }
            }
        }
    }
    add_partials(dw, part, nth, C);
    add_partials(db, part + (size_t)nth * C, nth, C);
    sd_afree(part);
}

void sd_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > 16384)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float s = 0;
        for (int c = 0; c < C; c++) s += xi[c] * xi[c];
        float r = 1.0f / sqrtf(s / C + eps);
        for (int c = 0; c < C; c++) yi[c] = xi[c] * r * w[c];
        if (rstd) rstd[i] = r;
    }
}

void sd_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int N, int C) {
    int nth = (long)N * C > 16384 ? omp_get_max_threads() : 1;
    float *part = sd_afloats((size_t)nth * C);
#pragma omp parallel num_threads(nth)
    {
        ROWS_OF_THREAD(N, r0, r1);
        float *pw = part + (size_t)t_ * C;
        for (int i = r0; i < r1; i++) {
            const float *xi = x + (size_t)i * C, *gi = dy + (size_t)i * C;
            float r = rstd[i], sgx = 0;
            for (int c = 0; c < C; c++) {
                float xh = xi[c] * r;
                sgx += gi[c] * w[c] * xh;
                pw[c] += gi[c] * xh;
            }
            sgx /= C;
            if (dx) {
                float *di = dx + (size_t)i * C;
                for (int c = 0; c < C; c++) di[c] += r * (gi[c] * w[c] - xi[c] * r * sgx);
            }
        }
    }
    add_partials(dw, part, nth, C);
    sd_afree(part);
}
