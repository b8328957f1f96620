/* semid: one binary, one subcommand per file in src/cmd (each registers itself). */
#include "base/cli.h"
#include "base/version.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void usage(FILE *f) {
    fprintf(f, "semid %s: product catalogue + histories -> semantic IDs -> a recommending language model\n\n"
               "usage: semid COMMAND [options]   (semid COMMAND --help for its options)\n\ncommands:\n",
            SEMID_VERSION);
    for (int i = 0; i < sd_command_count(); i++) {
        const sd_command *c = sd_command_at(i);
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    }
}

/* libgomp threads spin after each parallel region by default. On a 2-core machine that is also
 * running anything else, the spinning threads steal the cores from the serial parts in between
 * (a small `semid ids` ran 9x slower). The policy is read when libgomp loads, before main, so
 * semid re-executes itself once with a passive policy unless the user chose one. */
static void ensure_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): go on with the default policy */
}

int main(int argc, char **argv) {
    ensure_passive_openmp(argv);
    if (argc < 2) { usage(stderr); return 2; }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) { usage(stdout); return 0; }
    if (!strcmp(name, "--version")) { printf("semid %s\n", SEMID_VERSION); return 0; }
    const sd_command *c = sd_find_command(name);
    if (!c) {
        fprintf(stderr, "semid: unknown command '%s'\n\n", name);
        usage(stderr);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
