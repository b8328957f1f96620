/* The HTTP side of `semid serve`: routes, the small GET endpoints, authorisation, start and stop. */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "eval/baselines.h"
#include "lm/generate.h"
#include "serve/serve_internal.h"
#include "serve/static.h"

void sd_server_cfg_default(sd_server_cfg *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->slots = 8;
    c->queue = 64;
    c->timeout_s = 300;
    c->max_tokens = 512;
    c->ctx = 2048;
    c->max_body = 1 << 20;
    c->max_connections = 256;
}

int sd_server_port(const sd_server *s) { return s->port; }

/* ---- per-request state ---- */

/* ---- the small GET routes ---- */

static cJSON *model_json(sd_server *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "semid");
    return m;
}

static enum MHD_Result do_items(sd_req *r, struct MHD_Connection *c) {
    sd_server *s = r->s;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    const char *l = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (!q) return sd_srv_send_error(r, c, 400, "q", NULL, "give the words to search for: /v1/items?q=TEXT");
    if (!sd_srv_valid_utf8((const unsigned char *)q, strlen(q))) return sd_srv_send_error(r, c, 400, "q", NULL, "'q' is not UTF-8");
    int limit = 20;
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > 100) return sd_srv_send_error(r, c, 400, "limit", NULL, "'limit' must be an integer in [1, 100]");
        limit = (int)v;
    }
    int32_t out[100];
    int n = sd_item_search(&s->ix, q, limit, out);
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "items");
    cJSON_AddStringToObject(o, "object", "list");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, sd_srv_item_json(s, out[i], false));
    return sd_srv_send_json(r, c, 200, o);
}

/* ---- dispatch ---- */

static int route_of(const char *url) {
    if (!strcmp(url, "/v1/chat/completions")) return SD_R_CHAT;
    if (!strcmp(url, "/v1/recommend")) return SD_R_RECOMMEND;
    if (!strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11)) return SD_R_MODELS;
    if (!strcmp(url, "/v1/items")) return SD_R_ITEMS;
    if (!strncmp(url, "/v1/items/", 10)) return SD_R_ITEM;
    if (!strcmp(url, "/healthz")) return SD_R_HEALTH;
    if (!strcmp(url, "/metrics")) return SD_R_METRICS;
    if (!strcmp(url, "/report")) return SD_R_REPORT;
    if (!strcmp(url, "/") || !strncmp(url, "/static/", 8) || !strcmp(url, "/index.html")) return SD_R_STATIC;
    return SD_R_OTHER;
}

static bool authorized(sd_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    const char *k = h + 7;
    while (*k == ' ') k++;
    size_t a = strlen(k), b = strlen(s->cfg.api_key);
    unsigned diff = a != b;
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)k[i] ^ (unsigned char)s->cfg.api_key[i];
    return diff == 0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    sd_server *s = cls;
    sd_req *r = *con_cls;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!r) {
        r = sd_xcalloc(1, sizeof *r);
        r->s = s;
        r->t0 = sd_now();
        r->route = route_of(url);
        *con_cls = r;
        int rt = r->route;
        if (rt == SD_R_OTHER) return sd_srv_send_error(r, c, 404, NULL, "not_found", "no route %s %.200s", method, url);
        bool want_post = rt == SD_R_CHAT || rt == SD_R_RECOMMEND;
        if (want_post ? !post : !get) {
            char *t = sd_srv_print_free(sd_srv_error_obj("method not allowed", "invalid_request_error", NULL,
                                                       "method_not_allowed"));
            return sd_srv_send_buf(r, c, 405, "application/json", t, strlen(t), want_post ? "POST" : "GET, HEAD", false);
        }
        if ((!strncmp(url, "/v1/", 4) || rt == SD_R_METRICS) && !authorized(s, c))
            return sd_srv_send_error(r, c, 401, NULL, "invalid_api_key",
                              "missing or incorrect API key: send the header 'Authorization: Bearer KEY'");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
            return sd_srv_send_error(r, c, 413, NULL, "request_too_large", "the request body is over the %zu-byte limit",
                              s->cfg.max_body);
        return MHD_YES;
    }
    if (r->answered) { *upload_size = 0; return MHD_YES; }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->n + n > s->cfg.max_body)
            return sd_srv_send_error(r, c, 413, NULL, "request_too_large", "the request body is over the %zu-byte limit",
                              s->cfg.max_body);
        if (r->n + n + 1 > r->cap) {
            r->cap = (r->n + n + 1) * 2;
            if (r->cap > s->cfg.max_body + 1) r->cap = s->cfg.max_body + 1;
            r->body = sd_xrealloc(r->body, r->cap);
        }
        memcpy(r->body + r->n, upload, n);
        r->n += n;
        return MHD_YES;
    }
    switch (r->route) {
    case SD_R_HEALTH: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        cJSON_AddStringToObject(o, "model", s->model_name);
        return sd_srv_send_json(r, c, 200, o);
    }
    case SD_R_METRICS: {
        size_t n;
        char *t = sd_metrics_text(&s->met, &n);
        return sd_srv_send_buf(r, c, 200, "text/plain; version=0.0.4", t, n, NULL, false);
    }
    case SD_R_MODELS: {
        if (url[10] == '/') {
            if (strcmp(url + 11, s->model_name))
                return sd_srv_send_error(r, c, 404, "model", "model_not_found", "no model '%.200s'", url + 11);
            return sd_srv_send_json(r, c, 200, model_json(s));
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_json(s));
        return sd_srv_send_json(r, c, 200, o);
    }
    case SD_R_ITEM: {
        int32_t id = sd_catalog_find(s->cat, url + 10);
        if (id < 0) return sd_srv_send_error(r, c, 404, NULL, "unknown_item", "no item \"%.200s\" in the catalogue", url + 10);
        return sd_srv_send_json(r, c, 200, sd_srv_item_json(s, id, true));
    }
    case SD_R_ITEMS: return do_items(r, c);
    case SD_R_STATIC: {
        const unsigned char *d;
        size_t n;
        const char *mime;
        if (!sd_static_find(url, &d, &n, &mime))
            return sd_srv_send_error(r, c, 404, NULL, "not_found", "no file %.200s", url);
        struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)d, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "Content-Type", mime);
        r->status = 200;
        r->answered = true;
        enum MHD_Result rc = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    case SD_R_REPORT: {
        char *d;
        size_t n;
        sd_err err = {0};
        if (!sd_exists(s->report_path) || sd_read_file(s->report_path, &d, &n, &err))
            return sd_srv_send_error(r, c, 404, NULL, "no_report", "no report yet: run `semid report WORK` to write %s",
                              s->report_path);
        return sd_srv_send_buf(r, c, 200, "text/html; charset=utf-8", d, n, NULL, false);
    }
    default: break;
    }
    /* the POST routes: a JSON object body */
    if (!r->n) return sd_srv_send_error(r, c, 400, NULL, "invalid_json", "the request needs a JSON body");
    r->body[r->n] = 0;
    if (!sd_srv_valid_utf8((const unsigned char *)r->body, r->n))
        return sd_srv_send_error(r, c, 400, NULL, "invalid_encoding", "the request body is not valid UTF-8");
    cJSON *b = cJSON_ParseWithLength(r->body, r->n);
    if (!b) return sd_srv_send_error(r, c, 400, NULL, "invalid_json", "the request body is not valid JSON");
    enum MHD_Result rc;
    if (!cJSON_IsObject(b)) rc = sd_srv_send_error(r, c, 400, NULL, "invalid_json", "the request body must be a JSON object");
    else if (r->route == SD_R_CHAT) rc = sd_srv_chat(r, c, b);
    else rc = sd_srv_recommend(r, c, b);
    cJSON_Delete(b);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c; (void)toe;
    sd_server *s = cls;
    sd_req *r = *con_cls;
    if (!r) return;
    double dt = sd_now() - r->t0;
    int status = r->answered ? r->status : 499; /* 499: the client left before an answer */
    sd_metrics_request(&s->met, r->route, status, dt);
    if (sd_verbose && !sd_quiet) /* an access log with --verbose */
        fprintf(stderr, "semid serve: %s %d %.1f ms\n", sd_route_name(r->route), status, dt * 1e3);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- start and stop ---- */

static void free_server(sd_server *s) {
    if (s->eng_open) {
        sd_gen_batch_free(&s->gb);
        for (int i = 0; i < s->cfg.slots; i++) sd_sid_mask_free(&s->masks[i]);
        free(s->masks);
        sd_chat_engine_free(&s->eng);
    }
    sd_item_index_free(&s->ix);
    free(s->counts);
    free(s->model_name);
    free(s->report_path);
    sd_metrics_free(&s->met);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->owner_cv);
    free(s);
}

int sd_server_start(sd_server **out, const sd_server_cfg *cfg, sd_err *err) {
    *out = NULL;
    if (cfg->slots < 1 || cfg->slots > 512 || cfg->queue < 1 || cfg->max_tokens < 1 || cfg->ctx < 16 || !(cfg->timeout_s > 0) ||
        cfg->port < 0 || cfg->port > 65535)
        return sd_errf(err, SD_EUSAGE, "serve: need --slots in [1, 512], --queue, --max-tokens >= 1, --ctx >= 16, --timeout > 0 "
                       "and a port in [0, 65535]");
    sd_server *s = sd_xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->cat = cfg->work->cat;
    s->created = time(NULL);
    s->omp_threads = omp_get_max_threads();
    const char *delay = getenv("SEMID_SERVE_STEP_DELAY_MS");
    s->step_delay_ms = delay ? atoi(delay) : 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->owner_cv, NULL);
    sd_metrics_init(&s->met);
    s->model_name = sd_xstrdup(cfg->model_name);
    s->report_path = sd_work_path(cfg->work, "report.html");
    s->counts = sd_xcalloc((size_t)s->cat->n_items + 1, sizeof(int64_t));
    sd_train_item_counts(&cfg->work->seq, &cfg->work->split, s->counts);
    sd_item_index_init(&s->ix, s->cat, s->counts);
    int rc = sd_chat_engine_open(&s->eng, cfg->model_dir, cfg->sids_path, s->cat, err);
    if (rc) { free_server(s); return rc; }
    s->eng_open = true;
    s->masks = sd_xcalloc((size_t)cfg->slots, sizeof *s->masks);
    for (int i = 0; i < cfg->slots && !rc; i++) rc = sd_chat_engine_mask(&s->eng, &s->masks[i], err);
    if (!rc) rc = sd_gen_batch_init(&s->gb, &s->eng.rec.m, cfg->slots, cfg->ctx, 256, s->eng.stop_ids,
                                    s->eng.n_stop_ids, err);
    if (rc) { free_server(s); return rc; }
    /* the address to listen on */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int g = getaddrinfo(cfg->host, port, &hints, &ai);
    if (g) {
        free_server(s);
        return sd_errf(err, SD_EUSAGE, "serve: --host %s: %s", cfg->host, gai_strerror(g));
    }
    struct sockaddr_storage sa;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (pthread_create(&s->owner, NULL, sd_owner_main, s)) {
        free_server(s);
        return sd_errf(err, SD_EIO, "serve: could not start the model thread");
    }
    s->owner_started = true;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256,
                            MHD_OPTION_END);
    if (!s->d) {
        pthread_mutex_lock(&s->mu);
        s->owner_exit = true;
        pthread_cond_signal(&s->owner_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->owner, NULL);
        free_server(s);
        return sd_errf(err, SD_EIO, "serve: could not listen on %s:%d (in use, or not an address of this machine)",
                       cfg->host, cfg->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    *out = s;
    return 0;
}

void sd_server_stop(sd_server *s, double grace_s) {
    if (!s) return;
    MHD_socket ls = MHD_quiesce_daemon(s->d); /* no new connections */
    pthread_mutex_lock(&s->mu);
    s->stopping = true; /* new requests on open connections get 503 */
    pthread_mutex_unlock(&s->mu);
    double t_end = sd_now() + grace_s;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool idle = s->q_n == 0 && s->owner_holding == 0;
        if (!idle && sd_now() > t_end) s->cancel_all = true;
        pthread_cond_signal(&s->owner_cv);
        pthread_mutex_unlock(&s->mu);
        if (idle) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->owner_exit = true;
    pthread_cond_signal(&s->owner_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->owner, NULL);
    MHD_stop_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    free_server(s);
}
