/* The server's counters, written by the HTTP threads and the model owner, read as Prometheus text
 * (GET /metrics): requests by route and status, a latency histogram per route, tokens, queue
 * depth and batch sizes. Thread-safe (one mutex). */
#ifndef SD_SERVE_METRICS_H
#define SD_SERVE_METRICS_H
#include <pthread.h>
#include <stddef.h>

enum { SD_R_CHAT, SD_R_RECOMMEND, SD_R_MODELS, SD_R_ITEM, SD_R_ITEMS, SD_R_HEALTH, SD_R_METRICS, SD_R_STATIC,
       SD_R_REPORT, SD_R_OTHER, SD_R_COUNT };
#define SD_LAT_BUCKETS 14
#define SD_BATCH_BUCKETS 8

typedef struct sd_metrics {
    pthread_mutex_t mu;
    long requests[SD_R_COUNT][600];          /* by status code */
    long lat[SD_R_COUNT][SD_LAT_BUCKETS + 1]; /* cumulative at print time; here per bucket */
    double lat_sum[SD_R_COUNT];
    long lat_n[SD_R_COUNT];
    long tokens_generated, prompt_tokens, steps;
    long batch[SD_BATCH_BUCKETS + 1];
    double batch_sum;
    int queue_depth, slots_busy;
} sd_metrics;

void sd_metrics_init(sd_metrics *m);
void sd_metrics_free(sd_metrics *m);
const char *sd_route_name(int route);
void sd_metrics_request(sd_metrics *m, int route, int status, double seconds);
void sd_metrics_step(sd_metrics *m, int sequences, long generated);
void sd_metrics_prompt(sd_metrics *m, long tokens);
void sd_metrics_gauges(sd_metrics *m, int queue_depth, int slots_busy);
/* The text exposition (malloc'd). */
char *sd_metrics_text(sd_metrics *m, size_t *len);

#endif
