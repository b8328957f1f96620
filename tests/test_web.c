/* The web page in a real browser: a small work directory with a briefly trained model, `semid
 * serve` on 127.0.0.1 (SERVER below; tests/js/mock_server.js serves the same page and API without a
 * model, for working on the page), then
 * tests/js/web_page.js drives Debian's chromium through it (chat, history, recommend, steer, errors)
 * and leaves screenshots in build/screenshots/. Skipped only when chromium is not installed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include "test_util.h"

#define CHROMIUM "/usr/bin/chromium"

/* The server under test, a shell command with {BIN} (the semid binary), {WORK} and {ROOT} (the
 * repository) filled in. It must listen on 127.0.0.1 and print "http://127.0.0.1:PORT" (stdout or
 * stderr) once it accepts connections. needs_model: the work directory gets a fine-tuned LM too.
 * The mock:  {"exec node {ROOT}/tests/js/mock_server.js {WORK} --port 0", false}  */
typedef struct {
    const char *cmd;
    bool needs_model;
} web_server;
static const web_server SERVER = {"exec {BIN} serve {WORK} --port 0 --quiet", true};

#define START_WAIT_S 180 /* a model may take a while to load */
#define PAGE_TIMEOUT_S 240

static char g_work[300], g_root[1024];

static void setup_work(bool needs_model) {
    char *out = NULL;
    sd_test_lm_work(g_work, sizeof g_work, 200, 300, needs_model ? "--max-per-task 150" : NULL,
                    "--steps 12 --eval-every 0 --threads 2");
    if (needs_model) {
        cr_assert_eq(sd_test_semid(&out, "report %s --quiet", g_work), 0, "%s", out); /* for /report */
        free(out);
        return;
    }
    /* the mock serves a hand-made report */
    char p[400];
    snprintf(p, sizeof p, "%s/report.html", g_work);
    FILE *f = fopen(p, "w");
    cr_assert(f, "%s", p);
    fputs("<!doctype html><html><head><meta charset=utf-8><title>semid report (test)</title></head>"
          "<body><h1>semid report</h1><p>Written by tests/test_web.c.</p></body></html>\n", f);
    cr_assert_eq(fclose(f), 0);
}

/* SERVER.cmd with its placeholders filled. */
static void server_cmd(char *dst, size_t n) {
    const char *keys[] = {"{BIN}", "{WORK}", "{ROOT}"};
    const char *vals[] = {sd_test_bin(), g_work, g_root};
    size_t o = 0;
    for (const char *s = SERVER.cmd; *s;) {
        size_t k = 0;
        while (k < 3 && strncmp(s, keys[k], strlen(keys[k]))) k++;
        const char *piece = k < 3 ? vals[k] : s;
        size_t len = k < 3 ? strlen(vals[k]) : 1;
        cr_assert(o + len < n, "server command too long");
        memcpy(dst + o, piece, len);
        o += len;
        s += k < 3 ? strlen(keys[k]) : 1;
    }
    dst[o] = 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Starts the server in its own process group with its output in log; fills url once it is listening. */
static pid_t start_server(const char *log, char *url, size_t n) {
    char cmd[8192];
    server_cmd(cmd, sizeof cmd);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    for (int i = 0; i < START_WAIT_S * 10; i++) {
        char *txt = slurp(log);
        const char *p = strstr(txt, "http://127.0.0.1:");
        if (p) {
            const char *d = p + strlen("http://127.0.0.1:");
            size_t nd = strspn(d, "0123456789");
            if (nd > 0 && d[nd] && nd < 6) { /* the whole port has been written */
                snprintf(url, n, "http://127.0.0.1:%.*s", (int)nd, d);
                free(txt);
                return pid;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            cr_assert_fail("the server (%s) exited before listening (status %d):\n%s", cmd, st, txt);
        }
        free(txt);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *txt = slurp(log);
    cr_assert_fail("the server (%s) did not print its address within %d s:\n%s", cmd, START_WAIT_S, txt);
    return -1;
}

static void stop_server(pid_t pid) {
    kill(-pid, SIGTERM);
    for (int i = 0; i < 50; i++) { /* 5 s to close, then it is killed */
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(web, page_in_chromium, .timeout = 600) {
    if (access(CHROMIUM, X_OK) != 0) cr_skip_test(CHROMIUM " missing: install Debian's chromium (scripts/install-deps.sh)");
    char rel[4200];
    snprintf(rel, sizeof rel, "%s/../..", sd_test_fixtures());
    char *root = realpath(rel, NULL);
    cr_assert(root && strlen(root) < sizeof g_root, "%s: %s", rel, root ? "path too long" : strerror(errno));
    strcpy(g_root, root);
    free(root);
    setup_work(SERVER.needs_model);

    char log[400], url[64];
    snprintf(log, sizeof log, "%s/server.log", g_work);
    pid_t pid = start_server(log, url, sizeof url);
    char *out = NULL, cmd[8000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && node tests/js/web_page.js --base %s --items '%s/items.jsonl' --shots '%s/build/screenshots'"
             " --timeout %d --chromium " CHROMIUM,
             g_root, url, g_work, g_root, PAGE_TIMEOUT_S);
    int rc = sd_test_run(cmd, &out);
    stop_server(pid);
    char *slog = slurp(log);
    cr_assert_eq(rc, 0, "web_page.js failed (exit %d):\n%s\n--- server log (%s) ---\n%s", rc, out, log, slog);
    cr_assert(strstr(out, "web_page: OK"), "%s", out);
    free(slog);
    free(out);
}
