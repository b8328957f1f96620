/* The HTTP side of `semid serve`: routes, validation, answers in OpenAI's shapes. */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
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

typedef struct req {
    sd_server *s;
    char *body;
    size_t n, cap;
    bool too_big, answered;
    int route, status;
    double t0;
} req;

/* The streamed answer of one chat job. */
typedef struct stream {
    sd_server *s;
    sd_job *j;
    char id[40];
    long created;
    int phase;                  /* 0 role chunk, 1 content, 2 final chunk sent, 3 [DONE] sent */
    bool include_usage;
    size_t sent;                /* bytes of j->text already sent */
    char *pend;                 /* bytes waiting to go out */
    size_t pend_n, pend_off;
} stream;

static bool valid_utf8(const unsigned char *p, size_t n) {
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

static enum MHD_Result send_buf(req *r, struct MHD_Connection *c, int status, const char *type, char *body,
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

static enum MHD_Result send_json(req *r, struct MHD_Connection *c, int status, cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!t) return MHD_NO;
    return send_buf(r, c, status, "application/json", t, strlen(t), NULL, false);
}

static cJSON *error_obj(const char *msg, const char *type, const char *param, const char *code) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return o;
}

static char *print_free(cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t ? t : sd_xstrdup("{}");
}

static const char *default_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: case 503: return "server_error";
    case 504: return "timeout";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static enum MHD_Result send_error(req *r, struct MHD_Connection *c, int status, const char *param, const char *code,
                                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_error(req *r, struct MHD_Connection *c, int status, const char *param, const char *code,
                                  const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *t = print_free(error_obj(msg, default_type(status), param, code));
    return send_buf(r, c, status, "application/json", t, strlen(t), NULL, status == 503);
}

/* ---- JSON of items ---- */

static cJSON *attrs_json(const sd_catalog *cat, const sd_item *it) {
    cJSON *o = cJSON_CreateObject();
    const sd_kv *a = sd_item_attrs(cat, it);
    for (uint32_t i = 0; i < it->n_attrs; i++) {
        cJSON *prev = cJSON_GetObjectItemCaseSensitive(o, a[i].key);
        if (!prev) cJSON_AddStringToObject(o, a[i].key, a[i].value);
        else if (cJSON_IsArray(prev)) cJSON_AddItemToArray(prev, cJSON_CreateString(a[i].value));
        else { /* a repeated key (multi-valued): the values become a list */
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, cJSON_CreateString(prev->valuestring));
            cJSON_AddItemToArray(arr, cJSON_CreateString(a[i].value));
            cJSON_ReplaceItemInObjectCaseSensitive(o, a[i].key, arr);
        }
    }
    return o;
}

static cJSON *item_json(sd_server *s, int32_t id, bool full) {
    const sd_catalog *cat = s->cat;
    const sd_item *it = &cat->items[id];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ext_id", it->ext_id);
    cJSON_AddStringToObject(o, "title", it->title);
    if (full) cJSON_AddStringToObject(o, "description", it->description);
    cJSON_AddStringToObject(o, "sid", s->eng.rec.sid_str[id]);
    cJSON_AddItemToObject(o, "attrs", attrs_json(cat, it));
    if (full) {
        cJSON *c = cJSON_AddArrayToObject(o, "categories");
        for (uint32_t i = 0; i < it->n_categories; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(sd_item_categories(cat, it)[i]));
        cJSON *f = cJSON_AddArrayToObject(o, "features");
        for (uint32_t i = 0; i < it->n_features; i++)
            cJSON_AddItemToArray(f, cJSON_CreateString(sd_item_features(cat, it)[i]));
    }
    return o;
}

static cJSON *named_json(sd_server *s, const sd_chat_named *it, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = item_json(s, it[i].item, false);
        if (isfinite(it[i].logprob)) cJSON_AddNumberToObject(o, "score", it[i].logprob);
        else cJSON_AddNullToObject(o, "score");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* ---- chat completions ---- */

static void new_id(char *out, size_t n) {
    static unsigned long counter;
    unsigned long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)c * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    snprintf(out, n, "chatcmpl-%016llx%04lx", (unsigned long long)x, c & 0xFFFF);
}

static const char *finish_name(int f) { return f == SD_GB_LENGTH ? "length" : "stop"; }

static void owned_add(sd_job *j, char *p) {
    j->owned = sd_xrealloc(j->owned, sizeof(char *) * (size_t)(j->n_owned + 1));
    j->owned[j->n_owned++] = p;
}

/* Checks the request and fills the job; on a bad field returns false with *param and msg set. */
static bool parse_chat(sd_server *s, const cJSON *b, sd_job *j, bool *include_usage, const char **param, char *msg,
                       size_t mn) {
    const cJSON *x;
#define BAD(p, ...) do { *param = p; snprintf(msg, mn, __VA_ARGS__); return false; } while (0)
    x = cJSON_GetObjectItemCaseSensitive(b, "model");
    if (x && !cJSON_IsString(x) && !cJSON_IsNull(x)) BAD("model", "'model' must be a string");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "messages");
    if (!cJSON_IsArray(ms)) BAD("messages", "'messages' must be an array of messages");
    int n = cJSON_GetArraySize(ms);
    if (n < 1) BAD("messages", "'messages' is empty");
    if (n > 10000) BAD("messages", "'messages' has %d messages, more than 10000", n);
    j->msgs = sd_xcalloc((size_t)n, sizeof *j->msgs);
    int i = 0;
    cJSON_ArrayForEach(x, ms) {
        if (!cJSON_IsObject(x)) BAD("messages", "messages[%d] must be an object", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(x, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(x, "content");
        if (!cJSON_IsString(role)) BAD("messages", "messages[%d].role must be a string", i);
        const char *r = role->valuestring;
        if (!strcmp(r, "developer")) r = "system"; /* OpenAI's newer name for it */
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
            BAD("messages", "messages[%d].role '%.40s' is not one of system, developer, user, assistant", i, r);
        const char *text = NULL;
        if (cJSON_IsString(content)) text = content->valuestring;
        else if (cJSON_IsNull(content) || !content) {
            if (strcmp(r, "assistant")) BAD("messages", "messages[%d].content is missing", i);
            text = "";
        } else if (cJSON_IsArray(content)) { /* content parts: the text ones, joined */
            size_t len = 0;
            const cJSON *p;
            cJSON_ArrayForEach(p, content) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
                const cJSON *tx = cJSON_GetObjectItemCaseSensitive(p, "text");
                if (!cJSON_IsObject(p) || !cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(tx))
                    BAD("messages", "messages[%d].content: only parts of type 'text' with a 'text' string are "
                        "supported", i);
                len += strlen(tx->valuestring);
            }
            char *buf = sd_xmalloc(len + 1), *w = buf;
            cJSON_ArrayForEach(p, content) {
                const char *tx = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
                size_t k = strlen(tx);
                memcpy(w, tx, k);
                w += k;
            }
            *w = 0;
            owned_add(j, buf);
            text = buf;
        } else BAD("messages", "messages[%d].content must be a string or an array of text parts", i);
        j->msgs[i].role = r;
        j->msgs[i].content = text;
        i++;
    }
    j->n_msgs = n;
    if (strcmp(j->msgs[n - 1].role, "user")) BAD("messages", "the last message must be the user's");
    x = cJSON_GetObjectItemCaseSensitive(b, "temperature");
    j->sample.temperature = 1.0f;
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 2))
            BAD("temperature", "'temperature' must be a number in [0, 2]");
        j->sample.temperature = (float)x->valuedouble;
    }
    x = cJSON_GetObjectItemCaseSensitive(b, "top_p");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble > 0 && x->valuedouble <= 1))
            BAD("top_p", "'top_p' must be a number in (0, 1]");
        j->sample.top_p = (float)x->valuedouble;
    }
    j->max_tokens = s->cfg.max_tokens;
    const char *mt_names[2] = {"max_completion_tokens", "max_tokens"};
    for (int t = 0; t < 2; t++) {
        x = cJSON_GetObjectItemCaseSensitive(b, mt_names[t]);
        if (!x || cJSON_IsNull(x)) continue;
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 ||
            x->valuedouble > 1e9)
            BAD(mt_names[t], "'%s' must be an integer >= 1", mt_names[t]);
        if (x->valuedouble < j->max_tokens) j->max_tokens = (int)x->valuedouble;
        break;
    }
    x = cJSON_GetObjectItemCaseSensitive(b, "n");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble)) BAD("n", "'n' must be an integer");
        if (x->valuedouble != 1) BAD("n", "only n = 1 is supported");
    }
    x = cJSON_GetObjectItemCaseSensitive(b, "seed");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || fabs(x->valuedouble) > 9.2e18)
            BAD("seed", "'seed' must be an integer");
        j->sample.seed = (uint64_t)(int64_t)x->valuedouble;
    } else {
        static uint64_t ctr;
        j->sample.seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull + __atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED);
    }
    x = cJSON_GetObjectItemCaseSensitive(b, "stop");
    if (cJSON_IsString(x)) {
        if (!*x->valuestring) BAD("stop", "'stop' must not be empty");
        j->stop = sd_xmalloc(sizeof(char *));
        j->stop[j->n_stop++] = sd_xstrdup(x->valuestring);
    } else if (cJSON_IsArray(x)) {
        int k = cJSON_GetArraySize(x);
        if (k > 4) BAD("stop", "'stop' has %d strings; at most 4", k);
        j->stop = sd_xcalloc((size_t)(k + 1), sizeof(char *));
        const cJSON *e;
        cJSON_ArrayForEach(e, x) {
            if (!cJSON_IsString(e) || !*e->valuestring) BAD("stop", "'stop' must hold non-empty strings");
            j->stop[j->n_stop++] = sd_xstrdup(e->valuestring);
        }
    } else if (x && !cJSON_IsNull(x)) BAD("stop", "'stop' must be a string or an array of strings");
    x = cJSON_GetObjectItemCaseSensitive(b, "stream");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsBool(x)) BAD("stream", "'stream' must be a boolean");
        j->stream = cJSON_IsTrue(x);
    }
    x = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsObject(x)) BAD("stream_options", "'stream_options' must be an object");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(x, "include_usage");
        if (u && !cJSON_IsBool(u)) BAD("stream_options", "'stream_options.include_usage' must be a boolean");
        *include_usage = cJSON_IsTrue(u);
    }
#undef BAD
    return true;
}

static cJSON *usage_json(const sd_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", j->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", j->prompt_tokens + j->completion_tokens);
    return u;
}

static cJSON *chunk_json(const stream *st, cJSON *delta, const char *finish) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", st->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)st->created);
    cJSON_AddStringToObject(o, "model", st->s->model_name);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    if (delta) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", 0);
        cJSON_AddItemToObject(c, "delta", delta);
        cJSON_AddNullToObject(c, "logprobs");
        if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
        else cJSON_AddNullToObject(c, "finish_reason");
        cJSON_AddItemToArray(ch, c);
    }
    return o;
}

static void pend_event(stream *st, cJSON *o) {
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    const char *body = t ? t : "[DONE]";
    size_t k = strlen(body), need = st->pend_n + k + 16; /* "data: " body "\n\n" NUL */
    st->pend = sd_xrealloc(st->pend, need);
    st->pend_n += (size_t)sprintf(st->pend + st->pend_n, "data: %s\n\n", body);
    free(t);
}

/* MHD content reader: waits for the job's next text, turns it into SSE events. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    sd_server *s = st->s;
    sd_job *j = st->j;
    while (st->pend_off >= st->pend_n) {
        st->pend_n = st->pend_off = 0;
        if (st->phase == 3) return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->phase == 0) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "role", "assistant");
            cJSON_AddStringToObject(d, "content", "");
            pend_event(st, chunk_json(st, d, NULL));
            st->phase = 1;
            continue;
        }
        if (st->phase == 2) { pend_event(st, NULL); st->phase = 3; continue; }
        pthread_mutex_lock(&s->mu);
        while (j->text_n == st->sent && j->state != JOB_DONE) pthread_cond_wait(&j->cv, &s->mu);
        if (j->text_n > st->sent) {
            cJSON *d = cJSON_CreateObject();
            char *piece = sd_xstrndup(j->text + st->sent, j->text_n - st->sent);
            st->sent = j->text_n;
            pthread_mutex_unlock(&s->mu);
            cJSON_AddStringToObject(d, "content", piece);
            free(piece);
            pend_event(st, chunk_json(st, d, NULL));
            continue;
        }
        /* done */
        if (j->status) {
            cJSON *e = error_obj(j->err_msg, j->err_type ? j->err_type : "server_error", NULL, j->err_code);
            pthread_mutex_unlock(&s->mu);
            pend_event(st, e);
        } else {
            cJSON *o = chunk_json(st, cJSON_CreateObject(), finish_name(j->finish));
            cJSON_AddItemToObject(o, "items", named_json(s, j->items, j->n_items));
            cJSON *u = st->include_usage ? usage_json(j) : NULL;
            pthread_mutex_unlock(&s->mu);
            pend_event(st, o);
            if (u) {
                cJSON *uo = chunk_json(st, NULL, NULL);
                cJSON_AddItemToObject(uo, "usage", u);
                pend_event(st, uo);
            }
        }
        st->phase = 2;
    }
    size_t k = st->pend_n - st->pend_off;
    if (k > max) k = max;
    memcpy(buf, st->pend + st->pend_off, k);
    st->pend_off += k;
    return (ssize_t)k;
}

static void stream_free(void *cls) {
    stream *st = cls;
    pthread_mutex_lock(&st->s->mu);
    st->j->cancel = true; /* a client gone mid-stream frees its slot */
    pthread_cond_signal(&st->s->owner_cv);
    sd_job_unref(st->j);
    pthread_mutex_unlock(&st->s->mu);
    free(st->pend);
    free(st);
}

static enum MHD_Result job_error(req *r, struct MHD_Connection *c, sd_job *j) {
    int st = j->status;
    char *t = print_free(
        error_obj(j->err_msg, j->err_type ? j->err_type : default_type(st), NULL, j->err_code));
    return send_buf(r, c, st, "application/json", t, strlen(t), NULL, st == 503);
}

static enum MHD_Result do_chat(req *r, struct MHD_Connection *c, cJSON *b) {
    sd_server *s = r->s;
    sd_job *j = sd_job_new(JOB_CHAT);
    const char *param = NULL;
    char msg[300];
    bool include_usage = false;
    if (!parse_chat(s, b, j, &include_usage, &param, msg, sizeof msg)) {
        pthread_mutex_lock(&s->mu);
        sd_job_unref(j);
        pthread_mutex_unlock(&s->mu);
        return send_error(r, c, 400, param, NULL, "%s", msg);
    }
    j->t0 = r->t0;
    j->deadline = r->t0 + s->cfg.timeout_s;
    if (sd_job_submit(s, j)) {
        pthread_mutex_lock(&s->mu);
        sd_job_unref(j);
        pthread_mutex_unlock(&s->mu);
        return send_error(r, c, 503, NULL, "overloaded", "the server is busy (%d requests queued); retry later",
                          s->cfg.queue);
    }
    pthread_mutex_lock(&s->mu);
    while (j->state == JOB_QUEUED || j->state == JOB_TAKEN || (!j->stream && j->state != JOB_DONE)) pthread_cond_wait(&j->cv, &s->mu);
    enum MHD_Result rc;
    if (j->state == JOB_DONE && j->status) {
        rc = job_error(r, c, j);
        sd_job_unref(j);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    if (j->stream) {
        pthread_mutex_unlock(&s->mu);
        stream *st = sd_xcalloc(1, sizeof *st);
        st->s = s;
        st->j = j; /* our reference goes to the stream */
        new_id(st->id, sizeof st->id);
        st->created = time(NULL);
        st->include_usage = include_usage;
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
                                                                      stream_free);
        if (!resp) { stream_free(st); return MHD_NO; }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        r->status = 200;
        r->answered = true;
        rc = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    cJSON *o = cJSON_CreateObject();
    char id[40];
    new_id(id, sizeof id);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", s->model_name);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *c0 = cJSON_CreateObject(), *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", j->text ? j->text : "");
    cJSON_AddItemToObject(c0, "message", m);
    cJSON_AddNullToObject(c0, "logprobs");
    cJSON_AddStringToObject(c0, "finish_reason", finish_name(j->finish));
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    cJSON_AddItemToObject(o, "items", named_json(s, j->items, j->n_items));
    sd_job_unref(j);
    pthread_mutex_unlock(&s->mu);
    return send_json(r, c, 200, o);
}

/* ---- recommend ---- */

static enum MHD_Result do_recommend(req *r, struct MHD_Connection *c, cJSON *b) {
    sd_server *s = r->s;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(b, "history");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(b, "k");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(b, "exclude_history");
    if (h && !cJSON_IsNull(h) && !cJSON_IsArray(h))
        return send_error(r, c, 400, "history", NULL, "'history' must be an array of item ids");
    if (p && !cJSON_IsNull(p) && !cJSON_IsString(p)) return send_error(r, c, 400, "prompt", NULL, "'prompt' must be a string");
    int kk = 10;
    if (k && !cJSON_IsNull(k)) {
        if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) || k->valuedouble < 1 || k->valuedouble > 100)
            return send_error(r, c, 400, "k", NULL, "'k' must be an integer in [1, 100]");
        kk = (int)k->valuedouble;
    }
    if (kk > s->cat->n_items) kk = s->cat->n_items;
    if (ex && !cJSON_IsNull(ex) && !cJSON_IsBool(ex))
        return send_error(r, c, 400, "exclude_history", NULL, "'exclude_history' must be a boolean");
    int n = cJSON_IsArray(h) ? cJSON_GetArraySize(h) : 0;
    const char *req_text = cJSON_IsString(p) && *p->valuestring ? p->valuestring : NULL;
    if (n == 0 && !req_text)
        return send_error(r, c, 400, "history", NULL, "give a 'history' of item ids, a 'prompt', or both");
    if (n > 10000) return send_error(r, c, 400, "history", NULL, "'history' has %d items, more than 10000", n);
    sd_job *j = sd_job_new(JOB_REC);
    j->hist = sd_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        char num[32];
        const char *id = NULL;
        if (cJSON_IsString(e)) id = e->valuestring;
        else if (cJSON_IsNumber(e) && e->valuedouble == floor(e->valuedouble) && fabs(e->valuedouble) < 1e15) {
            snprintf(num, sizeof num, "%.0f", e->valuedouble);
            id = num;
        }
        if (!id) {
            int at = j->n_hist;
            pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
            return send_error(r, c, 400, "history", NULL, "history[%d] must be an item id (a string)", at);
        }
        int32_t it = sd_catalog_find(s->cat, id);
        if (it < 0) {
            char shown[200];
            snprintf(shown, sizeof shown, "%s", id);
            pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
            return send_error(r, c, 422, "history", "unknown_item", "history: no item \"%s\" in the catalogue", shown);
        }
        j->hist[j->n_hist++] = it;
    }
    j->request = req_text ? sd_xstrdup(req_text) : NULL;
    j->k = kk;
    j->exclude = !ex || cJSON_IsNull(ex) || cJSON_IsTrue(ex);
    j->t0 = r->t0;
    j->deadline = r->t0 + s->cfg.timeout_s;
    if (sd_job_submit(s, j)) {
        pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
        return send_error(r, c, 503, NULL, "overloaded", "the server is busy (%d requests queued); retry later",
                          s->cfg.queue);
    }
    pthread_mutex_lock(&s->mu);
    while (j->state != JOB_DONE) pthread_cond_wait(&j->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result rc;
    if (j->status) rc = job_error(r, c, j);
    else {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "items");
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(o, "model", s->model_name);
        for (int i = 0; i < j->r_found; i++) {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddNumberToObject(it, "rank", i + 1);
            cJSON *x = item_json(s, j->r_items[i], false), *f;
            /* rank first, then the item's fields */
            while ((f = x->child)) cJSON_AddItemToObject(it, f->string, cJSON_DetachItemViaPointer(x, f));
            cJSON_Delete(x);
            cJSON_AddNumberToObject(it, "score", j->r_scores[i]);
            cJSON_AddItemToArray(a, it);
        }
        rc = send_json(r, c, 200, o);
    }
    pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- the small GET routes ---- */

static cJSON *model_json(sd_server *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "semid");
    return m;
}

static enum MHD_Result do_items(req *r, struct MHD_Connection *c) {
    sd_server *s = r->s;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    const char *l = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (!q) return send_error(r, c, 400, "q", NULL, "give the words to search for: /v1/items?q=TEXT");
    if (!valid_utf8((const unsigned char *)q, strlen(q))) return send_error(r, c, 400, "q", NULL, "'q' is not UTF-8");
    int limit = 20;
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > 100) return send_error(r, c, 400, "limit", NULL, "'limit' must be an integer in [1, 100]");
        limit = (int)v;
    }
    int32_t out[100];
    int n = sd_item_search(&s->ix, q, limit, out);
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "items");
    cJSON_AddStringToObject(o, "object", "list");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, item_json(s, out[i], false));
    return send_json(r, c, 200, o);
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
    req *r = *con_cls;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!r) {
        r = sd_xcalloc(1, sizeof *r);
        r->s = s;
        r->t0 = sd_now();
        r->route = route_of(url);
        *con_cls = r;
        int rt = r->route;
        if (rt == SD_R_OTHER) return send_error(r, c, 404, NULL, "not_found", "no route %s %.200s", method, url);
        bool want_post = rt == SD_R_CHAT || rt == SD_R_RECOMMEND;
        if (want_post ? !post : !get) {
            char *t = print_free(error_obj("method not allowed", "invalid_request_error", NULL,
                                                       "method_not_allowed"));
            return send_buf(r, c, 405, "application/json", t, strlen(t), want_post ? "POST" : "GET, HEAD", false);
        }
        if ((!strncmp(url, "/v1/", 4) || rt == SD_R_METRICS) && !authorized(s, c))
            return send_error(r, c, 401, NULL, "invalid_api_key",
                              "missing or incorrect API key: send the header 'Authorization: Bearer KEY'");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
            return send_error(r, c, 413, NULL, "request_too_large", "the request body is over the %zu-byte limit",
                              s->cfg.max_body);
        return MHD_YES;
    }
    if (r->answered) { *upload_size = 0; return MHD_YES; }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->n + n > s->cfg.max_body)
            return send_error(r, c, 413, NULL, "request_too_large", "the request body is over the %zu-byte limit",
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
        return send_json(r, c, 200, o);
    }
    case SD_R_METRICS: {
        size_t n;
        char *t = sd_metrics_text(&s->met, &n);
        return send_buf(r, c, 200, "text/plain; version=0.0.4", t, n, NULL, false);
    }
    case SD_R_MODELS: {
        if (url[10] == '/') {
            if (strcmp(url + 11, s->model_name))
                return send_error(r, c, 404, "model", "model_not_found", "no model '%.200s'", url + 11);
            return send_json(r, c, 200, model_json(s));
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_json(s));
        return send_json(r, c, 200, o);
    }
    case SD_R_ITEM: {
        int32_t id = sd_catalog_find(s->cat, url + 10);
        if (id < 0) return send_error(r, c, 404, NULL, "unknown_item", "no item \"%.200s\" in the catalogue", url + 10);
        return send_json(r, c, 200, item_json(s, id, true));
    }
    case SD_R_ITEMS: return do_items(r, c);
    case SD_R_STATIC: {
        const unsigned char *d;
        size_t n;
        const char *mime;
        if (!sd_static_find(url, &d, &n, &mime))
            return send_error(r, c, 404, NULL, "not_found", "no file %.200s", url);
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
            return send_error(r, c, 404, NULL, "no_report", "no report yet: run `semid report WORK` to write %s",
                              s->report_path);
        return send_buf(r, c, 200, "text/html; charset=utf-8", d, n, NULL, false);
    }
    default: break;
    }
    /* the POST routes: a JSON object body */
    if (!r->n) return send_error(r, c, 400, NULL, "invalid_json", "the request needs a JSON body");
    r->body[r->n] = 0;
    if (!valid_utf8((const unsigned char *)r->body, r->n))
        return send_error(r, c, 400, NULL, "invalid_encoding", "the request body is not valid UTF-8");
    cJSON *b = cJSON_ParseWithLength(r->body, r->n);
    if (!b) return send_error(r, c, 400, NULL, "invalid_json", "the request body is not valid JSON");
    enum MHD_Result rc;
    if (!cJSON_IsObject(b)) rc = send_error(r, c, 400, NULL, "invalid_json", "the request body must be a JSON object");
    else if (r->route == SD_R_CHAT) rc = do_chat(r, c, b);
    else rc = do_recommend(r, c, b);
    cJSON_Delete(b);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c; (void)toe;
    sd_server *s = cls;
    req *r = *con_cls;
    if (!r) return;
    sd_metrics_request(&s->met, r->route, r->answered ? r->status : 499, sd_now() - r->t0);
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
    if (cfg->slots < 1 || cfg->queue < 1 || cfg->max_tokens < 1 || cfg->ctx < 16 || !(cfg->timeout_s > 0) ||
        cfg->port < 0 || cfg->port > 65535)
        return sd_errf(err, SD_EUSAGE, "serve: need --slots, --queue, --max-tokens >= 1, --ctx >= 16, --timeout > 0 "
                       "and a port in [0, 65535]");
    sd_server *s = sd_xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->cat = cfg->work->cat;
    s->created = time(NULL);
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
