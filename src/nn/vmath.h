/* Vectorised exp for the elementwise loops of src/nn (internal header).
 *
 * Why GCC vector extensions rather than a scalar expf in a loop: libm's expf is a call per
 * element without -ffast-math, and gcc will not if-convert a hand-written scalar exp whose range
 * clamps it has constant-folded into separate branches. An 8-lane vector type compiles to AVX2
 * under -march=native (and to SSE pairs elsewhere). */
#ifndef SD_VMATH_H
#define SD_VMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float sd_v8f __attribute__((vector_size(32)));
typedef int32_t sd_v8i __attribute__((vector_size(32)));

static inline sd_v8f sd_v8_splat(float a) { return (sd_v8f){a, a, a, a, a, a, a, a}; }
static inline sd_v8f sd_v8_load(const float *p) { sd_v8f v; memcpy(&v, p, sizeof v); return v; }
static inline void sd_v8_store(float *p, sd_v8f v) { memcpy(p, &v, sizeof v); }
static inline sd_v8f sd_v8_select(sd_v8i mask, sd_v8f a, sd_v8f b) {
    return (sd_v8f)(((sd_v8i)a & mask) | ((sd_v8i)b & ~mask));
}
static inline float sd_v8_hsum(sd_v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* Dot product of a and b [n], two 8-lane accumulators (the cached attention's scores and the
 * small-row matmul's tails). */
static inline float sd_v8_dot(const float *a, const float *b, int n) {
    sd_v8f acc0 = sd_v8_splat(0), acc1 = sd_v8_splat(0);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += sd_v8_load(a + i) * sd_v8_load(b + i);
        acc1 += sd_v8_load(a + i + 8) * sd_v8_load(b + i + 8);
    }
    for (; i + 8 <= n; i += 8) acc0 += sd_v8_load(a + i) * sd_v8_load(b + i);
    float s = sd_v8_hsum(acc0 + acc1);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* exp(x) within ~1e-7 relative (Cephes polynomial after reduction by ln 2). Inputs are clamped
 * to [-104, 88.7]: below, the two-step scaling underflows to 0 through the denormals; above, the
 * result stays finite (3.3e38). exp(-inf) = 0, which masked softmax relies on. */
static inline sd_v8f sd_v8_exp(sd_v8f x) {
    const sd_v8f hi = sd_v8_splat(88.7f), lo = sd_v8_splat(-104.0f);
    x = sd_v8_select(x > hi, hi, x);
    x = sd_v8_select(x < lo, lo, x);
    sd_v8f n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    sd_v8f r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    sd_v8f p = sd_v8_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    sd_v8f y = p * r * r + r + 1.0f;
    sd_v8i ni = __builtin_convertvector(n, sd_v8i);
    sd_v8i h = ni >> 1;
    sd_v8i e1 = (h + 127) << 23, e2 = (ni - h + 127) << 23;
    return (y * (sd_v8f)e1) * (sd_v8f)e2;
}

static inline float sd_expf_v(float x) { return sd_v8_exp(sd_v8_splat(x))[0]; }

/* y[i] = exp(x[i] - shift); returns the sum of the y (in float, lane-wise). y may equal x. */
static inline float sd_exp_shift_sum(float *y, const float *x, float shift, int n) {
    sd_v8f acc = sd_v8_splat(0.0f), s = sd_v8_splat(shift);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        sd_v8f e = sd_v8_exp(sd_v8_load(x + i) - s);
        sd_v8_store(y + i, e);
        acc += e;
    }
    float sum = sd_v8_hsum(acc);
    for (; i < n; i++) { y[i] = sd_expf_v(x[i] - shift); sum += y[i]; }
    return sum;
}

/* Sum of exp(x[i] - shift) without storing the terms. */
static inline float sd_sum_exp_shift(const float *x, float shift, int n) {
    sd_v8f acc = sd_v8_splat(0.0f), s = sd_v8_splat(shift);
    int i = 0;
    for (; i + 8 <= n; i += 8) acc += sd_v8_exp(sd_v8_load(x + i) - s);
    float sum = sd_v8_hsum(acc);
    for (; i < n; i++) sum += sd_expf_v(x[i] - shift);
    return sum;
}

/* Largest of x [n] (-inf when n is 0; NaNs are skipped), lane-wise over 8 lanes: max is exact,
 * so the result is the scalar loop's (up to the sign of a zero). */
static inline float sd_max_array(const float *x, int n) {
    float m = -INFINITY;
    int i = 0;
    if (n >= 16) {
        sd_v8f a = sd_v8_splat(-INFINITY), b = a;
        for (; i + 16 <= n; i += 16) {
            sd_v8f u = sd_v8_load(x + i), w = sd_v8_load(x + i + 8);
            a = sd_v8_select(u > a, u, a);
            b = sd_v8_select(w > b, w, b);
        }
        a = sd_v8_select(b > a, b, a);
        for (int k = 0; k < 8; k++) m = a[k] > m ? a[k] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* y[i] = 1 / (1 + exp(-x[i])). y may equal x. */
static inline void sd_sigmoid_array(float *y, const float *x, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) sd_v8_store(y + i, 1.0f / (1.0f + sd_v8_exp(-sd_v8_load(x + i))));
    for (; i < n; i++) y[i] = 1.0f / (1.0f + sd_expf_v(-x[i]));
}

#endif
