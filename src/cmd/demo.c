/* `semid demo`: every pipeline stage that this build has, in order, on a fresh synthetic store.
 * Stages are the ordinary subcommands, called in-process with the arguments a user would type,
 * so the demo exercises exactly what users run. */
#include "cmd/cli.h"
#include "base/log.h"
#include "cmd/demo_live.h"
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --quick: a store this size and the stages' quick values run the whole demo in a few minutes */
#define QUICK_ITEMS "400"
#define QUICK_USERS "800"

typedef struct stage {
    const char *label;
    const char *command;
    const char *args[24]; /* after the command name; "@W" is replaced by the work directory, "@W/x" by WORK/x */
    /* --quick: these replace the values of the same options in args (a smoke run in minutes) */
    const char *quick[8];
    /* run before the command (writes what its args name), or in place of calling it */
    int (*prepare)(const char *work, sd_err *err);
    int (*instead)(const char *work, sd_err *err);
} stage;

static int chat_script(const char *work, sd_err *err) {
    char p[1024];
    snprintf(p, sizeof p, "%s/demo_chat.txt", work);
    return sd_demo_chat_script(work, p, err);
}

/* the server runs as a child process of this very binary */
static int serve_once(const char *work, sd_err *err) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return sd_errf(err, SD_EIO, "demo: cannot find the semid binary (/proc/self/exe)");
    self[n] = 0;
    return sd_demo_serve(work, self, sd_opt_threads, err);
}

static const stage STAGES[] = {
    {.label = "synthetic store", .command = "synth", .args = {"-o", "@W", NULL}},
    {.label = "statistics", .command = "stats", .args = {"@W", NULL}},
    {.label = "item embeddings", .command = "embed", .args = {"@W", NULL}},
    {.label = "semantic IDs (RQ-KMeans)", .command = "ids", .args = {"@W", "--method", "rqkmeans", NULL}},
    /* Beside RQ-KMeans under a prefix (WORK/rqvae_sids.tsv, ...): later stages keep reading the
     * RQ-KMeans WORK/sids.tsv. Demo-sized training: 20 epochs at a higher learning rate; far short
     * of the original's step count the validation loss keeps falling while items crowd onto fewer
     * prefixes, so the epoch with the most distinct prefixes is kept; a stronger commitment (beta 8)
     * and re-seeding every 20 steps slow that crowding (bench_rqvae, 66k x 1024, 6 epochs: 83% -> 89%). */
    {.label = "semantic IDs (RQ-VAE)", .command = "ids",
     .args = {"@W", "--method", "rqvae", "--epochs", "20", "--batch", "256", "--lr", "1e-3", "--standardize", "--beta",
              "8", "--keep", "distinct", "--reset-every", "20", "--max-collision", "extend-level", "--out-prefix",
              "rqvae_", NULL},
     .quick = {"--epochs", "4", NULL}},
    /* demo-sized: the paper's 200 epochs are for real data; the synthetic store is learnt in far fewer */
    {.label = "SASRec", .command = "sasrec", .args = {"@W", "--epochs", "30", "--eval-every", "5", NULL},
     .quick = {"--epochs", "6", NULL}},
    /* the same epochs as SASRec, so the evaluation table compares like with like */
    {.label = "SID-SASRec", .command = "sasrec", .args = {"@W", "--sid", "--epochs", "30", "--eval-every", "5", NULL},
     .quick = {"--epochs", "6", NULL}},
    /* instruction data for the language model: every task, capped per task (the demo store gives
     * ~16k next-item records uncapped) */
    {.label = "LM training data", .command = "lmdata", .args = {"@W", "--max-per-task", "20000", NULL},
     .quick = {"--max-per-task", "600", NULL}},
    /* the built-in language model: a tiny Qwen3 from scratch on the store's own language (no weights
     * can be downloaded); about seven minutes of training on 2 cores (demo about 8.5 min in all). --list-loss also learns every
     * item of the histories from the items before it (SASRec's loss, for the output layer on those
     * tokens). On the demo store, NDCG@10 (1,000 users): 0.064 assistant-only at lr 1e-3, 0.094
     * with --list-loss at lr 2e-3 (2,500 steps); genre steering is learnt late: 14% of the top-10 at
     * 2,500 steps, 24% at 3,000, 39% at 3,500, 86% at 4,500, 91-93% at 5,000 (NDCG@10 0.114, 0.129,
     * 0.146, 0.154 on all users; lr 3e-3 at 3,500 steps: 27%, 0.118) */
    {.label = "LLM fine-tuning", .command = "finetune",
     .args = {"@W", "--size", "tiny", "--steps", "5000", "--eval-every", "250", "--lr", "2e-3", "--list-loss",
              "next_item,request_history,steer", NULL},
     .quick = {"--steps", "40", NULL}},
    /* the model for llama.cpp (its own tokenizer, no trie: semid's decoding is what names only real items) */
    {.label = "GGUF export", .command = "export", .args = {"@W/lm", "--gguf", "@W/lm.gguf", NULL}},
    /* what the model answers: a user's next items with its explanation, then the same history steered */
    {.label = "example: a user's next items", .command = "recommend",
     .args = {"@W", "--user-index", "0", "-k", "5", "--explain", NULL}},
    {.label = "example: a steered request", .command = "recommend",
     .args = {"@W", "--user-index", "0", "-k", "5", "--prompt", "Similar, but for PC.", NULL}},
    /* semantic-ids-llm's three-turn exchange, on this store's titles */
    {.label = "example: a conversation", .command = "chat", .args = {"@W", "--script", "@W/demo_chat.txt", NULL},
     .prepare = chat_script},
    {.label = "HTTP server (a request of each kind)", .command = "serve", .args = {NULL}, .instead = serve_once},
    {.label = "evaluation", .command = "eval", .args = {"@W", NULL}},
    /* everything above on one page, WORK/report.html */
    {.label = "HTML report", .command = "report", .args = {"@W", NULL}},
};

/* --quick's value for option `name` of stage s, or NULL. */
static const char *quick_value(const stage *s, const char *name) {
    for (int i = 0; s->quick[i] && s->quick[i + 1]; i += 2)
        if (!strcmp(s->quick[i], name)) return s->quick[i + 1];
    return NULL;
}

static int run_stage(const stage *s, const char *work, const char *items, const char *users, bool force, bool quiet,
                     bool quick) {
    const sd_command *c = sd_find_command(s->command);
    sd_err err = {0};
    if ((s->prepare && s->prepare(work, &err)) || (s->instead && s->instead(work, &err))) return sd_cmd_error(&err);
    if (s->instead) return 0;
    char *argv[48];
    int argc = 0;
    argv[argc++] = (char *)s->command;
    char paths[4][1024];
    int n_paths = 0;
    for (int i = 0; s->args[i]; i++) {
        const char *a = s->args[i];
        if (!strncmp(a, "@W/", 3) && n_paths < 4) { /* a path inside the work directory */
            snprintf(paths[n_paths], sizeof paths[n_paths], "%s/%s", work, a + 3);
            a = paths[n_paths++];
        }
        argv[argc++] = (char *)(strcmp(a, "@W") ? a : work);
        const char *q = quick ? quick_value(s, s->args[i]) : NULL;
        if (q && s->args[i + 1]) { argv[argc++] = (char *)q; i++; }
    }
    if (!strcmp(s->command, "synth")) {
        if (quick && !items) items = QUICK_ITEMS;
        if (quick && !users) users = QUICK_USERS;
        if (items) { argv[argc++] = "--items"; argv[argc++] = (char *)items; }
        if (users) { argv[argc++] = "--users"; argv[argc++] = (char *)users; }
        if (force) argv[argc++] = "--force";
    }
    char seed[32], threads[16];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)sd_seed);
    snprintf(threads, sizeof threads, "%d", sd_opt_threads);
    argv[argc++] = "--seed"; argv[argc++] = seed;
    argv[argc++] = "--threads"; argv[argc++] = threads;
    if (quiet) argv[argc++] = "--quiet";
    argv[argc] = NULL;
    return c->run(argc, argv);
}

/* A failing stage stops the demo with exit 1: the demo must not hide failures. A stage lands in
 * STAGES together with its command. */
static int run(int argc, char **argv) {
    const char *items = NULL, *users = NULL;
    bool force = false, quick = false;
    sd_opt opts[] = {
        {.name = "quick", .type = SD_OPT_FLAG, .ptr = &quick,
         .help = "smoke run: a " QUICK_ITEMS "-item store, short training (minutes; CI runs it)"},
        {.name = "items", .type = SD_OPT_STR, .ptr = &items, .metavar = "N",
         .help = "items in the synthetic store (synth default)"},
        {.name = "users", .type = SD_OPT_STR, .ptr = &users, .metavar = "N",
         .help = "users in the synthetic store (synth default)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace WORK even if it is a non-empty directory semid did not write"},
        {0},
    };
    sd_usage u = {.usage = "semid demo [WORK] [options]",
                  .about = "Runs every stage this build has on a fresh synthetic store in WORK (default ./semid-demo)\n"
                           "and prints a summary. Each stage is the ordinary subcommand, so the work directory can be\n"
                           "inspected and each stage re-run by hand.",
                  .min_pos = 0, .max_pos = 1};
    sd_err err = {0};
    char **pos;
    int npos;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *work = npos ? pos[0] : "semid-demo";
    bool quiet = sd_quiet;
    double t_all = sd_now();
    double times[sizeof STAGES / sizeof *STAGES];
    int status[sizeof STAGES / sizeof *STAGES];
    int n = (int)(sizeof STAGES / sizeof *STAGES), failed = 0;
    for (int i = 0; i < n; i++) status[i] = -1, times[i] = 0; /* stages after a failure are "not run" */
    for (int i = 0; i < n; i++) {
        const stage *s = &STAGES[i];
        status[i] = -1;
        times[i] = 0;
        if (!sd_find_command(s->command)) continue;
        fflush(stdout); /* the stages' answers and the progress on stderr stay in order */
        if (!quiet) fprintf(stderr, "\n== %s: semid %s\n", s->label, s->command);
        double t0 = sd_now();
        status[i] = run_stage(s, work, items, users, force, quiet, quick);
        times[i] = sd_now() - t0;
        if (status[i] != 0) { failed = 1; break; }
    }
    printf("\nsemid demo summary (%s)\n", work);
    printf("| stage | command | status | seconds |\n|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const stage *s = &STAGES[i];
        const char *st = !sd_find_command(s->command) ? "not in this build"
                         : status[i] == -1             ? "not run"
                         : status[i] == 0              ? "ok"
                                                       : "FAILED";
        printf("| %s | semid %s | %s | %.2f |\n", s->label, s->command, st, times[i]);
    }
    printf("total %.1f s\n", sd_now() - t_all);
    free(pos);
    return failed ? 1 : 0;
}

SD_COMMAND(demo, "demo", "run every stage on a fresh synthetic store", run)
