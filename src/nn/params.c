#include "nn/params.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

/* Views start on 16-float (64-byte) boundaries so every row-major tensor begins cache-line
 * aligned and vector loads of its first row never split lines. */
#define SD_PARAM_ALIGN 16

void sd_params_init(sd_params *p) { memset(p, 0, sizeof *p); }

int sd_params_add(sd_params *p, const char *name, int ndim, const int64_t *shape, bool weight_decay) {
    if (p->data || ndim < 0 || ndim > SD_MAX_DIMS) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return -1;
    SD_GROW(p->views, p->cap_views, p->n_views + 1);
    sd_view *v = &p->views[p->n_views];
    memset(v, 0, sizeof *v);
    v->name = sd_xstrdup(name);
    v->ndim = ndim;
    v->numel = 1;
    for (int i = 0; i < ndim; i++) { v->shape[i] = shape[i]; v->numel = sd_mul_size(v->numel, (size_t)shape[i]); }
    v->offset = p->n;
    v->requires_grad = true;
    v->weight_decay = weight_decay;
    p->n = (p->n + v->numel + SD_PARAM_ALIGN - 1) / SD_PARAM_ALIGN * SD_PARAM_ALIGN;
    return p->n_views++;
}

void sd_params_alloc(sd_params *p) {
    if (!p->data) p->data = sd_afloats(p->n ? p->n : 1);
}

void sd_params_alloc_train(sd_params *p) {
    size_t n = p->n ? p->n : 1;
    if (!p->grad) p->grad = sd_afloats(n);
    if (!p->m) p->m = sd_afloats(n);
    if (!p->v) p->v = sd_afloats(n);
}

void sd_params_free(sd_params *p) {
    for (int i = 0; i < p->n_views; i++) free(p->views[i].name);
    free(p->views);
    sd_afree(p->data); sd_afree(p->grad); sd_afree(p->m); sd_afree(p->v);
    memset(p, 0, sizeof *p);
}

int sd_params_index(const sd_params *p, const char *name) {
    for (int i = 0; i < p->n_views; i++)
        if (!strcmp(p->views[i].name, name)) return i;
    return -1;
}

float *sd_params_ptr(sd_params *p, int view) { return p->data + p->views[view].offset; }
float *sd_params_grad(sd_params *p, int view) { return p->grad ? p->grad + p->views[view].offset : NULL; }

/* Trainable views only: nothing writes a frozen view's gradient, which stays zero (a model
 * training its embeddings alone does not clear the body's gigabytes every step). */
void sd_params_zero_grad(sd_params *p) {
    if (!p->grad) return;
    for (int k = 0; k < p->n_views; k++) {
        const sd_view *v = &p->views[k];
        if (!v->requires_grad) continue;
        size_t lo, hi;
        sd_view_train_range(v, &lo, &hi);
        float *g = p->grad + v->offset + lo;
        size_t n = hi - lo;
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (size_t i = 0; i < n; i += 65536) memset(g + i, 0, (n - i < 65536 ? n - i : 65536) * sizeof(float));
    }
}

void sd_params_set_requires_grad(sd_params *p, int view, bool requires_grad) {
    sd_view *v = &p->views[view];
    /* freezing clears the gradient once, so zero_grad can leave frozen views alone */
    if (v->requires_grad && !requires_grad && p->grad) memset(p->grad + v->offset, 0, v->numel * sizeof(float));
    v->requires_grad = requires_grad;
}

size_t sd_params_count(const sd_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->n_views; i++) n += p->views[i].numel;
    return n;
}

void sd_view_train_range(const sd_view *v, size_t *lo, size_t *hi) {
    bool all = v->train_hi == 0 || v->train_hi > v->numel || v->train_lo >= v->train_hi;
    *lo = all ? 0 : v->train_lo;
    *hi = all ? v->numel : v->train_hi;
}

void sd_params_set_train_range(sd_params *p, int view, size_t lo, size_t hi) {
    sd_view *v = &p->views[view];
    v->train_lo = lo;
    v->train_hi = hi;
    if (!p->grad) return;
    sd_view_train_range(v, &lo, &hi);
    float *g = p->grad + v->offset;
    memset(g, 0, lo * sizeof(float));
    memset(g + hi, 0, (v->numel - hi) * sizeof(float));
}
