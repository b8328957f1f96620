#define _GNU_SOURCE
#include "io/safetensors.h"
#include "base/utf8.h"
#include "base/file.h"
#include "base/mem.h"
#include "io/json_util.h"
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

typedef struct shard {
    char *path;
    sd_map map;
    sd_st_tensor *tensors; /* sorted by offset */
    int n;
    char **mk, **mv;
    int n_meta;
} shard;

struct sd_st {
    shard *shards;
    int n_shards;
    const sd_st_tensor **all;
    int n_all;
    int *slots; /* open addressing over `all`, -1 empty */
    size_t n_slots;
    cJSON *index_meta;
    const char **mk, **mv; /* merged metadata (first shard wins) */
    int n_meta;
};

/* ---------------------------------------------------------------- small helpers */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += snprintf(buf + k, n - k, "[");
    for (int d = 0; d < ndim && k < n; d++) k += snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---------------------------------------------------------------- header parsing */

static int get_uint(const cJSON *j, uint64_t max, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > (double)max) return -1;
    *v = (uint64_t)d;
    return 0;
}

static int parse_tensor(const cJSON *j, const char *file, uint64_t data_len, sd_st_tensor *t, sd_err *err) {
    const char *name = j->string;
    if (!cJSON_IsObject(j))
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": expected an object, got %s", file, name,
                       sd_json_type_name(j));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!dt) return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"dtype\" missing", file, name);
    if (!sh) return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"shape\" missing", file, name);
    if (!off) return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"data_offsets\" missing", file, name);
    if (!cJSON_IsString(dt))
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"dtype\" must be a string, got %s", file, name,
                       sd_json_type_name(dt));
    t->dtype = sd_dtype_parse(dt->valuestring);
    if (t->dtype == SD_DT_INVALID)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": unknown dtype \"%.32s\"", file, name, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"shape\" must be an array, got %s", file, name,
                       sd_json_type_name(sh));
    int nd = cJSON_GetArraySize(sh);
    if (nd > SD_ST_MAX_DIMS)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": %d dimensions (at most %d supported)", file, name, nd,
                       SD_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *e = sh->child; e; e = e->next, d++) {
        uint64_t v;
        if (get_uint(e, 1ull << 53, &v))
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": shape[%d] must be a non-negative integer", file,
                           name, d);
        t->shape[d] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel))
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": shape product overflows", file, name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)sd_dtype_size(t->dtype), &nbytes) || nbytes > SIZE_MAX)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": size overflows", file, name);
    t->numel = (size_t)numel;
    t->nbytes = (size_t)nbytes;
    uint64_t b, e;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || get_uint(off->child, 1ull << 62, &b) ||
        get_uint(off->child->next, 1ull << 62, &e))
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end] non-negative integers",
                       file, name);
    if (b > e || e > data_len)
        return sd_errf(err, SD_EFORMAT,
                       "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range (data region holds %llu bytes)",
                       file, name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_len);
    if (e - b != nbytes) {
        char s[160];
        shape_str(s, sizeof s, t->ndim, t->shape);
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
                       file, name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
                       sd_dtype_name(t->dtype), s, (unsigned long long)nbytes);
    }
    t->offset = (size_t)b; /* relative to the data region until the caller adds the header size */
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const sd_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int parse_shard(shard *s, const unsigned char *buf, size_t len, sd_err *err) {
    const char *file = s->path;
    if (len < 8)
        return sd_errf(err, SD_EFORMAT, "%s: file too short for a safetensors header (%zu bytes)", file, len);
    uint64_t n;
    memcpy(&n, buf, 8);
    if (n > SD_ST_MAX_HEADER)
        return sd_errf(err, SD_EFORMAT, "%s: header length %llu exceeds the 100 MB limit (not a safetensors file?)",
                       file, (unsigned long long)n);
    if (n > len - 8)
        return sd_errf(err, SD_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", file,
                       (unsigned long long)n, len);
    const unsigned char *h = buf + 8;
    if (n == 0 || h[0] != '{')
        return sd_errf(err, SD_EFORMAT, "%s: header does not start with '{' (not a safetensors file?)", file);
    size_t bad = sd_utf8_invalid_at((const char *)h, n);
    if (bad < n)
        return sd_errf(err, SD_EFORMAT, "%s: header is not valid UTF-8 (byte %zu)", file, bad + 8);
    char label[1200];
    snprintf(label, sizeof label, "%s: header", file);
    cJSON *j;
    int rc = sd_json_parse((const char *)h, n, label, &j, err);
    if (rc) return rc;
    if (!cJSON_IsObject(j)) {
        rc = sd_errf(err, SD_EFORMAT, "%s: header must be a JSON object, got %s", file, sd_json_type_name(j));
        cJSON_Delete(j);
        return rc;
    }
    uint64_t data_len = len - 8 - n;
    int cap = cJSON_GetArraySize(j);
    s->tensors = sd_xcalloc(cap ? cap : 1, sizeof *s->tensors);
    for (const cJSON *e = j->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (s->mk) { rc = sd_errf(err, SD_EFORMAT, "%s: \"__metadata__\" appears twice", file); break; }
            if (!cJSON_IsObject(e)) {
                rc = sd_errf(err, SD_EFORMAT, "%s: \"__metadata__\" must be an object of strings, got %s", file,
                             sd_json_type_name(e));
                break;
            }
            int m = cJSON_GetArraySize(e);
            s->mk = sd_xcalloc(m + 1, sizeof(char *));
            s->mv = sd_xcalloc(m + 1, sizeof(char *));
            for (const cJSON *kv = e->child; kv; kv = kv->next) {
                if (!cJSON_IsString(kv)) {
                    rc = sd_errf(err, SD_EFORMAT, "%s: __metadata__ \"%s\": value must be a string, got %s", file,
                                 kv->string, sd_json_type_name(kv));
                    break;
                }
                s->mk[s->n_meta] = sd_xstrdup(kv->string);
                s->mv[s->n_meta++] = sd_xstrdup(kv->valuestring);
            }
            if (rc) break;
            continue;
        }
        sd_st_tensor *t = &s->tensors[s->n];
        rc = parse_tensor(e, file, data_len, t, err);
        if (rc) break;
        t->name = sd_xstrdup(e->string);
        t->file = s->path;
        s->n++;
    }
    cJSON_Delete(j);
    if (rc) return rc;
    qsort(s->tensors, s->n, sizeof *s->tensors, cmp_offset);
    uint64_t pos = 0;
    for (int i = 0; i < s->n; i++) {
        sd_st_tensor *t = &s->tensors[i];
        if (t->offset != pos) {
            if (t->offset < pos)
                return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": data_offsets overlap the previous tensor (%s%s%s)",
                               file, t->name, i ? "\"" : "", i ? s->tensors[i - 1].name : "", i ? "\"" : "");
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": gap of %llu bytes before its data (offsets must be contiguous)",
                           file, t->name, (unsigned long long)(t->offset - pos));
        }
        pos += t->nbytes;
        t->offset += 8 + n;
        t->data = buf + t->offset;
    }
    if (pos != data_len)
        return sd_errf(err, SD_EFORMAT, "%s: tensors cover %llu of the %llu data bytes (truncated or trailing bytes)", file,
                       (unsigned long long)pos, (unsigned long long)data_len);
    return 0;
}

static void shard_free(shard *s) {
    for (int i = 0; i < s->n; i++) free((char *)s->tensors[i].name);
    free(s->tensors);
    for (int i = 0; i < s->n_meta; i++) { free(s->mk[i]); free(s->mv[i]); }
    free(s->mk);
    free(s->mv);
    sd_map_close(&s->map);
    free(s->path);
}

/* ---------------------------------------------------------------- the set */

static int find_slot(const sd_st *st, const char *name) {
    if (!st->n_slots) return -1;
    size_t i = hash_str(name) & (st->n_slots - 1);
    while (st->slots[i] >= 0) {
        if (strcmp(st->all[st->slots[i]]->name, name) == 0) return (int)i;
        i = (i + 1) & (st->n_slots - 1);
    }
    return (int)i;
}

/* Collects every shard's tensors in order and indexes them; a name seen twice is an error. */
static int build_index(sd_st *st, sd_err *err) {
    int total = 0;
    for (int s = 0; s < st->n_shards; s++) total += st->shards[s].n;
    st->all = sd_xcalloc(total ? total : 1, sizeof *st->all);
    st->n_slots = 16;
    while (st->n_slots < (size_t)total * 2) st->n_slots *= 2;
    st->slots = sd_xmalloc(st->n_slots * sizeof(int));
    memset(st->slots, 0xff, st->n_slots * sizeof(int));
    for (int s = 0; s < st->n_shards; s++) {
        for (int i = 0; i < st->shards[s].n; i++) {
            const sd_st_tensor *t = &st->shards[s].tensors[i];
            int slot = find_slot(st, t->name);
            if (st->slots[slot] >= 0) {
                const sd_st_tensor *o = st->all[st->slots[slot]];
                if (o->file == t->file)
                    return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" appears twice in the header", t->file, t->name);
                return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is also in %s", t->file, t->name, o->file);
            }
            st->slots[slot] = st->n_all;
            st->all[st->n_all++] = t;
        }
        for (int k = 0; k < st->shards[s].n_meta; k++) {
            if (sd_st_meta(st, st->shards[s].mk[k])) continue;
            st->mk = sd_xrealloc(st->mk, (st->n_meta + 1) * sizeof(char *));
            st->mv = sd_xrealloc(st->mv, (st->n_meta + 1) * sizeof(char *));
            st->mk[st->n_meta] = st->shards[s].mk[k];
            st->mv[st->n_meta++] = st->shards[s].mv[k];
        }
    }
    return 0;
}

void sd_st_close(sd_st *st) {
    if (!st) return;
    for (int s = 0; s < st->n_shards; s++) shard_free(&st->shards[s]);
    free(st->shards);
    free(st->all);
    free(st->slots);
    free(st->mk);
    free(st->mv);
    cJSON_Delete(st->index_meta);
    free(st);
}

static sd_st *st_new(int n_shards) {
    sd_st *st = sd_xcalloc(1, sizeof *st);
    st->shards = sd_xcalloc(n_shards ? n_shards : 1, sizeof *st->shards);
    return st;
}

int sd_st_open_buffer(sd_st **out, const void *buf, size_t len, const char *label, sd_err *err) {
    *out = NULL;
    sd_st *st = st_new(1);
    st->n_shards = 1;
    st->shards[0].path = sd_xstrdup(label ? label : "<buffer>");
    int rc = parse_shard(&st->shards[0], buf, len, err);
    if (!rc) rc = build_index(st, err);
    if (rc) { sd_st_close(st); return rc; }
    *out = st;
    return 0;
}

static int open_shard_file(shard *s, const char *path, sd_err *err) {
    s->path = sd_xstrdup(path);
    int rc = sd_map_open(&s->map, path, err);
    if (rc) return rc;
    return parse_shard(s, s->map.data, s->map.size, err);
}

static int open_file(sd_st **out, const char *path, sd_err *err) {
    sd_st *st = st_new(1);
    st->n_shards = 1;
    int rc = open_shard_file(&st->shards[0], path, err);
    if (!rc) rc = build_index(st, err);
    if (rc) { sd_st_close(st); return rc; }
    *out = st;
    return 0;
}

static bool safe_relative(const char *f) {
    if (!*f || f[0] == '/') return false;
    for (const char *p = f; *p;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n + (q ? 1 : 0);
    }
    return true;
}

static int open_index(sd_st **out, const char *path, sd_err *err) {
    cJSON *j;
    int rc = sd_json_read_file(path, &j, err);
    if (rc) return rc;
    const cJSON *wm;
    if (!cJSON_IsObject(j))
        rc = sd_errf(err, SD_EFORMAT, "%s: expected a JSON object, got %s", path, sd_json_type_name(j));
    else
        rc = sd_json_get_object(j, "weight_map", &wm, path, err);
    if (rc) { cJSON_Delete(j); return rc; }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    if (meta && !cJSON_IsObject(meta) && !cJSON_IsNull(meta)) {
        rc = sd_errf(err, SD_EFORMAT, "%s: \"metadata\" must be an object, got %s", path, sd_json_type_name(meta));
        cJSON_Delete(j);
        return rc;
    }
    /* shard files in order of first mention */
    int n_files = 0, n_entries = cJSON_GetArraySize(wm);
    const char **files = sd_xcalloc(n_entries + 1, sizeof(char *));
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            rc = sd_errf(err, SD_EFORMAT, "%s: weight_map \"%s\": expected a file name, got %s", path, e->string,
                         sd_json_type_name(e));
            break;
        }
        if (!safe_relative(e->valuestring)) {
            rc = sd_errf(err, SD_EFORMAT, "%s: weight_map \"%s\": shard \"%s\" is not a relative path inside the folder",
                         path, e->string, e->valuestring);
            break;
        }
        int k = 0;
        while (k < n_files && strcmp(files[k], e->valuestring) != 0) k++;
        if (k == n_files) files[n_files++] = e->valuestring;
    }
    sd_st *st = NULL;
    if (!rc) {
        st = st_new(n_files);
        char *dir = sd_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash) slash[1] = 0; else strcpy(dir, ".");
        for (int k = 0; k < n_files && !rc; k++) {
            char *sp = sd_path_join(dir, files[k]);
            st->n_shards++;
            rc = open_shard_file(&st->shards[k], sp, err);
            free(sp);
        }
        free(dir);
        if (!rc) rc = build_index(st, err);
        for (const cJSON *e = wm->child; e && !rc; e = e->next) {
            const sd_st_tensor *t = sd_st_find(st, e->string);
            const char *want = NULL;
            for (int k = 0; k < n_files; k++) if (strcmp(files[k], e->valuestring) == 0) want = st->shards[k].path;
            if (!t || t->file != want)
                rc = sd_errf(err, SD_EFORMAT, "%s: weight_map: tensor \"%s\" not found in %s", path, e->string, want);
        }
        if (!rc && meta && cJSON_IsObject(meta)) st->index_meta = cJSON_Duplicate(meta, true);
    }
    free(files);
    cJSON_Delete(j);
    if (rc) { sd_st_close(st); return rc; }
    *out = st;
    return 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A folder: model.safetensors.index.json, else model.safetensors, else the only index, else the
 * only .safetensors file. */
static int open_dir(sd_st **out, const char *dir, sd_err *err) {
    const char *pref[] = {"model.safetensors.index.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *p = sd_path_join(dir, pref[i]);
        if (sd_exists(p)) {
            int rc = i == 0 ? open_index(out, p, err) : open_file(out, p, err);
            free(p);
            return rc;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) return sd_errf(err, SD_EIO, "%s: cannot open folder", dir);
    char *idx = NULL, *one = NULL;
    int n_idx = 0, n_one = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (ends_with(e->d_name, ".safetensors.index.json")) { if (!n_idx++) idx = sd_xstrdup(e->d_name); }
        else if (ends_with(e->d_name, ".safetensors")) { if (!n_one++) one = sd_xstrdup(e->d_name); }
    }
    closedir(d);
    int rc;
    if (n_idx == 1 || (n_idx == 0 && n_one == 1)) {
        char *p = sd_path_join(dir, n_idx ? idx : one);
        rc = n_idx ? open_index(out, p, err) : open_file(out, p, err);
        free(p);
    } else if (n_idx + n_one == 0) {
        rc = sd_errf(err, SD_EIO, "%s: no model.safetensors or model.safetensors.index.json in this folder", dir);
    } else {
        rc = sd_errf(err, SD_EFORMAT, "%s: %d index files and %d .safetensors files; cannot tell which to load "
                     "(expected model.safetensors[.index.json])", dir, n_idx, n_one);
    }
    free(idx);
    free(one);
    return rc;
}

int sd_st_open(sd_st **out, const char *path, sd_err *err) {
    *out = NULL;
    if (sd_is_dir(path)) return open_dir(out, path, err);
    if (ends_with(path, ".index.json")) return open_index(out, path, err);
    return open_file(out, path, err);
}

int sd_st_count(const sd_st *st) { return st->n_all; }
const sd_st_tensor *sd_st_get(const sd_st *st, int i) { return i >= 0 && i < st->n_all ? st->all[i] : NULL; }

const sd_st_tensor *sd_st_find(const sd_st *st, const char *name) {
    int slot = find_slot(st, name);
    return slot >= 0 && st->slots[slot] >= 0 ? st->all[st->slots[slot]] : NULL;
}

const char *sd_st_meta(const sd_st *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->mk[i], key) == 0) return st->mv[i];
    return NULL;
}

int sd_st_meta_count(const sd_st *st) { return st->n_meta; }
void sd_st_meta_at(const sd_st *st, int i, const char **key, const char **value) {
    *key = st->mk[i];
    *value = st->mv[i];
}
const cJSON *sd_st_index_meta(const sd_st *st) { return st->index_meta; }
int sd_st_shard_count(const sd_st *st) { return st->n_shards; }

int sd_st_check_shape(const sd_st_tensor *t, int ndim, const int64_t *shape, sd_err *err) {
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (same) return 0;
    char a[160], b[160];
    shape_str(a, sizeof a, t->ndim, t->shape);
    shape_str(b, sizeof b, ndim, shape);
    return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": shape %s, expected %s", t->file, t->name, a, b);
}

int sd_st_read_f32(const sd_st_tensor *t, float *out, size_t n, sd_err *err) {
    if (n != t->numel)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": %zu elements, expected %zu", t->file, t->name, t->numel, n);
    int rc = sd_convert_to_f32(t->dtype, t->data, n, false, out, err);
    return rc ? sd_err_prefix(err, "%s: tensor \"%s\"", t->file, t->name) : 0;
}

int sd_st_read_i64(const sd_st_tensor *t, int64_t *out, size_t n, sd_err *err) {
    if (n != t->numel)
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": %zu elements, expected %zu", t->file, t->name, t->numel, n);
    int rc = sd_convert_to_i64(t->dtype, t->data, n, false, out, err);
    return rc ? sd_err_prefix(err, "%s: tensor \"%s\"", t->file, t->name) : 0;
}

/* ---------------------------------------------------------------- writing */

typedef struct wentry {
    char *name;
    sd_dtype dtype;
    int ndim;
    int64_t shape[SD_ST_MAX_DIMS];
    size_t numel, nbytes;
    const void *data;
    bool from_f32;
    int order;
} wentry;

struct sd_st_writer {
    wentry *e;
    int n, cap;
    char **mk, **mv;
    int n_meta, cap_meta;
};

sd_st_writer *sd_st_writer_new(void) { return sd_xcalloc(1, sizeof(sd_st_writer)); }

void sd_st_writer_free(sd_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    for (int i = 0; i < w->n_meta; i++) { free(w->mk[i]); free(w->mv[i]); }
    free(w->e);
    free(w->mk);
    free(w->mv);
    free(w);
}

void sd_st_writer_meta(sd_st_writer *w, const char *key, const char *value) {
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->mk[i], key) == 0) { free(w->mv[i]); w->mv[i] = sd_xstrdup(value); return; }
    SD_GROW(w->mk, w->cap_meta, w->n_meta + 1);
    w->mv = sd_xrealloc(w->mv, w->cap_meta * sizeof(char *));
    w->mk[w->n_meta] = sd_xstrdup(key);
    w->mv[w->n_meta++] = sd_xstrdup(value);
}

static int add(sd_st_writer *w, const char *name, sd_dtype dtype, int ndim, const int64_t *shape, const void *data,
               bool from_f32, sd_err *err) {
    if (!name || strcmp(name, "__metadata__") == 0)
        return sd_errf(err, SD_EUSAGE, "safetensors writer: invalid tensor name \"%s\"", name ? name : "(null)");
    if (ndim < 0 || ndim > SD_ST_MAX_DIMS)
        return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\": %d dimensions", name, ndim);
    if (sd_dtype_size(dtype) == 0)
        return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\": invalid dtype", name);
    size_t nlen = strlen(name);
    if (sd_utf8_invalid_at(name, nlen) < nlen) {
        char q[SD_QUOTE_CAP];
        return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor name \"%s\" is not valid UTF-8",
                       sd_quote_bytes(q, sizeof q, name, nlen));
    }
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\" added twice", name);
    wentry e = {.dtype = dtype, .ndim = ndim, .data = data, .from_f32 = from_f32, .order = w->n};
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape[d], &numel))
            return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\": invalid shape", name);
        e.shape[d] = shape[d];
    }
    e.numel = numel;
    e.nbytes = sd_mul_size(numel, sd_dtype_size(dtype));
    if (e.nbytes && !data) return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\": no data", name);
    e.name = sd_xstrdup(name);
    SD_GROW(w->e, w->cap, w->n + 1);
    w->e[w->n++] = e;
    return 0;
}

int sd_st_writer_add_f32(sd_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data,
                         sd_dtype store_as, sd_err *err) {
    if (store_as != SD_DT_F32 && store_as != SD_DT_BF16 && store_as != SD_DT_F16)
        return sd_errf(err, SD_EUSAGE, "safetensors writer: tensor \"%s\": floats can be stored as F32, BF16 or F16, not %s",
                       name, sd_dtype_name(store_as));
    return add(w, name, store_as, ndim, shape, data, true, err);
}

int sd_st_writer_add_raw(sd_st_writer *w, const char *name, sd_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, sd_err *err) {
    return add(w, name, dtype, ndim, shape, data, false, err);
}

size_t sd_st_writer_data_bytes(const sd_st_writer *w) {
    size_t s = 0;
    for (int i = 0; i < w->n; i++) s += w->e[i].nbytes;
    return s;
}

typedef struct sbuf { char *s; size_t len, cap; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    SD_GROW(b->s, b->cap, b->len + n + 1);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_json_str(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; sb_put(b, e, 2); }
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

static int cmp_write_order(const void *a, const void *b) {
    const wentry *x = *(const wentry *const *)a, *y = *(const wentry *const *)b;
    size_t sx = sd_dtype_size(x->dtype), sy = sd_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return x->order - y->order;
}

/* Writes the given entries (in the order given) as one safetensors file. */
static int write_entries(const sd_st_writer *w, const wentry **list, int n, const char *path, sd_err *err) {
    sbuf h = {0};
    sb_put(&h, "{", 1);
    bool first = true;
    if (w->n_meta) {
        sb_put(&h, "\"__metadata__\":{", 16);
        for (int i = 0; i < w->n_meta; i++) {
            if (i) sb_put(&h, ",", 1);
            sb_json_str(&h, w->mk[i]);
            sb_put(&h, ":", 1);
            sb_json_str(&h, w->mv[i]);
        }
        sb_put(&h, "}", 1);
        first = false;
    }
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        const wentry *e = list[i];
        if (!first) sb_put(&h, ",", 1);
        first = false;
        sb_json_str(&h, e->name);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", sd_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) sb_printf(&h, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", pos, pos + e->nbytes);
        pos += e->nbytes;
    }
    sb_put(&h, "}", 1);
    while (h.len % 8) sb_put(&h, " ", 1); /* data starts 8-byte aligned, as HF pads */
    if (h.len > SD_ST_MAX_HEADER) {
        free(h.s);
        return sd_errf(err, SD_ERANGE, "%s: header would be %zu bytes (limit 100 MB)", path, h.len);
    }
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) { free(h.s); return rc; }
    uint64_t hl = h.len;
    bool ok = fwrite(&hl, 8, 1, a.f) == 1 && fwrite(h.s, 1, h.len, a.f) == h.len;
    free(h.s);
    enum { CHUNK = 1 << 16 };
    unsigned char *tmp = sd_xmalloc(CHUNK * 2);
    for (int i = 0; i < n && ok; i++) {
        const wentry *e = list[i];
        if (!e->from_f32 || e->dtype == SD_DT_F32) {
            ok = e->nbytes == 0 || fwrite(e->data, 1, e->nbytes, a.f) == e->nbytes;
            continue;
        }
        const float *src = e->data;
        for (size_t k = 0; k < e->numel && ok; k += CHUNK) {
            size_t m = e->numel - k < CHUNK ? e->numel - k : CHUNK;
            sd_convert_from_f32(e->dtype, src + k, m, tmp, NULL);
            ok = fwrite(tmp, 2, m, a.f) == m;
        }
    }
    free(tmp);
    if (!ok) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed", path);
    }
    return sd_atomic_commit(&a, err);
}

static const wentry **sorted_entries(const sd_st_writer *w) {
    const wentry **list = sd_xcalloc(w->n ? w->n : 1, sizeof *list);
    for (int i = 0; i < w->n; i++) list[i] = &w->e[i];
    qsort(list, w->n, sizeof *list, cmp_write_order);
    return list;
}

int sd_st_writer_write(const sd_st_writer *w, const char *path, sd_err *err) {
    const wentry **list = sorted_entries(w);
    int rc = write_entries(w, list, w->n, path, err);
    free(list);
    return rc;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const wentry *const *)a)->name, (*(const wentry *const *)b)->name);
}

/* Removes BASE-xxxxx-of-yyyyy.safetensors files whose yyyyy differs from keep_total. */
static void remove_stale_shards(const char *dir, const char *base, int keep_total) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t bl = strlen(base);
    while ((e = readdir(d))) {
        int i, total, used = 0;
        if (strncmp(e->d_name, base, bl) != 0) continue;
        if (sscanf(e->d_name + bl, "-%5d-of-%5d.safetensors%n", &i, &total, &used) != 2) continue;
        if (e->d_name[bl + used] != 0 || total == keep_total) continue;
        char *p = sd_path_join(dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

int sd_st_writer_write_sharded(const sd_st_writer *w, const char *dir, const char *base, size_t max_shard_bytes,
                               sd_err *err) {
    int rc = sd_mkdir_p(dir, err);
    if (rc) return rc;
    char name[512];
    snprintf(name, sizeof name, "%s.safetensors.index.json", base);
    char *index_path = sd_path_join(dir, name);
    snprintf(name, sizeof name, "%s.safetensors", base);
    char *single_path = sd_path_join(dir, name);
    size_t total = sd_st_writer_data_bytes(w);
    if (total <= max_shard_bytes) {
        rc = sd_st_writer_write(w, single_path, err);
        if (!rc) { unlink(index_path); remove_stale_shards(dir, base, -1); }
        free(index_path);
        free(single_path);
        return rc;
    }
    /* split in insertion order */
    int *shard_of = sd_xcalloc(w->n ? w->n : 1, sizeof(int));
    int n_shards = 0;
    size_t cur = 0;
    for (int i = 0; i < w->n; i++) {
        if (i == 0 || (cur > 0 && cur + w->e[i].nbytes > max_shard_bytes)) { n_shards++; cur = 0; }
        shard_of[i] = n_shards - 1;
        cur += w->e[i].nbytes;
    }
    const wentry **list = sorted_entries(w);
    const wentry **sub = sd_xcalloc(w->n ? w->n : 1, sizeof *sub);
    char **files = sd_xcalloc(n_shards, sizeof(char *));
    for (int s = 0; s < n_shards && !rc; s++) {
        snprintf(name, sizeof name, "%s-%05d-of-%05d.safetensors", base, s + 1, n_shards);
        files[s] = sd_xstrdup(name);
        int m = 0;
        for (int i = 0; i < w->n; i++)
            if (shard_of[list[i] - w->e] == s) sub[m++] = list[i];
        char *p = sd_path_join(dir, name);
        rc = write_entries(w, sub, m, p, err);
        free(p);
    }
    if (!rc) {
        cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
        for (int i = 0; i < w->n; i++) list[i] = &w->e[i];
        qsort(list, w->n, sizeof *list, cmp_name);
        for (int i = 0; i < w->n; i++) cJSON_AddStringToObject(wm, list[i]->name, files[shard_of[list[i] - w->e]]);
        rc = sd_json_write_file(index_path, root, true, err);
        cJSON_Delete(root);
    }
    if (!rc) { unlink(single_path); remove_stale_shards(dir, base, n_shards); }
    for (int s = 0; s < n_shards; s++) free(files[s]);
    free(files);
    free(sub);
    free(list);
    free(shard_of);
    free(index_path);
    free(single_path);
    return rc;
}
