#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ids/rqvae.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "nn/checkpoint.h"
#include "nn/ops.h"

static char *cfg_json(const sd_rqvae_cfg *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "dim", c->dim);
    cJSON *h = cJSON_AddArrayToObject(j, "hidden");
    for (int i = 0; i < c->n_hidden; i++) cJSON_AddItemToArray(h, cJSON_CreateNumber(c->hidden[i]));
    cJSON_AddNumberToObject(j, "latent", c->latent);
    cJSON_AddNumberToObject(j, "levels", c->levels);
    cJSON_AddNumberToObject(j, "codes", c->codes);
    cJSON_AddNumberToObject(j, "beta", c->beta);
    cJSON_AddStringToObject(j, "gradient", c->grad == SD_RQVAE_STE ? "ste" : "rotation");
    cJSON_AddStringToObject(j, "recon", c->reduction == SD_REDUCE_MEAN ? "mean" : "sum");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static int cfg_parse(const char *text, const char *path, sd_rqvae_cfg *c, sd_err *err) {
    char where[1100];
    snprintf(where, sizeof where, "%s: metadata \"config\"", path);
    cJSON *j;
    int rc = sd_json_parse(text, strlen(text), where, &j, err);
    if (rc) return rc;
    memset(c, 0, sizeof *c);
    const cJSON *h;
    const char *grad, *recon;
    double beta;
    if (!(rc = sd_json_get_int(j, "dim", &c->dim, where, err)) && !(rc = sd_json_get_array(j, "hidden", &h, where, err)) &&
        !(rc = sd_json_get_int(j, "latent", &c->latent, where, err)) &&
        !(rc = sd_json_get_int(j, "levels", &c->levels, where, err)) &&
        !(rc = sd_json_get_int(j, "codes", &c->codes, where, err)) &&
        !(rc = sd_json_get_double(j, "beta", &beta, where, err)) &&
        !(rc = sd_json_opt_string(j, "gradient", &grad, "rotation", where, err)) &&
        !(rc = sd_json_opt_string(j, "recon", &recon, "sum", where, err))) {
        c->beta = (float)beta;
        c->grad = !strcmp(grad, "ste") ? SD_RQVAE_STE : SD_RQVAE_ROTATION;
        c->reduction = !strcmp(recon, "mean") ? SD_REDUCE_MEAN : SD_REDUCE_SUM;
        int nh = cJSON_GetArraySize(h);
        if (nh > SD_RQVAE_MAX_HIDDEN) rc = sd_errf(err, SD_EFORMAT, "%s: %d hidden layers (at most %d)", where, nh, SD_RQVAE_MAX_HIDDEN);
        for (int i = 0; i < nh && !rc; i++) {
            int64_t v;
            char what[32];
            snprintf(what, sizeof what, "hidden[%d]", i);
            if (!(rc = sd_json_as_i64(cJSON_GetArrayItem(h, i), &v, where, what, err))) {
                if (v < 1 || v > (1 << 24)) rc = sd_errf(err, SD_EFORMAT, "%s: %s = %lld out of range", where, what, (long long)v);
                c->hidden[i] = (int)v;
            }
        }
        c->n_hidden = nh;
    }
    cJSON_Delete(j);
    if (!rc && (rc = sd_rqvae_cfg_check(c, err))) {
        /* the check speaks of options (usage, exit 2); here the values come from a file */
        sd_err_prefix(err, "%s", where);
        rc = SD_EFORMAT;
        if (err) err->code = rc;
    }
    return rc;
}

int sd_rqvae_save(const sd_rqvae *m, const char *path, sd_err *err) {
    sd_st_writer *w = sd_st_writer_new();
    char *cfg = cfg_json(&m->cfg);
    sd_st_writer_meta(w, "format", "pt");
    sd_st_writer_meta(w, "semid", "rqvae-1");
    sd_st_writer_meta(w, "config", cfg);
    int rc = sd_weights_add(w, &m->params, NULL, err);
    if (rc) sd_err_prefix(err, "%s", path);
    else rc = sd_st_writer_write(w, path, err);
    free(cfg);
    sd_st_writer_free(w);
    return rc;
}

int sd_rqvae_load(sd_rqvae *m, const char *path, sd_err *err) {
    memset(m, 0, sizeof *m);
    sd_st *st;
    int rc = sd_st_open(&st, path, err);
    if (rc) return rc;
    const char *kind = sd_st_meta(st, "semid"), *cfg = sd_st_meta(st, "config");
    sd_rqvae_cfg c;
    if (!kind || strcmp(kind, "rqvae-1"))
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"semid\" is %s%s%s, expected \"rqvae-1\"", path, kind ? "\"" : "",
                     kind ? kind : "missing", kind ? "\"" : "");
    else if (!cfg)
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"config\" missing", path);
    else if (!(rc = cfg_parse(cfg, path, &c, err)) && !(rc = sd_rqvae_init(m, &c, 0, err))) {
        if ((rc = sd_weights_load_st(st, &m->params, NULL, err))) sd_rqvae_free(m);
    }
    sd_st_close(st);
    return rc;
}
