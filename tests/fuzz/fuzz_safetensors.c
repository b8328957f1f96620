/* safetensors header and data: sd_st_open_buffer on the raw input, then every accessor and a
 * conversion of every (small) tensor, so offsets, shapes and dtypes the parser accepted are
 * also safe to use. */
#include "fuzz_common.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    sd_quiet = true;
    sd_st *st;
    sd_err err;
    if (sd_st_open_buffer(&st, data, n, "fuzz.safetensors", &err)) return 0;
    for (int i = 0; i < sd_st_count(st); i++) {
        const sd_st_tensor *t = sd_st_get(st, i);
        if (sd_st_find(st, t->name) != t) abort(); /* names are unique: lookup must agree */
        if (t->numel > (1u << 16)) continue;
        float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
        int64_t *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
        sd_st_read_f32(t, f, t->numel, &err);
        sd_st_read_i64(t, v, t->numel, &err);
        free(f);
        free(v);
        int64_t shape[SD_ST_MAX_DIMS] = {0};
        sd_st_check_shape(t, t->ndim, t->shape, &err);
        sd_st_check_shape(t, 1, shape, &err);
    }
    for (int i = 0; i < sd_st_meta_count(st); i++) {
        const char *k, *v;
        sd_st_meta_at(st, i, &k, &v);
        if (sd_st_meta(st, k) == NULL) abort();
    }
    sd_st_close(st);
    return 0;
}
