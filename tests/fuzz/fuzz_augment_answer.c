/* An LLM's answer (the assistant message content) through sd_aug_validate: an accepted answer
 * holds only values of the schema (closed fields point at the schema's own spelling), at most
 * SD_AUG_MAX_GENRES distinct genres and a short one-line franchise; a rejected one fills nothing. */
#include "fuzz_common.h"
#include "data/augment_schema.h"

static bool in_set(const sd_aug_field_def *d, const char *v) {
    for (const char *const *a = d->allowed; *a; a++) if (*a == v) return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    sd_aug_values v;
    char *owned = NULL, why[160];
    sd_aug_reason r = sd_aug_validate((const char *)data, n, &v, &owned, why, sizeof why);
    if (r >= SD_AUG_N_REASONS) abort();
    if (r != SD_AUG_OK) {
        if (owned || v.n_genres) abort();
        for (int f = 0; f < SD_AUG_N_FIELDS; f++) if (v.v[f]) abort();
        return 0;
    }
    if (!v.v[SD_AUG_PRODUCT_TYPE] || v.n_genres < 0 || v.n_genres > SD_AUG_MAX_GENRES) abort();
    for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
        const sd_aug_field_def *d = &sd_aug_fields[f];
        if (v.v[f] && d->allowed && !in_set(d, v.v[f])) abort();
    }
    for (int g = 0; g < v.n_genres; g++) {
        if (!in_set(&sd_aug_fields[SD_AUG_GENRE], v.genres[g])) abort();
        for (int h = 0; h < g; h++) if (v.genres[h] == v.genres[g]) abort();
    }
    const char *fr = v.v[SD_AUG_FRANCHISE];
    if (fr && (!fr[0] || strlen(fr) > SD_AUG_MAX_FRANCHISE || strpbrk(fr, "\n\r\t"))) abort();
    free(owned);
    return 0;
}
