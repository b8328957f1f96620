/* Element types shared by the tensor file formats (safetensors, .npy) and exact conversions
 * between float32 and the 16-bit float formats.
 *
 * Conversions match PyTorch bit for bit (tested against torch 1.13): F16 and BF16 widen to F32
 * exactly (subnormals, infinities and NaN payloads kept); F32 narrows with round-to-nearest-even,
 * overflow to infinity; a NaN becomes 0x7FC0 in BF16 (as torch does) and sign|0x7E00 in F16. */
#ifndef SD_DTYPE_H
#define SD_DTYPE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

typedef enum sd_dtype {
    SD_DT_INVALID = 0,
    SD_DT_F32, SD_DT_F16, SD_DT_BF16, SD_DT_F64,
    SD_DT_I64, SD_DT_I32, SD_DT_I16, SD_DT_I8,
    SD_DT_U64, SD_DT_U32, SD_DT_U16, SD_DT_U8,
    SD_DT_BOOL, SD_DT_F8_E4M3, SD_DT_F8_E5M2,
    SD_DT_COUNT
} sd_dtype;

/* Bytes per element (0 for SD_DT_INVALID). */
size_t sd_dtype_size(sd_dtype t);
/* The safetensors spelling: "F32", "BF16", "I64", ... */
const char *sd_dtype_name(sd_dtype t);
/* Parses a safetensors dtype string; SD_DT_INVALID if unknown. */
sd_dtype sd_dtype_parse(const char *s);
bool sd_dtype_is_float(sd_dtype t);   /* F32 F16 BF16 F64 (F8 types: stored, not converted) */
bool sd_dtype_is_int(sd_dtype t);     /* signed/unsigned integers and BOOL */

float sd_f16_to_f32(uint16_t h);
uint16_t sd_f32_to_f16(float f);
float sd_bf16_to_f32(uint16_t h);
uint16_t sd_f32_to_bf16(float f);

/* Converts n elements of type t at src (any alignment; byte-swapped first when swap) to float.
 * Integers convert with C rounding (large int64 values lose precision). F8 and INVALID fail. */
int sd_convert_to_f32(sd_dtype t, const void *src, size_t n, bool swap, float *out, sd_err *err);
/* Same for integer types (and BOOL) into int64; U64 values above INT64_MAX and float types fail. */
int sd_convert_to_i64(sd_dtype t, const void *src, size_t n, bool swap, int64_t *out, sd_err *err);
/* Narrows n floats into F32, F16 or BF16 storage at dst (any alignment). */
int sd_convert_from_f32(sd_dtype t, const float *src, size_t n, void *dst, sd_err *err);

#endif
