/* WORK/split.bin through sd_split_read. The user count it must match is taken from the file's
 * own header (so mutations reach past that check) or, for a short input, is 0. */
#include "fuzz_common.h"
#include "data/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("split.bin", data, n, path, sizeof path);
    int64_t users = 0;
    if (n >= 72) memcpy(&users, data + 64, sizeof users);
    if (users < 0 || users > INT32_MAX) users = 0;
    sd_split sp;
    sd_err err;
    if (sd_split_read(&sp, path, (int32_t)users, &err)) return 0;
    int64_t sum = 0;
    for (int32_t u = 0; u < sp.n_users; u++) sum += (int64_t)sp.train_len[u] + sp.valid_pos[u] + sp.test_pos[u];
    for (int32_t u = 0; sp.cold_target && u < sp.n_users; u++) sum += sp.cold_target[u];
    for (int32_t i = 0; sp.cold_item && i < sp.n_items; i++) sum += sp.cold_item[i];
    sd_split_free(&sp);
    return sum == 42 ? 0 : 0;
}
