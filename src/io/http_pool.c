/* curl multi driver for sd_http_post_all (io/http_pool.h). */
#include "io/http_pool.h"
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "base/mem.h"

typedef struct pending { size_t job; int attempt; double ready; char *body; size_t len; } pending;

typedef struct slot {
    CURL *h;
    bool busy;
    pending p;
    char *resp; size_t n_resp, cap_resp;
    char errbuf[CURL_ERROR_SIZE];
} slot;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    slot *s = ud;
    size_t k = sz * n;
    /* an answer larger than this is not one item's attributes: stop reading it */
    if (s->n_resp + k > (8u << 20)) return 0;
    SD_GROW(s->resp, s->cap_resp, s->n_resp + k + 1);
    memcpy(s->resp + s->n_resp, p, k);
    s->n_resp += k;
    s->resp[s->n_resp] = 0;
    return k;
}

char *sd_chat_completions_url(const char *url) {
    if (!url || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))) return NULL;
    const char *host = strstr(url, "://") + 3;
    if (!*host || *host == '/') return NULL;
    if (strchr(host, '?')) return sd_xstrdup(url); /* a query (Azure's api-version): the full URL already */
    size_t n = strlen(url);
    while (n && url[n - 1] == '/') n--;
    static const char full[] = "/chat/completions", v1[] = "/v1";
    const char *tail = "/v1/chat/completions";
    if (n >= sizeof full - 1 && !strncmp(url + n - (sizeof full - 1), full, sizeof full - 1)) tail = "";
    else if (n >= sizeof v1 - 1 && !strncmp(url + n - (sizeof v1 - 1), v1, sizeof v1 - 1)) tail = full;
    size_t cap = n + strlen(tail) + 1;
    char *o = sd_xmalloc(cap);
    snprintf(o, cap, "%.*s%s", (int)n, url, tail);
    return o;
}

/* Retrying can mend these; any other failure is final. */
static bool retryable_status(long st) { return st == 408 || st == 429 || st >= 500; }
static bool fatal_status(long st) { return st == 401 || st == 403 || st == 404 || st == 405; }

static bool loopback(const char *url) {
    const char *h = strstr(url, "://");
    if (!h) return false;
    h += 3;
    return !strncmp(h, "127.", 4) || !strncasecmp(h, "localhost", 9) || !strncmp(h, "[::1]", 5);
}

static void start(CURLM *m, slot *s, const sd_http_opts *o, struct curl_slist *hdr) {
    curl_easy_reset(s->h);
    s->n_resp = 0;
    if (s->resp) s->resp[0] = 0;
    s->errbuf[0] = 0;
    curl_easy_setopt(s->h, CURLOPT_URL, o->url);
    curl_easy_setopt(s->h, CURLOPT_POST, 1L);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->p.body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->p.len);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* a proxy set for the internet must not swallow a model served on this machine */
    if (loopback(o->url)) curl_easy_setopt(s->h, CURLOPT_PROXY, "");
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    curl_multi_add_handle(m, s->h);
    s->busy = true;
}

int sd_http_post_all(const sd_http_opts *o, size_t n_jobs, sd_http_body_fn body, sd_http_done_fn done, void *ctx,
                     sd_http_stats *stats, sd_err *err) {
    sd_http_stats st_local;
    sd_http_stats *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    if (n_jobs == 0) return 0;
    if (o->parallel < 1 || o->retries < 0 || o->timeout_ms < 1)
        return sd_errf(err, SD_EUSAGE, "http: parallel must be >= 1, retries >= 0, timeout > 0");
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return sd_errf(err, SD_EIO, "http: libcurl failed to initialise");
    CURLM *m = curl_multi_init();
    int n_slots = (size_t)o->parallel < n_jobs ? o->parallel : (int)n_jobs;
    slot *slots = sd_xcalloc((size_t)n_slots, sizeof *slots);
    for (int i = 0; i < n_slots; i++) slots[i].h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip for small bodies */
    if (o->api_key && o->api_key[0]) {
        size_t l = strlen(o->api_key) + 32;
        char *a = sd_xmalloc(l);
        snprintf(a, l, "Authorization: Bearer %s", o->api_key);
        hdr = curl_slist_append(hdr, a);
        free(a);
    }
    pending *retry = NULL;   /* waiting out a backoff */
    size_t n_retry = 0, cap_retry = 0, next_job = 0;
    int active = 0, rc = 0;
    while (!rc && (next_job < n_jobs || n_retry || active)) {
        double t = now_ms();
        for (int i = 0; i < n_slots; i++) {
            if (slots[i].busy) continue;
            size_t pick = n_retry;
            for (size_t r = 0; r < n_retry; r++)
                if (retry[r].ready <= t && (pick == n_retry || retry[r].ready < retry[pick].ready)) pick = r;
            if (pick < n_retry) {
                slots[i].p = retry[pick];
                retry[pick] = retry[--n_retry];
            } else if (next_job < n_jobs) {
                slots[i].p = (pending){.job = next_job};
                slots[i].p.body = body(ctx, next_job, &slots[i].p.len);
                next_job++;
            } else {
                break;
            }
            start(m, &slots[i], o, hdr);
            st->requests++;
            active++;
        }
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while (!rc && (msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode cc = msg->data.result;
            long status = 0;
            curl_off_t retry_after = 0;
            curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &retry_after);
            curl_multi_remove_handle(m, s->h);
            s->busy = false;
            active--;
            bool timeout = cc == CURLE_OPERATION_TIMEDOUT;
            bool unreachable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                               cc == CURLE_COULDNT_RESOLVE_PROXY;
            st->timeouts += timeout;
            if (cc == CURLE_OK && status >= 400) st->http_errors++;
            bool again = cc != CURLE_OK ? cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_URL_MALFORMAT
                                        : retryable_status(status);
            if (cc == CURLE_OK && fatal_status(status)) {
                rc = sd_errf(err, SD_EIO, "%s: HTTP %ld (wrong URL or API key?)%s%.200s", o->url, status,
                             s->n_resp ? ": " : "", s->n_resp ? s->resp : "");
                free(s->p.body);
            } else if (again && s->p.attempt < o->retries) {
                double wait = (double)o->backoff_ms;
                for (int k = 0; k < s->p.attempt && wait < (double)o->backoff_max_ms; k++) wait *= 2;
                if (status == 429 && retry_after > 0) wait = (double)retry_after * 1e3;
                if (wait > (double)o->backoff_max_ms) wait = (double)o->backoff_max_ms;
                s->p.attempt++;
                s->p.ready = now_ms() + wait;
                SD_GROW(retry, cap_retry, n_retry + 1);
                retry[n_retry++] = s->p;
                st->retries++;
            } else if (cc != CURLE_OK && unreachable) {
                rc = sd_errf(err, SD_EIO, "%s: cannot reach the server (%s) after %d attempt%s", o->url,
                             s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc), s->p.attempt + 1,
                             s->p.attempt ? "s" : "");
                free(s->p.body);
            } else if (cc != CURLE_OK) {
                char m2[CURL_ERROR_SIZE + 64];
                snprintf(m2, sizeof m2, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
                st->failed++;
                rc = done(ctx, s->p.job, 0, m2, strlen(m2), err);
                free(s->p.body);
            } else {
                if (status >= 200 && status < 300) st->ok++;
                else st->failed++;
                rc = done(ctx, s->p.job, status, s->resp ? s->resp : "", s->n_resp, err);
                free(s->p.body);
            }
        }
        if (rc) break;
        /* wait for sockets, but not past the next retry's time */
        int wait_ms = 100;
        double t2 = now_ms();
        for (size_t r = 0; r < n_retry; r++) {
            double d = retry[r].ready - t2;
            if (d < wait_ms) wait_ms = d < 0 ? 0 : (int)d + 1;
        }
        if (active) curl_multi_poll(m, NULL, 0, wait_ms, NULL);
        else if (n_retry && wait_ms > 0) {
            struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < n_slots; i++) {
        if (slots[i].busy) { curl_multi_remove_handle(m, slots[i].h); free(slots[i].p.body); }
        curl_easy_cleanup(slots[i].h);
        free(slots[i].resp);
    }
    for (size_t r = 0; r < n_retry; r++) free(retry[r].body);
    free(retry);
    free(slots);
    curl_slist_free_all(hdr);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return rc;
}
