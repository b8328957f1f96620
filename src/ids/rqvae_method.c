#include "ids/rqvae_method.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "nn/ops.h"

void sd_rqvae_method_defaults(sd_rqvae_method_opts *o) {
    memset(o, 0, sizeof *o);
    sd_rqvae_cfg_default(&o->model, 0);
    sd_rqvae_train_defaults(&o->train);
}

static char *details(const sd_rqvae *m, const sd_rqvae_train_opts *o, const sd_rqvae_train_stats *s,
                     const char *saved) {
    cJSON *j = cJSON_CreateObject();
    cJSON *h = cJSON_AddArrayToObject(j, "hidden");
    for (int i = 0; i < m->cfg.n_hidden; i++) cJSON_AddItemToArray(h, cJSON_CreateNumber(m->cfg.hidden[i]));
    cJSON_AddNumberToObject(j, "latent", m->cfg.latent);
    cJSON_AddStringToObject(j, "gradient", m->cfg.grad == SD_RQVAE_STE ? "straight-through" : "rotation");
    cJSON_AddStringToObject(j, "recon", m->cfg.reduction == SD_REDUCE_MEAN ? "mean" : "sum");
    cJSON_AddNumberToObject(j, "beta", m->cfg.beta);
    cJSON_AddBoolToObject(j, "standardize", o->standardize);
    cJSON_AddNumberToObject(j, "epochs", o->common.epochs);
    cJSON_AddNumberToObject(j, "batch", s->batch);
    cJSON_AddNumberToObject(j, "lr", o->common.adam.lr);
    cJSON_AddNumberToObject(j, "warmup_steps", s->warmup);
    cJSON_AddNumberToObject(j, "steps", (double)s->steps);
    cJSON_AddNumberToObject(j, "train_items", (double)s->n_train);
    cJSON_AddNumberToObject(j, "val_items", (double)s->n_val);
    cJSON_AddNumberToObject(j, "best_step", (double)s->best_step);
    cJSON_AddNumberToObject(j, "best_val_loss", s->best_val);
    cJSON_AddStringToObject(j, "keep", o->keep == SD_RQVAE_KEEP_DISTINCT ? "distinct" : "val");
    if (s->best_distinct >= 0) cJSON_AddNumberToObject(j, "best_distinct", s->best_distinct);
    cJSON_AddNumberToObject(j, "last_train_loss", s->last_train);
    cJSON_AddNumberToObject(j, "codes_reset", (double)s->codes_reset);
    cJSON_AddNumberToObject(j, "train_seconds", s->seconds);
    if (saved) cJSON_AddStringToObject(j, "model", saved);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return txt;
}

int sd_rqvae_method(const float *emb, int64_t n, int64_t d, const sd_sid_params *p, sd_sid_output *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    sd_rqvae_method_opts o;
    if (p->method_opts) o = *(const sd_rqvae_method_opts *)p->method_opts;
    else sd_rqvae_method_defaults(&o);
    if (d > (1 << 24)) return sd_errf(err, SD_ERANGE, "rqvae: embedding width %lld too large", (long long)d);
    /* the width comes from the data: a bad one is a format error (exit 1), not a usage one as
     * sd_rqvae_init would call it */
    if (d < 1 || n < 1)
        return sd_errf(err, SD_EFORMAT, "rqvae: embeddings of shape (%lld, %lld): need at least one row and one column",
                       (long long)n, (long long)d);
    o.model.dim = (int)d;
    o.model.levels = p->levels;
    o.model.codes = p->codes;
    o.train.common.seed = p->seed;
    o.train.common.progress = p->progress ? "rq-vae training" : NULL;
    sd_rqvae m;
    int rc = sd_rqvae_init(&m, &o.model, sd_mix64(p->seed ^ 0x5eed), err);
    if (rc) return rc;
    sd_rqvae_train_stats st;
    char *path = o.model_path ? sd_xstrdup(o.model_path) : p->work_dir ? sd_path_join(p->work_dir, "rqvae.safetensors") : NULL;
    if ((rc = sd_rqvae_train(&m, emb, n, &o.train, &st, err))) goto done;
    sd_info("rq-vae: %lld steps in %.1f s; best validation loss %.5g at step %lld; %lld codes re-seeded",
            (long long)st.steps, st.seconds, st.best_val, (long long)st.best_step, (long long)st.codes_reset);
    out->codes = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)p->levels), sizeof(int32_t)));
    sd_rqvae_encode(&m, emb, n, 4096, out->codes);
    out->recon = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)d), sizeof(float)));
    sd_rqvae_decode(&m, out->codes, n, 4096, out->recon);
    if (path && (rc = sd_rqvae_save(&m, path, err))) goto done;
    out->details_json = details(&m, &o.train, &st, o.model_name && path ? o.model_name : path);
done:
    if (rc) sd_sid_output_free(out);
    free(path);
    sd_rqvae_free(&m);
    return rc;
}
