/* Seedable fast RNG: xoshiro256** (Blackman & Vigna 2018), seeded through splitmix64 so that
 * any 64-bit seed (0 included) gives a well-mixed state. The state is 32 bytes of plain data:
 * checkpoints save and restore it byte for byte. sd_rng_stream derives independent streams
 * (one per thread, per user, per epoch) from a seed, so parallel work stays deterministic. */
#ifndef SD_RNG_H
#define SD_RNG_H
#include <stdint.h>
#include <stddef.h>

typedef struct sd_rng { uint64_t s[4]; } sd_rng;

void sd_rng_seed(sd_rng *r, uint64_t seed);
/* A stream keyed by (seed, stream): same inputs, same sequence, independent of other streams. */
void sd_rng_stream(sd_rng *r, uint64_t seed, uint64_t stream);
uint64_t sd_rng_u64(sd_rng *r);
/* Uniform in [0, n) without modulo bias (Lemire's method). n > 0. */
uint64_t sd_rng_below(sd_rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits; double with 53. */
float sd_rng_float(sd_rng *r);
double sd_rng_double(sd_rng *r);
/* Standard normal (Box-Muller; one value per call, no cached pair so the state alone defines it). */
double sd_rng_normal(sd_rng *r);
void sd_rng_shuffle_i32(sd_rng *r, int32_t *a, size_t n);
/* splitmix64 step: also a good 64-bit hash for seeding and hashing keys. */
uint64_t sd_mix64(uint64_t x);

#endif
