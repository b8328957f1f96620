/* .npy header and data: sd_npy_parse on the raw input, then both conversions. */
#include "fuzz_common.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    sd_quiet = true;
    sd_npy a;
    sd_err err;
    if (sd_npy_parse(&a, data, n, "fuzz.npy", &err)) return 0;
    if (a.numel <= (1u << 16)) {
        float *f = malloc((a.numel ? a.numel : 1) * sizeof *f);
        int64_t *v = malloc((a.numel ? a.numel : 1) * sizeof *v);
        sd_npy_read_f32(&a, f, a.numel, &err);
        sd_npy_read_i64(&a, v, a.numel, &err);
        free(f);
        free(v);
    }
    sd_npy_close(&a);
    return 0;
}
