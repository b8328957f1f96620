/* WORK/sid_vocab.json through sd_sid_vocab_read; an accepted vocabulary must answer lookups for
 * every SID token number (and some outside) and survive a write/read round trip unchanged. */
#include "fuzz_common.h"
#include "ids/sid_vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("sid_vocab.json", data, n, path, sizeof path);
    sd_sid_vocab v;
    sd_err err;
    if (sd_sid_vocab_read(&v, path, &err)) return 0;
    sd_sid_vocab_max_codes(&v);
    for (int32_t t = -2; t < v.offset[v.n_levels] + 2 && t < 4096; t++) {
        int level;
        int32_t code;
        if (sd_sid_vocab_code_of(&v, t, &level, &code) == 0 && sd_sid_vocab_sid(&v, level, code) != t) abort();
    }
    char again[512];
    snprintf(again, sizeof again, "%s/again.json", fz_dir());
    if (sd_sid_vocab_write(&v, again, &err) == 0) {
        sd_sid_vocab w;
        if (sd_sid_vocab_read(&w, again, &err)) {
            fprintf(stderr, "written vocabulary does not read back: %s\n", err.msg);
            abort();
        }
        if (w.n_levels != v.n_levels || memcmp(w.offset, v.offset, sizeof v.offset)) abort();
        sd_sid_vocab_free(&w);
    }
    sd_sid_vocab_free(&v);
    return 0;
}
