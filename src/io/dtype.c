#include "io/dtype.h"
#include <string.h>

static const struct { const char *name; size_t size; } info[SD_DT_COUNT] = {
    [SD_DT_INVALID] = {"INVALID", 0},
    [SD_DT_F32] = {"F32", 4},   [SD_DT_F16] = {"F16", 2},  [SD_DT_BF16] = {"BF16", 2},
    [SD_DT_F64] = {"F64", 8},   [SD_DT_I64] = {"I64", 8},  [SD_DT_I32] = {"I32", 4},
    [SD_DT_I16] = {"I16", 2},   [SD_DT_I8] = {"I8", 1},    [SD_DT_U64] = {"U64", 8},
    [SD_DT_U32] = {"U32", 4},   [SD_DT_U16] = {"U16", 2},  [SD_DT_U8] = {"U8", 1},
    [SD_DT_BOOL] = {"BOOL", 1}, [SD_DT_F8_E4M3] = {"F8_E4M3", 1}, [SD_DT_F8_E5M2] = {"F8_E5M2", 1},
};

size_t sd_dtype_size(sd_dtype t) { return (unsigned)t < SD_DT_COUNT ? info[t].size : 0; }
const char *sd_dtype_name(sd_dtype t) { return (unsigned)t < SD_DT_COUNT ? info[t].name : "INVALID"; }

sd_dtype sd_dtype_parse(const char *s) {
    for (int t = 1; t < SD_DT_COUNT; t++)
        if (strcmp(s, info[t].name) == 0) return (sd_dtype)t;
    return SD_DT_INVALID;
}

bool sd_dtype_is_float(sd_dtype t) { return t == SD_DT_F32 || t == SD_DT_F16 || t == SD_DT_BF16 || t == SD_DT_F64; }
bool sd_dtype_is_int(sd_dtype t) { return t >= SD_DT_I64 && t <= SD_DT_BOOL; }

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Selects instead of early returns; exact for all 65536 inputs (tested against torch). */
float sd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, em = h & 0x7fffu;
    uint32_t o = (em << 13) + (112u << 23);      /* rebias exponent 15 -> 127 */
    o = em >= 0x7c00u ? o + (112u << 23) : o;    /* inf/NaN: exponent all ones, payload kept */
    /* subnormals: em * 2^-24, i.e. float(em) (exact) with the exponent lowered by 24 */
    uint32_t sub = f2u((float)(int32_t)em) - (24u << 23);
    o = em < 0x400u ? sub : o;
    o = em == 0 ? 0 : o;
    return u2f(o | sign);
}

/* Integer-only rounding so that compiler float contraction (FMA) can never change a result. */
uint16_t sd_f32_to_f16(float f) {
    uint32_t x = f2u(f), ax = x & 0x7fffffffu;
    uint32_t sign = (x >> 16) & 0x8000u;
    /* normal F16 range: rebias 127 -> 15, round the 13 dropped bits to nearest even; a carry into
     * the exponent is correct, and rounding past 65504 gives 0x7c00 = inf */
    uint32_t rn = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
    rn += (rem > 0x1000u) | ((rem == 0x1000u) & rn);
    rn = rn > 0x7c00u ? 0x7c00u : rn;
    /* below 2^-14: the F16 subnormal m * 2^-24 with m = round(value * 2^24) */
    int shift = 126 - (int)(ax >> 23);           /* 14..24 for inputs in [2^-25, 2^-14) */
    shift = shift > 25 ? 25 : shift < 14 ? 14 : shift;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t rs = mant >> shift, rrem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    rs += (rrem > half) | ((rrem == half) & rs);
    uint32_t r = ax < 0x38800000u ? (ax <= 0x33000000u ? 0u : rs) : rn;
    r = ax >= 0x47800000u ? 0x7c00u : r;         /* >= 65536 and inf */
    r = ax > 0x7f800000u ? 0x7e00u : r;          /* NaN */
    return (uint16_t)(sign | r);
}

float sd_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t sd_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline void load(void *dst, const unsigned char *src, size_t k, bool swap) {
    unsigned char *d = dst;
    if (!swap) { memcpy(d, src, k); return; }
    for (size_t i = 0; i < k; i++) d[i] = src[k - 1 - i];
}

int sd_convert_to_f32(sd_dtype t, const void *src, size_t n, bool swap, float *out, sd_err *err) {
    const unsigned char *s = src;
    size_t k = sd_dtype_size(t);
    if (t == SD_DT_F32 && !swap) { memcpy(out, src, n * 4); return 0; }
    /* model weights arrive as BF16/F16: one plain loop per type, so gcc vectorises them */
    long m = (long)n;
    if (t == SD_DT_BF16 && !swap) {
#pragma omp parallel for schedule(static) if (m > (1 << 20))
        for (long i = 0; i < m; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            out[i] = sd_bf16_to_f32(h);
        }
        return 0;
    }
    if (t == SD_DT_F16 && !swap) {
#pragma omp parallel for schedule(static) if (m > (1 << 20))
        for (long i = 0; i < m; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            out[i] = sd_f16_to_f32(h);
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++, s += k) {
        switch (t) {
        case SD_DT_F32: { float v; load(&v, s, 4, swap); out[i] = v; break; }
        case SD_DT_F16: { uint16_t v; load(&v, s, 2, swap); out[i] = sd_f16_to_f32(v); break; }
        case SD_DT_BF16: { uint16_t v; load(&v, s, 2, swap); out[i] = sd_bf16_to_f32(v); break; }
        case SD_DT_F64: { double v; load(&v, s, 8, swap); out[i] = (float)v; break; }
        case SD_DT_I64: { int64_t v; load(&v, s, 8, swap); out[i] = (float)v; break; }
        case SD_DT_I32: { int32_t v; load(&v, s, 4, swap); out[i] = (float)v; break; }
        case SD_DT_I16: { int16_t v; load(&v, s, 2, swap); out[i] = (float)v; break; }
        case SD_DT_I8: out[i] = (float)(int8_t)s[0]; break;
        case SD_DT_U64: { uint64_t v; load(&v, s, 8, swap); out[i] = (float)v; break; }
        case SD_DT_U32: { uint32_t v; load(&v, s, 4, swap); out[i] = (float)v; break; }
        case SD_DT_U16: { uint16_t v; load(&v, s, 2, swap); out[i] = (float)v; break; }
        case SD_DT_U8: out[i] = (float)s[0]; break;
        case SD_DT_BOOL: out[i] = s[0] ? 1.0f : 0.0f; break;
        default:
            return sd_errf(err, SD_EFORMAT, "cannot convert %s to F32", sd_dtype_name(t));
        }
    }
    return 0;
}

int sd_convert_to_i64(sd_dtype t, const void *src, size_t n, bool swap, int64_t *out, sd_err *err) {
    const unsigned char *s = src;
    size_t k = sd_dtype_size(t);
    if (!sd_dtype_is_int(t))
        return sd_errf(err, SD_EFORMAT, "cannot read %s as integers", sd_dtype_name(t));
    for (size_t i = 0; i < n; i++, s += k) {
        switch (t) {
        case SD_DT_I64: { int64_t v; load(&v, s, 8, swap); out[i] = v; break; }
        case SD_DT_I32: { int32_t v; load(&v, s, 4, swap); out[i] = v; break; }
        case SD_DT_I16: { int16_t v; load(&v, s, 2, swap); out[i] = v; break; }
        case SD_DT_I8: out[i] = (int8_t)s[0]; break;
        case SD_DT_U64: {
            uint64_t v; load(&v, s, 8, swap);
            if (v > (uint64_t)INT64_MAX)
                return sd_errf(err, SD_ERANGE, "element %zu: U64 value %llu does not fit in int64", i,
                               (unsigned long long)v);
            out[i] = (int64_t)v; break;
        }
        case SD_DT_U32: { uint32_t v; load(&v, s, 4, swap); out[i] = v; break; }
        case SD_DT_U16: { uint16_t v; load(&v, s, 2, swap); out[i] = v; break; }
        case SD_DT_U8: out[i] = s[0]; break;
        case SD_DT_BOOL: out[i] = s[0] != 0; break;
        default: break;
        }
    }
    return 0;
}

int sd_convert_from_f32(sd_dtype t, const float *src, size_t n, void *dst, sd_err *err) {
    unsigned char *d = dst;
    switch (t) {
    case SD_DT_F32: memcpy(dst, src, n * 4); return 0;
    case SD_DT_F16: {
        long m = (long)n;
#pragma omp parallel for schedule(static) if (m > (1 << 20))
        for (long i = 0; i < m; i++) {
            uint16_t h = sd_f32_to_f16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        return 0;
    }
    case SD_DT_BF16: {
        long m = (long)n;
#pragma omp parallel for schedule(static) if (m > (1 << 20))
        for (long i = 0; i < m; i++) {
            uint16_t h = sd_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        return 0;
    }
    default:
        return sd_errf(err, SD_EUSAGE, "cannot store floats as %s (F32, F16 or BF16 only)", sd_dtype_name(t));
    }
}
