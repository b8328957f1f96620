/* The scripted chat-completions server of tests/chat_stub.h. */
#include "chat_stub.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_BODIES = 512, MAX_BODY = 1 << 16 };

struct chat_stub {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    int requests, good, fail_after;
    char *bodies[MAX_BODIES];   /* every request body, to count markers afterwards */
    int n_bodies;
    char auth[256];
};

typedef struct upload { char *buf; size_t n; } upload;

static const char GOOD[] = "{\"product_type\":\"game\",\"platform\":\"PC\",\"genre\":[\"Action\",\"RPG\"],"
                           "\"franchise\":\"Stub Saga\",\"multiplayer\":\"online\"}";

static int count_marker_locked(chat_stub *s, const char *m) {
    int n = 0;
    for (int i = 0; i < s->n_bodies; i++) n += strstr(s->bodies[i], m) != NULL;
    return n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 429) MHD_add_response_header(r, "Retry-After", "0");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* A chat.completion as OpenAI sends it, content JSON-escaped. */
static char *completion(const char *content) {
    size_t n = strlen(content), k = 0;
    char *esc = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (content[i] == '"' || content[i] == '\\') esc[k++] = '\\';
        if (content[i] == '\n') { esc[k++] = '\\'; esc[k++] = 'n'; continue; }
        esc[k++] = content[i];
    }
    esc[k] = 0;
    size_t cap = k + 512;
    char *o = malloc(cap);
    snprintf(o, cap, "{\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"stub\","
             "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},\"finish_reason\":"
             "\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":10,\"total_tokens\":20}}", esc);
    free(esc);
    return o;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)version;
    chat_stub *s = cls;
    upload *u = *con_cls;
    if (!u) { *con_cls = calloc(1, sizeof(upload)); return MHD_YES; }
    if (*data_size) {
        size_t take = *data_size;
        if (u->n + take > MAX_BODY) take = MAX_BODY - u->n;
        u->buf = realloc(u->buf, u->n + take + 1);
        memcpy(u->buf + u->n, data, take);
        u->n += take;
        u->buf[u->n] = 0;
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") || strcmp(url, "/v1/chat/completions")) return reply(c, 404, "{\"error\":\"not found\"}");
    const char *body = u->buf ? u->buf : "";
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&s->mu);
    snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
    s->requests++;
    if (s->n_bodies < MAX_BODIES) s->bodies[s->n_bodies++] = strdup(body);
    int seen_flaky = count_marker_locked(s, "[flaky]"), seen_429 = count_marker_locked(s, "[429]");
    bool fail = s->fail_after >= 0 && s->good >= s->fail_after;
    pthread_mutex_unlock(&s->mu);
    if (fail) return reply(c, 401, "{\"error\":{\"message\":\"invalid api key\"}}");
    if (strstr(body, "[flaky]") && seen_flaky <= 2) return reply(c, 500, "{\"error\":\"overloaded\"}");
    if (strstr(body, "[429]") && seen_429 <= 1) return reply(c, 429, "{\"error\":\"slow down\"}");
    if (strstr(body, "[envelope]")) return reply(c, 200, "{\"object\":\"chat.completion\",\"choices\":[]}");
    if (strstr(body, "[slow]")) usleep(1500 * 1000);
    const char *content = GOOD;
    char buf[512];
    if (strstr(body, "[bad-json]")) content = "{\"product_type\": \"game\", \"platform\":";
    else if (strstr(body, "[missing]"))
        content = "{\"product_type\":\"game\",\"platform\":\"PC\",\"genre\":[\"Action\"],\"multiplayer\":\"no\"}";
    else if (strstr(body, "[type]"))
        content = "{\"product_type\":\"game\",\"platform\":\"PC\",\"genre\":\"Action\",\"franchise\":null,"
                  "\"multiplayer\":\"no\"}";
    else if (strstr(body, "[value]"))
        content = "{\"product_type\":\"game\",\"platform\":\"Dreamcast\",\"genre\":[\"Action\"],\"franchise\":null,"
                  "\"multiplayer\":\"no\"}";
    else if (strstr(body, "[fenced]")) {
        snprintf(buf, sizeof buf, "<think>\nA game, surely.\n</think>\n```json\n%s\n```", GOOD);
        content = buf;
    }
    char *o = completion(content);
    pthread_mutex_lock(&s->mu);
    s->good++;
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result ok = reply(c, 200, o);
    free(o);
    return ok;
}

static void done_cb(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode tc) {
    (void)cls, (void)c, (void)tc;
    upload *u = *con_cls;
    if (u) { free(u->buf); free(u); }
    *con_cls = NULL;
}

chat_stub *chat_stub_start(void) {
    chat_stub *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fail_after = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, done_cb, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!s->d) { free(s); return NULL; }
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = i ? i->port : 0;
    return s;
}

int chat_stub_port(const chat_stub *s) { return s->port; }

void chat_stub_fail_after(chat_stub *s, int n) {
    pthread_mutex_lock(&s->mu);
    s->fail_after = n;
    s->good = 0;
    pthread_mutex_unlock(&s->mu);
}

int chat_stub_requests(chat_stub *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int chat_stub_requests_with(chat_stub *s, const char *marker) {
    pthread_mutex_lock(&s->mu);
    int n = count_marker_locked(s, marker);
    pthread_mutex_unlock(&s->mu);
    return n;
}

void chat_stub_last_auth(chat_stub *s, char *buf, int cap) {
    pthread_mutex_lock(&s->mu);
    snprintf(buf, (size_t)cap, "%s", s->auth);
    pthread_mutex_unlock(&s->mu);
}

void chat_stub_stop(chat_stub *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    for (int i = 0; i < s->n_bodies; i++) free(s->bodies[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
