/* Ways of turning item embeddings into semantic-ID codes. Each method maps an embedding matrix
 * [n, d] to codes [n, levels] in 0..codes-1, and may hand back the reconstruction of each
 * embedding implied by its codes (for the reconstruction error). `semid ids --method NAME`
 * looks methods up here; a new one (RQ-VAE) is one more entry in the table in sid_method.c. */
#ifndef SD_SID_METHOD_H
#define SD_SID_METHOD_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

typedef struct sd_sid_params {
    int levels;           /* codebooks */
    int codes;            /* codes per codebook (K) */
    int iters;            /* training iterations per level (k-means: Lloyd iterations) */
    bool balanced;        /* cap cluster sizes (methods that support it) */
    bool spread;          /* rqkmeans: move items that share all codes to free last-level codes */
    uint64_t seed;
    const char *work_dir; /* where a trained model may be saved; may be NULL */
    bool progress;
    const void *method_opts; /* method-specific options (rqvae: sd_rqvae_method_opts), NULL = defaults */
} sd_sid_params;

typedef struct sd_sid_output {
    int32_t *codes;       /* [n, levels], malloc'd by the method */
    float *recon;         /* [n, d] reconstruction, malloc'd, or NULL if the method has none */
    float *codebooks;     /* [levels, codes, d] when the codebooks live in embedding space, else NULL */
    char *details_json;   /* method-specific figures (training run) as JSON object text, malloc'd, or NULL */
} sd_sid_output;
void sd_sid_output_free(sd_sid_output *o);

typedef int (*sd_sid_method_fn)(const float *emb, int64_t n, int64_t d, const sd_sid_params *p, sd_sid_output *out,
                                sd_err *err);

typedef struct sd_sid_method {
    const char *name;
    const char *summary;
    sd_sid_method_fn run;
} sd_sid_method;

/* Codes per level when the user sets none: 256, or for catalogues under 1,024 items the largest
 * power of two <= n / 4 (at least 2), so every level can still be used well (256 codes over 300
 * items leave most codes empty and every level's perplexity low). */
int sd_sid_default_codes(int64_t n);

/* NULL if unknown. */
const sd_sid_method *sd_sid_method_find(const char *name);
int sd_sid_method_count(void);
const sd_sid_method *sd_sid_method_at(int i);

#endif
