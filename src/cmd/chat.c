/* semid chat: a multi-turn conversation with the fine-tuned recommender, on a terminal (streamed)
 * or from piped lines (one answer block per line, for scripts). The conversation logic is
 * lm/chat_session.h; this file reads lines, runs the slash commands and prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cmd/cli.h"
#include "eval/baselines.h"
#include "cmd/model_registry.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/item_search.h"
#include "data/workdir.h"
#include "lm/chat_session.h"

enum { MAX_FOUND = 10 };

typedef struct chat_ui {
    const sd_catalog *cat;
    const sd_chat_engine *e;
    bool tty, show_ids;
    int32_t found[MAX_FOUND];       /* the last /items list, for /add N */
    int n_found;
    int bad_usage, bad_turns;       /* in script mode they set the exit status */
    int n_turns;                    /* turns generated: each samples from its own seed */
    bool line_start;                /* the streamed reply just ended a line */
} chat_ui;

static void piece(void *ctx, const char *t, size_t n) {
    chat_ui *u = ctx;
    if (!u->tty) {
        fwrite(t, 1, n, stdout);
        return;
    }
    /* on a terminal a reply's later lines sit under its first, after "model: " */
    for (size_t i = 0; i < n; i++) {
        if (u->line_start) fputs("       ", stdout);
        putchar(t[i]);
        u->line_start = t[i] == '\n';
    }
    fflush(stdout);
}

/* What follows an item's title: a facet or two the title lacks, and with --show-ids its ids. */
static void item_suffix(const chat_ui *u, int32_t item) {
    const char *k[2], *v[2];
    int n = sd_chat_item_facets(u->cat, item, 2, k, v);
    if (n) {
        printf(" (");
        for (int i = 0; i < n; i++) printf("%s%s", i ? ", " : "", v[i]);
        printf(")");
    }
    if (u->show_ids) printf("  [%s %s]", u->cat->items[item].ext_id, u->e->rec.sid_str[item]);
}

static void on_item(void *ctx, int32_t item) {
    chat_ui *u = ctx;
    item_suffix(u, item);
    if (u->tty) fflush(stdout);
}

static const char *title_of(const sd_catalog *cat, int32_t i) {
    const char *t = cat->items[i].title;
    return t && t[0] ? t : cat->items[i].ext_id;
}

/* A problem with one input line: said on stderr (messages start "chat: "), the session goes on. */
static void complain(chat_ui *u, bool usage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void complain(chat_ui *u, bool usage, const char *fmt, ...) {
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "semid: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (usage) u->bad_usage++;
    else u->bad_turns++;
}

static void help(void) {
    printf("Type a message and press Enter; the model answers with items of the catalogue, by title.\n"
           "A request for items ends with <|rec|> (as the model was trained), or use /rec:\n"
           "  /rec TEXT      TEXT as a request: \" <|rec|>\" appended (with the history list, if any)\n"
           "  /items QUERY   find items by title words, numbered\n"
           "  /add N | ID    put item N of the last /items list (or the item with external id ID)\n"
           "                 in the purchase history the next request carries\n"
           "  /history       the conversation so far and the purchase history\n"
           "  /reset         forget the conversation and the purchase history\n"
           "  /help          this text\n"
           "  /quit          leave (so does end of input)\n");
}

static void show_history(const chat_ui *u, const sd_chat_session *s) {
    if (!s->n_turns) printf("(no conversation yet)\n");
    if (s->n_dropped) printf("(%d older turns dropped to fit the model's context)\n", s->n_dropped);
    for (int i = 0; i < s->n_turns; i++) {
        const sd_chat_turn *t = &s->turns[i];
        bool user = !strcmp(t->role, "user");
        printf("%s ", user ? "you:" : "model:");
        for (const char *p = t->display; *p; p++) { /* later lines under the first */
            putchar(*p);
            if (*p == '\n' && p[1]) fputs(user ? "     " : "       ", stdout);
        }
        printf("\n");
    }
    if (!s->n_hist) printf("purchase history: (empty)\n");
    else printf("purchase history (%d item%s, %d not yet sent):\n", s->n_hist, s->n_hist == 1 ? "" : "s",
                s->n_hist - s->n_hist_sent);
    for (int i = 0; i < s->n_hist; i++) {
        printf("  %d. %s", i + 1, title_of(u->cat, s->hist[i]));
        item_suffix(u, s->hist[i]);
        printf("\n");
    }
}

static void find_items(chat_ui *u, const sd_item_index *ix, const char *q) {
    u->n_found = sd_item_search(ix, q, MAX_FOUND, u->found);
    if (!u->n_found) {
        printf("no item matches \"%s\"\n", q);
        return;
    }
    for (int i = 0; i < u->n_found; i++) {
        printf("%d. %s", i + 1, title_of(u->cat, u->found[i]));
        item_suffix(u, u->found[i]);
        if (!u->show_ids) printf("  [%s]", u->cat->items[u->found[i]].ext_id);
        printf("\n");
    }
}

static void add_item(chat_ui *u, sd_chat_session *s, const char *arg) {
    if (!arg[0]) { complain(u, true, "chat: /add needs N (from /items) or an item's external id"); return; }
    int32_t item = -1;
    char *end;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (!*end && !errno) {
        if (n >= 1 && n <= u->n_found) item = u->found[n - 1];
        else if (sd_catalog_find(u->cat, arg) < 0) {
            if (!u->n_found) complain(u, true, "chat: /add %s: no /items list yet (find items with /items QUERY)", arg);
            else complain(u, true, "chat: /add %s: the last /items list has %d items", arg, u->n_found);
            return;
        }
    }
    if (item < 0) item = sd_catalog_find(u->cat, arg);
    if (item < 0) { complain(u, true, "chat: /add: no item with the external id \"%s\" in the catalogue", arg); return; }
    if (sd_chat_session_add(s, item)) printf("already in the purchase history: %s\n", title_of(u->cat, item));
    else
        printf("added to the purchase history (%d item%s): %s\n", s->n_hist, s->n_hist == 1 ? "" : "s",
               title_of(u->cat, item));
}

static void turn(chat_ui *u, sd_chat_session *s, const char *line, bool rec, const sd_gen_cfg *g) {
    char *msg = sd_chat_session_user_text(s, line, rec);
    if (!msg) { complain(u, true, "chat: /rec with nothing to ask: add items with /add or say what you want"); return; }
    int unsent = strstr(msg, "<|rec|>") ? s->n_hist - s->n_hist_sent : 0;
    char *typed = NULL;
    if (unsent > 0) {
        size_t cap = strlen(line) + 64;
        typed = sd_xmalloc(cap);
        snprintf(typed, cap, "%s%s[with the purchase history, %d item%s]", line, line[0] ? " " : "", s->n_hist,
                 s->n_hist == 1 ? "" : "s");
    }
    if (u->tty) printf("model: ");
    u->line_start = false;
    sd_chat_reply_cb cb = {.piece = piece, .item = on_item, .ctx = u};
    sd_chat_reply r;
    sd_err err = {0};
    sd_gen_cfg gt = *g;
    gt.sample.seed = g->sample.seed + (uint64_t)u->n_turns++;
    int rc = sd_chat_session_turn(s, msg, typed ? typed : line, &gt, &cb, &r, &err);
    if (rc) {
        if (u->tty) putchar('\n');
        complain(u, rc == SD_EUSAGE, "%s", err.msg);
    } else {
        /* the text's own last line is ended here; an empty reply stays an empty block */
        size_t n = strlen(r.text);
        if (n ? r.text[n - 1] != '\n' : u->tty) putchar('\n');
        sd_debug("chat: %d tokens; the model wrote: %s", r.n_tokens, s->turns[s->n_turns - 1].raw);
        if (r.dropped) sd_info("chat: %d older turns dropped to fit the model's context", r.dropped);
        if (r.hit_length) sd_info("chat: the reply reached --max-new-tokens (%d)", g->max_new_tokens);
        sd_chat_reply_free(&r);
    }
    free(typed);
    free(msg);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* "/word rest": true when line is the command `word` (alone or followed by a space); *rest the
 * argument, trimmed. */
static bool is_cmd(char *line, const char *word, char **rest) {
    size_t n = strlen(word);
    if (strncmp(line, word, n) || (line[n] && line[n] != ' ' && line[n] != '\t')) return false;
    *rest = trim(line + n);
    return true;
}

static int run(int argc, char **argv) {
    const char *model = NULL, *sids = NULL, *script = NULL;
    int max_new = 128, top_k = 0;
    double temperature = 0, top_p = 1;
    bool show_ids = false;
    sd_opt opts[] = {
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "the fine-tuned model folder (default WORK/lm)"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids, .metavar = "PREFIX",
         .help = "the semantic IDs of WORK/PREFIXsids.tsv (default WORK/sids.tsv)"},
        {.name = "temperature", .type = SD_OPT_DOUBLE, .ptr = &temperature, .metavar = "T",
         .help = "0 = greedy (default), > 0 samples (seeded by --seed)"},
        {.name = "top-p", .type = SD_OPT_DOUBLE, .ptr = &top_p, .metavar = "P",
         .help = "nucleus sampling: smallest set of mass >= P (1 = off)"},
        {.name = "top-k", .type = SD_OPT_INT, .ptr = &top_k, .metavar = "K",
         .help = "sample among the K most likely tokens (0 = off)"},
        {.name = "max-new-tokens", .type = SD_OPT_INT, .ptr = &max_new, .metavar = "N",
         .help = "longest reply in tokens (default 128)"},
        {.name = "show-ids", .type = SD_OPT_FLAG, .ptr = &show_ids,
         .help = "show each named item's external id and semantic ID after its title"},
        {.name = "script", .type = SD_OPT_STR, .ptr = &script, .metavar = "FILE",
         .help = "read the lines from FILE instead of stdin and print each as `you> LINE` before its answer "
                 "(a transcript)"},
        {0},
    };
    sd_usage us = {
        .usage = "semid chat WORK [--model DIR] [options]",
        .about = "Talks with the fine-tuned recommender (semid finetune WORK). Each turn sends the whole "
                 "conversation; every semantic ID the model writes is a real item of WORK (trie-constrained "
                 "decoding, no item twice in a reply) and is shown as the item's title. A message ending in "
                 "<|rec|> asks for items, as the model was trained; `/rec TEXT` appends it. /items QUERY finds "
                 "items by title, /add N puts one in the purchase history the next request carries (\"I bought "
                 "SID, SID. ...\"), /history, /reset, /help, /quit. On a terminal replies stream; from a pipe each "
                 "input line gets its answer followed by one empty line, with no prompts, and the exit status is 2 "
                 "when a line was a bad command, 1 when a turn failed.",
        .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&us, opts, argc, argv, &pos, &npos, &err);
    if (rc) { free(pos); return rc == 1 ? 0 : sd_cmd_error(&err); }
    const char *dir = pos[0];
    free(pos);
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = max_new;
    g.sample.temperature = (float)temperature;
    g.sample.top_k = top_k;
    g.sample.top_p = (float)top_p;
    g.sample.seed = sd_seed;
    if (max_new <= 0) rc = sd_errf(&err, SD_EUSAGE, "chat: --max-new-tokens must be > 0, got %d", max_new);
    else rc = sd_sample_cfg_check(&g.sample, &err);
    if (rc) return sd_cmd_error(&err);

    sd_lock lk = {.fd = -1};
    sd_work w;
    if ((rc = sd_lock_output_shared(&lk, dir, &err))) return sd_cmd_error(&err);
    if ((rc = sd_work_load(&w, dir, &err))) { sd_unlock(&lk); return sd_cmd_error(&err); }
    char *mdir = model ? sd_xstrdup(model) : sd_work_path(&w, "lm"), *sp = NULL;
    struct stat stt;
    rc = sd_sids_path(&w, sids ? sids : "", "chat: --sids", SD_EUSAGE, &sp, &err);
    if (!rc && (stat(mdir, &stt) || !S_ISDIR(stt.st_mode)))
        rc = sd_errf(&err, SD_ESTATE, "chat: no model folder %s: train one with `semid finetune %s`%s", mdir, dir,
                     model ? " (or give --model DIR)" : "");
    sd_chat_engine e;
    if (!rc) rc = sd_chat_engine_open(&e, mdir, sp, w.cat, &err);
    free(sp);
    free(mdir);
    if (rc) {
        sd_work_free(&w);
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    /* /items ranks by training interactions, so the items people bought come first */
    int64_t *weight = sd_xcalloc((size_t)w.cat->n_items, sizeof *weight);
    sd_train_item_counts(&w.seq, &w.split, weight);
    sd_item_index ix;
    sd_item_index_init(&ix, w.cat, weight);
    free(weight);

    FILE *in = script ? fopen(script, "r") : stdin;
    if (!in) {
        sd_errf(&err, SD_EIO, "chat: --script %s: %s", script, strerror(errno));
        sd_item_index_free(&ix);
        sd_chat_engine_free(&e);
        sd_work_free(&w);
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    chat_ui u = {.cat = w.cat, .e = &e, .tty = !script && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO),
                 .show_ids = show_ids};
    sd_chat_session s;
    sd_chat_session_init(&s, &e);
    if (u.tty && !sd_quiet)
        printf("semid chat: %s, %d items. /help for commands, /quit to leave.\n", dir, w.cat->n_items);
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (u.tty) { printf("you> "); fflush(stdout); }
        if (getline(&buf, &cap, in) < 0) {
            if (u.tty) putchar('\n');
            break;
        }
        char *line = trim(buf), *arg;
        if (!line[0]) {
            if (!u.tty) putchar('\n'); /* still one block per line, so a script stays in step */
            fflush(stdout);
            continue;
        }
        if (script) printf("you> %s\n", line);
        if (is_cmd(line, "/quit", &arg) || is_cmd(line, "/exit", &arg)) break;
        if (is_cmd(line, "/help", &arg)) help();
        else if (is_cmd(line, "/reset", &arg)) {
            sd_chat_session_reset(&s);
            u.n_found = 0;
            printf("conversation and purchase history cleared\n");
        } else if (is_cmd(line, "/history", &arg)) show_history(&u, &s);
        else if (is_cmd(line, "/items", &arg)) {
            if (!arg[0]) complain(&u, true, "chat: /items needs words of a title");
            else find_items(&u, &ix, arg);
        } else if (is_cmd(line, "/add", &arg)) add_item(&u, &s, arg);
        else if (is_cmd(line, "/rec", &arg)) turn(&u, &s, arg, true, &g);
        else if (line[0] == '/' && line[1] != ' ' && line[1]) {
            size_t n = strcspn(line, " \t");
            complain(&u, true, "chat: unknown command %.*s (/help lists them)", (int)n, line);
        } else turn(&u, &s, line, false, &g);
        putchar('\n');
        fflush(stdout);
    }
    free(buf);
    if (script) fclose(in);
    sd_chat_session_free(&s);
    sd_item_index_free(&ix);
    sd_chat_engine_free(&e);
    sd_work_free(&w);
    sd_unlock(&lk);
    if (u.tty) return 0;
    return u.bad_usage ? 2 : u.bad_turns ? 1 : 0;
}

SD_COMMAND(chat, "chat", "talk with the fine-tuned recommender (multi-turn, items by title)", run)
