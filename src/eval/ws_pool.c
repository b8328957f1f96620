#include "eval/ws_pool.h"
#include <string.h>

void sd_ws_pool_init(sd_ws_pool *p, void *(*make)(void *ctx), void (*destroy)(void *ws), void *ctx) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->make = make;
    p->destroy = destroy;
    p->ctx = ctx;
}

void *sd_ws_pool_get(sd_ws_pool *p) {
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (!p->busy[i]) {
            p->busy[i] = true;
            pthread_mutex_unlock(&p->mu);
            return p->slot[i];
        }
    int i = p->n < SD_WS_POOL_MAX ? p->n++ : -1;
    if (i >= 0) p->busy[i] = true, p->slot[i] = NULL;
    pthread_mutex_unlock(&p->mu);
    void *ws = p->make(p->ctx); /* made outside the lock: allocation can be slow */
    if (i >= 0) {
        pthread_mutex_lock(&p->mu);
        p->slot[i] = ws;
        pthread_mutex_unlock(&p->mu);
    }
    return ws;
}

void sd_ws_pool_put(sd_ws_pool *p, void *ws) {
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->slot[i] == ws) {
            p->busy[i] = false;
            pthread_mutex_unlock(&p->mu);
            return;
        }
    pthread_mutex_unlock(&p->mu);
    p->destroy(ws); /* one made beyond the pool's size */
}

void sd_ws_pool_free(sd_ws_pool *p) {
    for (int i = 0; i < p->n; i++)
        if (p->slot[i]) p->destroy(p->slot[i]);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof *p);
}
