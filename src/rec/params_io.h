/* Saving and loading an sd_params buffer as a safetensors file (all views, F32, in declaration
 * order) and a small JSON config beside it. Interim: when src/io's safetensors reader/writer is
 * in main, these two functions become thin calls to it; the file format stays the same
 * (8-byte little-endian header length, JSON header {"name": {"dtype": "F32", "shape": [...],
 * "data_offsets": [begin, end]}, ...}, then the raw little-endian data). */
#ifndef SD_PARAMS_IO_H
#define SD_PARAMS_IO_H
#include "base/err.h"
#include "nn/params.h"

int sd_rec_params_save(const sd_params *p, const char *path, sd_err *err);
/* Fills every view of p (already declared and allocated) from path; every view must be present
 * with dtype F32 and the same shape; errors name the file and tensor. */
int sd_rec_params_load(sd_params *p, const char *path, sd_err *err);

/* Writes j pretty-printed with a final newline, atomically. */
typedef struct cJSON cJSON;
int sd_rec_write_json(const char *path, const cJSON *j, sd_err *err);

#endif
