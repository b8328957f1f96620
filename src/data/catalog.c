#include "data/catalog.h"
#include "base/file.h"
#include "data/jsonw.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sd_catalog *sd_catalog_new(void) {
    sd_catalog *c = sd_xcalloc(1, sizeof *c);
    c->pool = sd_pool_new();
    sd_strmap_init(&c->index, 1024);
    return c;
}

void sd_catalog_free(sd_catalog *c) {
    if (!c) return;
    free(c->items); free(c->strs); free(c->attrs);
    sd_pool_free(c->pool);
    sd_strmap_free(&c->index);
    free(c);
}

static const char *dup_or_empty(sd_catalog *c, const char *s) { return sd_pool_strdup(c->pool, s ? s : ""); }

int32_t sd_catalog_add(sd_catalog *c, const sd_item_in *in, sd_err *err) {
    if (!in->ext_id || !in->ext_id[0]) return sd_errf(err, SD_EFORMAT, "item without an id");
    size_t idlen = strlen(in->ext_id);
    if (sd_strmap_get(&c->index, in->ext_id, idlen) >= 0)
        return sd_errf(err, SD_EFORMAT, "duplicate item id \"%s\"", in->ext_id);
    SD_GROW(c->items, c->cap_items, c->n_items + 1);
    sd_item *it = &c->items[c->n_items];
    memset(it, 0, sizeof *it);
    it->ext_id = dup_or_empty(c, in->ext_id);
    it->title = dup_or_empty(c, in->title);
    it->description = dup_or_empty(c, in->description);
    SD_GROW(c->strs, c->cap_strs, c->n_strs + in->n_features + in->n_categories);
    it->features_off = c->n_strs;
    it->n_features = in->n_features;
    for (uint32_t i = 0; i < in->n_features; i++) c->strs[c->n_strs++] = dup_or_empty(c, in->features[i]);
    it->categories_off = c->n_strs;
    it->n_categories = in->n_categories;
    for (uint32_t i = 0; i < in->n_categories; i++) c->strs[c->n_strs++] = dup_or_empty(c, in->categories[i]);
    SD_GROW(c->attrs, c->cap_attrs, c->n_attrs + in->n_attrs);
    it->attrs_off = c->n_attrs;
    it->n_attrs = in->n_attrs;
    for (uint32_t i = 0; i < in->n_attrs; i++) {
        c->attrs[c->n_attrs].key = dup_or_empty(c, in->attrs[i].key);
        c->attrs[c->n_attrs].value = dup_or_empty(c, in->attrs[i].value);
        c->n_attrs++;
    }
    sd_strmap_put(&c->index, it->ext_id, idlen, c->n_items);
    return c->n_items++;
}

int32_t sd_catalog_findn(const sd_catalog *c, const char *ext_id, size_t len) {
    return sd_strmap_get(&c->index, ext_id, len);
}

int32_t sd_catalog_find(const sd_catalog *c, const char *ext_id) {
    return sd_strmap_get(&c->index, ext_id, strlen(ext_id));
}

const char *sd_item_attr(const sd_catalog *c, int32_t id, const char *key) {
    const sd_item *it = &c->items[id];
    const sd_kv *kv = sd_item_attrs(c, it);
    for (uint32_t i = 0; i < it->n_attrs; i++)
        if (strcmp(kv[i].key, key) == 0) return kv[i].value;
    return NULL;
}

static void item_to_in(const sd_catalog *c, const sd_item *it, sd_item_in *in) {
    in->ext_id = it->ext_id;
    in->title = it->title;
    in->description = it->description;
    in->features = sd_item_features(c, it);
    in->n_features = it->n_features;
    in->categories = sd_item_categories(c, it);
    in->n_categories = it->n_categories;
    in->attrs = sd_item_attrs(c, it);
    in->n_attrs = it->n_attrs;
}

sd_catalog *sd_catalog_subset(const sd_catalog *c, const uint8_t *keep, int32_t *remap) {
    sd_catalog *o = sd_catalog_new();
    for (int32_t i = 0; i < c->n_items; i++) {
        if (!keep[i]) { if (remap) remap[i] = -1; continue; }
        sd_item_in in;
        item_to_in(c, &c->items[i], &in);
        int32_t id = sd_catalog_add(o, &in, NULL);
        if (remap) remap[i] = id;
    }
    return o;
}

int sd_catalog_write_jsonl(const sd_catalog *c, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    FILE *f = a.f;
    for (int32_t i = 0; i < c->n_items; i++) {
        const sd_item *it = &c->items[i];
        fprintf(f, "{\"id\":%d,\"ext_id\":", i);
        sd_json_write_str(f, it->ext_id);
        fputs(",\"title\":", f);
        sd_json_write_str(f, it->title);
        fputs(",\"description\":", f);
        sd_json_write_str(f, it->description);
        fputs(",\"features\":[", f);
        for (uint32_t k = 0; k < it->n_features; k++) {
            if (k) fputc(',', f);
            sd_json_write_str(f, sd_item_features(c, it)[k]);
        }
        fputs("],\"categories\":[", f);
        for (uint32_t k = 0; k < it->n_categories; k++) {
            if (k) fputc(',', f);
            sd_json_write_str(f, sd_item_categories(c, it)[k]);
        }
        fputs("],\"attributes\":{", f);
        /* group repeated keys into one list, keeping first-seen key order */
        const sd_kv *kv = sd_item_attrs(c, it);
        int first_key = 1;
        for (uint32_t k = 0; k < it->n_attrs; k++) {
            int seen = 0;
            for (uint32_t j = 0; j < k; j++)
                if (strcmp(kv[j].key, kv[k].key) == 0) { seen = 1; break; }
            if (seen) continue;
            if (!first_key) fputc(',', f);
            first_key = 0;
            sd_json_write_str(f, kv[k].key);
            fputs(":[", f);
            int first_val = 1;
            for (uint32_t j = k; j < it->n_attrs; j++) {
                if (strcmp(kv[j].key, kv[k].key) != 0) continue;
                if (!first_val) fputc(',', f);
                first_val = 0;
                sd_json_write_str(f, kv[j].value);
            }
            fputc(']', f);
        }
        fputs("}}\n", f);
    }
    return sd_atomic_commit(&a, err);
}

static int str_list(const cJSON *arr, const char *path, int64_t line, const char *field, const char ***out,
                    uint32_t *n, sd_err *err) {
    *n = 0;
    if (!arr) return 0;
    if (!cJSON_IsArray(arr)) return sd_errf(err, SD_EFORMAT, "%s:%lld: \"%s\" must be a list of strings", path, (long long)line, field);
    int k = cJSON_GetArraySize(arr);
    *out = sd_xrealloc(*out, (k + 1) * sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsString(e))
            return sd_errf(err, SD_EFORMAT, "%s:%lld: \"%s\" must be a list of strings", path, (long long)line, field);
        (*out)[(*n)++] = e->valuestring;
    }
    return 0;
}

static const char *opt_string(const cJSON *o, const char *key, const char *path, int64_t line, int required,
                              sd_err *err, int *rc) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) *rc = sd_errf(err, SD_EFORMAT, "%s:%lld: \"%s\" missing", path, (long long)line, key);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        *rc = sd_errf(err, SD_EFORMAT, "%s:%lld: \"%s\" must be a string", path, (long long)line, key);
        return NULL;
    }
    return v->valuestring;
}

int sd_catalog_read_jsonl(sd_catalog **out, const char *path, sd_err *err) {
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    sd_catalog *c = sd_catalog_new();
    const char **feats = NULL, **cats = NULL;
    sd_kv *kvs = NULL;
    size_t cap_kv = 0;
    char *line;
    size_t len;
    while (!rc && (rc = sd_lines_next(r, &line, &len, err)) == 1) {
        rc = 0;
        int64_t ln = sd_lines_lineno(r);
        if (len == 0) continue;
        cJSON *o = cJSON_ParseWithLength(line, len);
        if (!o || !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: not a JSON object", path, (long long)ln);
            break;
        }
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (!cJSON_IsNumber(idv) || idv->valuedouble != c->n_items) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: \"id\" must be %d (ids are dense and in order)", path,
                         (long long)ln, c->n_items);
        }
        sd_item_in in = {0};
        if (!rc) in.ext_id = opt_string(o, "ext_id", path, ln, 1, err, &rc);
        if (!rc) in.title = opt_string(o, "title", path, ln, 0, err, &rc);
        if (!rc) in.description = opt_string(o, "description", path, ln, 0, err, &rc);
        if (!rc) rc = str_list(cJSON_GetObjectItemCaseSensitive(o, "features"), path, ln, "features", &feats, &in.n_features, err);
        if (!rc) rc = str_list(cJSON_GetObjectItemCaseSensitive(o, "categories"), path, ln, "categories", &cats, &in.n_categories, err);
        in.features = feats;
        in.categories = cats;
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(o, "attributes");
        if (!rc && attrs && !cJSON_IsObject(attrs))
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: \"attributes\" must be an object", path, (long long)ln);
        if (!rc && attrs) {
            const cJSON *a;
            cJSON_ArrayForEach(a, attrs) {
                const cJSON *vals = cJSON_IsArray(a) ? a->child : a;
                for (const cJSON *v = vals; v; v = cJSON_IsArray(a) ? v->next : NULL) {
                    if (!cJSON_IsString(v)) {
                        rc = sd_errf(err, SD_EFORMAT, "%s:%lld: attribute \"%s\" must be strings", path, (long long)ln, a->string);
                        break;
                    }
                    SD_GROW(kvs, cap_kv, in.n_attrs + 1);
                    kvs[in.n_attrs].key = a->string;
                    kvs[in.n_attrs].value = v->valuestring;
                    in.n_attrs++;
                }
                if (rc) break;
            }
        }
        in.attrs = kvs;
        if (!rc && sd_catalog_add(c, &in, err) < 0) sd_err_prefix(err, "%s:%lld", path, (long long)ln), rc = SD_EFORMAT;
        cJSON_Delete(o);
    }
    sd_lines_close(r);
    free(feats); free(cats); free(kvs);
    if (rc < 0) { sd_catalog_free(c); return rc; }
    *out = c;
    return 0;
}
