#include "rec/params_io.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "nn/checkpoint.h"

int sd_rec_params_save(const sd_params *p, const char *path, sd_err *err) {
    return sd_weights_save(path, p, NULL, err);
}

int sd_rec_params_load(sd_params *p, const char *path, sd_err *err) {
    return sd_weights_load(path, p, NULL, err);
}

int sd_rec_write_json(const char *path, const cJSON *j, sd_err *err) {
    char *s = cJSON_Print(j);
    size_t n = strlen(s);
    s = sd_xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = 0;
    int rc = sd_write_file_atomic(path, s, n + 1, err);
    free(s);
    return rc;
}
