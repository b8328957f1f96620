/* SASRec text format ("user item" lines) through sd_load_sasrec. */
#include "fuzz_common.h"
#include "data/loaders.h"

#ifdef SD_FUZZ_SKIP_KNOWN
/* Issue 10 item 5: one line naming a huge item number makes the loader create that many
 * placeholder items. Until that fix is merged, inputs with a number above 100000 are skipped so
 * the fuzzer explores past it (make fuzz FUZZ_SKIP_KNOWN=0 fuzzes them too). */
static int known_bug(const uint8_t *data, size_t n) {
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] >= '0' && data[i] <= '9') {
            v = v * 10 + (data[i] - '0');
            if (v > 100000) return 1;
        } else {
            v = 0;
        }
    }
    return 0;
}
#else
static int known_bug(const uint8_t *data, size_t n) { (void)data; (void)n; return 0; }
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (known_bug(data, n)) return 0;
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
