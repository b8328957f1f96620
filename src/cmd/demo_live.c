/* The demo's conversation and server stages (cmd/demo.c): a three-turn script for `semid chat`
 * written from the store's own titles, and `semid serve` started as a child process, asked once
 * on each kind of endpoint through its HTTP port, and stopped with SIGTERM. */
#include "cmd/demo_live.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/file.h"
#include "base/mem.h"
#include "data/workdir.h"
#include "serve/http_client.h"

int sd_demo_chat_script(const char *work, const char *path, sd_err *err) {
    sd_work w;
    int rc = sd_work_load(&w, work, err);
    if (rc) return rc;
    /* the first user's first item, and a platform other than its own (the synthetic titles end in
     * "- Platform") */
    const char *title = w.cat->n_items ? w.cat->items[0].title : "";
    if (w.seq.n_users > 0 && sd_seq_len(&w.seq, 0) > 0) title = w.cat->items[sd_seq_items(&w.seq, 0)[0]].title;
    const char *other = strstr(title, "- PC") ? "Nintendo Switch" : "PC";
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    fprintf(f, "I'm looking for games similar to %s. <|rec|>\n", title);
    fprintf(f, "How about something similar but for %s? <|rec|>\n", other);
    fprintf(f, "Suggest a bundle name for these\n");
    fclose(f);
    rc = sd_write_file_atomic(path, text, n, err);
    free(text);
    sd_work_free(&w);
    return rc;
}

/* Reads the child's stderr until its "listening on http://127.0.0.1:PORT/" line (60 s at most). */
static int wait_port(int fd) {
    char buf[4096];
    size_t len = 0;
    for (int i = 0; i < 600; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r > 0) {
            len += (size_t)r;
            buf[len] = 0;
            const char *p = strstr(buf, "http://127.0.0.1:");
            if (p && strchr(p, '/') && strchr(p + 17, '/')) return atoi(p + 17);
            if (len >= sizeof buf - 1) len = 0;
        } else if (r == 0) {
            return -1; /* the server exited */
        }
    }
    return -1;
}

static void show_items(const cJSON *items) {
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, items) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "title");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(it, "score");
        printf("  %d. %s (score %.2f)\n", ++i, cJSON_IsString(t) ? t->valuestring : "?",
               cJSON_IsNumber(sc) ? sc->valuedouble : 0.0);
    }
}

static int ask(int port, const char *path, const char *body, const char *what, sd_err *err) {
    sd_http_resp r = {0};
    if (sd_http_request(port, body ? "POST" : "GET", path, "Content-Type: application/json\r\n", body,
                        body ? strlen(body) : 0, 120, &r) || r.status != 200) {
        int st = r.status;
        sd_http_resp_free(&r);
        return sd_errf(err, SD_EIO, "demo: %s %s answered %d", body ? "POST" : "GET", path, st);
    }
    cJSON *j = cJSON_Parse(r.body);
    printf("%s %s -> 200\n", body ? "POST" : "GET", path);
    if (body) printf("  request: %s\n", body);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ch, 0), "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content)) printf("  content: %s\n", content->valuestring);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    if (cJSON_IsArray(items)) {
        printf("  %s:\n", what);
        show_items(items);
    }
    cJSON_Delete(j);
    sd_http_resp_free(&r);
    return 0;
}

int sd_demo_serve(const char *work, const char *self, int threads, sd_err *err) {
    int pfd[2];
    if (pipe(pfd)) return sd_errf(err, SD_EIO, "demo: pipe: %s", strerror(errno));
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    pid_t pid = fork();
    if (pid < 0) return sd_errf(err, SD_EIO, "demo: fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execl(self, self, "serve", work, "--port", "0", "--threads", th, "--quiet", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    int port = wait_port(pfd[0]);
    int rc = 0;
    if (port <= 0) rc = sd_errf(err, SD_EIO, "demo: semid serve %s did not start", work);
    if (!rc) {
        printf("semid serve %s: http://127.0.0.1:%d/ (the web page; API under /v1)\n", work, port);
        rc = ask(port, "/v1/chat/completions",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"I like Racing games for PC. <|rec|>\"}], "
                 "\"temperature\": 0, \"max_tokens\": 96}",
                 "items", err);
    }
    char body[512];
    if (!rc) {
        sd_work w;
        if (!(rc = sd_work_load(&w, work, err))) {
            snprintf(body, sizeof body, "{\"history\": [\"%s\"], \"prompt\": \"Similar, but for PC.\", \"k\": 5}",
                     w.cat->items[0].ext_id);
            sd_work_free(&w);
            rc = ask(port, "/v1/recommend", body, "ranked", err);
        }
    }
    if (!rc) rc = ask(port, "/healthz", NULL, "", err);
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    close(pfd[0]);
    if (!rc && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        rc = sd_errf(err, SD_EIO, "demo: semid serve did not stop cleanly (status %d)", st);
    return rc;
}
