/* `semid ids --method rqvae`: trains an RQ-VAE on the embeddings and returns its codes through
 * the SID method table (ids/sid_method.h), so the uniqueness code, outputs and metrics are those
 * of every method. */
#ifndef SD_RQVAE_METHOD_H
#define SD_RQVAE_METHOD_H
#include "ids/rqvae.h"
#include "ids/sid_method.h"

typedef struct sd_rqvae_method_opts {
    sd_rqvae_cfg model;        /* dim, levels and codes are taken from the data and sd_sid_params */
    sd_rqvae_train_opts train; /* seed and progress are taken from sd_sid_params */
    const char *model_path;    /* where to save the trained model; NULL = WORK/rqvae.safetensors when
                                  work_dir is set, else not saved */
    const char *model_name;    /* the path the report names as "model" (NULL = model_path): where
                                  the model will be once its staged file is renamed into place */
} sd_rqvae_method_opts;
void sd_rqvae_method_defaults(sd_rqvae_method_opts *o);

/* emb [n, d] -> out->codes [n, levels], out->recon [n, d] (decoder output in embedding units),
 * out->details_json (training figures); codebooks stay NULL (they live in the latent space).
 * p->method_opts: const sd_rqvae_method_opts * or NULL for the defaults. */
int sd_rqvae_method(const float *emb, int64_t n, int64_t d, const sd_sid_params *p, sd_sid_output *out, sd_err *err);

#endif
