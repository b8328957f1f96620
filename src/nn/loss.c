#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/vmath.h"

/* Tile of the chunked cross-entropy: ROWS labelled positions x VCHUNK vocabulary entries
 * (256 x 2048 floats = 2 MiB), large enough for sgemm to run near its peak. */
#define ROWS 256
#define VCHUNK 2048

/* Indices of the labelled rows, in order; -1 if a target is outside [0, V) (ops.h). */
static int labelled_rows(int *idx, const int32_t *targets, int N, int V, int ignore_index) {
    int n = 0;
    for (int i = 0; i < N; i++) {
        if (targets[i] == ignore_index) continue;
        if (targets[i] < 0 || targets[i] >= V) return -1;
        idx[n++] = i;
    }
    return n;
}

/* What forward returns for targets out of range: a NaN loss, no labelled rows. */
static float bad_targets(float *lse, int N, int *n_valid, int *idx) {
    if (n_valid) *n_valid = 0;
    if (lse) for (int i = 0; i < N; i++) lse[i] = NAN;
    free(idx);
    return NAN;
}

static void gather_rows(float *dst, const float *src, const int *idx, int n, int C) {
#pragma omp parallel for schedule(static) if ((long)n * C > 65536)
    for (int r = 0; r < n; r++) memcpy(dst + (size_t)r * C, src + (size_t)idx[r] * C, (size_t)C * sizeof(float));
}

float sd_xent_chunked_forward(float *lse, const float *hidden, const float *W, const int32_t *targets,
                              int N, int C, int V, int ignore_index, int *n_valid) {
    return sd_xent_chunked_forward_keep(lse, NULL, hidden, W, targets, N, C, V, ignore_index, n_valid);
}

float sd_xent_chunked_forward_keep(float *lse, float *keep, const float *hidden, const float *W,
                                   const int32_t *targets, int N, int C, int V, int ignore_index, int *n_valid) {
    int *idx = sd_xmalloc(sizeof(int) * (size_t)(N ? N : 1));
    int nv = labelled_rows(idx, targets, N, V, ignore_index);
    if (nv < 0) return bad_targets(lse, N, n_valid, idx);
    if (n_valid) *n_valid = nv;
    if (lse) for (int i = 0; i < N; i++) lse[i] = NAN;
    float *Hb = sd_afloats((size_t)ROWS * C), *L = sd_afloats((size_t)ROWS * VCHUNK);
    float *row_loss = sd_afloats((size_t)(nv ? nv : 1));
    float m[ROWS], s[ROWS], tl[ROWS];
    for (int r0 = 0; r0 < nv; r0 += ROWS) {
        int R = nv - r0 < ROWS ? nv - r0 : ROWS;
        gather_rows(Hb, hidden, idx + r0, R, C);
        for (int r = 0; r < R; r++) { m[r] = -INFINITY; s[r] = 0; tl[r] = 0; }
        for (int v0 = 0; v0 < V; v0 += VCHUNK) {
            int Vc = V - v0 < VCHUNK ? V - v0 : VCHUNK;
            /* the tile: in L, or in place in the kept logits (row stride V) */
            float *Lt = keep ? keep + (size_t)r0 * V + v0 : L;
            int ldl = keep ? V : Vc;
            sd_sgemm(false, true, R, Vc, C, 1.0f, Hb, C, W + (size_t)v0 * C, C, 0.0f, Lt, ldl);
            /* Online log-sum-exp: rescale the running sum when the running max grows. */
#pragma omp parallel for schedule(static) if ((long)R * Vc > 65536)
            for (int r = 0; r < R; r++) {
                const float *l = Lt + (size_t)r * ldl;
                float mc = sd_max_array(l, Vc);
                if (mc > m[r]) { s[r] = s[r] * expf(m[r] - mc) + sd_sum_exp_shift(l, mc, Vc); m[r] = mc; }
                else s[r] += sd_sum_exp_shift(l, m[r], Vc);
                int t = targets[idx[r0 + r]];
                if (t >= v0 && t < v0 + Vc) tl[r] = l[t - v0];
            }
        }
        for (int r = 0; r < R; r++) {
            float z = m[r] + logf(s[r]);
            if (lse) lse[idx[r0 + r]] = z;
            row_loss[r0 + r] = z - tl[r];
        }
    }
    double total = 0;
    for (int r = 0; r < nv; r++) total += row_loss[r];
    sd_afree(Hb); sd_afree(L); sd_afree(row_loss); free(idx);
    return nv ? (float)(total / nv) : 0.0f;
}

/* g[j] = (exp(l[j] - lse) - [j == t]) * scale over one row of Vc entries; t relative to the row. */
static void softmax_grad_row(float *g, const float *l, float lse, int t, float scale, int Vc) {
    sd_v8f z = sd_v8_splat(lse), sc = sd_v8_splat(scale);
    int j = 0;
    for (; j + 8 <= Vc; j += 8) sd_v8_store(g + j, sd_v8_exp(sd_v8_load(l + j) - z) * sc);
    for (; j < Vc; j++) g[j] = sd_expf_v(l[j] - lse) * scale;
    if (t >= 0 && t < Vc) g[t] -= scale;
}

void sd_xent_chunked_backward(float *dhidden, float *dW, const float *hidden, const float *W,
                              const int32_t *targets, const float *lse, int N, int C, int V,
                              int ignore_index, float dloss) {
    sd_xent_chunked_backward_rows(dhidden, dW, hidden, W, targets, lse, NULL, N, C, V, ignore_index, dloss, 0, V);
}

void sd_xent_chunked_backward_rows(float *dhidden, float *dW, const float *hidden, const float *W,
                                   const int32_t *targets, const float *lse, float *kept, int N, int C, int V,
                                   int ignore_index, float dloss, int dw_lo, int dw_hi) {
    if (!lse) kept = NULL;
    float *own_lse = NULL;
    if (!lse) {
        own_lse = sd_afloats((size_t)(N ? N : 1));
        sd_xent_chunked_forward(own_lse, hidden, W, targets, N, C, V, ignore_index, NULL);
        lse = own_lse;
    }
    int *idx = sd_xmalloc(sizeof(int) * (size_t)(N ? N : 1));
    int nv = labelled_rows(idx, targets, N, V, ignore_index);
    if (nv < 0) { free(idx); sd_afree(own_lse); return; } /* forward returned NaN: no gradient */
    float *Hb = sd_afloats((size_t)ROWS * C), *dHb = sd_afloats((size_t)ROWS * C);
    float *L = sd_afloats((size_t)ROWS * VCHUNK);
    float scale = nv ? dloss / nv : 0.0f;
    for (int r0 = 0; r0 < nv; r0 += ROWS) {
        int R = nv - r0 < ROWS ? nv - r0 : ROWS;
        gather_rows(Hb, hidden, idx + r0, R, C);
        memset(dHb, 0, (size_t)R * C * sizeof(float));
        for (int v0 = 0; v0 < V; v0 += VCHUNK) {
            int Vc = V - v0 < VCHUNK ? V - v0 : VCHUNK;
            /* the forward's logits when kept (turned into gradients in place), else recomputed */
            float *Lt = kept ? kept + (size_t)r0 * V + v0 : L;
            int ldl = kept ? V : Vc;
            if (!kept) sd_sgemm(false, true, R, Vc, C, 1.0f, Hb, C, W + (size_t)v0 * C, C, 0.0f, L, Vc);
#pragma omp parallel for schedule(static) if ((long)R * Vc > 65536)
            for (int r = 0; r < R; r++) {
                int i = idx[r0 + r];
                softmax_grad_row(Lt + (size_t)r * ldl, Lt + (size_t)r * ldl, lse[i], targets[i] - v0, scale, Vc);
            }
            if (dhidden) sd_sgemm(false, false, R, C, Vc, 1.0f, Lt, ldl, W + (size_t)v0 * C, C, 1.0f, dHb, C);
            int w0 = v0 > dw_lo ? v0 : dw_lo, w1 = v0 + Vc < dw_hi ? v0 + Vc : dw_hi; /* rows of dW in the chunk */
            if (dW && w0 < w1)
                sd_sgemm(true, false, w1 - w0, C, R, 1.0f, Lt + (w0 - v0), ldl, Hb, C, 1.0f, dW + (size_t)w0 * C, C);
        }
        if (dhidden) {
#pragma omp parallel for schedule(static) if ((long)R * C > 65536)
            for (int r = 0; r < R; r++) {
                float *d = dhidden + (size_t)idx[r0 + r] * C;
                const float *g = dHb + (size_t)r * C;
                for (int c = 0; c < C; c++) d[c] += g[c];
            }
        }
    }
    sd_afree(Hb); sd_afree(dHb); sd_afree(L); sd_afree(own_lse); free(idx);
}

float sd_xent_forward(float *lse, const float *logits, const int32_t *targets, int N, int V,
                      int ignore_index, int *n_valid) {
    int *idx = sd_xmalloc(sizeof(int) * (size_t)(N ? N : 1));
    int nv = labelled_rows(idx, targets, N, V, ignore_index);
    if (nv < 0) return bad_targets(lse, N, n_valid, idx);
    if (n_valid) *n_valid = nv;
    if (lse) for (int i = 0; i < N; i++) lse[i] = NAN;
    float *row_loss = sd_afloats((size_t)(nv ? nv : 1));
#pragma omp parallel for schedule(static) if ((long)nv * V > 65536)
    for (int r = 0; r < nv; r++) {
        const float *l = logits + (size_t)idx[r] * V;
        float m = sd_max_array(l, V);
        float z = m + logf(sd_sum_exp_shift(l, m, V));
        if (lse) lse[idx[r]] = z;
        row_loss[r] = z - l[targets[idx[r]]];
    }
    double total = 0;
    for (int r = 0; r < nv; r++) total += row_loss[r];
    sd_afree(row_loss); free(idx);
    return nv ? (float)(total / nv) : 0.0f;
}

void sd_xent_backward(float *dlogits, const float *logits, const int32_t *targets, const float *lse,
                      int N, int V, int ignore_index, float dloss) {
    int *idx = sd_xmalloc(sizeof(int) * (size_t)(N ? N : 1));
    int nv = labelled_rows(idx, targets, N, V, ignore_index);
    if (nv < 0) { free(idx); return; } /* forward returned NaN: no gradient */
    float scale = nv ? dloss / nv : 0.0f;
#pragma omp parallel for schedule(static) if ((long)nv * V > 65536)
    for (int r = 0; r < nv; r++) {
        int i = idx[r];
        const float *l = logits + (size_t)i * V;
        float z;
        if (lse) z = lse[i];
        else { float m = sd_max_array(l, V); z = m + logf(sd_sum_exp_shift(l, m, V)); }
        float *d = dlogits + (size_t)i * V;
        sd_v8f zz = sd_v8_splat(z), sc = sd_v8_splat(scale);
        int j = 0;
        for (; j + 8 <= V; j += 8) sd_v8_store(d + j, sd_v8_load(d + j) + sd_v8_exp(sd_v8_load(l + j) - zz) * sc);
        for (; j < V; j++) d[j] += sd_expf_v(l[j] - z) * scale;
        d[targets[i]] -= scale;
    }
    free(idx);
}

float sd_bce_logits_forward(const float *x, const float *y, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        float a = x[i];
        total += (a > 0 ? a : 0.0f) - a * y[i] + log1pf(expf(-fabsf(a)));
    }
    return n ? (float)(total / n) : 0.0f;
}

void sd_bce_logits_backward(float *dx, const float *x, const float *y, size_t n, float dloss) {
    float scale = n ? dloss / n : 0.0f;
    for (size_t i = 0; i < n; i++) dx[i] += (1.0f / (1.0f + sd_expf_v(-x[i])) - y[i]) * scale;
}

float sd_mse_forward(const float *pred, const float *target, size_t n, int reduction) {
    /* Per-thread partial sums in double, combined in thread order: deterministic. */
    int nth = n > 65536 ? omp_get_max_threads() : 1;
    double part[nth];
#pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num();
        size_t i0 = n * t / nth, i1 = n * (t + 1) / nth;
        double s = 0;
        for (size_t i = i0; i < i1; i++) { double d = (double)pred[i] - target[i]; s += d * d; }
        part[t] = s;
    }
    double total = 0;
    for (int t = 0; t < nth; t++) total += part[t];
    return (float)(reduction == SD_REDUCE_SUM ? total : (n ? total / n : 0.0));
}

void sd_mse_backward(float *dpred, const float *pred, const float *target, size_t n, int reduction, float dloss) {
    float scale = 2.0f * dloss / (reduction == SD_REDUCE_SUM || !n ? 1.0f : (float)n);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dpred[i] += (pred[i] - target[i]) * scale;
}
