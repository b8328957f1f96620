/* Reader for the reference tensor files written by tests/ref/nn_refio.py, and comparison
 * helpers for the nn tests. */
#ifndef SD_NN_REF_H
#define SD_NN_REF_H
#include <stddef.h>
#include <stdint.h>

typedef struct tref_tensor {
    char *name;
    int dtype; /* 0 float32, 1 int32 */
    int ndim;
    int64_t shape[8];
    size_t n;
    void *data;
} tref_tensor;

typedef struct tref {
    int n;
    tref_tensor *t;
} tref;

/* Loads $SEMID_REF/<file>; fails the current test (cr_assert) when missing or malformed. */
tref *tref_load(const char *file);
void tref_free(tref *r);
tref_tensor *tref_get(tref *r, const char *name);     /* fails the test if absent */
float *tref_f(tref *r, const char *name);             /* float32 data */
int32_t *tref_i(tref *r, const char *name);           /* int32 data */
float tref_scalar(tref *r, const char *name);
int tref_has(tref *r, const char *name);

/* Fails the test unless |got - want| <= atol + rtol * |want| everywhere; names the worst element. */
void check_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol);
/* A copy of n floats (malloc'd). */
float *fdup(const float *x, size_t n);

#endif
