/* `semid serve` end to end: a small work dir with a briefly trained model, the server started on a
 * free port (--port 0), plain HTTP from 127.0.0.1: the OpenAI schemas, streaming, items that exist,
 * a request's output alone and in a batch, each error status, a malformed-request barrage with the
 * server's memory checked, a short load run, and the openai npm client. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/file.h"
#include "base/log.h"
#include "data/catalog.h"
#include "ids/sid_vocab.h"
#include "serve/http_client.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_ASAN 1
#endif
#endif

static char g_work[300];
static sd_catalog *g_cat;
static const char *KEY_HDR = "Authorization: Bearer sk-test\r\n";

static void setup_work(void) {
    sd_test_lm_work(g_work, sizeof g_work, 200, 300, "--max-per-task 150", "--steps 12 --eval-every 0 --threads 2");
    char p[400];
    snprintf(p, sizeof p, "%s/items.jsonl", g_work);
    sd_err err = {0};
    cr_assert_eq(sd_catalog_read_jsonl(&g_cat, p, &err), 0, "%s", err.msg);
}

/* ---- the server process ---- */

typedef struct srv { pid_t pid; int port; char log[400]; } srv;

static void srv_start(srv *s, const char *env, const char *args) {
    snprintf(s->log, sizeof s->log, "%s/../serve-%d.log", g_work, (int)time(NULL) ^ rand());
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "exec env OMP_WAIT_POLICY=passive %s %s serve %s --port 0 --threads 2 %s 2>%s >&2",
             env ? env : "", sd_test_bin(), g_work, args, s->log);
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    s->port = 0;
    for (int i = 0; i < 1200 && !s->port; i++) { /* 120 s at most (sanitizer builds load slowly) */
        char *t = NULL;
        size_t n;
        if (sd_read_file(s->log, &t, &n, NULL) == 0) {
            const char *p = strstr(t, "listening on http://127.0.0.1:");
            if (p) s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            free(t);
        }
        int st;
        if (!s->port && waitpid(s->pid, &st, WNOHANG) == s->pid) {
            char *t2 = NULL;
            sd_read_file(s->log, &t2, &n, NULL);
            cr_assert_fail("semid serve exited at start: %s", t2 ? t2 : "");
        }
        if (!s->port) usleep(100 * 1000);
    }
    cr_assert(s->port > 0, "no startup line in %s", s->log);
}

/* SIGTERM; the server must exit 0 within 60 s. */
static void srv_stop(srv *s) {
    kill(s->pid, SIGTERM);
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 600 && w != s->pid; i++) {
        w = waitpid(s->pid, &st, WNOHANG);
        if (w != s->pid) usleep(100 * 1000);
    }
    if (w != s->pid) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        cr_assert_fail("semid serve did not stop on SIGTERM");
    }
    char *t = NULL;
    size_t n;
    sd_read_file(s->log, &t, &n, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d: %s", st, t ? t : "");
    free(t);
}

static long vm_rss_kb(pid_t pid) {
    char p[64], *t = NULL;
    size_t n;
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    if (sd_read_file(p, &t, &n, NULL)) return -1;
    const char *v = strstr(t, "VmRSS:");
    long kb = v ? atol(v + 6) : -1;
    free(t);
    return kb;
}

/* ---- requests ---- */

static int req(srv *s, const char *method, const char *path, const char *hdr, const char *body, sd_http_resp *r) {
    int rc = sd_http_request(s->port, method, path, hdr, body, body ? strlen(body) : 0, 120, r);
    cr_assert_eq(rc, 0, "%s %s: no answer", method, path);
    return r->status;
}

/* A JSON answer with its status checked (the tree is the caller's). */
static cJSON *req_json(srv *s, const char *method, const char *path, const char *hdr, const char *body, int want) {
    sd_http_resp r;
    int st = req(s, method, path, hdr, body, &r);
    cr_assert_eq(st, want, "%s %s -> %d, wanted %d: %s", method, path, st, want, r.body);
    cJSON *j = cJSON_Parse(r.body);
    cr_assert(j, "%s %s: not JSON: %s", method, path, r.body);
    sd_http_resp_free(&r);
    return j;
}

/* An error answer in OpenAI's shape. */
static void want_error(srv *s, const char *method, const char *path, const char *hdr, const char *body, int want,
                       const char *param) {
    cJSON *j = req_json(s, method, path, hdr, body, want);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    cr_assert(cJSON_IsObject(e), "%s %s: no error object", method, path);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(e, "message")) && cJSON_IsString(cJSON_GetObjectItem(e, "type")));
    cr_assert(cJSON_HasObjectItem(e, "param") && cJSON_HasObjectItem(e, "code"));
    if (param) {
        cJSON *p = cJSON_GetObjectItem(e, "param");
        cr_assert(cJSON_IsString(p) && !strcmp(p->valuestring, param), "%s: param %s, wanted %s", body,
                  cJSON_IsString(p) ? p->valuestring : "null", param);
    }
    cJSON_Delete(j);
}

static char *chat_body(const char *user, int max_tokens, double temperature, int seed, bool stream) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", "lm");
    cJSON *m = cJSON_AddArrayToObject(o, "messages"), *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", user);
    cJSON_AddItemToArray(m, u);
    cJSON_AddNumberToObject(o, "max_tokens", max_tokens);
    cJSON_AddNumberToObject(o, "temperature", temperature);
    if (seed >= 0) cJSON_AddNumberToObject(o, "seed", seed);
    if (stream) cJSON_AddTrueToObject(o, "stream");
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

/* Checks a chat answer's schema and its items; returns its content (malloc'd). */
static char *check_completion(cJSON *j, int *n_items) {
    cr_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
    cr_assert(!strncmp(cJSON_GetObjectItem(j, "id")->valuestring, "chatcmpl-", 9));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "created")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "lm");
    cJSON *ch = cJSON_GetObjectItem(j, "choices");
    cr_assert_eq(cJSON_GetArraySize(ch), 1);
    cJSON *c0 = cJSON_GetArrayItem(ch, 0), *m = cJSON_GetObjectItem(c0, "message");
    cr_assert_str_eq(cJSON_GetObjectItem(m, "role")->valuestring, "assistant");
    const char *fr = cJSON_GetObjectItem(c0, "finish_reason")->valuestring;
    cr_assert(!strcmp(fr, "stop") || !strcmp(fr, "length"), "%s", fr);
    cJSON *u = cJSON_GetObjectItem(j, "usage");
    int pt = cJSON_GetObjectItem(u, "prompt_tokens")->valueint, ct = cJSON_GetObjectItem(u, "completion_tokens")->valueint;
    cr_assert(pt > 10 && ct >= 1);
    cr_assert_eq(cJSON_GetObjectItem(u, "total_tokens")->valueint, pt + ct);
    const char *content = cJSON_GetObjectItem(m, "content")->valuestring;
    cJSON *items = cJSON_GetObjectItem(j, "items"), *it;
    cr_assert(cJSON_IsArray(items));
    sd_sid_vocab v;
    sd_err err = {0};
    char sp[400];
    snprintf(sp, sizeof sp, "%s/sids.tsv", g_work);
    cr_assert_eq(sd_sid_vocab_open(&v, sp, g_cat, &err), 0, "%s", err.msg);
    cJSON_ArrayForEach(it, items) {
        int32_t id = sd_catalog_find(g_cat, cJSON_GetObjectItem(it, "ext_id")->valuestring);
        cr_assert(id >= 0, "an item that is not in the catalogue");
        cr_assert_str_eq(cJSON_GetObjectItem(it, "title")->valuestring, g_cat->items[id].title);
        char *want = sd_sid_vocab_item_string(&v, id);
        cr_assert_str_eq(cJSON_GetObjectItem(it, "sid")->valuestring, want);
        free(want);
        double sc = cJSON_GetObjectItem(it, "score")->valuedouble;
        cr_assert(isfinite(sc) && sc < 0, "score %g is a log-probability", sc);
        cr_assert(cJSON_IsObject(cJSON_GetObjectItem(it, "attrs")));
        cr_assert(strstr(content, g_cat->items[id].title), "the text shows the item by its title: %s", content);
    }
    cr_assert(!strstr(content, "<|sid_"), "SID tokens in the display text: %s", content);
    sd_sid_vocab_free(&v);
    *n_items = cJSON_GetArraySize(items);
    return strdup(content);
}

static char *chat_content(srv *s, const char *body, int *n_items) {
    cJSON *j = req_json(s, "POST", "/v1/chat/completions", KEY_HDR, body, 200);
    char *c = check_completion(j, n_items);
    cJSON_Delete(j);
    return c;
}

typedef struct par { srv *s; const char *body; char *out; int n_items; } par;

static void *par_main(void *p) {
    par *a = p;
    sd_http_resp r;
    if (sd_http_request(a->s->port, "POST", "/v1/chat/completions", KEY_HDR, a->body, strlen(a->body), 120, &r) == 0 &&
        r.status == 200) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *m = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
        if (cJSON_IsString(cJSON_GetObjectItem(m, "content")))
            a->out = strdup(cJSON_GetObjectItem(m, "content")->valuestring);
        cJSON_Delete(j);
    }
    sd_http_resp_free(&r);
    return NULL;
}

static long metric(srv *s, const char *name) {
    sd_http_resp r;
    req(s, "GET", "/metrics", KEY_HDR, NULL, &r);
    char line[200];
    snprintf(line, sizeof line, "\n%s", name); /* a sample line, not the # HELP line */
    const char *p = strstr(r.body, line);
    long v = -1;
    if (p) {
        p += strlen(line);
        v = atol(p);
    }
    sd_http_resp_free(&r);
    return v;
}

static const char *prompts[8] = {
    "Recommend me a game", "What should I play next on PC?", "Suggest a racing game.", "I like puzzles. Ideas?",
    "Something for Xbox One, please.", "A gift for a ten year old?", "Best strategy games?", "I loved my last RPG."};

Test(serve, api, .timeout = 600) {
    setup_work();
    srv s;
    srv_start(&s, NULL, "--api-key sk-test --slots 8");
    /* health stays open; the API needs the key */
    cJSON *j = req_json(&s, "GET", "/healthz", NULL, NULL, 200);
    cJSON_Delete(j);
    want_error(&s, "GET", "/v1/models", NULL, NULL, 401, NULL);
    want_error(&s, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", NULL, 401, NULL);
    j = req_json(&s, "GET", "/v1/models", KEY_HDR, NULL, 200);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0), "id")->valuestring, "lm");
    cJSON_Delete(j);

    /* each prompt alone (greedy), then all eight at once: the same text */
    char *alone[8];
    int named = 0;
    for (int i = 0; i < 8; i++) {
        char *b = chat_body(prompts[i], 24, 0, -1, false);
        int n;
        alone[i] = chat_content(&s, b, &n);
        named += n;
        free(b);
    }
    cr_assert(named > 0, "the model named no item in 8 replies");
    long steps0 = metric(&s, "semid_batch_size_count "), single0 = metric(&s, "semid_batch_size_bucket{le=\"1\"} ");
    par ps[8];
    pthread_t th[8];
    char *bodies[8];
    for (int i = 0; i < 8; i++) {
        bodies[i] = chat_body(prompts[i], 24, 0, -1, false);
        ps[i] = (par){.s = &s, .body = bodies[i]};
        pthread_create(&th[i], NULL, par_main, &ps[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        cr_assert(ps[i].out, "request %d failed in the batch", i);
        cr_assert_str_eq(ps[i].out, alone[i], "prompt %d: alone and in a batch differ", i);
        free(ps[i].out);
        free(bodies[i]);
    }
    long steps1 = metric(&s, "semid_batch_size_count "), single1 = metric(&s, "semid_batch_size_bucket{le=\"1\"} ");
    cr_assert(steps1 - steps0 > single1 - single0, "no step decoded more than one sequence");
    /* sampled with a seed: the same alone and beside others */
    char *sb = chat_body(prompts[1], 20, 0.9, 11, false);
    int n;
    char *sampled = chat_content(&s, sb, &n);
    for (int i = 0; i < 4; i++) {
        bodies[i] = i == 0 ? sb : chat_body(prompts[i + 2], 20, 0.9, 100 + i, false);
        ps[i] = (par){.s = &s, .body = bodies[i]};
        pthread_create(&th[i], NULL, par_main, &ps[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    cr_assert(ps[0].out && !strcmp(ps[0].out, sampled), "seeded sampling depends on the batch");
    for (int i = 0; i < 4; i++) { free(ps[i].out); if (i) free(bodies[i]); }
    free(sampled);
    free(sb);

    /* streaming: role first, the same text in pieces, finish_reason and items in the last chunk, [DONE] */
    char *b = chat_body(prompts[0], 24, 0, -1, true);
    sd_http_resp r;
    cr_assert_eq(req(&s, "POST", "/v1/chat/completions", KEY_HDR, b, &r), 200, "%s", r.body);
    free(b);
    char ct[100];
    cr_assert(sd_http_header(&r, "Content-Type", ct, sizeof ct) && !strcmp(ct, "text/event-stream"));
    char text[8192] = "";
    int events = 0;
    bool done = false, finished = false;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        cr_assert(!strncmp(line, "data: ", 6), "not an SSE data line: %s", line);
        cr_assert(!done, "data after [DONE]");
        if (!strcmp(line + 6, "[DONE]")) { done = true; continue; }
        cJSON *c = cJSON_Parse(line + 6);
        cr_assert(c, "%s", line);
        cr_assert_str_eq(cJSON_GetObjectItem(c, "object")->valuestring, "chat.completion.chunk");
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
        cJSON *d = cJSON_GetObjectItem(c0, "delta");
        if (events == 0) cr_assert_str_eq(cJSON_GetObjectItem(d, "role")->valuestring, "assistant");
        cJSON *piece = cJSON_GetObjectItem(d, "content");
        if (cJSON_IsString(piece)) strncat(text, piece->valuestring, sizeof text - strlen(text) - 1);
        cJSON *fr = cJSON_GetObjectItem(c0, "finish_reason");
        if (cJSON_IsString(fr)) {
            finished = true;
            cr_assert(cJSON_IsArray(cJSON_GetObjectItem(c, "items")), "items in the final chunk");
        }
        events++;
        cJSON_Delete(c);
    }
    cr_assert(done && finished && events >= 2);
    cr_assert_str_eq(text, alone[0], "streamed and whole answers differ");
    sd_http_resp_free(&r);

    /* max_tokens, stop strings */
    b = chat_body(prompts[0], 2, 0, -1, false);
    j = req_json(&s, "POST", "/v1/chat/completions", KEY_HDR, b, 200);
    cr_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint <= 2);
    cJSON_Delete(j);
    free(b);
    for (int i = 0; i < 8; i++) {
        size_t L = strlen(alone[i]);
        if (L < 8) continue;
        char stop[8];
        memcpy(stop, alone[i] + L / 2, 3);
        stop[3] = 0;
        cJSON *o = cJSON_Parse(b = chat_body(prompts[i], 24, 0, -1, false));
        free(b);
        cJSON_AddStringToObject(o, "stop", stop);
        cJSON_AddStringToObject(o, "unknown_field", "ignored as OpenAI does");
        b = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        char *got = chat_content(&s, b, &n);
        free(b);
        size_t want = (size_t)(strstr(alone[i], stop) - alone[i]);
        cr_assert(strlen(got) == want && !strncmp(got, alone[i], want), "stop \"%s\": \"%s\" from \"%s\"", stop, got,
                  alone[i]);
        free(got);
        break;
    }
    for (int i = 0; i < 8; i++) free(alone[i]);

    /* recommend */
    char body[1024];
    const char *h0 = g_cat->items[3].ext_id, *h1 = g_cat->items[10].ext_id, *h2 = g_cat->items[42].ext_id;
    snprintf(body, sizeof body, "{\"history\": [\"%s\", \"%s\", \"%s\"], \"prompt\": \"for PC\", \"k\": 5}", h0, h1, h2);
    j = req_json(&s, "POST", "/v1/recommend", KEY_HDR, body, 200);
    cJSON *items = cJSON_GetObjectItem(j, "items"), *it;
    cr_assert_eq(cJSON_GetArraySize(items), 5);
    double prev = 1e30;
    int rank = 1;
    cJSON_ArrayForEach(it, items) {
        cr_assert_eq(cJSON_GetObjectItem(it, "rank")->valueint, rank++);
        int32_t id = sd_catalog_find(g_cat, cJSON_GetObjectItem(it, "ext_id")->valuestring);
        cr_assert(id >= 0 && id != 3 && id != 10 && id != 42);
        cr_assert_str_eq(cJSON_GetObjectItem(it, "title")->valuestring, g_cat->items[id].title);
        cr_assert(cJSON_IsString(cJSON_GetObjectItem(it, "sid")) && cJSON_IsObject(cJSON_GetObjectItem(it, "attrs")));
        double sc = cJSON_GetObjectItem(it, "score")->valuedouble;
        cr_assert(sc <= prev && sc < 0);
        prev = sc;
    }
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"history\": [\"%s\", \"no-such-item\"]}", h0);
    j = req_json(&s, "POST", "/v1/recommend", KEY_HDR, body, 422);
    cr_assert(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring, "no-such-item"));
    cJSON_Delete(j);
    want_error(&s, "POST", "/v1/recommend", KEY_HDR, "{\"prompt\": \"x\", \"k\": 0}", 400, "k");
    want_error(&s, "POST", "/v1/recommend", KEY_HDR, "{}", 400, "history");
    want_error(&s, "POST", "/v1/recommend", KEY_HDR, "{\"history\": \"a\"}", 400, "history");

    /* items */
    char path[600];
    snprintf(path, sizeof path, "/v1/items/%s", h0);
    j = req_json(&s, "GET", path, KEY_HDR, NULL, 200);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "title")->valuestring, g_cat->items[3].title);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "description")->valuestring, g_cat->items[3].description);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "categories")) && cJSON_IsArray(cJSON_GetObjectItem(j, "features")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "attrs")) && cJSON_IsString(cJSON_GetObjectItem(j, "sid")));
    cJSON_Delete(j);
    want_error(&s, "GET", "/v1/items/no-such-item", KEY_HDR, NULL, 404, NULL);
    char word[64];
    sscanf(g_cat->items[3].title, "%63s", word);
    snprintf(path, sizeof path, "/v1/items?q=%s&limit=3", word);
    j = req_json(&s, "GET", path, KEY_HDR, NULL, 200);
    items = cJSON_GetObjectItem(j, "items");
    cr_assert(cJSON_GetArraySize(items) >= 1 && cJSON_GetArraySize(items) <= 3);
    cJSON_ArrayForEach(it, items) cr_assert(strstr(cJSON_GetObjectItem(it, "title")->valuestring, word));
    cJSON_Delete(j);
    want_error(&s, "GET", "/v1/items?q=a&limit=0", KEY_HDR, NULL, 400, "limit");

    /* errors */
    const char *msg = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    char bad[512];
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, "{\"messages\": [", 400, NULL);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, "[1]", 400, NULL);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, "{\"messages\": 3}", 400, "messages");
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, "{\"messages\": []}", 400, "messages");
    snprintf(bad, sizeof bad, "{%s, \"temperature\": \"hot\"}", msg);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, bad, 400, "temperature");
    snprintf(bad, sizeof bad, "{%s, \"n\": 2}", msg);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, bad, 400, "n");
    snprintf(bad, sizeof bad, "{%s, \"max_tokens\": 0}", msg);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, bad, 400, "max_tokens");
    snprintf(bad, sizeof bad, "{%s, \"stop\": 5}", msg);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, bad, 400, "stop");
    snprintf(bad, sizeof bad, "{%s, \"stream\": \"yes\"}", msg);
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, bad, 400, "stream");
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR,
               "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", 400, "messages");
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR,
               "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}", 400, NULL);
    want_error(&s, "POST", "/v1/chat/completions", "Authorization: Bearer nope\r\n", bad, 401, NULL);
    want_error(&s, "GET", "/v1/chat/completions", KEY_HDR, NULL, 405, NULL);
    want_error(&s, "GET", "/v2/nothing", KEY_HDR, NULL, 404, NULL);
    size_t big = (1 << 20) + 100;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = 0;
    huge[0] = '{';
    want_error(&s, "POST", "/v1/chat/completions", KEY_HDR, huge, 413, NULL);
    free(huge);

    /* the web page and the report */
    cr_assert_eq(req(&s, "GET", "/", NULL, NULL, &r), 200);
    cr_assert(sd_http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/html"));
    sd_http_resp_free(&r);
    j = req_json(&s, "GET", "/report", NULL, NULL, 404);
    cr_assert(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring, "semid report"));
    cJSON_Delete(j);
    char rp[400];
    snprintf(rp, sizeof rp, "%s/report.html", g_work);
    FILE *f = fopen(rp, "w");
    fputs("<html>the report</html>", f);
    fclose(f);
    cr_assert_eq(req(&s, "GET", "/report", NULL, NULL, &r), 200);
    cr_assert(strstr(r.body, "the report"));
    sd_http_resp_free(&r);
    /* metrics */
    cr_assert_eq(req(&s, "GET", "/metrics", KEY_HDR, NULL, &r), 200);
    cr_assert(strstr(r.body, "semid_requests_total{route=\"chat_completions\",code=\"200\"}"), "%s", r.body);
    cr_assert(strstr(r.body, "semid_requests_total{route=\"chat_completions\",code=\"413\"} 1"), "%s", r.body);
    cr_assert(strstr(r.body, "semid_request_duration_seconds_bucket{route=\"recommend\",le=\"+Inf\"}"));
    cr_assert(strstr(r.body, "semid_tokens_generated_total ") && strstr(r.body, "semid_prompt_tokens_total "));
    cr_assert(strstr(r.body, "semid_queue_depth 0"));
    sd_http_resp_free(&r);
    srv_stop(&s);
}

/* A full queue answers 503 with Retry-After; a request still queued when its time is up, 504; the
 * running one is cut (a slow model: each step takes 1.5 s). */
typedef struct lim { srv *s; int status; char body[2048]; } lim;

static void *lim_main(void *p) {
    lim *a = p;
    char *b = chat_body("Recommend me a game", 50, 0, -1, false);
    sd_http_resp r;
    if (sd_http_request(a->s->port, "POST", "/v1/chat/completions", NULL, b, strlen(b), 120, &r) == 0) {
        a->status = r.status;
        snprintf(a->body, sizeof a->body, "%s", r.body);
        char ra[32];
        if (r.status == 503) cr_assert(sd_http_header(&r, "Retry-After", ra, sizeof ra));
    }
    sd_http_resp_free(&r);
    free(b);
    return NULL;
}

Test(serve, queue_full_and_timeouts, .timeout = 600) {
    setup_work();
    srv s;
    srv_start(&s, "SEMID_SERVE_STEP_DELAY_MS=1500", "--slots 1 --queue 1 --timeout 0.6");
    lim a[3] = {{.s = &s}, {.s = &s}, {.s = &s}};
    pthread_t t[3];
    /* each request is sent once the server has taken the one before: the first into the slot,
     * the second into the queue (polling the gauges, so a loaded machine does not reorder them) */
    const char *gauge[2] = {"semid_slots_busy ", "semid_queue_depth "};
    for (int i = 0; i < 3; i++) {
        pthread_create(&t[i], NULL, lim_main, &a[i]);
        for (int k = 0; i < 2 && k < 400 && metric(&s, gauge[i]) < 1; k++) usleep(5 * 1000);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    cr_assert_eq(a[0].status, 200, "%s", a[0].body);
    cr_assert_eq(a[1].status, 504, "%s", a[1].body);
    cr_assert_eq(a[2].status, 503, "%s", a[2].body);
    cJSON *j = cJSON_Parse(a[0].body);
    const char *fr = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "finish_reason")
                         ->valuestring;
    cr_assert(!strcmp(fr, "length") || !strcmp(fr, "stop"), "%s", fr);
    cJSON_Delete(j);
    srv_stop(&s);
}

/* 10,000 malformed requests: each a 4xx, the server alive, its memory bounded; clients that hang
 * up mid-stream or mid-request leave no slot behind. */
Test(serve, malformed_barrage, .timeout = 900) {
    setup_work();
    srv s;
    srv_start(&s, NULL, "--api-key sk-test --slots 2 --max-body-kb 64");
    const char *ext = g_cat->items[0].ext_id;
    char unknown[256], okbody[256];
    snprintf(unknown, sizeof unknown, "{\"history\": [\"%s\", \"zz-nope\"]}", ext);
    snprintf(okbody, sizeof okbody, "{\"history\": [\"%s\"], \"k\": 2}", ext);
    char *huge = malloc(200000);
    memset(huge, 'x', 199999);
    huge[199999] = 0;
    huge[0] = '{';
    const char *bodies[] = {"{", "nul", "{\"messages\": [{\"role\": 1}]}", "{\"messages\": [{}]}",
                            "{\"messages\": \"hi\"}", "{\"messages\": [{\"role\": \"user\", \"content\": 7}]}",
                            "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"top_p\": 9}",
                            "{\"messages\": [{\"role\": \"user\", \"content\": \"\xed\xa0\x80\"}]}",
                            "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}", "[[[[[[[[[[", "\"str\"",
                            "{\"history\": [1.5]}", "{\"history\": [], \"prompt\": 3}", "{\"k\": \"ten\"}",
                            unknown, huge, ""};
    int nb = (int)(sizeof bodies / sizeof *bodies);
    long rss0 = 0;
    int n_ok = 0;
    for (int i = 0; i < 10000; i++) {
        if (i == 500) rss0 = vm_rss_kb(s.pid);
        int kind = i % (nb + 4);
        sd_http_resp r;
        if (kind < nb) {
            const char *path = (i / (nb + 4)) % 2 ? "/v1/recommend" : "/v1/chat/completions";
            if (bodies[kind] == unknown) path = "/v1/recommend";
            int rc = sd_http_request(s.port, "POST", path, KEY_HDR, bodies[kind], strlen(bodies[kind]), 60, &r);
            cr_assert_eq(rc, 0, "request %d: no answer", i);
            cr_assert(r.status >= 400 && r.status < 500, "request %d (%s): %d %s", i, bodies[kind], r.status, r.body);
            sd_http_resp_free(&r);
        } else if (kind == nb) { /* wrong key */
            cr_assert_eq(sd_http_request(s.port, "POST", "/v1/recommend", "Authorization: Bearer x\r\n", okbody,
                                         strlen(okbody), 60, &r), 0);
            cr_assert_eq(r.status, 401);
            sd_http_resp_free(&r);
        } else if (kind == nb + 1) { /* unknown route, wrong method */
            cr_assert_eq(sd_http_request(s.port, i % 2 ? "DELETE" : "GET", i % 2 ? "/v1/models" : "/v1/nope%00x", KEY_HDR,
                                         NULL, 0, 60, &r), 0);
            cr_assert(r.status == 405 || r.status == 404, "%d", r.status);
            sd_http_resp_free(&r);
        } else if (kind == nb + 2) { /* half-sent: the head and part of the body, then gone */
            int fd = sd_http_connect(s.port, 5);
            cr_assert(fd >= 0);
            const char *h = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                            "Authorization: Bearer sk-test\r\n\r\n{\"messages\": [";
            send(fd, h, strlen(h) - (size_t)(i % 30), MSG_NOSIGNAL);
            close(fd);
        } else { /* a stream the client leaves after its first bytes, every 40th; else a good request */
            if (i % 160 == nb + 3) {
                int fd = sd_http_connect(s.port, 10);
                char *b = chat_body("Recommend me a game", 200, 1.0, i, true);
                char head[512];
                snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                         "Authorization: Bearer sk-test\r\n\r\n", strlen(b));
                send(fd, head, strlen(head), MSG_NOSIGNAL);
                send(fd, b, strlen(b), MSG_NOSIGNAL);
                char buf[64];
                recv(fd, buf, sizeof buf, 0);
                close(fd);
                free(b);
            } else {
                cr_assert_eq(sd_http_request(s.port, "GET", "/v1/items?q=the&limit=5", KEY_HDR, NULL, 0, 60, &r), 0);
                cr_assert_eq(r.status, 200);
                n_ok++;
                sd_http_resp_free(&r);
            }
        }
    }
    free(huge);
    cr_assert(n_ok > 0);
    /* alive, slots free again (within 30 s), memory bounded */
    long busy = -1;
    for (int t = 0; t < 300 && busy != 0; t++) {
        busy = metric(&s, "semid_slots_busy ");
        if (busy) usleep(100 * 1000);
    }
    cr_assert_eq(busy, 0, "slots still busy after clients left");
    cJSON *j = req_json(&s, "POST", "/v1/recommend", KEY_HDR, okbody, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 2);
    cJSON_Delete(j);
    long rss1 = vm_rss_kb(s.pid);
#ifdef SD_ASAN
    long allow = 400 * 1024; /* ASan's quarantine holds freed memory */
#else
    long allow = 32 * 1024;
#endif
    fprintf(stderr, "serve barrage: 10000 requests, %d good ones among them; VmRSS %ld kB after 500, %ld kB after all\n",
            n_ok, rss0, rss1);
    cr_assert(rss0 > 0 && rss1 - rss0 < allow, "resident memory grew from %ld kB to %ld kB", rss0, rss1);
    srv_stop(&s);
}

/* 8 clients for 5 s against the small model: no request fails. */
Test(serve, load, .timeout = 600) {
    setup_work();
    srv s;
    srv_start(&s, NULL, "--slots 8");
    char *b = chat_body("Recommend me a game", 16, 0.7, 5, false);
    sd_load_result lr;
    sd_http_load(s.port, "/v1/chat/completions", NULL, b, 8, 5.0, &lr);
    free(b);
    fprintf(stderr, "serve load: 8 clients, %.1f s: %ld ok, %ld failed, %.1f requests/s, %.0f tokens/s, p50 %.0f ms, "
                    "p99 %.0f ms\n", lr.seconds, lr.ok, lr.failed, lr.ok / lr.seconds, lr.tokens / lr.seconds,
            lr.p50 * 1e3, lr.p99 * 1e3);
    cr_assert_eq(lr.failed, 0);
    cr_assert(lr.ok >= 8, "%ld requests in 5 s", lr.ok);
    srv_stop(&s);
}

/* The openai npm client (tests/js/openai_client.js): a chat, a stream, the errors as its classes. */
Test(serve, openai_node_client, .timeout = 600) {
    char js[1024], mod[1200];
    snprintf(js, sizeof js, "%s/../js", sd_test_fixtures());
    snprintf(mod, sizeof mod, "%s/node_modules/openai/package.json", js);
    if (!sd_exists(mod)) {
        cr_skip_test("tests/js/node_modules/openai missing: run scripts/install-deps.sh (npm ci in tests/js)");
        return;
    }
    setup_work();
    srv s;
    srv_start(&s, NULL, "--api-key sk-test --slots 4");
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "node %s/openai_client.js http://127.0.0.1:%d sk-test %s", js, s.port,
             g_cat->items[5].ext_id);
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "openai client: ok"), "%s", out);
    free(out);
    srv_stop(&s);
}

/* A client that leaves mid-stream frees its slot: with one slot and a slow model (0.3 s a step),
 * a long stream left after its first chunk must not keep the next request waiting. */
Test(serve, client_gone_frees_its_slot, .timeout = 600) {
    setup_work();
    srv s;
    srv_start(&s, "SEMID_SERVE_STEP_DELAY_MS=300", "--slots 1 --max-tokens 2000");
    /* a streamed and then a whole-answer request whose client leaves while it runs */
    for (int stream = 1; stream >= 0; stream--) {
        int fd = sd_http_connect(s.port, 30);
        cr_assert(fd >= 0);
        char *b = chat_body("Recommend me a game", 2000, 0.7, 5, stream);
        char head[512];
        snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                 strlen(b));
        send(fd, head, strlen(head), MSG_NOSIGNAL);
        send(fd, b, strlen(b), MSG_NOSIGNAL);
        free(b);
        if (stream) {
            char buf[256];
            cr_assert(recv(fd, buf, sizeof buf, 0) > 0, "the stream started");
        } else {
            for (int i = 0; i < 100 && metric(&s, "semid_slots_busy ") != 1; i++) usleep(50 * 1000);
        }
        cr_assert_eq(metric(&s, "semid_slots_busy "), 1);
        close(fd);
        double t0 = sd_now();
        b = chat_body("Recommend me a game", 2, 0, -1, false);
        sd_http_resp r;
        cr_assert_eq(req(&s, "POST", "/v1/chat/completions", NULL, b, &r), 200, "%s", r.body);
        free(b);
        sd_http_resp_free(&r);
        double dt = sd_now() - t0;
        cr_assert(dt < 20, "the next request waited %.1f s for the slot of a %s client that left", dt,
                  stream ? "streaming" : "non-streaming");
    }
    srv_stop(&s);
}
