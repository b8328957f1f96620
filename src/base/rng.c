#include "base/rng.h"
#include <math.h>

uint64_t sd_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void sd_rng_seed(sd_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        r->s[i] = sd_mix64(x);
    }
}

void sd_rng_stream(sd_rng *r, uint64_t seed, uint64_t stream) {
    sd_rng_seed(r, sd_mix64(seed) ^ sd_mix64(stream * 0xd1b54a32d192ed03ULL + 1));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sd_rng_u64(sd_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sd_rng_below(sd_rng *r, uint64_t n) {
    uint64_t x = sd_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            x = sd_rng_u64(r);
            m = (__uint128_t)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

float sd_rng_float(sd_rng *r) { return (sd_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
double sd_rng_double(sd_rng *r) { return (sd_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double sd_rng_normal(sd_rng *r) {
    double u1 = sd_rng_double(r), u2 = sd_rng_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void sd_rng_shuffle_i32(sd_rng *r, int32_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = sd_rng_below(r, i);
        int32_t t = a[i - 1]; a[i - 1] = a[j]; a[j] = t;
    }
}
