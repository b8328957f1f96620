#include "nn/train_ckpt.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "nn/checkpoint.h"

/* The checkpoint's parameter set: P's views, then (with_best) the same views under SD_BEST_PREFIX. */
static void ck_declare(sd_params *ck, const sd_params *P, bool with_best) {
    sd_params_init(ck);
    for (int k = 0; k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        sd_params_add(ck, v->name, v->ndim, v->shape, v->weight_decay);
    }
    char name[1024];
    for (int k = 0; with_best && k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        snprintf(name, sizeof name, "%s%s", SD_BEST_PREFIX, v->name);
        sd_params_add(ck, name, v->ndim, v->shape, false);
    }
}

void sd_ckpt_put_bits(cJSON *o, const char *key, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, u);
    cJSON_AddStringToObject(o, key, buf);
}

int sd_ckpt_get_bits(const cJSON *o, const char *key, double *x) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) return -1;
    char *end;
    uint64_t u = strtoull(v->valuestring, &end, 16);
    if (*end) return -1;
    memcpy(x, &u, sizeof u);
    return 0;
}

int sd_ckpt_get_int(const cJSON *o, const char *key, int64_t *x) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) return -1;
    *x = (int64_t)v->valuedouble;
    return 0;
}

int sd_train_ckpt_save(const char *path, const sd_params *P, const float *best, int64_t step, const cJSON *config,
                       const cJSON *state, sd_err *err) {
    sd_params ck;
    ck_declare(&ck, P, best != NULL);
    sd_params_alloc(&ck);
    sd_params_alloc_train(&ck);
    for (int k = 0; k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        size_t o = ck.views[k].offset, bytes = v->numel * sizeof(float);
        memcpy(ck.data + o, P->data + v->offset, bytes);
        memcpy(ck.m + o, P->m + v->offset, bytes);
        memcpy(ck.v + o, P->v + v->offset, bytes);
        if (best) memcpy(ck.data + ck.views[P->n_views + k].offset, best + v->offset, bytes);
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddItemToObject(meta, "config", cJSON_Duplicate(config, true));
    cJSON_AddItemToObject(meta, "state", cJSON_Duplicate(state, true));
    char *text = cJSON_PrintUnformatted(meta);
    int rc = sd_ckpt_save(path, &ck, step, NULL, text, err);
    free(text);
    cJSON_Delete(meta);
    sd_params_free(&ck);
    return rc;
}

/* Error naming the first key whose value differs between the checkpoint (have) and the run (want). */
static int compare_config(const char *path, const cJSON *have, const cJSON *want, sd_err *err) {
    if (!cJSON_IsObject(have)) return sd_errf(err, SD_EFORMAT, "%s: checkpoint config is not a JSON object", path);
    for (const cJSON *w = want->child; w; w = w->next) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
        char *ws = cJSON_PrintUnformatted(w), *hs = h ? cJSON_PrintUnformatted(h) : NULL;
        int differ = !hs || strcmp(ws, hs) != 0;
        if (differ)
            sd_errf(err, SD_ESTATE,
                    "%s: checkpoint does not match this run: \"%s\" is %s in the checkpoint, %s now "
                    "(same options as the interrupted run, or start over without --resume)",
                    path, w->string, hs ? hs : "absent", ws);
        free(ws);
        free(hs);
        if (differ) return SD_ESTATE;
    }
    for (const cJSON *h = have->child; h; h = h->next)
        if (!cJSON_GetObjectItemCaseSensitive(want, h->string))
            return sd_errf(err, SD_ESTATE, "%s: checkpoint does not match this run: it has \"%s\", this run does not",
                           path, h->string);
    return 0;
}

int sd_train_ckpt_read_state(const char *path, const char *kind, const cJSON *config, cJSON **state, sd_err *err) {
    *state = NULL;
    if (!sd_exists(path))
        return sd_errf(err, SD_ESTATE, "%s: no checkpoint to resume from (train once without --resume)", path);
    /* The config first, so a mismatch names the option rather than a tensor shape. */
    sd_st *st0;
    int rc = sd_st_open(&st0, path, err);
    if (rc) return rc;
    const char *cfg0 = sd_st_meta(st0, "config");
    cJSON *meta = cfg0 ? cJSON_Parse(cfg0) : NULL;
    if (!cJSON_IsObject(meta))
        rc = sd_errf(err, SD_EFORMAT, "%s: not a semid %s training checkpoint (metadata \"config\" missing or not "
                                      "a JSON object)", path, kind ? kind : "");
    else
        rc = compare_config(path, cJSON_GetObjectItemCaseSensitive(meta, "config"), config, err);
    sd_st_close(st0);
    const cJSON *s = rc ? NULL : cJSON_GetObjectItemCaseSensitive(meta, "state");
    if (!rc && !cJSON_IsObject(s))
        rc = sd_errf(err, SD_EFORMAT, "%s: training state in metadata \"config\" missing or malformed", path);
    if (!rc) *state = cJSON_Duplicate(s, true);
    cJSON_Delete(meta);
    return rc;
}

int sd_train_ckpt_load_params(const char *path, sd_params *P, float *best, int64_t step, sd_err *err) {
    sd_params ck;
    ck_declare(&ck, P, best != NULL);
    int64_t file_step = 0;
    int rc = sd_ckpt_load(path, &ck, &file_step, NULL, NULL, err);
    if (!rc && step != file_step)
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"step\" %" PRId64 " disagrees with the training state's %" PRId64,
                     path, file_step, step);
    if (!rc) {
        for (int k = 0; k < P->n_views; k++) {
            const sd_view *v = &P->views[k];
            size_t o = ck.views[k].offset, bytes = v->numel * sizeof(float);
            memcpy(P->data + v->offset, ck.data + o, bytes);
            memcpy(P->m + v->offset, ck.m + o, bytes);
            memcpy(P->v + v->offset, ck.v + o, bytes);
            if (best) memcpy(best + v->offset, ck.data + ck.views[P->n_views + k].offset, bytes);
        }
    }
    sd_params_free(&ck);
    return rc;
}
