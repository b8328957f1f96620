/* WORK/sids.tsv through sd_sid_table_read_tsv. The first byte picks the reader's arguments:
 * bit 0 checks the rows against a three-item catalogue (ext ids "a", "b", "c"), bits 1-2 pick
 * K (0 = derived from the tokens, 4, 256, 1000), bit 3 asks for 2 semantic levels instead of
 * "all but the last code". */
#include "fuzz_common.h"
#include "ids/sid_table.h"

static sd_catalog *catalogue(void) {
    static sd_catalog *c;
    if (!c) {
        c = sd_catalog_new();
        static const char *const ids[] = {"a", "b", "c"};
        for (int i = 0; i < 3; i++) {
            sd_item_in in = {.ext_id = ids[i], .title = ids[i]};
            sd_catalog_add(c, &in, NULL);
        }
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    static const int32_t Ks[4] = {0, 4, 256, 1000};
    uint8_t mode = data[0];
    char path[512];
    fz_write("sids.tsv", data + 1, n - 1, path, sizeof path);
    sd_sid_table t;
    sd_err err;
    if (sd_sid_table_read_tsv(&t, path, (mode & 1) ? catalogue() : NULL, Ks[(mode >> 1) & 3], (mode & 8) ? 2 : 0,
                              &err))
        return 0;
    char buf[256];
    for (int32_t i = 0; i < t.n_items && i < 1024; i++) sd_sid_tokens(&t, i, buf, sizeof buf);
    sd_sid_table_free(&t);
    return 0;
}
