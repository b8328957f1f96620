#include "cmd/cli.h"
#include "base/log.h"
#include "base/version.h"
#include "cmd/doctor.h"
#include <stdio.h>

static int run(int argc, char **argv) {
    sd_usage u = {.usage = "semid version [--verbose]",
                  .about = "Prints the version; with --verbose also the CPU, the OpenBLAS kernels in use and why, and "
                           "the thread count (`semid doctor` adds a measured sgemm rate).",
                  .min_pos = 0, .max_pos = 0};
    sd_err err = {0};
    int rc = sd_parse(&u, NULL, argc, argv, NULL, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    printf("semid %s\n", SEMID_VERSION);
    if (sd_verbose) sd_doctor_report(stdout, false, 0);
    return 0;
}
SD_COMMAND(version, "version", "print the version (--verbose: CPU and OpenBLAS kernels)", run)
