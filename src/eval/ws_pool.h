/* Workspaces for a scorer called from several threads at once (sd_scorer.concurrent): each call
 * takes a free workspace (making one when all are taken) and gives it back. One mutex per get /
 * put, around a batch of hundreds of users, so it costs nothing measurable; a server's request
 * threads and evaluate's OpenMP threads share a model this way without sharing scratch memory. */
#ifndef SD_WS_POOL_H
#define SD_WS_POOL_H
#include <pthread.h>
#include <stdbool.h>

#define SD_WS_POOL_MAX 64

typedef struct sd_ws_pool {
    pthread_mutex_t mu;
    void *slot[SD_WS_POOL_MAX];
    bool busy[SD_WS_POOL_MAX];
    int n;
    void *(*make)(void *ctx);
    void (*destroy)(void *ws);
    void *ctx;
} sd_ws_pool;

void sd_ws_pool_init(sd_ws_pool *p, void *(*make)(void *ctx), void (*destroy)(void *ws), void *ctx);
/* A workspace for this call; more than SD_WS_POOL_MAX at once get one made and freed per call. */
void *sd_ws_pool_get(sd_ws_pool *p);
void sd_ws_pool_put(sd_ws_pool *p, void *ws);
void sd_ws_pool_free(sd_ws_pool *p);

#endif
