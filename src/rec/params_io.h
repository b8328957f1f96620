/* Model files of the recommenders: all parameter views as one F32 safetensors file (through
 * nn/checkpoint.h's sd_weights_save/load, so shapes and names are checked there) and a small
 * JSON config beside it. */
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
