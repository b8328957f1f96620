#include "nn_ref.h"
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"

static int rd(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

tref *tref_load(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", sd_test_ref(), file);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "reference %s missing (run make test-ref)", path);
    char magic[4];
    uint32_t count = 0;
    cr_assert(rd(f, magic, 4) && !memcmp(magic, "SDT1", 4) && rd(f, &count, 4), "%s: bad header", path);
    tref *r = calloc(1, sizeof *r);
    r->n = (int)count;
    r->t = calloc(count ? count : 1, sizeof *r->t);
    for (uint32_t i = 0; i < count; i++) {
        tref_tensor *t = &r->t[i];
        uint16_t len;
        uint8_t code, ndim;
        cr_assert(rd(f, &len, 2), "%s: truncated", path);
        t->name = calloc(len + 1, 1);
        cr_assert(rd(f, t->name, len) && rd(f, &code, 1) && rd(f, &ndim, 1) && ndim <= 8, "%s: truncated", path);
        t->dtype = code;
        t->ndim = ndim;
        t->n = 1;
        cr_assert(rd(f, t->shape, 8 * (size_t)ndim), "%s: truncated", path);
        for (int d = 0; d < ndim; d++) t->n *= (size_t)t->shape[d];
        t->data = malloc(t->n * 4 + 4);
        cr_assert(rd(f, t->data, t->n * 4), "%s: tensor %s truncated", path, t->name);
    }
    fclose(f);
    return r;
}

void tref_free(tref *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) { free(r->t[i].name); free(r->t[i].data); }
    free(r->t);
    free(r);
}

int tref_has(tref *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->t[i].name, name)) return 1;
    return 0;
}

tref_tensor *tref_get(tref *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->t[i].name, name)) return &r->t[i];
    cr_assert_fail("reference tensor \"%s\" missing", name);
    return NULL;
}

float *tref_f(tref *r, const char *name) {
    tref_tensor *t = tref_get(r, name);
    cr_assert_eq(t->dtype, 0, "tensor %s is not float32", name);
    return t->data;
}

int32_t *tref_i(tref *r, const char *name) {
    tref_tensor *t = tref_get(r, name);
    cr_assert_eq(t->dtype, 1, "tensor %s is not int32", name);
    return t->data;
}

float tref_scalar(tref *r, const char *name) { return tref_f(r, name)[0]; }

void check_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol) {
    size_t worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), lim = atol + rtol * fabs(want[i]);
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    if (n)
        cr_assert(worst_excess <= 0, "%s: element %zu of %zu: got %.8g, want %.8g (atol %g, rtol %g)", what, worst, n,
                  got[worst], want[worst], atol, rtol);
}

float *fdup(const float *x, size_t n) {
    float *y = malloc(n * sizeof(float) + 4);
    memcpy(y, x, n * sizeof(float));
    return y;
}
