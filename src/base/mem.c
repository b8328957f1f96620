#include "base/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void sd_oom(size_t n) {
    if (n) fprintf(stderr, "semid: out of memory allocating %zu bytes\n", n);
    else fprintf(stderr, "semid: out of memory\n");
    exit(1);
}

size_t sd_mul_size(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) sd_oom(SIZE_MAX);
    return n * size;
}

void *sd_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) sd_oom(n);
    return p;
}

void *sd_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) sd_oom(sd_mul_size(n, size));
    return p;
}

void *sd_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) sd_oom(n);
    return q;
}

char *sd_xstrdup(const char *s) { return sd_xstrndup(s, strlen(s)); }

char *sd_xstrndup(const char *s, size_t n) {
    char *d = sd_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void *sd_aalloc(size_t n) {
    size_t rounded = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) sd_oom(n);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

void sd_afree(void *p) { free(p); }

float *sd_afloats(size_t n) { return sd_aalloc(sd_mul_size(n, sizeof(float))); }

typedef struct block { struct block *next; size_t used, cap; char data[]; } block;
struct sd_pool { block *head; size_t bytes; };

sd_pool *sd_pool_new(void) { return sd_xcalloc(1, sizeof(sd_pool)); }

void sd_pool_free(sd_pool *p) {
    if (!p) return;
    for (block *b = p->head, *n; b; b = n) { n = b->next; free(b); }
    free(p);
}

void *sd_pool_alloc(sd_pool *p, size_t n) {
    n = (n + 7) & ~(size_t)7;
    block *b = p->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        b = sd_xmalloc(sizeof(block) + cap);
        b->used = 0; b->cap = cap; b->next = p->head;
        p->head = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    p->bytes += n;
    return r;
}

char *sd_pool_strndup(sd_pool *p, const char *s, size_t n) {
    char *d = sd_pool_alloc(p, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *sd_pool_strdup(sd_pool *p, const char *s) { return sd_pool_strndup(p, s, strlen(s)); }

size_t sd_pool_bytes(const sd_pool *p) { return p->bytes; }
