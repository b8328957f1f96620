#include "serve/http_client.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"

void sd_http_resp_free(sd_http_resp *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

const char *sd_http_header(const sd_http_resp *r, const char *name, char *out, size_t n) {
    if (!r->headers) return NULL;
    size_t k = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncasecmp(p, name, k) && p[k] == ':') {
            const char *v = p + k + 1;
            while (*v == ' ') v++;
            size_t m = strcspn(v, "\r\n");
            if (m >= n) m = n - 1;
            memcpy(out, v, m);
            out[m] = 0;
            return out;
        }
    }
    return NULL;
}

int sd_http_connect(int port, double timeout_s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = (long)timeout_s, .tv_usec = (long)((timeout_s - (long)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { close(fd); return -1; }
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return; /* the server may answer early (413) and close */
        p += k;
        n -= (size_t)k;
    }
}

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *b, size_t n) {
    size_t r = 0, w = 0;
    while (r < n) {
        char *end;
        unsigned long k = strtoul(b + r, &end, 16);
        char *nl = memchr(b + r, '\n', n - r);
        if (!nl || end == b + r) break;
        r = (size_t)(nl - b) + 1;
        if (k == 0 || r + k > n) break;
        memmove(b + w, b + r, k);
        w += k;
        r += k;
        if (r < n && b[r] == '\r') r++;
        if (r < n && b[r] == '\n') r++;
    }
    return w;
}

int sd_http_request(int port, const char *method, const char *path, const char *headers, const char *body, size_t n,
                    double timeout_s, sd_http_resp *out) {
    memset(out, 0, sizeof *out);
    int fd = sd_http_connect(port, timeout_s);
    if (fd < 0) return -1;
    char head[4096];
    int h = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s", method, path,
                     headers ? headers : "", body ? "Content-Type: application/json\r\n" : "", "");
    if (body) h += snprintf(head + h, sizeof head - (size_t)h, "Content-Length: %zu\r\n", n);
    h += snprintf(head + h, sizeof head - (size_t)h, "\r\n");
    send_all(fd, head, (size_t)h);
    if (body) send_all(fd, body, n);
    size_t cap = 8192, len = 0;
    char *buf = sd_xmalloc(cap);
    double t_end = sd_now() + timeout_s;
    for (;;) {
        if (len + 4096 > cap) buf = sd_xrealloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k > 0) { len += (size_t)k; continue; }
        if (k < 0 && (errno == EINTR) && sd_now() < t_end) continue;
        break;
    }
    close(fd);
    buf[len] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) || !sep) { free(buf); return -1; }
    out->status = atoi(buf + 9);
    out->headers = sd_xstrndup(buf, (size_t)(sep - buf) + 2);
    size_t bn = len - (size_t)(sep + 4 - buf);
    out->body = sd_xmalloc(bn + 1);
    memcpy(out->body, sep + 4, bn);
    char te[64];
    if (sd_http_header(out, "Transfer-Encoding", te, sizeof te) && !strcasecmp(te, "chunked")) bn = dechunk(out->body, bn);
    out->body[bn] = 0;
    out->body_n = bn;
    free(buf);
    return 0;
}

/* ---- load ---- */

typedef struct load_arg {
    int port;
    const char *path, *headers, *body;
    double t_end;
    long ok, failed, tokens;
    double *lat;
    long n_lat, cap_lat;
} load_arg;

static void *load_main(void *p) {
    load_arg *a = p;
    while (sd_now() < a->t_end) {
        sd_http_resp r;
        double t0 = sd_now();
        int rc = sd_http_request(a->port, "POST", a->path, a->headers, a->body, strlen(a->body), 120, &r);
        double dt = sd_now() - t0;
        if (rc || r.status != 200) a->failed++;
        else {
            a->ok++;
            cJSON *j = cJSON_Parse(r.body);
            const cJSON *u = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens");
            if (cJSON_IsNumber(u)) a->tokens += (long)u->valuedouble;
            cJSON_Delete(j);
            if (a->n_lat == a->cap_lat) a->lat = sd_xrealloc(a->lat, sizeof(double) * (size_t)(a->cap_lat = a->cap_lat * 2 + 64));
            a->lat[a->n_lat++] = dt;
        }
        sd_http_resp_free(&r);
    }
    return NULL;
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

void sd_http_load(int port, const char *path, const char *headers, const char *body, int clients, double seconds,
                  sd_load_result *out) {
    memset(out, 0, sizeof *out);
    load_arg *a = sd_xcalloc((size_t)clients, sizeof *a);
    pthread_t *t = sd_xmalloc(sizeof *t * (size_t)clients);
    double t0 = sd_now();
    for (int i = 0; i < clients; i++) {
        a[i] = (load_arg){.port = port, .path = path, .headers = headers, .body = body, .t_end = t0 + seconds};
        pthread_create(&t[i], NULL, load_main, &a[i]);
    }
    long n = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(t[i], NULL);
        out->ok += a[i].ok;
        out->failed += a[i].failed;
        out->tokens += a[i].tokens;
        n += a[i].n_lat;
    }
    out->seconds = sd_now() - t0;
    double *all = sd_xmalloc(sizeof(double) * (size_t)(n + 1));
    long k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, a[i].lat, sizeof(double) * (size_t)a[i].n_lat);
        k += a[i].n_lat;
        free(a[i].lat);
    }
    if (n > 0) {
        qsort(all, (size_t)n, sizeof(double), cmp_d);
        double s = 0;
        for (long i = 0; i < n; i++) s += all[i];
        out->mean = s / (double)n;
        out->p50 = all[(n - 1) / 2];
        out->p99 = all[(long)((double)(n - 1) * 0.99)];
    }
    free(all);
    free(a);
    free(t);
}
