/* Answers in OpenAI's shapes: JSON bodies, the error object, UTF-8 checks. */
#include <stdarg.h>
#include <errno.h>
#include <sys/socket.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "serve/serve_internal.h"

bool sd_srv_valid_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) { i++; continue; }
        int k;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        for (int t = 1; t <= k; t++) {
            if (i + (size_t)t >= n || (p[i + t] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i + t] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += (size_t)k + 1;
    }
    return true;
}

enum MHD_Result sd_srv_send_buf(sd_req *r, struct MHD_Connection *c, int status, const char *type, char *body,
                                size_t n, const char *allow, bool retry) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(body); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", type);
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (retry) MHD_add_response_header(resp, "Retry-After", "1");
    r->status = status;
    r->answered = true;
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result sd_srv_send_json(sd_req *r, struct MHD_Connection *c, int status, cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!t) return MHD_NO;
    return sd_srv_send_buf(r, c, status, "application/json", t, strlen(t), NULL, false);
}

/* A message quoting request bytes (an id, a path) may hold invalid UTF-8, or be cut inside a
 * character by a bounded format: each ill-formed byte becomes '?', so the error body is valid JSON
 * text for strict clients. */
static char *valid_utf8(const char *msg) {
    char *m = sd_xstrdup(msg);
    size_t n = strlen(m), i;
    while ((i = sd_utf8_invalid_at(m, n)) < n) m[i] = '?';
    return m;
}

cJSON *sd_srv_error_obj(const char *msg, const char *type, const char *param, const char *code) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    char *m = valid_utf8(msg);
    cJSON_AddStringToObject(e, "message", m);
    free(m);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return o;
}

char *sd_srv_print_free(cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t ? t : sd_xstrdup("{}");
}

const char *sd_srv_default_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: case 503: return "server_error";
    case 504: return "timeout";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

enum MHD_Result sd_srv_send_error(sd_req *r, struct MHD_Connection *c, int status, const char *param, const char *code,
                                  const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *t = sd_srv_print_free(sd_srv_error_obj(msg, sd_srv_default_type(status), param, code));
    return sd_srv_send_buf(r, c, status, "application/json", t, strlen(t), NULL, status == 503);
}

enum MHD_Result sd_srv_refused(sd_server *s, sd_req *r, struct MHD_Connection *c, sd_job *j, int why) {
    pthread_mutex_lock(&s->mu);
    sd_job_unref(j);
    pthread_mutex_unlock(&s->mu);
    if (why == SD_SUBMIT_STOPPING)
        return sd_srv_send_error(r, c, 503, NULL, "shutting_down", "the server is shutting down");
    return sd_srv_send_error(r, c, 503, NULL, "overloaded", "the server is busy (%d requests queued); retry later",
                             s->cfg.queue);
}

void sd_srv_wait_client(sd_server *s, sd_job *j, struct MHD_Connection *c) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&j->cv, &s->mu, &ts);
    if (j->cancel || j->state == JOB_DONE) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        j->cancel = true; /* the owner sees it on its next pass */
        pthread_cond_signal(&s->owner_cv);
    }
}

enum MHD_Result sd_srv_job_error(sd_req *r, struct MHD_Connection *c, sd_job *j) {
    int st = j->status;
    char *t = sd_srv_print_free(
        sd_srv_error_obj(j->err_msg, j->err_type ? j->err_type : sd_srv_default_type(st), NULL, j->err_code));
    return sd_srv_send_buf(r, c, st, "application/json", t, strlen(t), NULL, st == 503);
}
