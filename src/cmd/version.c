#include "base/cli.h"
#include "base/version.h"
#include <stdio.h>

static int run(int argc, char **argv) {
    sd_usage u = {"semid version", "Prints the version.", 0, 0};
    sd_err err = {0};
    int rc = sd_parse(&u, NULL, argc, argv, NULL, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    printf("semid %s\n", SEMID_VERSION);
    return 0;
}
SD_COMMAND(version, "version", "print the version", run)
