/* GGUF (llama.cpp's model file): a bounds-checked reader and a streaming writer.
 *
 * Layout (little-endian, version 3; version 2 has the same layout and is read too):
 *   "GGUF" u32 version, u64 tensor_count, u64 kv_count
 *   kv_count x { string key, u32 value_type, value }      string = u64 length + bytes (no NUL)
 *   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32), then the data region; each tensor's offset is
 *   relative to it and a multiple of the alignment. The writer lays tensors out as ggml's reader
 * requires: in order, each at the running sum of the previous sizes padded to the alignment, the
 * file ending with the last tensor's padding.
 * Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array
 * (u32 element type, u64 count, elements), 10 u64, 11 i64, 12 f64.
 * ne[0] is the fastest-varying dimension: a PyTorch [out, in] weight is ne = {in, out}.
 *
 * The reader never trusts a count or a length: every one is checked against the bytes left
 * before anything is allocated for it, so memory stays within a small multiple of the file
 * size, and every error names the file and the key or tensor ("m.gguf: tensor \"blk.0.attn_q.weight\":
 * data [96, 4192) runs past the end of the file (4000 bytes)"). Rejected: a bad magic, another
 * version (or a big-endian file), duplicate keys or tensor names, keys / names that are empty,
 * hold a NUL or are longer than 65535 bytes, arrays of arrays, unknown value or tensor types,
 * more than 4 dimensions, a zero or negative size product overflow, a row length that is not a
 * whole number of blocks, an alignment that is not a power of two, misaligned or overlapping
 * tensor data, data past the end of the file. */
#ifndef SD_GGUF_H
#define SD_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

#define SD_GGUF_MAX_DIMS 4
#define SD_GGUF_DEFAULT_ALIGNMENT 32
#define SD_GGUF_QK8_0 32 /* values per Q8_0 block: f16 scale + 32 int8 = 34 bytes */

typedef enum sd_gguf_vtype {
    SD_GGUF_U8 = 0, SD_GGUF_I8 = 1, SD_GGUF_U16 = 2, SD_GGUF_I16 = 3, SD_GGUF_U32 = 4, SD_GGUF_I32 = 5,
    SD_GGUF_F32 = 6, SD_GGUF_BOOL = 7, SD_GGUF_STRING = 8, SD_GGUF_ARRAY = 9, SD_GGUF_U64 = 10,
    SD_GGUF_I64 = 11, SD_GGUF_F64 = 12, SD_GGUF_VTYPE_COUNT
} sd_gguf_vtype;

/* The ggml tensor types semid reads and writes (ggml.h numbering); the reader also accepts every
 * other ggml type's layout (sizes known) but converts only these to float. */
typedef enum sd_ggml_type {
    SD_GGML_F32 = 0, SD_GGML_F16 = 1, SD_GGML_Q8_0 = 8, SD_GGML_BF16 = 30,
} sd_ggml_type;

/* llama.cpp's general.file_type (LlamaFileType) for the types above. */
enum { SD_GGUF_FT_ALL_F32 = 0, SD_GGUF_FT_MOSTLY_F16 = 1, SD_GGUF_FT_MOSTLY_Q8_0 = 7, SD_GGUF_FT_MOSTLY_BF16 = 32 };

const char *sd_gguf_vtype_name(int t);   /* "u32", "string", ... ("?" when unknown) */
const char *sd_ggml_type_name(int t);    /* "F32", "Q8_0", ... ("?" when unknown) */
/* Bytes of a row of n values of type t (0 when t is unknown or n is not a whole number of blocks). */
size_t sd_ggml_row_size(int t, int64_t n);

/* ---- reading ---- */
typedef struct sd_gguf_str { const char *s; uint64_t len; } sd_gguf_str; /* into the file, no NUL */

typedef struct sd_gguf_kv {
    char *key;                 /* NUL-terminated copy */
    sd_gguf_vtype type;
    union { uint64_t u; int64_t i; double f; bool b; } v; /* scalars, widened (f32 -> double) */
    sd_gguf_str str;           /* STRING */
    sd_gguf_vtype arr_type;    /* ARRAY: element type, count, elements in file order */
    uint64_t arr_n;
    const uint8_t *arr_data;   /* scalar elements (unaligned, little-endian) */
    sd_gguf_str *arr_str;      /* string elements [arr_n] */
} sd_gguf_kv;

typedef struct sd_gguf_tensor {
    char *name;
    int n_dims;
    int64_t ne[SD_GGUF_MAX_DIMS]; /* unused dims 1 */
    int type;                  /* ggml type */
    uint64_t offset;           /* in the data region */
    size_t nbytes;
    int64_t numel;
    const uint8_t *data;       /* into the file */
} sd_gguf_tensor;

typedef struct sd_gguf sd_gguf;

/* Maps and parses a file. */
int sd_gguf_open(sd_gguf **out, const char *path, sd_err *err);
/* Parses an image in memory (borrowed until sd_gguf_close); label names it in errors. */
int sd_gguf_open_buffer(sd_gguf **out, const void *buf, size_t len, const char *label, sd_err *err);
void sd_gguf_close(sd_gguf *g);

uint32_t sd_gguf_version(const sd_gguf *g);
uint32_t sd_gguf_alignment(const sd_gguf *g);
size_t sd_gguf_data_offset(const sd_gguf *g); /* start of the data region in the file */
const char *sd_gguf_label(const sd_gguf *g);
int sd_gguf_kv_count(const sd_gguf *g);
const sd_gguf_kv *sd_gguf_kv_at(const sd_gguf *g, int i);
const sd_gguf_kv *sd_gguf_find(const sd_gguf *g, const char *key); /* NULL if absent */
int sd_gguf_tensor_count(const sd_gguf *g);
const sd_gguf_tensor *sd_gguf_tensor_at(const sd_gguf *g, int i);
const sd_gguf_tensor *sd_gguf_find_tensor(const sd_gguf *g, const char *name);

/* Typed lookups: missing or of another type is an error naming the key and what it holds.
 * get_uint accepts any unsigned or non-negative signed integer type; get_float f32 or f64. */
int sd_gguf_get_uint(const sd_gguf *g, const char *key, uint64_t *out, sd_err *err);
int sd_gguf_get_float(const sd_gguf *g, const char *key, double *out, sd_err *err);
int sd_gguf_get_str(const sd_gguf *g, const char *key, sd_gguf_str *out, sd_err *err);
int sd_gguf_get_bool(const sd_gguf *g, const char *key, bool *out, sd_err *err);
/* An array of elem type (any integer type when elem is SD_GGUF_I32: values read as int64). */
int sd_gguf_get_array(const sd_gguf *g, const char *key, sd_gguf_vtype elem, const sd_gguf_kv **out, sd_err *err);
/* Element i of an integer array as int64 (the caller checked i < arr_n). */
int64_t sd_gguf_arr_int(const sd_gguf_kv *kv, uint64_t i);

/* Converts a F32, F16, BF16 or Q8_0 tensor into n = numel floats (ne[0] fastest). Other types:
 * an error naming the tensor and its type. */
int sd_gguf_tensor_f32(const sd_gguf *g, const sd_gguf_tensor *t, float *out, size_t n, sd_err *err);

/* ---- writing ----
 * Key-values and tensors are added in order and written in that order; tensor data is taken
 * by reference as float32 rows (valid until the write) and converted while writing, so no
 * second copy of the model is held. */
typedef struct sd_gguf_writer sd_gguf_writer;
sd_gguf_writer *sd_gguf_writer_new(void);
void sd_gguf_writer_free(sd_gguf_writer *w);
void sd_gguf_add_u32(sd_gguf_writer *w, const char *key, uint32_t v);
void sd_gguf_add_i32(sd_gguf_writer *w, const char *key, int32_t v);
void sd_gguf_add_f32(sd_gguf_writer *w, const char *key, float v);
void sd_gguf_add_bool(sd_gguf_writer *w, const char *key, bool v);
void sd_gguf_add_str(sd_gguf_writer *w, const char *key, const char *s);
/* String array: strs[i] of lens[i] bytes (lens NULL: strlen), copied. */
void sd_gguf_add_str_array(sd_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, size_t n);
void sd_gguf_add_i32_array(sd_gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* A tensor of n_dims dims ne (ne[0] = row length) from float32 src (numel floats, row-major with
 * ne[0] fastest), stored as type (F32, F16, BF16, or Q8_0 when ne[0] % 32 == 0). */
int sd_gguf_add_tensor(sd_gguf_writer *w, const char *name, int n_dims, const int64_t *ne, sd_ggml_type type,
                       const float *src, sd_err *err);
/* Bytes the file will have. */
uint64_t sd_gguf_writer_size(const sd_gguf_writer *w);
/* Writes the file atomically (temp + rename; sd_atomic_open's checks on path). */
int sd_gguf_writer_write(sd_gguf_writer *w, const char *path, sd_err *err);

/* Q8_0 as ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = round(x / d)
 * (half away from zero), d stored as f16. n % 32 == 0; out holds n / 32 * 34 bytes. */
void sd_q8_0_quantize(const float *x, size_t n, uint8_t *out);
void sd_q8_0_dequantize(const uint8_t *in, size_t n, float *out);

#endif
