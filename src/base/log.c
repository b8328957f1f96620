#include "base/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

bool sd_quiet = false;
bool sd_verbose = false;

static void vlog(const char *tag, const char *fmt, va_list ap) {
    fprintf(stderr, "semid: %s", tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void sd_info(const char *fmt, ...) {
    if (sd_quiet) return;
    va_list ap; va_start(ap, fmt); vlog("", fmt, ap); va_end(ap);
}

void sd_warn(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); vlog("warning: ", fmt, ap); va_end(ap);
}

void sd_debug(const char *fmt, ...) {
    if (!sd_verbose) return;
    va_list ap; va_start(ap, fmt); vlog("debug: ", fmt, ap); va_end(ap);
}

double sd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
