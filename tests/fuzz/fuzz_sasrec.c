/* SASRec text format ("user item" lines) through sd_load_sasrec. */
#include "fuzz_common.h"
#include "data/loaders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("data.txt", data, n, path, sizeof path);
    sd_prep_opts o = {.inter_path = path, .strict = n & 1, .min_user_items = (n & 2) ? 3 : 0,
                      .max_user_items = (n & 2) ? 100 : 0, .seed = 42};
    sd_prep_stats st = {0};
    sd_catalog *cat;
    sd_sequences seq;
    sd_err err;
    if (sd_load_sasrec(&o, &cat, &seq, &st, &err) == 0) {
        sd_catalog_free(cat);
        sd_sequences_free(&seq);
    }
    return 0;
}
