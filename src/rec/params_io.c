#include "rec/params_io.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"

int sd_rec_params_save(const sd_params *p, const char *path, sd_err *err) {
    cJSON *hdr = cJSON_CreateObject();
    size_t off = 0;
    for (int i = 0; i < p->n_views; i++) {
        const sd_view *v = &p->views[i];
        cJSON *t = cJSON_AddObjectToObject(hdr, v->name);
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < v->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += v->numel * sizeof(float);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8; /* data starts 8-byte aligned */
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) { free(json); return rc; }
    uint64_t n = padded;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    fwrite(le, 1, 8, a.f);
    fwrite(json, 1, jl, a.f);
    for (size_t i = jl; i < padded; i++) fputc(' ', a.f);
    free(json);
    for (int i = 0; i < p->n_views; i++)
        fwrite(p->data + p->views[i].offset, sizeof(float), p->views[i].numel, a.f);
    if (ferror(a.f)) { sd_atomic_abort(&a); return sd_errf(err, SD_EIO, "%s: write failed", path); }
    return sd_atomic_commit(&a, err);
}

int sd_rec_params_load(sd_params *p, const char *path, sd_err *err) {
    sd_map m;
    int rc = sd_map_open(&m, path, err);
    if (rc) return rc;
    const unsigned char *d = m.data;
    cJSON *hdr = NULL;
    if (m.size < 8) { rc = sd_errf(err, SD_EFORMAT, "%s: too short for safetensors", path); goto out; }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)d[i] << (8 * i);
    if (n > m.size - 8) { rc = sd_errf(err, SD_EFORMAT, "%s: header length %llu past the end", path, (unsigned long long)n); goto out; }
    hdr = cJSON_ParseWithLength((const char *)d + 8, (size_t)n);
    if (!cJSON_IsObject(hdr)) { rc = sd_errf(err, SD_EFORMAT, "%s: header is not a JSON object", path); goto out; }
    size_t data0 = 8 + (size_t)n, data_len = m.size - data0;
    for (int i = 0; i < p->n_views && !rc; i++) {
        const sd_view *v = &p->views[i];
        cJSON *t = cJSON_GetObjectItemCaseSensitive(hdr, v->name);
        if (!cJSON_IsObject(t)) { rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" missing", path, v->name); break; }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
        if (!cJSON_IsString(dt) || strcmp(dt->valuestring, "F32")) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": dtype must be F32", path, v->name); break;
        }
        bool shape_ok = cJSON_IsArray(sh) && cJSON_GetArraySize(sh) == v->ndim;
        for (int k = 0; shape_ok && k < v->ndim; k++) {
            cJSON *e = cJSON_GetArrayItem(sh, k);
            shape_ok = cJSON_IsNumber(e) && (int64_t)e->valuedouble == v->shape[k];
        }
        if (!shape_ok) {
            char want[128] = "";
            for (int k = 0; k < v->ndim; k++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? ", " : "", (long long)v->shape[k]);
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": shape differs from the model's [%s]", path, v->name, want);
            break;
        }
        if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": bad data_offsets", path, v->name); break;
        }
        double b0 = cJSON_GetArrayItem(of, 0)->valuedouble, b1 = cJSON_GetArrayItem(of, 1)->valuedouble;
        if (b0 < 0 || b1 > (double)data_len || b1 - b0 != (double)(v->numel * sizeof(float))) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": data_offsets out of range", path, v->name); break;
        }
        memcpy(p->data + v->offset, d + data0 + (size_t)b0, v->numel * sizeof(float));
    }
out:
    cJSON_Delete(hdr);
    sd_map_close(&m);
    return rc;
}

int sd_rec_write_json(const char *path, const cJSON *j, sd_err *err) {
    char *s = cJSON_Print(j);
    size_t n = strlen(s);
    s = sd_xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = 0;
    int rc = sd_write_file_atomic(path, s, n + 1, err);
    free(s);
    return rc;
}
