/* Runs one loader over files cut from the fuzz input and frees what it made. Options come from
 * the input length so both the filtered and the unfiltered paths (and --strict) get exercised. */
#ifndef SD_FUZZ_LOADER_H
#define SD_FUZZ_LOADER_H
#include "fuzz_common.h"
#include "data/loaders.h"

static inline sd_prep_opts fz_opts(size_t n) {
    bool filters = n & 2;
    return (sd_prep_opts){.strict = n & 1,
                          .min_title_chars = filters ? 20 : 0, .min_desc_chars = filters ? 100 : 0,
                          .min_user_items = filters ? 3 : 0, .max_user_items = filters ? 100 : 0,
                          .min_rating = (n & 4) ? 3.5 : 0, .seed = 42};
}

static inline void fz_run_loader(sd_loader_fn fn, const sd_prep_opts *o) {
    sd_prep_stats st = {0};
    sd_catalog *cat;
    sd_sequences seq;
    sd_err err;
    if (fn(o, &cat, &seq, &st, &err) == 0) {
        if (seq.n_items != cat->n_items) abort();
        for (int32_t u = 0; u < seq.n_users; u++)
            for (int32_t k = 0; k < sd_seq_len(&seq, u); k++)
                if (sd_seq_items(&seq, u)[k] < 0 || sd_seq_items(&seq, u)[k] >= cat->n_items) abort();
        sd_catalog_free(cat);
        sd_sequences_free(&seq);
    }
}
#endif
