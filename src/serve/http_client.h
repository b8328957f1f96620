/* A minimal HTTP/1.1 client over plain sockets, for the server's tests and benchmark (no
 * dependency beyond libc): one request per connection, a bounded wait, chunked bodies decoded;
 * and a load generator: N clients sending one request in a loop for a fixed time. */
#ifndef SD_SERVE_HTTP_CLIENT_H
#define SD_SERVE_HTTP_CLIENT_H
#include <stddef.h>

typedef struct sd_http_resp {
    int status;          /* 0: no answer (connection refused, closed, timed out) */
    char *headers;       /* the raw header block (malloc'd) */
    char *body;          /* decoded body, NUL-terminated (malloc'd) */
    size_t body_n;
} sd_http_resp;

void sd_http_resp_free(sd_http_resp *r);
/* A header's value in r (copied into out), or NULL. */
const char *sd_http_header(const sd_http_resp *r, const char *name, char *out, size_t n);
/* A connected socket to 127.0.0.1:port, or -1. */
int sd_http_connect(int port, double timeout_s);
/* Sends method path with extra header lines (each ending "\r\n"; may be NULL) and body [n]
 * (may be NULL), reads the whole answer. Returns 0, or -1 when no answer came. */
int sd_http_request(int port, const char *method, const char *path, const char *headers, const char *body, size_t n,
                    double timeout_s, sd_http_resp *out);

typedef struct sd_load_result {
    long ok, failed, tokens;
    double seconds, p50, p99, mean;   /* latencies in seconds */
} sd_load_result;

/* clients threads each POST body to path in a loop for seconds; a 200 counts as ok and adds its
 * usage.completion_tokens (when the answer has one) to tokens. */
void sd_http_load(int port, const char *path, const char *headers, const char *body, int clients, double seconds,
                  sd_load_result *out);

#endif
