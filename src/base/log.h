/* Logging to stderr. --quiet drops info and progress; warnings and errors always print. */
#ifndef SD_LOG_H
#define SD_LOG_H
#include <stdbool.h>

extern bool sd_quiet;   /* set by --quiet */
extern bool sd_verbose; /* set by --verbose */

void sd_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sd_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sd_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic wall clock in seconds. */
double sd_now(void);

#endif
