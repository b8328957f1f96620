/* Shared by the HTTP side (server.c) and the model owner (owner.c). */
#ifndef SD_SERVE_INTERNAL_H
#define SD_SERVE_INTERNAL_H
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "data/item_search.h"
#include "lm/chat_engine.h"
#include "lm/gen_batch.h"
#include "serve/metrics.h"
#include "serve/server.h"

enum { JOB_CHAT, JOB_REC };
enum { JOB_QUEUED, JOB_TAKEN, JOB_RUNNING, JOB_DONE };

typedef struct sd_job {
    int kind, state, refs;
    pthread_cond_t cv;
    struct sd_job *next;        /* queue link */
    double t0, deadline;
    bool cancel;                /* the client is gone: stop as soon as possible */
    /* chat input */
    sd_chat_msg *msgs;
    int n_msgs;
    char **owned;               /* the job's copies of the message contents msgs point at */
    int n_owned;
    char **stop;
    int n_stop;
    sd_sample_cfg sample;
    int max_tokens;
    bool stream;
    /* recommend input */
    int32_t *hist;
    int n_hist;
    char *request;
    int k;
    bool exclude;
    /* output (under the server mutex) */
    int status;                 /* 0 = fine, else the HTTP error */
    char err_msg[1100];
    const char *err_type, *err_code;
    char *text;                 /* display text so far */
    size_t text_n, text_cap;
    sd_chat_named *items;
    int n_items;
    int prompt_tokens, completion_tokens;
    int finish;                 /* SD_GB_STOP / SD_GB_LENGTH */
    int32_t *r_items;
    float *r_scores;
    int r_found;
    /* the owner's */
    sd_chat_stream cs;
    int slot;
} sd_job;

struct sd_server {
    sd_server_cfg cfg;
    char *model_name, *report_path;
    const sd_catalog *cat;
    sd_chat_engine eng;
    bool eng_open;
    sd_sid_mask *masks;         /* [slots]: one per slot (the slots choose tokens in parallel) */
    sd_gen_batch gb;
    sd_item_index ix;
    int64_t *counts;
    sd_metrics met;
    struct MHD_Daemon *d;
    int port;
    /* queue and jobs */
    pthread_mutex_t mu;
    pthread_cond_t owner_cv;
    sd_job *q_head, *q_tail;
    int q_n;
    int owner_holding;          /* jobs the owner has taken and not ended (slots included) */
    bool stopping, cancel_all, owner_exit;
    pthread_t owner;
    bool owner_started;
    long created;
    int omp_threads;            /* --threads, as the main thread has it: a new thread starts from OpenMP's default */
    int step_delay_ms;          /* tests only ($SEMID_SERVE_STEP_DELAY_MS): a slow model, to fill the queue */
};

/* One HTTP request's state (libmicrohttpd's per-connection pointer). */
typedef struct sd_req {
    sd_server *s;
    char *body;
    size_t n, cap;
    bool too_big, answered;
    int route, status;
    double t0;
} sd_req;


/* respond.c */
bool sd_srv_valid_utf8(const unsigned char *p, size_t n);
/* Queues an answer (body malloc'd, taken); allow: an Allow header; retry: Retry-After: 1. */
enum MHD_Result sd_srv_send_buf(sd_req *r, struct MHD_Connection *c, int status, const char *type, char *body,
                                size_t n, const char *allow, bool retry);
enum MHD_Result sd_srv_send_json(sd_req *r, struct MHD_Connection *c, int status, cJSON *j); /* j freed */
cJSON *sd_srv_error_obj(const char *msg, const char *type, const char *param, const char *code);
char *sd_srv_print_free(cJSON *o);
const char *sd_srv_default_type(int status);
enum MHD_Result sd_srv_send_error(sd_req *r, struct MHD_Connection *c, int status, const char *param,
                                  const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
enum MHD_Result sd_srv_job_error(sd_req *r, struct MHD_Connection *c, sd_job *j);
/* One wait on j->cv with s->mu held (200 ms at most); when the client has closed its connection
 * meanwhile, the job is marked cancelled so the owner frees its slot or drops it from the queue.
 * A non-streamed request's client can go away too, not only a stream's. */
void sd_srv_wait_client(sd_server *s, sd_job *j, struct MHD_Connection *c);
/* items_json.c */
cJSON *sd_srv_item_json(sd_server *s, int32_t id, bool full);
cJSON *sd_srv_named_json(sd_server *s, const sd_chat_named *it, int n);
/* chat_api.c, recommend_api.c: b is the request's JSON object */
enum MHD_Result sd_srv_chat(sd_req *r, struct MHD_Connection *c, cJSON *b);
enum MHD_Result sd_srv_recommend(sd_req *r, struct MHD_Connection *c, cJSON *b);

sd_job *sd_job_new(int kind);
/* Drops one reference (call with the server mutex held); frees the job at zero. */
void sd_job_unref(sd_job *j);
/* Queues a job (the caller holds a reference; the queue takes one). Returns 0, or 503 when the
 * queue is full or the server stops. */
enum { SD_SUBMIT_FULL = 1, SD_SUBMIT_STOPPING = 2 };
/* Queues a job: 0, or SD_SUBMIT_FULL / SD_SUBMIT_STOPPING when it was refused. */
int sd_job_submit(sd_server *s, sd_job *j);
/* Answers a refused submission with 503 and Retry-After (saying which) and drops the job. */
enum MHD_Result sd_srv_refused(sd_server *s, sd_req *r, struct MHD_Connection *c, sd_job *j, int why);
void *sd_owner_main(void *arg);

#endif
