#include "base/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sd_errf(sd_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int sd_err_prefix(sd_err *err, const char *fmt, ...) {
    if (!err) return SD_EFORMAT;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t k = strlen(prefix);
    if (k > sizeof err->msg - 3) k = sizeof err->msg - 3;
    memcpy(err->msg, prefix, k);
    memcpy(err->msg + k, ": ", 2);
    size_t room = sizeof err->msg - k - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + k + 2, old, m);
    err->msg[k + 2 + m] = 0;
    return err->code;
}

void sd_err_clear(sd_err *err) {
    if (err) { err->code = 0; err->msg[0] = 0; }
}

int sd_err_exit_code(const sd_err *err) {
    return err && err->code == SD_EUSAGE ? 2 : 1;
}
