/* safetensors: reading (mmap, bounds-checked, single files and sharded folders) and writing
 * (atomic, optionally narrowing F32 to BF16/F16, optionally sharded with an index).
 *
 * File layout: 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value"}}
 * padded with spaces, then the data region; offsets are relative to the data region.
 *
 * Validation follows the Hugging Face implementation (safetensors crate, `validate`): N at most
 * 100,000,000 and within the file; the header is UTF-8 and starts with '{'; every tensor has a
 * known dtype, non-negative integer dims whose product does not overflow, and end - begin ==
 * numel * dtype size; sorted by offset, tensors are contiguous from 0 (no gaps, no overlap) and
 * the last one ends exactly at the end of the file (no trailing bytes). Also rejected here:
 * duplicate tensor names, __metadata__ values that are not strings, more than SD_ST_MAX_DIMS dims.
 * Every error names the file and, where there is one, the tensor.
 *
 * Sharded checkpoints: a folder with model.safetensors.index.json
 * ({"metadata": {...}, "weight_map": {"tensor": "shard file"}}) opens as one set; lookups go
 * across shards. Shard names must be plain relative paths inside the folder (no "..", not
 * absolute); each weight_map entry must exist in the shard it names; a name present in two
 * shards is an error. */
#ifndef SD_SAFETENSORS_H
#define SD_SAFETENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/err.h"
#include "io/dtype.h"

#define SD_ST_MAX_DIMS 8
#define SD_ST_MAX_HEADER 100000000ull

typedef struct sd_st_tensor {
    const char *name;
    sd_dtype dtype;
    int ndim;
    int64_t shape[SD_ST_MAX_DIMS];
    size_t numel, nbytes;
    size_t offset;     /* of the data, in bytes from the start of the file */
    const void *data;  /* into the mapping, in file (little-endian) order; aligned to the dtype
                          size only if the writer ordered tensors so (ours and HF's do) */
    const char *file;  /* path (or label) of the file holding it */
} sd_st_tensor;

typedef struct sd_st sd_st;

/* Opens a .safetensors file, a *.safetensors.index.json, or a folder holding
 * model.safetensors.index.json or model.safetensors (else the only *.safetensors[.index.json]). */
int sd_st_open(sd_st **out, const char *path, sd_err *err);
/* Parses a safetensors image in memory (borrowed: keep buf alive until sd_st_close). */
int sd_st_open_buffer(sd_st **out, const void *buf, size_t len, const char *label, sd_err *err);
void sd_st_close(sd_st *st);

/* Tensors in file order (shards in index order of first mention, each in offset order). */
int sd_st_count(const sd_st *st);
const sd_st_tensor *sd_st_get(const sd_st *st, int i);
const sd_st_tensor *sd_st_find(const sd_st *st, const char *name);   /* NULL if absent */
/* __metadata__ value (first shard that has the key), NULL if absent. */
const char *sd_st_meta(const sd_st *st, const char *key);
int sd_st_meta_count(const sd_st *st);
void sd_st_meta_at(const sd_st *st, int i, const char **key, const char **value);
/* The index file's "metadata" object, NULL for a single file. */
const cJSON *sd_st_index_meta(const sd_st *st);
int sd_st_shard_count(const sd_st *st);

/* Error unless t has exactly this shape: "file: tensor \"x\": shape [2, 3], expected [3, 2]". */
int sd_st_check_shape(const sd_st_tensor *t, int ndim, const int64_t *shape, sd_err *err);
/* Converts the tensor (any float or integer dtype) into n floats; n must equal numel. */
int sd_st_read_f32(const sd_st_tensor *t, float *out, size_t n, sd_err *err);
/* Integer (or BOOL) tensor into n int64. */
int sd_st_read_i64(const sd_st_tensor *t, int64_t *out, size_t n, sd_err *err);

/* ---- writing ----
 * Tensors are added by reference (data must stay valid until the write) and written in order of
 * decreasing dtype size, then insertion order, so every tensor is aligned to its element size. */
typedef struct sd_st_writer sd_st_writer;
sd_st_writer *sd_st_writer_new(void);
void sd_st_writer_free(sd_st_writer *w);
/* Adds or replaces a __metadata__ entry. */
void sd_st_writer_meta(sd_st_writer *w, const char *key, const char *value);
/* Float data stored as store_as (SD_DT_F32, SD_DT_BF16 or SD_DT_F16; round-to-nearest-even). */
int sd_st_writer_add_f32(sd_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data,
                         sd_dtype store_as, sd_err *err);
/* Bytes already in dtype's little-endian layout (e.g. I64 ids, U8 masks). */
int sd_st_writer_add_raw(sd_st_writer *w, const char *name, sd_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, sd_err *err);
size_t sd_st_writer_data_bytes(const sd_st_writer *w);
/* One file, written atomically (temp + rename). */
int sd_st_writer_write(const sd_st_writer *w, const char *path, sd_err *err);
/* Into dir as BASE.safetensors when all fits in max_shard_bytes, else as
 * BASE-00001-of-0000N.safetensors (tensors in order, a new shard whenever the next tensor would
 * pass the limit; a bigger tensor gets a shard of its own) plus BASE.safetensors.index.json
 * (weight_map sorted by name, metadata.total_size). Shards are written before the index; stale
 * files of the other layout (old index, old shards, old single file) are removed afterwards. */
int sd_st_writer_write_sharded(const sd_st_writer *w, const char *dir, const char *base, size_t max_shard_bytes,
                               sd_err *err);

#endif
