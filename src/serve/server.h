/* `semid serve`: an OpenAI-compatible HTTP server over the fine-tuned recommender.
 *
 * Threads: libmicrohttpd runs one thread per connection; it parses and validates a request and,
 * for the model, puts a job in a bounded queue and waits for it (or streams it as it comes).
 * One model owner thread holds the model: it admits queued chat jobs into the free slots of a
 * continuous-batching generator (lm/gen_batch.h) and steps all of them together, and between
 * steps runs the queued recommend jobs by beam search (grouped by k and exclude_history, so a
 * request's answer does not depend on the others).
 *
 * Time limit (--timeout): a job still queued when it runs out is answered 504 before any output;
 * a running one is stopped and its answer ends with finish_reason "length".
 *
 * Endpoints: POST /v1/chat/completions, GET /v1/models, POST /v1/recommend, GET /v1/items?q=,
 * GET /v1/items/{ext_id}, GET /healthz, GET /metrics, GET / and /static/... (serve/static.h),
 * GET /report (WORK/report.html). With an API key every /v1 route and /metrics need
 * "Authorization: Bearer KEY". */
#ifndef SD_SERVE_SERVER_H
#define SD_SERVE_SERVER_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/workdir.h"

typedef struct sd_server_cfg {
    const sd_work *work;        /* borrowed: catalogue, sequences, split */
    const char *model_dir;      /* the fine-tuned model folder */
    const char *model_name;     /* id in /v1/models */
    const char *sids_path;
    const char *host;           /* "127.0.0.1" */
    int port;                   /* 0: any free port */
    const char *api_key;        /* NULL: none */
    int slots;                  /* sequences decoded together (8) */
    int queue;                  /* jobs waiting at most (64); more get 503 */
    double timeout_s;           /* per request (300) */
    int max_tokens;             /* cap on a reply's new tokens (512) */
    int ctx;                    /* positions per slot: prompt + reply (2048) */
    size_t max_body;            /* request body bytes (1 MiB); more get 413 */
    int max_connections;        /* 256 */
    bool quiet;
} sd_server_cfg;

void sd_server_cfg_default(sd_server_cfg *c);

typedef struct sd_server sd_server;

/* Loads the model, starts the owner thread and the HTTP daemon. */
int sd_server_start(sd_server **out, const sd_server_cfg *cfg, sd_err *err);
/* The port it listens on (the one chosen when cfg.port was 0). */
int sd_server_port(const sd_server *s);
/* Stops accepting, lets queued and running jobs finish (for at most grace_s seconds, then cancels
 * them), stops the daemon and the owner, frees everything. */
void sd_server_stop(sd_server *s, double grace_s);

#endif
