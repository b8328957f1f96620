/* WORK/sequences.bin through sd_sequences_read; what it accepts is then walked in full. */
#include "fuzz_common.h"
#include "data/sequences.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("sequences.bin", data, n, path, sizeof path);
    sd_sequences s;
    sd_err err;
    if (sd_sequences_read(&s, path, &err)) return 0;
    uint64_t sum = 0;
    for (int32_t u = 0; u < s.n_users; u++) {
        const int32_t *it = sd_seq_items(&s, u);
        for (int32_t k = 0; k < sd_seq_len(&s, u); k++) {
            if (it[k] < 0 || it[k] >= s.n_items) abort();
            sum += (uint64_t)it[k] + (uint64_t)s.times[s.offsets[u] + k];
        }
        sum += strlen(s.user_ids[u]);
    }
    /* n_items is bounded by items.jsonl in a work directory, not by this file */
    if (s.n_items <= (1 << 20)) {
        int64_t *counts = calloc(s.n_items ? s.n_items : 1, sizeof *counts);
        sd_sequences_item_counts(&s, counts);
        free(counts);
    }
    sd_sequences_free(&s);
    return sum == 42 ? 0 : 0;
}
