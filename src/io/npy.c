#include "io/npy.h"
#include "base/mem.h"
#include "base/utf8.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (1u << 20)

static const struct { char kind; int size; sd_dtype dtype; } kinds[] = {
    {'f', 4, SD_DT_F32}, {'f', 2, SD_DT_F16}, {'f', 8, SD_DT_F64}, {'i', 8, SD_DT_I64}, {'i', 4, SD_DT_I32},
    {'i', 2, SD_DT_I16}, {'i', 1, SD_DT_I8},  {'u', 1, SD_DT_U8},  {'u', 2, SD_DT_U16}, {'u', 4, SD_DT_U32},
    {'u', 8, SD_DT_U64}, {'b', 1, SD_DT_BOOL},
};

/* ---- the header: a Python dict literal such as
 *      {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } */

typedef struct cur { const char *s, *end, *begin, *path; sd_err *err; } cur;

static void ws(cur *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++;
}

static int fail(cur *c, const char *what) {
    return sd_errf(c->err, SD_EFORMAT, "%s: npy header: %s at column %d", c->path, what, (int)(c->s - c->begin) + 1);
}

static int expect(cur *c, char ch) {
    ws(c);
    if (c->s >= c->end || *c->s != ch) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", ch);
        return fail(c, msg);
    }
    c->s++;
    return 0;
}

/* 'text' or "text" without escapes (numpy never writes any in keys or descr). */
static int str_lit(cur *c, char *out, size_t n) {
    ws(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"')) return fail(c, "expected a quoted string");
    char q = *c->s++;
    size_t k = 0;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || k + 1 >= n) return fail(c, "unsupported string");
        out[k++] = *c->s++;
    }
    if (c->s >= c->end) return fail(c, "unterminated string");
    c->s++;
    out[k] = 0;
    return 0;
}

static int shape_lit(cur *c, sd_npy *a) {
    int rc = expect(c, '(');
    if (rc) return rc;
    a->ndim = 0;
    for (;;) {
        ws(c);
        if (c->s < c->end && *c->s == ')') { c->s++; return 0; }
        if (c->s >= c->end || *c->s < '0' || *c->s > '9') return fail(c, "shape must be a tuple of non-negative integers");
        uint64_t v = 0;
        while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
            if (v > (1ull << 53)) return fail(c, "shape dimension too large");
            v = v * 10 + (uint64_t)(*c->s++ - '0');
        }
        if (c->s < c->end && *c->s == 'L') c->s++; /* Python 2 long */
        if (v > (1ull << 53)) return fail(c, "shape dimension too large");
        if (a->ndim == SD_NPY_MAX_DIMS) return fail(c, "more than 8 dimensions");
        a->shape[a->ndim++] = (int64_t)v;
        ws(c);
        if (c->s < c->end && *c->s == ',') { c->s++; continue; }
        if (c->s < c->end && *c->s == ')') { c->s++; return 0; }
        return fail(c, "expected ',' or ')' in shape");
    }
}

/* Header text quoted for a message (raw bytes as \xNN); valid within the enclosing statement. */
#define QUOTE(s) sd_quote_bytes((char[SD_QUOTE_CAP]){0}, SD_QUOTE_CAP, (s), strlen(s))

static int descr(cur *c, const char *d, sd_npy *a) {
    size_t n = strlen(d);
    char order = n ? d[0] : 0;
    int size = n >= 3 ? atoi(d + 2) : 0;
    if (n < 3 || !strchr("<>|=", order) || d[2] < '1' || d[2] > '9' || (n > 3 && (d[3] < '0' || d[3] > '9')) || n > 4)
        return sd_errf(c->err, SD_EFORMAT, "%s: npy header: unsupported dtype '%s'", c->path, QUOTE(d));
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (kinds[i].kind != d[1] || kinds[i].size != size) continue;
        a->dtype = kinds[i].dtype;
        a->swap = order == '>' && size > 1;
        return 0;
    }
    return sd_errf(c->err, SD_EFORMAT, "%s: npy header: unsupported dtype '%s' (float, int, uint and bool only)",
                   c->path, QUOTE(d));
}

static int parse_header(cur *c, sd_npy *a) {
    int rc = expect(c, '{');
    if (rc) return rc;
    bool seen[3] = {false, false, false};
    for (;;) {
        ws(c);
        if (c->s < c->end && *c->s == '}') { c->s++; break; }
        char key[32], val[32];
        if ((rc = str_lit(c, key, sizeof key)) || (rc = expect(c, ':'))) return rc;
        ws(c);
        int k = strcmp(key, "descr") == 0 ? 0 : strcmp(key, "fortran_order") == 0 ? 1 : strcmp(key, "shape") == 0 ? 2 : -1;
        if (k < 0) return sd_errf(c->err, SD_EFORMAT, "%s: npy header: unexpected key '%s'", c->path, QUOTE(key));
        if (seen[k]) return sd_errf(c->err, SD_EFORMAT, "%s: npy header: key '%s' repeated", c->path, QUOTE(key));
        seen[k] = true;
        if (k == 0) {
            if (c->s < c->end && *c->s == '[')
                return sd_errf(c->err, SD_EFORMAT, "%s: npy: structured dtypes are not supported", c->path);
            if ((rc = str_lit(c, val, sizeof val)) || (rc = descr(c, val, a))) return rc;
        } else if (k == 1) {
            if (c->end - c->s >= 5 && memcmp(c->s, "False", 5) == 0) c->s += 5;
            else if (c->end - c->s >= 4 && memcmp(c->s, "True", 4) == 0)
                return sd_errf(c->err, SD_EFORMAT, "%s: npy: Fortran-order arrays are not supported (save a C-order "
                               "array, e.g. np.ascontiguousarray)", c->path);
            else return fail(c, "fortran_order must be True or False");
        } else if ((rc = shape_lit(c, a))) {
            return rc;
        }
        ws(c);
        if (c->s < c->end && *c->s == ',') { c->s++; continue; }
        if (c->s < c->end && *c->s == '}') { c->s++; break; }
        return fail(c, "expected ',' or '}'");
    }
    ws(c);
    if (c->s != c->end) return fail(c, "unexpected text after the dict");
    const char *names[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; k++)
        if (!seen[k]) return sd_errf(c->err, SD_EFORMAT, "%s: npy header: key '%s' missing", c->path, names[k]);
    return 0;
}

static int parse(sd_npy *a, const void *buf, size_t len, sd_err *err) {
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return sd_errf(err, SD_EFORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", a->path);
    a->major = b[6];
    a->minor = b[7];
    size_t hl, start;
    if (a->major == 1) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if (a->major == 2 || a->major == 3) {
        if (len < 12) return sd_errf(err, SD_EFORMAT, "%s: truncated .npy header", a->path);
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return sd_errf(err, SD_EFORMAT, "%s: unsupported .npy format version %d.%d", a->path, a->major, a->minor);
    }
    if (hl > MAX_HEADER) return sd_errf(err, SD_EFORMAT, "%s: .npy header length %zu over the 1 MB limit", a->path, hl);
    if (hl > len - start)
        return sd_errf(err, SD_EFORMAT, "%s: .npy header length %zu runs past the end of the file (%zu bytes)", a->path,
                       hl, len);
    cur c = {(const char *)b + start, (const char *)b + start + hl, (const char *)b + start, a->path, err};
    int rc = parse_header(&c, a);
    if (rc) return rc;
    uint64_t numel = 1;
    for (int d = 0; d < a->ndim; d++)
        if (__builtin_mul_overflow(numel, (uint64_t)a->shape[d], &numel))
            return sd_errf(err, SD_EFORMAT, "%s: npy shape product overflows", a->path);
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)sd_dtype_size(a->dtype), &nbytes) || nbytes > SIZE_MAX)
        return sd_errf(err, SD_EFORMAT, "%s: npy array size overflows", a->path);
    a->numel = numel;
    a->nbytes = nbytes;
    size_t have = len - start - hl;
    if (have != nbytes)
        return sd_errf(err, SD_EFORMAT, "%s: npy data holds %zu bytes but %s of %llu elements needs %llu (%s)", a->path,
                       have, sd_dtype_name(a->dtype), (unsigned long long)numel, (unsigned long long)nbytes,
                       have < nbytes ? "truncated file" : "trailing bytes");
    a->data = b + start + hl;
    return 0;
}

int sd_npy_parse(sd_npy *a, const void *buf, size_t len, const char *label, sd_err *err) {
    memset(a, 0, sizeof *a);
    a->path = sd_xstrdup(label ? label : "<buffer>");
    int rc = parse(a, buf, len, err);
    if (rc) sd_npy_close(a);
    return rc;
}

int sd_npy_open(sd_npy *a, const char *path, sd_err *err) {
    memset(a, 0, sizeof *a);
    a->path = sd_xstrdup(path);
    int rc = sd_map_open(&a->map, path, err);
    if (!rc) rc = parse(a, a->map.data, a->map.size, err);
    if (rc) sd_npy_close(a);
    return rc;
}

void sd_npy_close(sd_npy *a) {
    sd_map_close(&a->map);
    free(a->path);
    a->path = NULL;
    a->data = NULL;
}

int sd_npy_read_f32(const sd_npy *a, float *out, size_t n, sd_err *err) {
    if (n != a->numel) return sd_errf(err, SD_EFORMAT, "%s: %zu elements, expected %zu", a->path, a->numel, n);
    int rc = sd_convert_to_f32(a->dtype, a->data, n, a->swap, out, err);
    return rc ? sd_err_prefix(err, "%s", a->path) : 0;
}

int sd_npy_read_i64(const sd_npy *a, int64_t *out, size_t n, sd_err *err) {
    if (n != a->numel) return sd_errf(err, SD_EFORMAT, "%s: %zu elements, expected %zu", a->path, a->numel, n);
    int rc = sd_convert_to_i64(a->dtype, a->data, n, a->swap, out, err);
    return rc ? sd_err_prefix(err, "%s", a->path) : 0;
}

int sd_npy_load_f32(const char *path, int want_ndim, float **data, int *ndim, int64_t *shape, sd_err *err) {
    sd_npy a;
    *data = NULL;
    int rc = sd_npy_open(&a, path, err);
    if (rc) return rc;
    if (want_ndim > 0 && a.ndim != want_ndim) {
        rc = sd_errf(err, SD_EFORMAT, "%s: array has %d dimensions, expected %d", path, a.ndim, want_ndim);
    } else {
        float *x = sd_afloats(a.numel ? a.numel : 1);
        rc = sd_npy_read_f32(&a, x, a.numel, err);
        if (rc) sd_afree(x);
        else {
            *data = x;
            *ndim = a.ndim;
            memcpy(shape, a.shape, sizeof(int64_t) * a.ndim);
        }
    }
    sd_npy_close(&a);
    return rc;
}

static const char *descr_of(sd_dtype t) {
    switch (t) {
    case SD_DT_F32: return "<f4";
    case SD_DT_F16: return "<f2";
    case SD_DT_F64: return "<f8";
    case SD_DT_I64: return "<i8";
    case SD_DT_I32: return "<i4";
    case SD_DT_I16: return "<i2";
    case SD_DT_I8: return "|i1";
    case SD_DT_U8: return "|u1";
    case SD_DT_U16: return "<u2";
    case SD_DT_U32: return "<u4";
    case SD_DT_U64: return "<u8";
    case SD_DT_BOOL: return "|b1";
    default: return NULL;
    }
}

/* numpy 1.24 _write_array_header: sorted keys, repr(shape), room for the first axis to grow to 21
 * digits, then spaces and '\n' so that magic + length + header is a multiple of 64. */
int sd_npy_write(const char *path, sd_dtype dtype, const void *data, int ndim, const int64_t *shape, sd_err *err) {
    const char *d = descr_of(dtype);
    if (!d) return sd_errf(err, SD_EUSAGE, "%s: cannot write %s to .npy", path, sd_dtype_name(dtype));
    if (ndim < 0 || ndim > SD_NPY_MAX_DIMS) return sd_errf(err, SD_EUSAGE, "%s: %d dimensions", path, ndim);
    char h[1024];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", d);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return sd_errf(err, SD_EUSAGE, "%s: negative dimension", path);
        numel = sd_mul_size(numel, (size_t)shape[i]);
        k += snprintf(h + k, sizeof h - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    }
    k += snprintf(h + k, sizeof h - k, "%s), }", ndim == 1 ? "," : "");
    if (ndim > 0) {
        int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
        for (int i = digits; i < 21; i++) h[k++] = ' ';
    }
    /* at most 8 dims of <= 19 digits: always fits version 1.0's 16-bit header length */
    enum { prefix = 10 };
    while ((prefix + k + 1) % 64) h[k++] = ' ';
    h[k++] = '\n';
    unsigned char pre[prefix] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(k & 0xff), (unsigned char)(k >> 8)};
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    size_t nbytes = sd_mul_size(numel, sd_dtype_size(dtype));
    bool ok = fwrite(pre, 1, prefix, a.f) == (size_t)prefix && fwrite(h, 1, k, a.f) == (size_t)k &&
              (nbytes == 0 || fwrite(data, 1, nbytes, a.f) == nbytes);
    if (!ok) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed", path);
    }
    return sd_atomic_commit(&a, err);
}

int sd_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, sd_err *err) {
    return sd_npy_write(path, SD_DT_F32, data, ndim, shape, err);
}
