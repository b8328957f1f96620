#include "nn/checkpoint.h"
#include "base/mem.h"
#include "io/json_util.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_TAG "checkpoint-1"

static char *prefixed(const char *prefix, const char *name) {
    size_t a = strlen(prefix), b = strlen(name);
    char *s = sd_xmalloc(a + b + 1);
    memcpy(s, prefix, a);
    memcpy(s + a, name, b + 1);
    return s;
}

int sd_ckpt_save(const char *path, const sd_params *p, int64_t step, const sd_rng *rng, const char *config_json,
                 sd_err *err) {
    if (!p->data || !p->m || !p->v)
        return sd_errf(err, SD_ESTATE, "%s: checkpoint needs parameters and AdamW moments allocated", path);
    if (config_json) {
        cJSON *j;
        int rc = sd_json_parse(config_json, strlen(config_json), "checkpoint config", &j, err);
        if (rc) return sd_err_prefix(err, "%s", path);
        cJSON_Delete(j);
    }
    sd_st_writer *w = sd_st_writer_new();
    char **names = sd_xcalloc(2 * (size_t)p->n_views + 1, sizeof(char *));
    int rc = 0;
    for (int k = 0; k < p->n_views && !rc; k++) {
        const sd_view *v = &p->views[k];
        names[2 * k] = prefixed(SD_CKPT_M_PREFIX, v->name);
        names[2 * k + 1] = prefixed(SD_CKPT_V_PREFIX, v->name);
        rc = sd_st_writer_add_f32(w, v->name, v->ndim, v->shape, p->data + v->offset, SD_DT_F32, err);
        if (!rc) rc = sd_st_writer_add_f32(w, names[2 * k], v->ndim, v->shape, p->m + v->offset, SD_DT_F32, err);
        if (!rc) rc = sd_st_writer_add_f32(w, names[2 * k + 1], v->ndim, v->shape, p->v + v->offset, SD_DT_F32, err);
    }
    if (!rc) {
        char buf[128];
        sd_st_writer_meta(w, "format", "pt");
        sd_st_writer_meta(w, "semid", CKPT_TAG);
        snprintf(buf, sizeof buf, "%" PRId64, step);
        sd_st_writer_meta(w, "step", buf);
        if (rng) {
            snprintf(buf, sizeof buf, "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64, rng->s[0], rng->s[1],
                     rng->s[2], rng->s[3]);
            sd_st_writer_meta(w, "rng", buf);
        }
        if (config_json) sd_st_writer_meta(w, "config", config_json);
        rc = sd_st_writer_write(w, path, err);
    } else {
        sd_err_prefix(err, "%s", path);
    }
    for (int k = 0; k < 2 * p->n_views; k++) free(names[k]);
    free(names);
    sd_st_writer_free(w);
    return rc;
}

static int parse_i64(const char *s, int64_t *v) {
    char *end;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9'))) return -1;
    long long x = strtoll(s, &end, 10);
    if (*end) return -1;
    *v = x;
    return 0;
}

static int parse_rng(const char *s, sd_rng *r) {
    if (!s || strlen(s) != 4 * 16 + 3) return -1;
    for (int i = 0; i < 4; i++) {
        const char *w = s + 17 * i;
        if (i < 3 && w[16] != ':') return -1;
        uint64_t x = 0;
        for (int j = 0; j < 16; j++) {
            char c = w[j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return -1;
            x = x << 4 | (uint64_t)d;
        }
        r->s[i] = x;
    }
    return 0;
}

/* The tensor for `name`, required F32 with the view's shape. */
static int exact_tensor(const sd_st *st, const char *path, const char *name, const sd_view *v,
                        const sd_st_tensor **out, sd_err *err) {
    const sd_st_tensor *t = sd_st_find(st, name);
    if (!t) return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" missing (checkpoint from a different model?)", path, name);
    if (t->dtype != SD_DT_F32)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": dtype %s, a checkpoint stores F32", path, name,
                       sd_dtype_name(t->dtype));
    int rc = sd_st_check_shape(t, v->ndim, v->shape, err);
    if (rc) return rc;
    *out = t;
    return 0;
}

int sd_ckpt_load(const char *path, sd_params *p, int64_t *step, sd_rng *rng, char **config_json, sd_err *err) {
    sd_st *st;
    int rc = sd_st_open(&st, path, err);
    if (rc) return rc;
    const char *tag = sd_st_meta(st, "semid");
    const sd_st_tensor **src = sd_xcalloc(3 * (size_t)p->n_views + 1, sizeof *src);
    int64_t step_v = 0;
    sd_rng rng_v = {{0}};
    if (!tag || strcmp(tag, CKPT_TAG) != 0) {
        rc = sd_errf(err, SD_EFORMAT, "%s: not a semid training checkpoint (metadata \"semid\" is %s%s%s, expected \"%s\")",
                     path, tag ? "\"" : "", tag ? tag : "absent", tag ? "\"" : "", CKPT_TAG);
    } else if (parse_i64(sd_st_meta(st, "step"), &step_v) || step_v < 0) {
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"step\" is not a non-negative integer", path);
    } else if (rng && !sd_st_meta(st, "rng")) {
        rc = sd_errf(err, SD_EFORMAT, "%s: checkpoint holds no RNG state", path);
    } else if (rng && parse_rng(sd_st_meta(st, "rng"), &rng_v)) {
        rc = sd_errf(err, SD_EFORMAT, "%s: metadata \"rng\" is not 4 x 16 hex digits joined by ':'", path);
    } else if (config_json && !sd_st_meta(st, "config")) {
        rc = sd_errf(err, SD_EFORMAT, "%s: checkpoint holds no config", path);
    }
    for (int k = 0; k < p->n_views && !rc; k++) {
        const sd_view *v = &p->views[k];
        char *mn = prefixed(SD_CKPT_M_PREFIX, v->name), *vn = prefixed(SD_CKPT_V_PREFIX, v->name);
        rc = exact_tensor(st, path, v->name, v, &src[3 * k], err);
        if (!rc) rc = exact_tensor(st, path, mn, v, &src[3 * k + 1], err);
        if (!rc) rc = exact_tensor(st, path, vn, v, &src[3 * k + 2], err);
        free(mn);
        free(vn);
    }
    if (!rc && sd_st_count(st) != 3 * p->n_views) {
        /* every expected name was found, so some file tensor is not one of ours */
        for (int i = 0; i < sd_st_count(st) && !rc; i++) {
            const char *name = sd_st_get(st, i)->name;
            const char *base = name;
            if (!strncmp(name, SD_CKPT_M_PREFIX, strlen(SD_CKPT_M_PREFIX))) base = name + strlen(SD_CKPT_M_PREFIX);
            else if (!strncmp(name, SD_CKPT_V_PREFIX, strlen(SD_CKPT_V_PREFIX))) base = name + strlen(SD_CKPT_V_PREFIX);
            if (sd_params_index(p, base) < 0)
                rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is not a parameter of this model", path, name);
        }
        if (!rc) rc = sd_errf(err, SD_EFORMAT, "%s: unexpected tensors in checkpoint", path);
    }
    if (!rc) {
        sd_params_alloc(p);
        sd_params_alloc_train(p);
        for (int k = 0; k < p->n_views; k++) {
            const sd_view *v = &p->views[k];
            float *dst[3] = {p->data + v->offset, p->m + v->offset, p->v + v->offset};
            for (int j = 0; j < 3; j++) memcpy(dst[j], src[3 * k + j]->data, v->numel * sizeof(float));
        }
        if (step) *step = step_v;
        if (rng) *rng = rng_v;
        if (config_json) *config_json = sd_xstrdup(sd_st_meta(st, "config"));
    }
    free(src);
    sd_st_close(st);
    return rc;
}

static const char *file_name(const sd_weights_opts *o, const char *view, char *buf, size_t cap) {
    return o && o->map ? o->map(view, buf, cap, o->ctx) : view;
}

int sd_weights_add(sd_st_writer *w, const sd_params *p, const sd_weights_opts *opts, sd_err *err) {
    sd_dtype as = opts && opts->store_as ? opts->store_as : SD_DT_F32;
    if (!p->data) return sd_errf(err, SD_ESTATE, "weights: parameters not allocated");
    char buf[1024];
    for (int k = 0; k < p->n_views; k++) {
        const sd_view *v = &p->views[k];
        const char *name = file_name(opts, v->name, buf, sizeof buf);
        if (!name) continue;
        int rc = sd_st_writer_add_f32(w, name, v->ndim, v->shape, p->data + v->offset, as, err);
        if (rc) return rc;
    }
    return 0;
}

int sd_weights_save(const char *path, const sd_params *p, const sd_weights_opts *opts, sd_err *err) {
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_meta(w, "format", "pt");
    int rc = sd_weights_add(w, p, opts, err);
    if (rc) sd_err_prefix(err, "%s", path);
    else rc = sd_st_writer_write(w, path, err);
    sd_st_writer_free(w);
    return rc;
}

int sd_weights_load_st(const sd_st *st, sd_params *p, const sd_weights_opts *opts, sd_err *err) {
    const char *where = sd_st_count(st) ? sd_st_get(st, 0)->file : "weights";
    const sd_st_tensor **src = sd_xcalloc((size_t)p->n_views + 1, sizeof *src);
    bool *used = sd_xcalloc((size_t)sd_st_count(st) + 1, sizeof(bool));
    char buf[1024];
    int rc = 0;
    for (int k = 0; k < p->n_views && !rc; k++) {
        const sd_view *v = &p->views[k];
        const char *name = file_name(opts, v->name, buf, sizeof buf);
        if (!name) continue;
        const sd_st_tensor *t = sd_st_find(st, name);
        if (!t) {
            if (opts && opts->allow_missing) continue;
            if (strcmp(name, v->name) == 0)
                rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" missing", where, name);
            else
                rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" (for parameter \"%s\") missing", where, name, v->name);
            break;
        }
        if (!sd_dtype_is_float(t->dtype)) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": dtype %s, expected a float type", t->file, name,
                         sd_dtype_name(t->dtype));
            break;
        }
        rc = sd_st_check_shape(t, v->ndim, v->shape, err);
        src[k] = t;
        for (int i = 0; i < sd_st_count(st); i++)
            if (sd_st_get(st, i) == t) used[i] = true;
    }
    if (!rc && !(opts && opts->allow_unused)) {
        for (int i = 0; i < sd_st_count(st); i++) {
            if (used[i]) continue;
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is not used by any parameter", sd_st_get(st, i)->file,
                         sd_st_get(st, i)->name);
            break;
        }
    }
    if (!rc) {
        sd_params_alloc(p);
        for (int k = 0; k < p->n_views && !rc; k++)
            if (src[k]) rc = sd_st_read_f32(src[k], p->data + p->views[k].offset, p->views[k].numel, err);
    }
    free(src);
    free(used);
    return rc;
}

int sd_weights_load(const char *path, sd_params *p, const sd_weights_opts *opts, sd_err *err) {
    sd_st *st;
    int rc = sd_st_open(&st, path, err);
    if (rc) return rc;
    rc = sd_weights_load_st(st, p, opts, err);
    sd_st_close(st);
    return rc;
}
