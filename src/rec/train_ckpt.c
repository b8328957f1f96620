#include "rec/train_ckpt.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "nn/checkpoint.h"

/* The checkpoint's parameter set: P's views, then the same views under SD_BEST_PREFIX. */
static void ck_declare(sd_params *ck, const sd_params *P) {
    sd_params_init(ck);
    for (int k = 0; k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        sd_params_add(ck, v->name, v->ndim, v->shape, v->weight_decay);
    }
    char name[1024];
    for (int k = 0; k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        snprintf(name, sizeof name, "%s%s", SD_BEST_PREFIX, v->name);
        sd_params_add(ck, name, v->ndim, v->shape, false);
    }
}

static void put_bits(cJSON *o, const char *key, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, u);
    cJSON_AddStringToObject(o, key, buf);
}

static int get_bits(const cJSON *o, const char *key, double *x) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) return -1;
    char *end;
    uint64_t u = strtoull(v->valuestring, &end, 16);
    if (*end) return -1;
    memcpy(x, &u, sizeof u);
    return 0;
}

static int get_int(const cJSON *o, const char *key, int64_t *x) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) return -1;
    *x = (int64_t)v->valuedouble;
    return 0;
}

static cJSON *state_json(const sd_rec_state *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", s->epoch);
    cJSON_AddNumberToObject(o, "step", (double)s->step);
    cJSON_AddBoolToObject(o, "done", s->done);
    cJSON_AddNumberToObject(o, "best_epoch", s->best_epoch);
    cJSON_AddNumberToObject(o, "since_best", s->since_best);
    cJSON_AddNumberToObject(o, "threads", sd_threads());
    put_bits(o, "best_ndcg", s->best_ndcg);
    put_bits(o, "last_loss", (double)s->last_loss);
    const sd_metrics *m = &s->best_valid;
    cJSON_AddNumberToObject(o, "valid_users", (double)m->n_users);
    char key[32];
    for (int i = 0; i < SD_METRIC_NK; i++) {
        snprintf(key, sizeof key, "valid_hit%d", i);
        put_bits(o, key, m->hit[i]);
        snprintf(key, sizeof key, "valid_ndcg%d", i);
        put_bits(o, key, m->ndcg[i]);
    }
    put_bits(o, "valid_mrr", m->mrr);
    put_bits(o, "valid_mean_rank", m->mean_rank);
    put_bits(o, "valid_median_rank", m->median_rank);
    return o;
}

static int state_parse(const cJSON *o, sd_rec_state *s) {
    if (!cJSON_IsObject(o)) return -1;
    int64_t ep, step, be, sb, nu;
    double ll;
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(o, "done");
    if (get_int(o, "epoch", &ep) || get_int(o, "step", &step) || get_int(o, "best_epoch", &be) ||
        get_int(o, "since_best", &sb) || get_int(o, "valid_users", &nu) || !cJSON_IsBool(done) ||
        get_bits(o, "best_ndcg", &s->best_ndcg) || get_bits(o, "last_loss", &ll) ||
        get_bits(o, "valid_mrr", &s->best_valid.mrr) || get_bits(o, "valid_mean_rank", &s->best_valid.mean_rank) ||
        get_bits(o, "valid_median_rank", &s->best_valid.median_rank))
        return -1;
    char key[32];
    for (int i = 0; i < SD_METRIC_NK; i++) {
        snprintf(key, sizeof key, "valid_hit%d", i);
        if (get_bits(o, key, &s->best_valid.hit[i])) return -1;
        snprintf(key, sizeof key, "valid_ndcg%d", i);
        if (get_bits(o, key, &s->best_valid.ndcg[i])) return -1;
    }
    if (ep < 0 || step < 0 || be < 0 || sb < 0) return -1;
    s->epoch = (int)ep;
    s->step = step;
    s->done = cJSON_IsTrue(done);
    s->best_epoch = (int)be;
    s->since_best = (int)sb;
    s->best_valid.n_users = nu;
    s->last_loss = (float)ll;
    return 0;
}

int sd_rec_ckpt_save(const char *path, const sd_params *P, const float *best, const sd_rec_state *s,
                     const cJSON *config, sd_err *err) {
    sd_params ck;
    ck_declare(&ck, P);
    sd_params_alloc(&ck);
    sd_params_alloc_train(&ck);
    for (int k = 0; k < P->n_views; k++) {
        const sd_view *v = &P->views[k];
        size_t o = ck.views[k].offset, ob = ck.views[P->n_views + k].offset, bytes = v->numel * sizeof(float);
        memcpy(ck.data + o, P->data + v->offset, bytes);
        memcpy(ck.m + o, P->m + v->offset, bytes);
        memcpy(ck.v + o, P->v + v->offset, bytes);
        memcpy(ck.data + ob, best + v->offset, bytes);
    }
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddItemToObject(meta, "config", cJSON_Duplicate(config, true));
    cJSON_AddItemToObject(meta, "state", state_json(s));
    char *text = cJSON_PrintUnformatted(meta);
    int rc = sd_ckpt_save(path, &ck, s->step, NULL, text, err);
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

int sd_rec_ckpt_load(const char *path, sd_params *P, float *best, sd_rec_state *s, const cJSON *config,
                     sd_err *err) {
    if (!sd_exists(path))
        return sd_errf(err, SD_ESTATE, "%s: no checkpoint to resume from (train once without --resume)", path);
    /* The config first, so a mismatch names the option rather than a tensor shape. */
    sd_st *st0;
    int rc = sd_st_open(&st0, path, err);
    if (rc) return rc;
    const char *cfg0 = sd_st_meta(st0, "config");
    cJSON *meta = cfg0 ? cJSON_Parse(cfg0) : NULL;
    if (!cJSON_IsObject(meta))
        rc = sd_errf(err, SD_EFORMAT, "%s: not a semid sasrec training checkpoint (metadata \"config\" missing or not "
                                      "a JSON object)", path);
    else
        rc = compare_config(path, cJSON_GetObjectItemCaseSensitive(meta, "config"), config, err);
    sd_st_close(st0);
    sd_rec_state st = {0};
    int64_t threads = 0;
    if (!rc && get_int(cJSON_GetObjectItemCaseSensitive(meta, "state"), "threads", &threads)) threads = sd_threads();
    if (!rc && state_parse(cJSON_GetObjectItemCaseSensitive(meta, "state"), &st))
        rc = sd_errf(err, SD_EFORMAT, "%s: training state in metadata \"config\" missing or malformed", path);
    cJSON_Delete(meta);
    if (rc) return rc;
    sd_params ck;
    ck_declare(&ck, P);
    int64_t step = 0;
    rc = sd_ckpt_load(path, &ck, &step, NULL, NULL, err);
    if (!rc && st.step != step)
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"step\" %" PRId64 " disagrees with the training state's %" PRId64,
                     path, step, st.step);
    if (!rc) {
        for (int k = 0; k < P->n_views; k++) {
            const sd_view *v = &P->views[k];
            size_t o = ck.views[k].offset, ob = ck.views[P->n_views + k].offset, bytes = v->numel * sizeof(float);
            memcpy(P->data + v->offset, ck.data + o, bytes);
            memcpy(P->m + v->offset, ck.m + o, bytes);
            memcpy(P->v + v->offset, ck.v + o, bytes);
            memcpy(best + v->offset, ck.data + ob, bytes);
        }
        *s = st;
        if (threads != sd_threads())
            sd_warn("%s: made with %d threads, resuming with %d: results will differ slightly from an uninterrupted "
                    "run (use --threads %d for bit-identical ones)", path, (int)threads, sd_threads(), (int)threads);
    }
    sd_params_free(&ck);
    return rc;
}
