/* POSTs many JSON bodies to one URL with a bounded number in flight (curl multi), retrying
 * 429, 5xx, timeouts and dropped connections with exponential backoff (a 429's Retry-After is
 * honoured up to the cap). Single-threaded: the callbacks run on the caller's thread. */
#ifndef SD_HTTP_POOL_H
#define SD_HTTP_POOL_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

typedef struct sd_http_opts {
    const char *url;
    const char *api_key;      /* NULL: no Authorization header; else "Bearer KEY" */
    int parallel;             /* requests in flight, >= 1 */
    int retries;              /* further attempts after the first, >= 0 */
    long timeout_ms;          /* per attempt, connect included */
    long backoff_ms;          /* wait before the first retry; doubles each time */
    long backoff_max_ms;      /* cap on one wait */
} sd_http_opts;

typedef struct sd_http_stats {
    int64_t requests;         /* attempts sent */
    int64_t retries;
    int64_t ok;               /* jobs answered 2xx */
    int64_t failed;           /* jobs given up (retries spent, or a 4xx that retrying cannot mend) */
    int64_t timeouts;         /* attempts that ran out of time */
    int64_t http_errors;      /* attempts answered with a status >= 400 */
} sd_http_stats;

/* The body of job i (malloc'd, taken over by the pool; *len its length). */
typedef char *(*sd_http_body_fn)(void *ctx, size_t job, size_t *len);
/* Called once per job: status 2xx with the response body, or the final failure: status >= 400
 * with the last response body, or status 0 with a transport message (timeout) in resp.
 * A non-zero return stops the run with that error. */
typedef int (*sd_http_done_fn)(void *ctx, size_t job, long status, const char *resp, size_t len, sd_err *err);

/* Runs jobs 0..n_jobs-1. Fails as a whole (SD_EIO, naming the URL) when the server cannot be
 * reached at all after the retries, or answers 401/403/404/405 (wrong URL or key: every job would
 * fail the same way). stats may be NULL. */
int sd_http_post_all(const sd_http_opts *o, size_t n_jobs, sd_http_body_fn body, sd_http_done_fn done, void *ctx,
                     sd_http_stats *stats, sd_err *err);

/* "http://host:port" or ".../v1" -> ".../v1/chat/completions"; a URL already ending in
 * "/chat/completions" (or holding a query) is kept. malloc'd; NULL when url is not http:// or https://. */
char *sd_chat_completions_url(const char *url);

#endif
