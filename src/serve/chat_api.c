/* POST /v1/chat/completions: the request checked into a job, the answer whole or streamed as
 * server-sent events. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "serve/serve_internal.h"

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
        bool joined = false; /* text is already the job's own copy */
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
            joined = true;
        } else BAD("messages", "messages[%d].content must be a string or an array of text parts", i);
        /* the job owns its strings: the request's JSON is freed when the handler returns */
        if (!joined) owned_add(j, sd_xstrdup(text));
        j->msgs[i].role = !strcmp(r, "system") ? "system" : !strcmp(r, "user") ? "user" : "assistant";
        j->msgs[i].content = j->owned[j->n_owned - 1];
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
            cJSON *e = sd_srv_error_obj(j->err_msg, j->err_type ? j->err_type : "server_error", NULL, j->err_code);
            pthread_mutex_unlock(&s->mu);
            pend_event(st, e);
        } else {
            cJSON *o = chunk_json(st, cJSON_CreateObject(), finish_name(j->finish));
            cJSON_AddItemToObject(o, "items", sd_srv_named_json(s, j->items, j->n_items));
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

enum MHD_Result sd_srv_chat(sd_req *r, struct MHD_Connection *c, cJSON *b) {
    sd_server *s = r->s;
    sd_job *j = sd_job_new(JOB_CHAT);
    const char *param = NULL;
    char msg[300];
    bool include_usage = false;
    if (!parse_chat(s, b, j, &include_usage, &param, msg, sizeof msg)) {
        pthread_mutex_lock(&s->mu);
        sd_job_unref(j);
        pthread_mutex_unlock(&s->mu);
        return sd_srv_send_error(r, c, 400, param, NULL, "%s", msg);
    }
    j->t0 = r->t0;
    j->deadline = r->t0 + s->cfg.timeout_s;
    int why = sd_job_submit(s, j);
    if (why) return sd_srv_refused(s, r, c, j, why);
    pthread_mutex_lock(&s->mu);
    while (j->state == JOB_QUEUED || j->state == JOB_TAKEN || (!j->stream && j->state != JOB_DONE))
        sd_srv_wait_client(s, j, c);
    enum MHD_Result rc;
    if (j->state == JOB_DONE && j->status) {
        rc = sd_srv_job_error(r, c, j);
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
    cJSON_AddItemToObject(o, "items", sd_srv_named_json(s, j->items, j->n_items));
    sd_job_unref(j);
    pthread_mutex_unlock(&s->mu);
    return sd_srv_send_json(r, c, 200, o);
}
