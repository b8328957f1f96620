/* semid serve: the fine-tuned recommender behind an OpenAI-compatible HTTP API (serve/server.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/model_registry.h"
#include "data/workdir.h"
#include "serve/server.h"

/* The last path component of dir, without trailing slashes (malloc'd). */
static char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    return sd_xstrndup(dir + b, n - b);
}

static int run(int argc, char **argv) {
    sd_server_cfg cfg;
    sd_server_cfg_default(&cfg);
    const char *model = NULL, *name = NULL, *sids = NULL, *key = NULL, *host = cfg.host;
    int port = cfg.port, slots = cfg.slots, queue = cfg.queue, max_tokens = cfg.max_tokens, ctx = cfg.ctx;
    int max_body_kb = (int)(cfg.max_body >> 10);
    double timeout = cfg.timeout_s, grace = 30;
    sd_opt opts[] = {
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "the fine-tuned model folder (default WORK/lm)"},
        {.name = "model-name", .type = SD_OPT_STR, .ptr = &name, .metavar = "NAME",
         .help = "the model's id in /v1/models and in answers (default: the model folder's name)"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids, .metavar = "PREFIX",
         .help = "the semantic IDs of WORK/PREFIXsids.tsv (default WORK/sids.tsv)"},
        {.name = "host", .type = SD_OPT_STR, .ptr = &host, .metavar = "ADDR",
         .help = "address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)"},
        {.name = "port", .type = SD_OPT_INT, .ptr = &port, .metavar = "N",
         .help = "TCP port (default 8080; 0 picks a free one, printed on the startup line)"},
        {.name = "api-key", .type = SD_OPT_STR, .ptr = &key, .metavar = "KEY",
         .help = "require 'Authorization: Bearer KEY' on /v1/* and /metrics (default: $SEMID_API_KEY, or none)"},
        {.name = "slots", .type = SD_OPT_INT, .ptr = &slots, .metavar = "N",
         .help = "chat replies decoded together (continuous batching; default 8)"},
        {.name = "queue", .type = SD_OPT_INT, .ptr = &queue, .metavar = "N",
         .help = "requests waiting for the model at most; more are answered 503 (default 64)"},
        {.name = "timeout", .type = SD_OPT_DOUBLE, .ptr = &timeout, .metavar = "S",
         .help = "seconds per request (default 300): still queued -> 504; running -> cut, finish_reason "
                 "\"length\""},
        {.name = "max-tokens", .type = SD_OPT_INT, .ptr = &max_tokens, .metavar = "N",
         .help = "cap on a reply's new tokens, and the default (default 512)"},
        {.name = "ctx", .type = SD_OPT_INT, .ptr = &ctx, .metavar = "N",
         .help = "positions per slot, prompt and reply (default 2048; the KV cache holds slots x N)"},
        {.name = "max-body-kb", .type = SD_OPT_INT, .ptr = &max_body_kb, .metavar = "KB",
         .help = "request body limit in KiB; larger ones get 413 (default 1024)"},
        {.name = "grace", .type = SD_OPT_DOUBLE, .ptr = &grace, .metavar = "S",
         .help = "on SIGINT/SIGTERM, seconds to let running requests finish before cancelling them (default 30)"},
        {0},
    };
    sd_usage u = {.usage = "semid serve WORK [--model DIR] [--host ADDR] [--port N] [--api-key KEY] [options]",
                  .about = "Serves the fine-tuned model of WORK over HTTP with OpenAI's chat completions API "
                           "(POST /v1/chat/completions, streaming included; the answer names items by their "
                           "catalogue titles and lists them in an extra 'items' field), plus POST /v1/recommend "
                           "(beam search top-K), GET /v1/items?q=, GET /v1/items/{ext_id}, GET /v1/models, "
                           "GET /healthz, GET /metrics (Prometheus), GET / (web page) and GET /report. One "
                           "thread owns the model and decodes queued requests together. Stops on SIGINT or "
                           "SIGTERM after the running requests finish. --verbose logs each request on stderr.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) { free(pos); return rc == 1 ? 0 : sd_cmd_error(&err); }
    const char *dir = pos[0];
    free(pos);
    if (!key) key = getenv("SEMID_API_KEY");
    if (key && !*key) key = NULL;
    if (port < 0 || port > 65535 || slots < 1 || slots > 512 || queue < 1 || max_tokens < 1 || ctx < 16 ||
        !(timeout > 0) || max_body_kb < 1 || !(grace >= 0))
        return sd_cmd_error(&(sd_err){.code = SD_EUSAGE,
                                      .msg = "serve: need --port in [0, 65535], --slots in [1, 512], --queue, "
                                             "--max-tokens, --max-body-kb >= 1, --ctx >= 16, --timeout > 0, "
                                             "--grace >= 0"});

    /* the signals are taken by sigwait below; every thread started from here inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    sd_lock lk = {.fd = -1};
    sd_work w;
    if ((rc = sd_lock_output_shared(&lk, dir, &err))) return sd_cmd_error(&err);
    if ((rc = sd_work_load(&w, dir, &err))) { sd_unlock(&lk); return sd_cmd_error(&err); }
    char *mdir = model ? sd_xstrdup(model) : sd_work_path(&w, "lm"), *sp = NULL;
    char *mname = name ? sd_xstrdup(name) : base_name(mdir);
    sd_server *srv = NULL;
    if (!(rc = sd_sids_path(&w, sids ? sids : "", "serve: --sids", SD_EUSAGE, &sp, &err))) {
        cfg.work = &w;
        cfg.model_dir = mdir;
        cfg.model_name = mname;
        cfg.sids_path = sp;
        cfg.host = host;
        cfg.port = port;
        cfg.api_key = key;
        cfg.slots = slots;
        cfg.queue = queue;
        cfg.timeout_s = timeout;
        cfg.max_tokens = max_tokens;
        cfg.ctx = ctx;
        cfg.max_body = (size_t)max_body_kb << 10;
        cfg.quiet = sd_quiet;
        rc = sd_server_start(&srv, &cfg, &err);
    }
    if (!rc) {
        const char *shown = strchr(host, ':') ? "[%s]" : "%s";
        char h[300];
        snprintf(h, sizeof h, shown, host);
        /* always printed: with --port 0 it is the only way to learn the port */
        fprintf(stderr, "semid serve: listening on http://%s:%d/ (model %s, %d slots%s)\n", h, sd_server_port(srv),
                mname, slots, key ? ", API key required" : "");
        fflush(stderr);
        int sig = 0;
        sigwait(&sigs, &sig);
        if (!sd_quiet) fprintf(stderr, "semid serve: %s: finishing running requests, then stopping\n",
                               sig == SIGINT ? "SIGINT" : "SIGTERM");
        sd_server_stop(srv, grace);
        if (!sd_quiet) fprintf(stderr, "semid serve: stopped\n");
    }
    free(mdir);
    free(mname);
    free(sp);
    sd_work_free(&w);
    sd_unlock(&lk);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(serve, "serve", "serve the fine-tuned model over an OpenAI-compatible HTTP API", run)
