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

float sd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return u2f(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return u2f(sign);
        /* subnormal m * 2^-24: shift the mantissa up to an implicit 1, lowering the exponent */
        e = 113;
        while (!(m & 0x400)) { m <<= 1; e--; }
        return u2f(sign | (e << 23) | ((m & 0x3ff) << 13));
    }
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

/* Integer-only rounding so that compiler float contraction (FMA) can never change a result. */
uint16_t sd_f32_to_f16(float f) {
    uint32_t x = f2u(f), ax = x & 0x7fffffffu;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (ax > 0x7f800000u) return sign | 0x7e00;           /* NaN */
    if (ax >= 0x47800000u) return sign | 0x7c00;          /* >= 65536 (and inf): inf */
    if (ax < 0x38800000u) {                               /* below 2^-14: F16 subnormal or zero */
        if (ax <= 0x33000000u) return sign;               /* <= 2^-25 rounds (to even) to zero */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(ax >> 23);                /* value/2^-24 = m >> shift */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;                        /* r == 0x400 is the smallest normal */
    }
    uint32_t r = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;   /* rebias 127 -> 15 */
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    if (r >= 0x7c00) r = 0x7c00;                          /* rounded past 65504: inf */
    return sign | (uint16_t)r;
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
    case SD_DT_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h = sd_f32_to_f16(src[i]); memcpy(d + 2 * i, &h, 2); }
        return 0;
    case SD_DT_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h = sd_f32_to_bf16(src[i]); memcpy(d + 2 * i, &h, 2); }
        return 0;
    default:
        return sd_errf(err, SD_EUSAGE, "cannot store floats as %s (F32, F16 or BF16 only)", sd_dtype_name(t));
    }
}
