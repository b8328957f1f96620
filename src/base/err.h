/* Error values. Library functions return 0 on success or a negative code, and fill an
 * sd_err whose message already names the file, line and field ("items.jsonl:812: \"parent_asin\"
 * missing"). Only src/cmd and main.c print errors and exit. */
#ifndef SD_ERR_H
#define SD_ERR_H
#include <stddef.h>

enum {
    SD_OK = 0,
    SD_EIO = -1,      /* open/read/write failed (errno text in the message) */
    SD_EFORMAT = -2,  /* malformed input */
    SD_EUSAGE = -3,   /* bad option or argument: exit code 2 */
    SD_ENOMEM = -4,
    SD_ERANGE = -5,   /* value or size out of range */
    SD_ESTATE = -6,   /* inconsistent state, e.g. a stage run before its inputs exist */
};

typedef struct sd_err {
    int code;
    char msg[1024];
} sd_err;

/* Sets err (if not NULL) and returns code, so callers can `return sd_errf(err, SD_EIO, ...)`. */
int sd_errf(sd_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an existing message (e.g. a file name around a parser error). */
int sd_err_prefix(sd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sd_err_clear(sd_err *err);
/* Exit code for a command that failed with this error: 2 for usage, 1 otherwise. */
int sd_err_exit_code(const sd_err *err);

#endif
