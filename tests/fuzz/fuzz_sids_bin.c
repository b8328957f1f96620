/* WORK/sids.bin through sd_sid_table_load (which validates ranges and uniqueness); an accepted
 * table must give every item a token string. */
#include "fuzz_common.h"
#include "ids/sid_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("sids.bin", data, n, path, sizeof path);
    sd_sid_table t;
    sd_err err;
    if (sd_sid_table_load(&t, path, &err)) return 0;
    char buf[256];
    for (int32_t i = 0; i < t.n_items && i < 1024; i++) sd_sid_tokens(&t, i, buf, sizeof buf);
    sd_sid_table_free(&t);
    return 0;
}
