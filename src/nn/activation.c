#include "nn/ops.h"
#include "nn/vmath.h"

#define PAR_N 65536 /* below this many elements a thread team costs more than it saves */

void sd_relu_forward(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void sd_relu_backward(float *dx, const float *dy, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : 0.0f;
}

void sd_relu_backward_inplace(float *dy, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < n; i++) dy[i] = x[i] > 0 ? dy[i] : 0.0f;
}

/* The sigmoid-based activations process 8 lanes at a time (vmath.h); the OpenMP loop runs over
 * blocks of 8 and a scalar loop handles the tail. */
static inline sd_v8f v8_sigmoid(sd_v8f x) { return 1.0f / (1.0f + sd_v8_exp(-x)); }
static inline float sigmoid1(float x) { return 1.0f / (1.0f + sd_expf_v(-x)); }

void sd_silu_forward(float *y, const float *x, size_t n) {
    size_t nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < nv; i += 8) {
        sd_v8f a = sd_v8_load(x + i);
        sd_v8_store(y + i, a * v8_sigmoid(a));
    }
    for (size_t i = nv; i < n; i++) y[i] = x[i] * sigmoid1(x[i]);
}

/* d/dx x*sig(x) = sig(x) * (1 + x * (1 - sig(x))) */
void sd_silu_backward(float *dx, const float *dy, const float *x, size_t n) {
    size_t nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < nv; i += 8) {
        sd_v8f a = sd_v8_load(x + i), s = v8_sigmoid(a);
        sd_v8_store(dx + i, sd_v8_load(dx + i) + sd_v8_load(dy + i) * s * (1.0f + a * (1.0f - s)));
    }
    for (size_t i = nv; i < n; i++) {
        float s = sigmoid1(x[i]);
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void sd_swiglu_forward(float *y, const float *gate, const float *up, size_t n) {
    size_t nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < nv; i += 8) {
        sd_v8f g = sd_v8_load(gate + i);
        sd_v8_store(y + i, g * v8_sigmoid(g) * sd_v8_load(up + i));
    }
    for (size_t i = nv; i < n; i++) y[i] = gate[i] * sigmoid1(gate[i]) * up[i];
}

/* acc: dgate, dup += the gradients; else they are overwritten (no zeroing pass first). */
static void swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, size_t n,
                            bool acc) {
    size_t nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < nv; i += 8) {
        sd_v8f g = sd_v8_load(gate + i), s = v8_sigmoid(g), d = sd_v8_load(dy + i);
        sd_v8f gu = d * g * s, gg = d * sd_v8_load(up + i) * s * (1.0f + g * (1.0f - s));
        if (dup) sd_v8_store(dup + i, acc ? sd_v8_load(dup + i) + gu : gu);
        if (dgate) sd_v8_store(dgate + i, acc ? sd_v8_load(dgate + i) + gg : gg);
    }
    for (size_t i = nv; i < n; i++) {
        float g = gate[i], s = sigmoid1(g), d = dy[i];
        float gu = d * g * s, gg = d * up[i] * s * (1.0f + g * (1.0f - s));
        if (dup) dup[i] = acc ? dup[i] + gu : gu;
        if (dgate) dgate[i] = acc ? dgate[i] + gg : gg;
    }
}

void sd_swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, size_t n) {
    swiglu_backward(dgate, dup, dy, gate, up, n, true);
}

void sd_swiglu_backward_set(float *dgate, float *dup, const float *dy, const float *gate, const float *up, size_t n) {
    swiglu_backward(dgate, dup, dy, gate, up, n, false);
}

void sd_add_forward(float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void sd_add_backward(float *da, float *db, const float *dy, size_t n) {
    if (da) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
        for (size_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (db) {
#pragma omp parallel for schedule(static) if (n > PAR_N)
        for (size_t i = 0; i < n; i++) db[i] += dy[i];
    }
}
