/* `semid serve` under load: a small store with a briefly trained model (synth, embed, ids, lmdata,
 * 12 finetune steps), the server on a free port, then 1, 4 and 16 concurrent clients each sending
 * chat completions in a loop for BENCH_SERVE_SECONDS (30) seconds: requests/s, generated tokens/s,
 * p50/p99 latency and failed requests. The baseline measured in the same run is the same load
 * against --slots 1 (no batching): the gain of continuous batching at 4 and 16 clients.
 * Usage: bench_serve [seconds] [WORK] (semid from $SEMID_BIN, default ./semid); with WORK, its model
 * (WORK/lm, e.g. the demo's) is served instead of the small one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/file.h"
#include "serve/http_client.h"

static const char *bin(void) { const char *s = getenv("SEMID_BIN"); return s ? s : "./semid"; }

static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd)) { fprintf(stderr, "bench_serve: failed: %s\n", cmd); exit(1); }
}

static pid_t start(const char *work, const char *args, const char *log, int *port) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec env OMP_WAIT_POLICY=passive %s serve %s --port 0 %s 2>%s", bin(), work, args, log);
    pid_t pid = fork();
    if (pid == 0) { execl("/bin/sh", "sh", "-c", cmd, (char *)NULL); _exit(127); }
    *port = 0;
    for (int i = 0; i < 600 && !*port; i++) {
        char *t = NULL;
        size_t n;
        if (!sd_read_file(log, &t, &n, NULL)) {
            const char *p = strstr(t, "listening on http://127.0.0.1:");
            if (p) *port = atoi(p + 30);
            free(t);
        }
        if (!*port) usleep(100000);
    }
    if (!*port) { fprintf(stderr, "bench_serve: the server did not start (%s)\n", log); exit(1); }
    return pid;
}

static void stop(pid_t pid) {
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : getenv("BENCH_SERVE_SECONDS") ? atof(getenv("BENCH_SERVE_SECONDS")) : 30;
    char tmp[] = "/tmp/bench_serve_XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    char work[300], log[300];
    if (argc > 2) {
        snprintf(work, sizeof work, "%s", argv[2]);
    } else {
        snprintf(work, sizeof work, "%s/w", tmp);
        fprintf(stderr, "bench_serve: building a small work dir in %s\n", work);
        sh("%s synth -o %s --items 200 --users 300 --quiet", bin(), work);
        sh("%s embed %s --quiet", bin(), work);
        sh("%s ids %s --quiet", bin(), work);
        sh("%s lmdata %s --max-per-task 150 --quiet >/dev/null", bin(), work);
        sh("%s finetune %s --steps 12 --eval-every 0 --quiet", bin(), work);
    }
    printf("model: %s/lm\n", work);
    const char *body = "{\"model\":\"lm\",\"messages\":[{\"role\":\"user\",\"content\":\"I like Racing games for PC. <|rec|>\"}],"
                       "\"temperature\":0.7,\"max_tokens\":64,\"seed\":5}";
    const int clients[3] = {1, 4, 16};
    double tps[2][3], rps[2];
    char first_ext[128] = "";
    {
        char p[400], *t;
        size_t n;
        snprintf(p, sizeof p, "%s/items.jsonl", work);
        if (!sd_read_file(p, &t, &n, NULL)) {
            const char *e = strstr(t, "\"ext_id\":");
            if (e) sscanf(e + 9, " \"%127[^\"]", first_ext);
            free(t);
        }
    }
    printf("| slots | clients | requests | failed | requests/s | tokens/s | p50 ms | p99 ms |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int cfg = 0; cfg < 2; cfg++) {
        int port;
        snprintf(log, sizeof log, "%s/serve-%d.log", tmp, cfg);
        pid_t pid = start(work, cfg == 0 ? "--slots 16" : "--slots 1", log, &port);
        for (int c = 0; c < 3; c++) {
            sd_load_result r;
            sd_http_load(port, "/v1/chat/completions", NULL, body, clients[c], secs, &r);
            tps[cfg][c] = r.tokens / r.seconds;
            printf("| %d | %d | %ld | %ld | %.1f | %.0f | %.0f | %.0f |\n", cfg == 0 ? 16 : 1, clients[c], r.ok,
                   r.failed, r.ok / r.seconds, tps[cfg][c], r.p50 * 1e3, r.p99 * 1e3);
            fflush(stdout);
        }
        /* beam search: the owner batches queued recommend requests of equal k together */
        char rb[512];
        snprintf(rb, sizeof rb, "{\"history\": [\"%s\"], \"prompt\": \"for PC\", \"k\": 10}", first_ext);
        sd_load_result r;
        sd_http_load(port, "/v1/recommend", NULL, rb, 16, secs, &r);
        rps[cfg] = r.ok / r.seconds;
        printf("| %d | 16 (recommend) | %ld | %ld | %.1f | - | %.0f | %.0f |\n", cfg == 0 ? 16 : 1, r.ok, r.failed,
               rps[cfg], r.p50 * 1e3, r.p99 * 1e3);
        stop(pid);
    }
    printf("\nbatching gain (tokens/s, --slots 16 over --slots 1): 1 client %.2fx, 4 clients %.2fx, 16 clients "
           "%.2fx\n", tps[0][0] / tps[1][0], tps[0][1] / tps[1][1], tps[0][2] / tps[1][2]);
    sh("rm -rf %s%s", tmp, "");
    return 0;
}
