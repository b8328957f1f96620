/* semid: one binary, one subcommand per file in src/cmd (each registers itself). */
#include "cmd/cli.h"
#include "base/startup.h"
#include "base/version.h"
#include "nn/dist.h"
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

int main(int argc, char **argv) {
    sd_startup(argv); /* may re-execute this process once (OpenMP wait policy, OpenBLAS core) */
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
    /* under mpirun: MPI for the data-parallel trainers, a clear refusal elsewhere (nn/dist.h) */
    sd_err err = {0};
    bool parallel = !strcmp(c->name, "sasrec") || !strcmp(c->name, "finetune");
    if (sd_dist_init(&argc, &argv, c->name, parallel, &err)) return sd_cmd_error(&err);
    return sd_dist_finish(c->run(argc - 1, argv + 1));
}
