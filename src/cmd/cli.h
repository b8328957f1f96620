/* Command-line parsing shared by every subcommand, so all of them take the same common options
 * (--help, --quiet, --verbose, --seed, --threads) and print --help from one option table.
 *
 * A subcommand registers itself from its own file in src/cmd with SD_COMMAND; main.c needs no
 * edit when a command is added. */
#ifndef SD_CLI_H
#define SD_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

typedef enum { SD_OPT_FLAG, SD_OPT_INT, SD_OPT_I64, SD_OPT_U64, SD_OPT_FLOAT, SD_OPT_DOUBLE, SD_OPT_STR,
               SD_OPT_STRS } sd_opt_type;

/* SD_OPT_STRS collects repeated uses into a NULL-terminated char** (the pointer to it is `ptr`). */
typedef struct sd_opt {
    const char *name;     /* long name without "--" */
    sd_opt_type type;
    void *ptr;
    const char *metavar;  /* e.g. "N", "FILE"; NULL for flags */
    const char *help;
} sd_opt;

typedef struct sd_command {
    const char *name;
    const char *summary;  /* one line for `semid --help` */
    int (*run)(int argc, char **argv);
} sd_command;

void sd_register_command(const sd_command *c);
const sd_command *sd_find_command(const char *name);
int sd_command_count(void);
const sd_command *sd_command_at(int i); /* sorted by name */

#define SD_COMMAND(ident, cname, csummary, fn)                                                 \
    static const sd_command ident##_command = {.name = cname, .summary = csummary, .run = fn}; \
    __attribute__((constructor)) static void ident##_register(void) {                          \
        sd_register_command(&ident##_command);                                                 \
    }

/* Common options, filled by sd_parse for every command. */
extern uint64_t sd_seed;   /* --seed, default 42 */
extern int sd_opt_threads; /* --threads, 0 = all cores */

typedef struct sd_usage {
    const char *usage;     /* "semid ids WORK [options]" */
    const char *about;     /* paragraph shown under the usage line */
    int min_pos, max_pos;  /* positional arguments allowed (max -1 = any) */
} sd_usage;

/* Parses argv (argv[0] = command name). Positional arguments are returned in pos (malloc'd,
 * NULL-terminated). Returns 0 to go on, 1 when --help was printed (exit 0), SD_EUSAGE with a
 * message in err otherwise. Also applies --quiet/--verbose/--threads. */
int sd_parse(const sd_usage *u, const sd_opt *opts, int argc, char **argv, char ***pos, int *npos,
             sd_err *err);
void sd_print_help(const char *cmd, const sd_usage *u, const sd_opt *opts);



/* For src/cmd: prints "semid: <message>" and returns the exit code (2 usage, 1 otherwise). */
int sd_cmd_error(const sd_err *err);
#endif
