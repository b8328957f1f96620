#include "ids/embfile.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/strmap.h"

int sd_embfile_write_npy(const char *path, const float *x, int64_t n, int64_t d, sd_err *err) {
    char dict[160];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                       (long long)n, (long long)d);
    /* numpy pads the header with spaces to a multiple of 64 bytes (10-byte preamble included),
     * ending in '\n', so the data that follows is aligned for mmap readers. */
    int total = 10 + len + 1;
    int padded = (total + 63) / 64 * 64;
    char head[256];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    int hlen = padded - 10;
    head[8] = (char)(hlen & 0xff);
    head[9] = (char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', (size_t)(padded - total));
    head[padded - 1] = '\n';
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    size_t count = sd_mul_size((size_t)n, (size_t)d);
    if (fwrite(head, 1, (size_t)padded, a.f) != (size_t)padded || fwrite(x, sizeof(float), count, a.f) != count) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return sd_atomic_commit(&a, err);
}

/* IEEE half -> float, subnormals, Inf and NaN included. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Finds 'key': in the header dict and returns a pointer just after the colon. */
static const char *dict_value(const char *dict, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(dict, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(dict, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p)) p++;
    if (*p != ':') return NULL;
    p++;
    while (isspace((unsigned char)*p)) p++;
    return p;
}

static int parse_header(const char *path, const char *dict, int *itemsize, int64_t *n, int64_t *d, sd_err *err) {
    const char *v = dict_value(dict, "descr");
    if (!v || (*v != '\'' && *v != '"')) return sd_errf(err, SD_EFORMAT, "%s: .npy header has no 'descr'", path);
    char descr[16] = {0};
    size_t k = 0;
    for (v++; *v && *v != '\'' && *v != '"' && k < sizeof descr - 1; v++) descr[k++] = *v;
    if (!strcmp(descr, "<f4") || !strcmp(descr, "f4")) *itemsize = 4;
    else if (!strcmp(descr, "<f2") || !strcmp(descr, "f2")) *itemsize = 2;
    else return sd_errf(err, SD_EFORMAT, "%s: dtype '%s' is not supported (need little-endian float32 '<f4' or float16 '<f2')", path, descr);
    v = dict_value(dict, "fortran_order");
    if (!v) return sd_errf(err, SD_EFORMAT, "%s: .npy header has no 'fortran_order'", path);
    if (!strncmp(v, "True", 4)) return sd_errf(err, SD_EFORMAT, "%s: fortran_order True is not supported (save a C-order array)", path);
    if (strncmp(v, "False", 5)) return sd_errf(err, SD_EFORMAT, "%s: bad 'fortran_order' value in .npy header", path);
    v = dict_value(dict, "shape");
    if (!v || *v != '(') return sd_errf(err, SD_EFORMAT, "%s: .npy header has no 'shape' tuple", path);
    int64_t dims[4];
    int nd = 0;
    v++;
    for (;;) {
        while (isspace((unsigned char)*v) || *v == ',') v++;
        if (*v == ')') break;
        if (!isdigit((unsigned char)*v) || nd == 4) return sd_errf(err, SD_EFORMAT, "%s: bad 'shape' in .npy header", path);
        char *end;
        errno = 0;
        long long val = strtoll(v, &end, 10);
        if (errno || val < 0) return sd_errf(err, SD_EFORMAT, "%s: bad 'shape' in .npy header", path);
        dims[nd++] = val;
        v = end;
        while (*v == 'L') v++;
    }
    if (nd != 2) return sd_errf(err, SD_EFORMAT, "%s: shape has %d dimensions, expected 2 (N items, D)", path, nd);
    if (dims[0] == 0 || dims[1] == 0) return sd_errf(err, SD_EFORMAT, "%s: empty array (shape (%lld, %lld))", path, (long long)dims[0], (long long)dims[1]);
    *n = dims[0];
    *d = dims[1];
    return 0;
}

int sd_embfile_read_npy(const char *path, float **out, int64_t *n_out, int64_t *d_out, sd_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char pre[12];
    int rc = 0;
    char *dict = NULL;
    float *x = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        rc = sd_errf(err, SD_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) hlen = pre[8] | (size_t)pre[9] << 8;
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) { rc = sd_errf(err, SD_EFORMAT, "%s: truncated .npy header", path); goto done; }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        rc = sd_errf(err, SD_EFORMAT, "%s: .npy format version %d.%d is not supported", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > (1u << 20)) { rc = sd_errf(err, SD_EFORMAT, "%s: .npy header length %zu is implausible", path, hlen); goto done; }
    dict = sd_xmalloc(hlen + 1);
    if (fread(dict, 1, hlen, f) != hlen) { rc = sd_errf(err, SD_EFORMAT, "%s: truncated .npy header", path); goto done; }
    dict[hlen] = 0;
    int itemsize = 4;
    int64_t n = 0, d = 0;
    if ((rc = parse_header(path, dict, &itemsize, &n, &d, err))) goto done;
    size_t count = sd_mul_size((size_t)n, (size_t)d);
    long data_start = ftell(f);
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        size_t want = sd_mul_size(count, (size_t)itemsize);
        if (end - data_start != (long)want) {
            rc = sd_errf(err, SD_EFORMAT, "%s: data is %ld bytes but shape (%lld, %lld) needs %zu%s", path,
                         end - data_start, (long long)n, (long long)d, want, end - data_start < (long)want ? " (truncated)" : "");
            goto done;
        }
        fseek(f, data_start, SEEK_SET);
    }
    x = sd_xmalloc(sd_mul_size(count, sizeof(float)));
    if (itemsize == 4) {
        if (fread(x, 4, count, f) != count) { rc = sd_errf(err, SD_EFORMAT, "%s: truncated data", path); goto done; }
    } else {
        uint16_t buf[4096];
        for (size_t i = 0; i < count;) {
            size_t k = count - i < 4096 ? count - i : 4096;
            if (fread(buf, 2, k, f) != k) { rc = sd_errf(err, SD_EFORMAT, "%s: truncated data", path); goto done; }
            for (size_t j = 0; j < k; j++) x[i + j] = half_to_float(buf[j]);
            i += k;
        }
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < d; c++) {
            float v = x[r * d + c];
            if (!isfinite(v)) {
                rc = sd_errf(err, SD_EFORMAT, "%s: row %lld (column %lld) is %s; embeddings must be finite", path,
                             (long long)r, (long long)c, isnan(v) ? "NaN" : "Inf");
                goto done;
            }
        }
    *out = x;
    x = NULL;
    *n_out = n;
    *d_out = d;
done:
    free(x);
    free(dict);
    fclose(f);
    return rc;
}

int sd_embfile_reorder_by_ids(float **x, int64_t n, int64_t d, const char *ids_path, const sd_catalog *cat,
                              sd_err *err) {
    sd_lines *lr;
    int rc = sd_lines_open(&lr, ids_path, err);
    if (rc) return rc;
    int32_t ni = cat->n_items;
    int64_t *row_of = sd_xmalloc(sizeof(int64_t) * (size_t)(ni ? ni : 1));
    for (int32_t i = 0; i < ni; i++) row_of[i] = -1;
    char *line;
    size_t len;
    int64_t row = 0;
    while ((rc = sd_lines_next(lr, &line, &len, err)) == 1) {
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        if (!len) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: empty id", ids_path, (long long)sd_lines_lineno(lr)); break; }
        if (row >= n) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: more ids than the %lld rows of the .npy", ids_path,
                         (long long)sd_lines_lineno(lr), (long long)n);
            break;
        }
        int32_t id = sd_catalog_findn(cat, line, len);
        if (id < 0) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: id \"%.*s\" is not in the catalogue", ids_path, (long long)sd_lines_lineno(lr), (int)len, line); break; }
        if (row_of[id] >= 0) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: id \"%.*s\" repeats (first on line %lld)", ids_path,
                         (long long)sd_lines_lineno(lr), (int)len, line, (long long)row_of[id] + 1);
            break;
        }
        row_of[id] = row++;
    }
    sd_lines_close(lr);
    if (rc < 0) { free(row_of); return rc; }
    if (row != n) { free(row_of); return sd_errf(err, SD_EFORMAT, "%s: %lld ids but the .npy has %lld rows", ids_path, (long long)row, (long long)n); }
    for (int32_t i = 0; i < ni; i++)
        if (row_of[i] < 0) {
            free(row_of);
            return sd_errf(err, SD_EFORMAT, "%s: item \"%s\" (internal id %d) has no row", ids_path, cat->items[i].ext_id, i);
        }
    float *y = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)ni, (size_t)d), sizeof(float)));
    for (int32_t i = 0; i < ni; i++) memcpy(y + (size_t)i * d, *x + (size_t)row_of[i] * d, sizeof(float) * (size_t)d);
    free(*x);
    *x = y;
    free(row_of);
    return 0;
}

void sd_emb_l2_normalize(float *x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        float *row = x + r * d;
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)row[c] * row[c];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (int64_t c = 0; c < d; c++) row[c] *= inv;
        }
    }
}
