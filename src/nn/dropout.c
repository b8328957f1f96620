#include <string.h>
#include "base/rng.h"
#include "nn/ops.h"

/* Counter-based: the key comes from the (seed, stream) xoshiro stream, element i's uniform from
 * splitmix64(key + i * golden ratio). Independent of thread count and of how the array is split. */
static uint64_t dropout_key(uint64_t seed, uint64_t stream) {
    sd_rng r;
    sd_rng_stream(&r, seed, stream);
    return sd_rng_u64(&r);
}

/* splitmix64 finaliser, inline here (sd_mix64 is a call per element). */
static inline uint64_t mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline int keep_elem(uint64_t key, size_t i, uint32_t threshold) {
    uint32_t u = (uint32_t)(mix(key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull) >> 40); /* 24 bits */
    return u >= threshold;
}

void sd_dropout_forward(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed, uint64_t stream) {
    if (p <= 0) {
        if (y != x) memmove(y, x, n * sizeof(float));
        if (mask) memset(mask, 1, n);
        return;
    }
    uint64_t key = dropout_key(seed, stream);
    uint32_t threshold = (uint32_t)(p * 16777216.0f);
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        int k = keep_elem(key, i, threshold);
        y[i] = k ? x[i] * scale : 0.0f;
        if (mask) mask[i] = (uint8_t)k;
    }
}

void sd_dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed, uint64_t stream) {
    if (p <= 0) {
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        return;
    }
    uint64_t key = dropout_key(seed, stream);
    uint32_t threshold = (uint32_t)(p * 16777216.0f);
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        if (keep_elem(key, i, threshold)) dx[i] += dy[i] * scale;
}
