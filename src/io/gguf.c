/* GGUF reader and writer (see gguf.h for the layout and what the reader rejects). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/strmap.h"
#include "io/dtype.h"
#include "io/gguf.h"

#define MAGIC "GGUF"
#define MAX_NAME 65535u

/* ---- types ---- */

static const char *const VTYPE_NAMES[SD_GGUF_VTYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                                             "string", "array", "u64", "i64", "f64"};
static const size_t VTYPE_SIZE[SD_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *sd_gguf_vtype_name(int t) { return t >= 0 && t < SD_GGUF_VTYPE_COUNT ? VTYPE_NAMES[t] : "?"; }

typedef struct ggml_traits { const char *name; int blck; int size; } ggml_traits;
/* ggml's block sizes and bytes per block for the types whose layout is fixed and well known;
 * the i-quants are left out (the reader rejects them as unknown). */
static const ggml_traits GGML_TYPES[] = {
    [0] = {"F32", 1, 4},      [1] = {"F16", 1, 2},       [2] = {"Q4_0", 32, 18},   [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},   [7] = {"Q5_1", 32, 24},    [8] = {"Q8_0", 32, 34},   [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84}, [11] = {"Q3_K", 256, 110}, [12] = {"Q4_K", 256, 144}, [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210}, [15] = {"Q8_K", 256, 292}, [24] = {"I8", 1, 1},      [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},     [27] = {"I64", 1, 8},      [28] = {"F64", 1, 8},     [30] = {"BF16", 1, 2},
};
#define N_GGML_TYPES ((int)(sizeof GGML_TYPES / sizeof *GGML_TYPES))

static const ggml_traits *ggml_traits_of(int t) {
    return t >= 0 && t < N_GGML_TYPES && GGML_TYPES[t].name ? &GGML_TYPES[t] : NULL;
}
const char *sd_ggml_type_name(int t) {
    const ggml_traits *tr = ggml_traits_of(t);
    return tr ? tr->name : "?";
}
size_t sd_ggml_row_size(int t, int64_t n) {
    const ggml_traits *tr = ggml_traits_of(t);
    if (!tr || n < 0 || n % tr->blck) return 0;
    return (size_t)(n / tr->blck) * (size_t)tr->size;
}

/* ---- Q8_0 ---- */

void sd_q8_0_quantize(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / SD_GGUF_QK8_0; b++, x += SD_GGUF_QK8_0, out += 2 + SD_GGUF_QK8_0) {
        float amax = 0;
        for (int j = 0; j < SD_GGUF_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h = sd_f32_to_f16(d);
        out[0] = (uint8_t)(h & 0xFF);
        out[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < SD_GGUF_QK8_0; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

void sd_q8_0_dequantize(const uint8_t *in, size_t n, float *out) {
    for (size_t b = 0; b < n / SD_GGUF_QK8_0; b++, in += 2 + SD_GGUF_QK8_0, out += SD_GGUF_QK8_0) {
        const float d = sd_f16_to_f32((uint16_t)(in[0] | in[1] << 8));
        for (int j = 0; j < SD_GGUF_QK8_0; j++) out[j] = (float)(int8_t)in[2 + j] * d;
    }
}

/* ---- reading ---- */

struct sd_gguf {
    sd_map map;
    bool mapped;
    const uint8_t *buf;
    size_t len;
    char *label;
    uint32_t version, alignment;
    size_t data_off;
    sd_gguf_kv *kv;
    int n_kv;
    sd_gguf_tensor *t;
    int n_t;
    sd_strmap kv_index, t_index;
};

typedef struct cursor {
    const uint8_t *p;
    size_t n, pos;
    const char *label;
    const char *what; /* "header", "key \"x\"", ... for errors */
    sd_err *err;
} cursor;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int need(cursor *c, uint64_t k) {
    if (k <= c->n - c->pos) return 0;
    return sd_errf(c->err, SD_EFORMAT, "%s: %s: needs %llu bytes at offset %zu, the file ends at %zu", c->label,
                   c->what, (unsigned long long)k, c->pos, c->n);
}
static int rd(cursor *c, int bytes, uint64_t *v) {
    if (need(c, (uint64_t)bytes)) return SD_EFORMAT;
    *v = le(c->p + c->pos, bytes);
    c->pos += (size_t)bytes;
    return 0;
}
static int rd_str(cursor *c, sd_gguf_str *s) {
    uint64_t len;
    if (rd(c, 8, &len) || need(c, len)) return SD_EFORMAT;
    s->s = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return 0;
}
/* A key or tensor name: non-empty, at most MAX_NAME bytes, no NUL; copied. */
static int rd_name(cursor *c, const char *kind, uint64_t index, char **out) {
    sd_gguf_str s;
    if (rd_str(c, &s)) return SD_EFORMAT;
    if (s.len == 0 || s.len > MAX_NAME || memchr(s.s, 0, (size_t)s.len))
        return sd_errf(c->err, SD_EFORMAT, "%s: %s %llu: name %s", c->label, kind, (unsigned long long)index,
                       s.len == 0 ? "is empty" : s.len > MAX_NAME ? "is longer than 65535 bytes" : "holds a NUL byte");
    *out = sd_xstrndup(s.s, (size_t)s.len);
    return 0;
}

static void scalar_value(sd_gguf_kv *kv, const uint8_t *p) {
    switch (kv->type) {
    case SD_GGUF_U8: case SD_GGUF_U16: case SD_GGUF_U32: case SD_GGUF_U64:
        kv->v.u = le(p, (int)VTYPE_SIZE[kv->type]);
        break;
    case SD_GGUF_I8: kv->v.i = (int8_t)p[0]; break;
    case SD_GGUF_I16: kv->v.i = (int16_t)le(p, 2); break;
    case SD_GGUF_I32: kv->v.i = (int32_t)le(p, 4); break;
    case SD_GGUF_I64: kv->v.i = (int64_t)le(p, 8); break;
    case SD_GGUF_F32: {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        kv->v.f = f;
        break;
    }
    case SD_GGUF_F64: {
        uint64_t u = le(p, 8);
        memcpy(&kv->v.f, &u, 8);
        break;
    }
    case SD_GGUF_BOOL: kv->v.b = p[0] != 0; break;
    default: break;
    }
}

static int rd_value(cursor *c, sd_gguf_kv *kv) {
    uint64_t ty;
    if (rd(c, 4, &ty)) return SD_EFORMAT;
    if (ty >= SD_GGUF_VTYPE_COUNT)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: unknown value type %llu", c->label, c->what, (unsigned long long)ty);
    kv->type = (sd_gguf_vtype)ty;
    if (kv->type == SD_GGUF_STRING) return rd_str(c, &kv->str);
    if (kv->type != SD_GGUF_ARRAY) {
        if (need(c, VTYPE_SIZE[kv->type])) return SD_EFORMAT;
        scalar_value(kv, c->p + c->pos);
        if (kv->type == SD_GGUF_BOOL && c->p[c->pos] > 1)
            return sd_errf(c->err, SD_EFORMAT, "%s: %s: bool value %u (must be 0 or 1)", c->label, c->what, c->p[c->pos]);
        c->pos += VTYPE_SIZE[kv->type];
        return 0;
    }
    uint64_t et, n;
    if (rd(c, 4, &et) || rd(c, 8, &n)) return SD_EFORMAT;
    if (et >= SD_GGUF_VTYPE_COUNT)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: array of unknown type %llu", c->label, c->what, (unsigned long long)et);
    if (et == SD_GGUF_ARRAY)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: arrays of arrays are not supported", c->label, c->what);
    kv->arr_type = (sd_gguf_vtype)et;
    kv->arr_n = n;
    if (et == SD_GGUF_STRING) {
        /* every string takes at least its 8-byte length: bounds the allocation by the file */
        if (n > (c->n - c->pos) / 8) return need(c, n > UINT64_MAX / 8 ? UINT64_MAX : n * 8);
        kv->arr_str = sd_xmalloc((size_t)(n ? n : 1) * sizeof *kv->arr_str);
        for (uint64_t i = 0; i < n; i++)
            if (rd_str(c, &kv->arr_str[i])) return SD_EFORMAT;
        return 0;
    }
    uint64_t es = VTYPE_SIZE[et];
    if (n > (c->n - c->pos) / es) return need(c, n > UINT64_MAX / es ? UINT64_MAX : n * es);
    kv->arr_data = c->p + c->pos;
    if (et == SD_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (kv->arr_data[i] > 1)
                return sd_errf(c->err, SD_EFORMAT, "%s: %s: element %llu: bool value %u (must be 0 or 1)", c->label,
                               c->what, (unsigned long long)i, kv->arr_data[i]);
    c->pos += (size_t)(n * es);
    return 0;
}

static int parse_tensor_info(cursor *c, sd_gguf *g, uint64_t i, sd_gguf_tensor *t) {
    uint64_t v;
    if (rd_name(c, "tensor", i, &t->name)) return SD_EFORMAT;
    char what[128];
    snprintf(what, sizeof what, "tensor \"%.80s\"", t->name);
    c->what = what;
    if (rd(c, 4, &v)) return SD_EFORMAT;
    if (v < 1 || v > SD_GGUF_MAX_DIMS)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: %llu dimensions (1 to %d supported)", g->label, what,
                       (unsigned long long)v, SD_GGUF_MAX_DIMS);
    t->n_dims = (int)v;
    int64_t numel = 1;
    for (int d = 0; d < SD_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (rd(c, 8, &v)) return SD_EFORMAT;
        if (v == 0 || v > (uint64_t)INT64_MAX || (uint64_t)numel > (uint64_t)INT64_MAX / v)
            return sd_errf(c->err, SD_EFORMAT, "%s: %s: dimension %d is %llu (dimensions must be positive and their "
                           "product fit in 63 bits)", g->label, what, d, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        numel *= (int64_t)v;
    }
    t->numel = numel;
    if (rd(c, 4, &v)) return SD_EFORMAT;
    const ggml_traits *tr = v <= INT32_MAX ? ggml_traits_of((int)v) : NULL;
    if (!tr) return sd_errf(c->err, SD_EFORMAT, "%s: %s: unknown or unsupported ggml type %llu", g->label, what,
                            (unsigned long long)v);
    t->type = (int)v;
    if (t->ne[0] % tr->blck)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: row length %lld is not a multiple of %s's block of %d", g->label,
                       what, (long long)t->ne[0], tr->name, tr->blck);
    uint64_t blocks = (uint64_t)numel / (uint64_t)tr->blck;
    if (blocks > SIZE_MAX / (uint64_t)tr->size)
        return sd_errf(c->err, SD_EFORMAT, "%s: %s: %lld values are too many", g->label, what, (long long)numel);
    t->nbytes = (size_t)(blocks * (uint64_t)tr->size);
    if (rd(c, 8, &t->offset)) return SD_EFORMAT;
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const sd_gguf_tensor *x = *(const sd_gguf_tensor *const *)a, *y = *(const sd_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Offsets aligned, data inside the file, no two tensors overlapping. */
static int check_data(sd_gguf *g, sd_err *err) {
    size_t region = g->len - g->data_off;
    for (int i = 0; i < g->n_t; i++) {
        sd_gguf_tensor *t = &g->t[i];
        if (t->offset % g->alignment)
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": offset %llu is not a multiple of the alignment %u",
                           g->label, t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > region || t->nbytes > region - t->offset)
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\": data [%llu, %llu) of the data region runs past the end "
                           "of the file (the region holds %zu bytes)", g->label, t->name, (unsigned long long)t->offset,
                           (unsigned long long)t->offset + t->nbytes, region);
        t->data = g->buf + g->data_off + t->offset;
    }
    sd_gguf_tensor **order = sd_xmalloc((size_t)(g->n_t ? g->n_t : 1) * sizeof *order);
    for (int i = 0; i < g->n_t; i++) order[i] = &g->t[i];
    qsort(order, (size_t)g->n_t, sizeof *order, cmp_by_offset);
    int rc = 0;
    for (int i = 1; i < g->n_t && !rc; i++)
        if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset)
            rc = sd_errf(err, SD_EFORMAT, "%s: tensors \"%s\" and \"%s\" overlap", g->label, order[i - 1]->name,
                         order[i]->name);
    free(order);
    return rc;
}

static int parse(sd_gguf *g, sd_err *err) {
    cursor c = {.p = g->buf, .n = g->len, .label = g->label, .what = "header", .err = err};
    uint64_t v, n_t, n_kv;
    if (g->len < 4 || memcmp(g->buf, MAGIC, 4))
        return sd_errf(err, SD_EFORMAT, "%s: not a GGUF file (it does not start with \"GGUF\")", g->label);
    c.pos = 4;
    if (rd(&c, 4, &v)) return SD_EFORMAT;
    if (v != 2 && v != 3) {
        if ((v & 0xFFFF) == 0 && v)
            return sd_errf(err, SD_EFORMAT, "%s: a big-endian GGUF file (only little-endian is supported)", g->label);
        return sd_errf(err, SD_EFORMAT, "%s: GGUF version %llu (versions 2 and 3 are supported)", g->label,
                       (unsigned long long)v);
    }
    g->version = (uint32_t)v;
    if (rd(&c, 8, &n_t) || rd(&c, 8, &n_kv)) return SD_EFORMAT;
    /* a key-value takes at least 14 bytes, a tensor info at least 33: counts beyond what the
     * file can hold are rejected before anything is allocated for them */
    if (n_kv > (g->len - c.pos) / 14)
        return sd_errf(err, SD_EFORMAT, "%s: %llu key-values cannot fit in %zu bytes", g->label,
                       (unsigned long long)n_kv, g->len);
    if (n_t > (g->len - c.pos) / 33)
        return sd_errf(err, SD_EFORMAT, "%s: %llu tensors cannot fit in %zu bytes", g->label, (unsigned long long)n_t,
                       g->len);
    g->kv = sd_xcalloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv);
    sd_strmap_init(&g->kv_index, (size_t)n_kv);
    char what[128];
    for (uint64_t i = 0; i < n_kv; i++) {
        sd_gguf_kv *kv = &g->kv[i];
        c.what = "key-value";
        if (rd_name(&c, "key-value", i, &kv->key)) return SD_EFORMAT;
        g->n_kv = (int)i + 1;
        snprintf(what, sizeof what, "key \"%.80s\"", kv->key);
        c.what = what;
        if (sd_strmap_put(&g->kv_index, kv->key, strlen(kv->key), (int32_t)i) >= 0)
            return sd_errf(err, SD_EFORMAT, "%s: key \"%s\" appears twice", g->label, kv->key);
        if (rd_value(&c, kv)) return SD_EFORMAT;
    }
    g->alignment = SD_GGUF_DEFAULT_ALIGNMENT;
    const sd_gguf_kv *al = sd_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != SD_GGUF_U32 || al->v.u == 0 || (al->v.u & (al->v.u - 1)) || al->v.u > (1u << 20))
            return sd_errf(err, SD_EFORMAT, "%s: \"general.alignment\" must be a u32 power of two up to 2^20 "
                           "(it is a %s)", g->label, sd_gguf_vtype_name(al->type));
        g->alignment = (uint32_t)al->v.u;
    }
    g->t = sd_xcalloc((size_t)(n_t ? n_t : 1), sizeof *g->t);
    sd_strmap_init(&g->t_index, (size_t)n_t);
    for (uint64_t i = 0; i < n_t; i++) {
        c.what = "tensor info";
        g->n_t = (int)i + 1;
        if (parse_tensor_info(&c, g, i, &g->t[i])) return SD_EFORMAT;
        if (sd_strmap_put(&g->t_index, g->t[i].name, strlen(g->t[i].name), (int32_t)i) >= 0)
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" appears twice", g->label, g->t[i].name);
    }
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (n_t && pad > g->len - c.pos)
        return sd_errf(err, SD_EFORMAT, "%s: the file ends before its data region (offset %zu)", g->label, c.pos + pad);
    g->data_off = pad > g->len - c.pos ? g->len : c.pos + pad;
    return check_data(g, err);
}

static int open_common(sd_gguf *g, sd_gguf **out, sd_err *err) {
    int rc = parse(g, err);
    if (rc) {
        sd_gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int sd_gguf_open_buffer(sd_gguf **out, const void *buf, size_t len, const char *label, sd_err *err) {
    *out = NULL;
    sd_gguf *g = sd_xcalloc(1, sizeof *g);
    g->buf = buf;
    g->len = len;
    g->label = sd_xstrdup(label ? label : "gguf");
    return open_common(g, out, err);
}

int sd_gguf_open(sd_gguf **out, const char *path, sd_err *err) {
    *out = NULL;
    sd_gguf *g = sd_xcalloc(1, sizeof *g);
    int rc = sd_map_open(&g->map, path, err);
    if (rc) {
        free(g);
        return rc;
    }
    g->mapped = true;
    g->buf = g->map.data;
    g->len = g->map.size;
    g->label = sd_xstrdup(path);
    return open_common(g, out, err);
}

void sd_gguf_close(sd_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].arr_str);
    }
    for (int i = 0; i < g->n_t; i++) free(g->t[i].name);
    free(g->kv);
    free(g->t);
    if (g->kv_index.slots) sd_strmap_free(&g->kv_index);
    if (g->t_index.slots) sd_strmap_free(&g->t_index);
    if (g->mapped) sd_map_close(&g->map);
    free(g->label);
    free(g);
}

uint32_t sd_gguf_version(const sd_gguf *g) { return g->version; }
uint32_t sd_gguf_alignment(const sd_gguf *g) { return g->alignment; }
size_t sd_gguf_data_offset(const sd_gguf *g) { return g->data_off; }
const char *sd_gguf_label(const sd_gguf *g) { return g->label; }
int sd_gguf_kv_count(const sd_gguf *g) { return g->n_kv; }
const sd_gguf_kv *sd_gguf_kv_at(const sd_gguf *g, int i) { return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL; }
int sd_gguf_tensor_count(const sd_gguf *g) { return g->n_t; }
const sd_gguf_tensor *sd_gguf_tensor_at(const sd_gguf *g, int i) { return i >= 0 && i < g->n_t ? &g->t[i] : NULL; }

const sd_gguf_kv *sd_gguf_find(const sd_gguf *g, const char *key) {
    if (!g->kv_index.slots) return NULL;
    int32_t i = sd_strmap_get(&g->kv_index, key, strlen(key));
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}
const sd_gguf_tensor *sd_gguf_find_tensor(const sd_gguf *g, const char *name) {
    if (!g->t_index.slots) return NULL;
    int32_t i = sd_strmap_get(&g->t_index, name, strlen(name));
    return i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

static const char *kv_kind(const sd_gguf_kv *kv, char *buf, size_t cap) {
    if (kv->type == SD_GGUF_ARRAY) snprintf(buf, cap, "an array of %s", sd_gguf_vtype_name(kv->arr_type));
    else snprintf(buf, cap, "a %s", sd_gguf_vtype_name(kv->type));
    return buf;
}

static int lookup(const sd_gguf *g, const char *key, const sd_gguf_kv **kv, sd_err *err) {
    *kv = sd_gguf_find(g, key);
    return *kv ? 0 : sd_errf(err, SD_EFORMAT, "%s: key \"%s\" missing", g->label, key);
}
static int wrong_type(const sd_gguf *g, const sd_gguf_kv *kv, const char *want, sd_err *err) {
    char buf[64];
    return sd_errf(err, SD_EFORMAT, "%s: key \"%s\" is %s, expected %s", g->label, kv->key, kv_kind(kv, buf, sizeof buf),
                   want);
}

static bool is_uint_type(int t) { return t == SD_GGUF_U8 || t == SD_GGUF_U16 || t == SD_GGUF_U32 || t == SD_GGUF_U64; }
static bool is_sint_type(int t) { return t == SD_GGUF_I8 || t == SD_GGUF_I16 || t == SD_GGUF_I32 || t == SD_GGUF_I64; }

int sd_gguf_get_uint(const sd_gguf *g, const char *key, uint64_t *out, sd_err *err) {
    const sd_gguf_kv *kv;
    if (lookup(g, key, &kv, err)) return SD_EFORMAT;
    if (is_uint_type(kv->type)) *out = kv->v.u;
    else if (is_sint_type(kv->type) && kv->v.i >= 0) *out = (uint64_t)kv->v.i;
    else if (is_sint_type(kv->type))
        return sd_errf(err, SD_EFORMAT, "%s: key \"%s\" is %lld (must be >= 0)", g->label, key, (long long)kv->v.i);
    else return wrong_type(g, kv, "an integer", err);
    return 0;
}
int sd_gguf_get_float(const sd_gguf *g, const char *key, double *out, sd_err *err) {
    const sd_gguf_kv *kv;
    if (lookup(g, key, &kv, err)) return SD_EFORMAT;
    if (kv->type != SD_GGUF_F32 && kv->type != SD_GGUF_F64) return wrong_type(g, kv, "a f32", err);
    *out = kv->v.f;
    return 0;
}
int sd_gguf_get_str(const sd_gguf *g, const char *key, sd_gguf_str *out, sd_err *err) {
    const sd_gguf_kv *kv;
    if (lookup(g, key, &kv, err)) return SD_EFORMAT;
    if (kv->type != SD_GGUF_STRING) return wrong_type(g, kv, "a string", err);
    *out = kv->str;
    return 0;
}
int sd_gguf_get_bool(const sd_gguf *g, const char *key, bool *out, sd_err *err) {
    const sd_gguf_kv *kv;
    if (lookup(g, key, &kv, err)) return SD_EFORMAT;
    if (kv->type != SD_GGUF_BOOL) return wrong_type(g, kv, "a bool", err);
    *out = kv->v.b;
    return 0;
}
int sd_gguf_get_array(const sd_gguf *g, const char *key, sd_gguf_vtype elem, const sd_gguf_kv **out, sd_err *err) {
    const sd_gguf_kv *kv;
    if (lookup(g, key, &kv, err)) return SD_EFORMAT;
    bool ok = kv->type == SD_GGUF_ARRAY &&
              (elem == SD_GGUF_I32 ? is_uint_type(kv->arr_type) || is_sint_type(kv->arr_type) : kv->arr_type == elem);
    if (!ok) {
        char want[64];
        snprintf(want, sizeof want, "an array of %s", elem == SD_GGUF_I32 ? "integers" : sd_gguf_vtype_name(elem));
        return wrong_type(g, kv, want, err);
    }
    *out = kv;
    return 0;
}
int64_t sd_gguf_arr_int(const sd_gguf_kv *kv, uint64_t i) {
    size_t es = VTYPE_SIZE[kv->arr_type];
    uint64_t u = le(kv->arr_data + i * es, (int)es);
    switch (kv->arr_type) {
    case SD_GGUF_I8: return (int8_t)u;
    case SD_GGUF_I16: return (int16_t)u;
    case SD_GGUF_I32: return (int32_t)u;
    case SD_GGUF_U64: return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    default: return (int64_t)u;
    }
}

int sd_gguf_tensor_f32(const sd_gguf *g, const sd_gguf_tensor *t, float *out, size_t n, sd_err *err) {
    if ((int64_t)n != t->numel)
        return sd_errf(err, SD_EUSAGE, "%s: tensor \"%s\": %lld values, asked for %zu", g->label, t->name,
                       (long long)t->numel, n);
    switch (t->type) {
    case SD_GGML_F32: return sd_convert_to_f32(SD_DT_F32, t->data, n, false, out, err);
    case SD_GGML_F16: return sd_convert_to_f32(SD_DT_F16, t->data, n, false, out, err);
    case SD_GGML_BF16: return sd_convert_to_f32(SD_DT_BF16, t->data, n, false, out, err);
    case SD_GGML_Q8_0: sd_q8_0_dequantize(t->data, n, out); return 0;
    default:
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is %s (semid reads F32, F16, BF16 and Q8_0)", g->label,
                       t->name, sd_ggml_type_name(t->type));
    }
}

/* ---- writing ---- */

typedef struct wtensor {
    char *name;
    int n_dims;
    int64_t ne[SD_GGUF_MAX_DIMS];
    sd_ggml_type type;
    const float *src;
    size_t nbytes;
    uint64_t offset;
} wtensor;

struct sd_gguf_writer {
    uint8_t *kv; size_t kv_len, kv_cap; /* serialised key-values */
    uint64_t n_kv;
    wtensor *t; int n_t, cap_t;
    uint64_t data_len;                  /* data region so far (aligned) */
};

sd_gguf_writer *sd_gguf_writer_new(void) { return sd_xcalloc(1, sizeof(sd_gguf_writer)); }

void sd_gguf_writer_free(sd_gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->kv);
    free(w);
}

static void put(sd_gguf_writer *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = (w->kv_len + n) * 2 + 256;
        w->kv = sd_xrealloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void put_le(sd_gguf_writer *w, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}
static void put_str(sd_gguf_writer *w, const char *s, size_t len) {
    put_le(w, len, 8);
    put(w, s, len);
}
static void put_key(sd_gguf_writer *w, const char *key, sd_gguf_vtype t) {
    put_str(w, key, strlen(key));
    put_le(w, (uint64_t)t, 4);
    w->n_kv++;
}

void sd_gguf_add_u32(sd_gguf_writer *w, const char *key, uint32_t v) { put_key(w, key, SD_GGUF_U32); put_le(w, v, 4); }
void sd_gguf_add_i32(sd_gguf_writer *w, const char *key, int32_t v) {
    put_key(w, key, SD_GGUF_I32);
    put_le(w, (uint32_t)v, 4);
}
void sd_gguf_add_f32(sd_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_key(w, key, SD_GGUF_F32);
    put_le(w, u, 4);
}
void sd_gguf_add_bool(sd_gguf_writer *w, const char *key, bool v) { put_key(w, key, SD_GGUF_BOOL); put_le(w, v, 1); }
void sd_gguf_add_str(sd_gguf_writer *w, const char *key, const char *s) {
    put_key(w, key, SD_GGUF_STRING);
    put_str(w, s, strlen(s));
}
void sd_gguf_add_str_array(sd_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, size_t n) {
    put_key(w, key, SD_GGUF_ARRAY);
    put_le(w, SD_GGUF_STRING, 4);
    put_le(w, n, 8);
    for (size_t i = 0; i < n; i++) put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
}
void sd_gguf_add_i32_array(sd_gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    put_key(w, key, SD_GGUF_ARRAY);
    put_le(w, SD_GGUF_I32, 4);
    put_le(w, n, 8);
    for (size_t i = 0; i < n; i++) put_le(w, (uint32_t)v[i], 4);
}

static uint64_t align_up(uint64_t x) { return (x + SD_GGUF_DEFAULT_ALIGNMENT - 1) / SD_GGUF_DEFAULT_ALIGNMENT * SD_GGUF_DEFAULT_ALIGNMENT; }

int sd_gguf_add_tensor(sd_gguf_writer *w, const char *name, int n_dims, const int64_t *ne, sd_ggml_type type,
                       const float *src, sd_err *err) {
    if (n_dims < 1 || n_dims > SD_GGUF_MAX_DIMS)
        return sd_errf(err, SD_EUSAGE, "gguf: tensor \"%s\": %d dimensions", name, n_dims);
    int64_t numel = 1;
    for (int d = 0; d < n_dims; d++) numel *= ne[d];
    size_t row = sd_ggml_row_size(type, ne[0]);
    if (type != SD_GGML_F32 && type != SD_GGML_F16 && type != SD_GGML_BF16 && type != SD_GGML_Q8_0)
        return sd_errf(err, SD_EUSAGE, "gguf: tensor \"%s\": cannot write type %s", name, sd_ggml_type_name(type));
    if (!row) return sd_errf(err, SD_EUSAGE, "gguf: tensor \"%s\": row length %lld does not fit %s blocks", name,
                             (long long)ne[0], sd_ggml_type_name(type));
    SD_GROW(w->t, w->cap_t, w->n_t + 1);
    wtensor *t = &w->t[w->n_t++];
    *t = (wtensor){.name = sd_xstrdup(name), .n_dims = n_dims, .type = type, .src = src,
                   .nbytes = row * (size_t)(numel / ne[0]), .offset = w->data_len};
    for (int d = 0; d < SD_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    w->data_len = align_up(w->data_len + t->nbytes);
    return 0;
}

static uint64_t header_len(const sd_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len;
    for (int i = 0; i < w->n_t; i++) n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return n;
}

/* As gguf-py and ggml write it: each tensor padded to the alignment, the last one too, so the
 * data region is the sum of the padded sizes ggml reads in one piece. */
uint64_t sd_gguf_writer_size(const sd_gguf_writer *w) {
    return w->n_t ? align_up(header_len(w)) + w->data_len : header_len(w);
}

static void wr_le(FILE *f, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    fwrite(b, 1, (size_t)bytes, f);
}

static void write_zeros(FILE *f, uint64_t n) {
    static const uint8_t z[SD_GGUF_DEFAULT_ALIGNMENT];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        fwrite(z, 1, k, f);
        n -= k;
    }
}

/* Converts and writes a tensor a chunk of rows at a time. */
static int write_tensor_data(FILE *f, const wtensor *t, sd_err *err) {
    size_t rowlen = (size_t)t->ne[0], rows = (size_t)(t->nbytes / sd_ggml_row_size(t->type, t->ne[0]));
    size_t row_bytes = sd_ggml_row_size(t->type, t->ne[0]);
    size_t chunk = rowlen ? ((size_t)1 << 20) / rowlen + 1 : 1;
    uint8_t *buf = sd_xmalloc(chunk * row_bytes);
    int rc = 0;
    for (size_t r = 0; r < rows && !rc; r += chunk) {
        size_t k = rows - r < chunk ? rows - r : chunk;
        const float *src = t->src + r * rowlen;
        if (t->type == SD_GGML_Q8_0) sd_q8_0_quantize(src, k * rowlen, buf);
        else rc = sd_convert_from_f32(t->type == SD_GGML_F32 ? SD_DT_F32 : t->type == SD_GGML_F16 ? SD_DT_F16 : SD_DT_BF16,
                                      src, k * rowlen, buf, err);
        if (!rc) fwrite(buf, 1, k * row_bytes, f);
    }
    free(buf);
    return rc;
}

int sd_gguf_writer_write(sd_gguf_writer *w, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    FILE *f = a.f;
    fwrite(MAGIC, 1, 4, f);
    wr_le(f, 3, 4);
    wr_le(f, (uint64_t)w->n_t, 8);
    wr_le(f, w->n_kv, 8);
    fwrite(w->kv, 1, w->kv_len, f);
    for (int i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        wr_le(f, strlen(t->name), 8);
        fwrite(t->name, 1, strlen(t->name), f);
        wr_le(f, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) wr_le(f, (uint64_t)t->ne[d], 8);
        wr_le(f, (uint64_t)t->type, 4);
        wr_le(f, t->offset, 8);
    }
    uint64_t pos = header_len(w);
    if (w->n_t) write_zeros(f, align_up(pos) - pos);
    for (int i = 0; i < w->n_t && !rc; i++) {
        const wtensor *t = &w->t[i];
        rc = write_tensor_data(f, t, err);
        if (!rc) write_zeros(f, align_up(t->offset + t->nbytes) - (t->offset + t->nbytes));
    }
    if (rc) {
        sd_atomic_abort(&a);
        return rc;
    }
    return sd_atomic_commit(&a, err);
}
