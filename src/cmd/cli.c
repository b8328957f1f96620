#include "cmd/cli.h"
#include "base/blas_core.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/utf8.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sd_seed = 42;
int sd_opt_threads = 0;

#define MAX_COMMANDS 64
static const sd_command *g_cmds[MAX_COMMANDS];
static int g_ncmds;

void sd_register_command(const sd_command *c) {
    if (g_ncmds >= MAX_COMMANDS) return;
    int i = g_ncmds++;
    while (i > 0 && strcmp(g_cmds[i - 1]->name, c->name) > 0) { g_cmds[i] = g_cmds[i - 1]; i--; }
    g_cmds[i] = c;
}

const sd_command *sd_find_command(const char *name) {
    for (int i = 0; i < g_ncmds; i++)
        if (strcmp(g_cmds[i]->name, name) == 0) return g_cmds[i];
    return NULL;
}

int sd_command_count(void) { return g_ncmds; }
const sd_command *sd_command_at(int i) { return g_cmds[i]; }

static const char *type_meta(const sd_opt *o) {
    if (o->metavar) return o->metavar;
    switch (o->type) {
    case SD_OPT_FLAG: return "";
    case SD_OPT_INT: case SD_OPT_I64: case SD_OPT_U64: return "N";
    case SD_OPT_FLOAT: case SD_OPT_DOUBLE: return "X";
    default: return "S";
    }
}

static void print_opt(const char *name, const char *meta, const char *help) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", name, meta[0] ? " " : "", meta);
    printf("  %-26s %s\n", left, help);
}

void sd_print_help(const char *cmd, const sd_usage *u, const sd_opt *opts) {
    printf("usage: %s\n", u->usage ? u->usage : cmd);
    if (u->about) printf("\n%s\n", u->about);
    printf("\noptions:\n");
    for (const sd_opt *o = opts; o && o->name; o++) print_opt(o->name, type_meta(o), o->help ? o->help : "");
    print_opt("seed", "N", "random seed (default 42)");
    print_opt("threads", "N", "worker threads (default: all cores)");
    print_opt("quiet", "", "no progress bars or info messages");
    print_opt("verbose", "", "debug messages");
    print_opt("help", "", "show this help");
}

static int parse_num(const char *opt, const char *s, sd_opt_type t, void *ptr, sd_err *err) {
    char *end;
    errno = 0;
    if (t == SD_OPT_FLOAT || t == SD_OPT_DOUBLE) {
        double v = strtod(s, &end);
        if (end == s || *end || errno || !isfinite(v))
            return sd_errf(err, SD_EUSAGE, "--%s: expected a number, got '%s'", opt, s);
        if (t == SD_OPT_FLOAT) *(float *)ptr = (float)v; else *(double *)ptr = v;
        return 0;
    }
    if (t == SD_OPT_U64) {
        if (*s == '-') return sd_errf(err, SD_EUSAGE, "--%s: expected a non-negative integer, got '%s'", opt, s);
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || *end || errno) return sd_errf(err, SD_EUSAGE, "--%s: expected an integer, got '%s'", opt, s);
        *(uint64_t *)ptr = v;
        return 0;
    }
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) return sd_errf(err, SD_EUSAGE, "--%s: expected an integer, got '%s'", opt, s);
    if (t == SD_OPT_INT) {
        if (v < INT_MIN || v > INT_MAX) return sd_errf(err, SD_EUSAGE, "--%s: %s is out of range", opt, s);
        *(int *)ptr = (int)v;
    } else {
        *(int64_t *)ptr = v;
    }
    return 0;
}

int sd_parse(const sd_usage *u, const sd_opt *opts, int argc, char **argv, char ***pos_out, int *npos_out,
             sd_err *err) {
    const char *cmd = argv[0];
    char **pos = sd_xcalloc(argc + 1, sizeof *pos);
    int npos = 0, rc = 0;
    bool only_pos = false;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) { pos[npos++] = argv[i]; continue; }
        if (strcmp(a, "--") == 0) { only_pos = true; continue; }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            sd_print_help(cmd, u, opts);
            free(pos);
            return 1;
        }
        if (a[1] != '-') { rc = sd_errf(err, SD_EUSAGE, "%s: unknown option '%s' (see --help)", cmd, a); break; }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (nlen == 5 && !strncmp(name, "quiet", 5) && !val) { sd_quiet = true; continue; }
        if (nlen == 7 && !strncmp(name, "verbose", 7) && !val) { sd_verbose = true; continue; }
        const sd_opt *o = NULL;
        sd_opt common_seed = {.name = "seed", .type = SD_OPT_U64, .ptr = &sd_seed};
        sd_opt common_threads = {.name = "threads", .type = SD_OPT_INT, .ptr = &sd_opt_threads};
        for (const sd_opt *p = opts; p && p->name; p++)
            if (strlen(p->name) == nlen && !strncmp(p->name, name, nlen)) { o = p; break; }
        if (!o && nlen == 4 && !strncmp(name, "seed", 4)) o = &common_seed;
        if (!o && nlen == 7 && !strncmp(name, "threads", 7)) o = &common_threads;
        if (!o) { rc = sd_errf(err, SD_EUSAGE, "%s: unknown option '--%.*s' (see --help)", cmd, (int)nlen, name); break; }
        if (o->type == SD_OPT_FLAG) {
            if (val) { rc = sd_errf(err, SD_EUSAGE, "%s: --%s takes no value", cmd, o->name); break; }
            *(bool *)o->ptr = true;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) { rc = sd_errf(err, SD_EUSAGE, "%s: --%s needs a value", cmd, o->name); break; }
            val = argv[++i];
        }
        if (o->type == SD_OPT_STR) {
            *(const char **)o->ptr = val;
        } else if (o->type == SD_OPT_STRS) {
            char ***list = o->ptr;
            int n = 0;
            while (*list && (*list)[n]) n++;
            *list = sd_xrealloc(*list, (n + 2) * sizeof(char *));
            (*list)[n] = (char *)val;
            (*list)[n + 1] = NULL;
        } else {
            rc = parse_num(o->name, val, o->type, o->ptr, err);
        }
    }
    if (!rc && npos < u->min_pos)
        rc = sd_errf(err, SD_EUSAGE, "%s: missing argument (usage: %s)", cmd, u->usage ? u->usage : cmd);
    if (!rc && u->max_pos >= 0 && npos > u->max_pos)
        rc = sd_errf(err, SD_EUSAGE, "%s: unexpected argument '%s' (usage: %s)", cmd, pos[u->max_pos],
                     u->usage ? u->usage : cmd);
    if (!rc && sd_opt_threads < 0) rc = sd_errf(err, SD_EUSAGE, "%s: --threads must be >= 0", cmd);
    if (rc) { free(pos); return rc; }
    sd_set_threads(sd_opt_threads);
    if (sd_verbose) { /* which kernels a run used, for anyone comparing timings */
        char blas[512];
        sd_blas_describe(blas, sizeof blas);
        sd_debug("%s, %d thread%s", blas, sd_threads(), sd_threads() == 1 ? "" : "s");
    }
    if (pos_out) *pos_out = pos; else free(pos);
    if (npos_out) *npos_out = npos;
    return 0;
}

int sd_cmd_error(const sd_err *err) {
    /* messages quote file content; whatever a parser left unescaped is escaped here, so that a
     * hostile file cannot send raw bytes or terminal control sequences to the user's terminal */
    char safe[4 * sizeof err->msg + 4];
    fprintf(stderr, "semid: %s\n", err && err->msg[0] ? sd_escape_text(safe, sizeof safe, err->msg) : "failed");
    return sd_err_exit_code(err);
}
