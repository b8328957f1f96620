#include "data/csv.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int sd_csv_split(char *line, size_t len, char **fields, size_t *lens, int max, sd_err *err) {
    int nf = 0;
    if (!memchr(line, '"', len)) { /* fast path: plain fields */
        char *p = line, *end = line + len;
        for (;;) {
            char *c = memchr(p, ',', end - p);
            char *fe = c ? c : end;
            if (nf < max) { fields[nf] = p; lens[nf] = fe - p; }
            nf++;
            *fe = 0;
            if (!c) break;
            p = c + 1;
        }
        return nf;
    }
    char *p = line, *end = line + len;
    for (;;) {
        char *start = p, *w = p;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) return sd_errf(err, SD_EFORMAT, "column %d: unterminated quoted field", nf + 1);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') { *w++ = '"'; p += 2; continue; }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (p < end && *p != ',')
                return sd_errf(err, SD_EFORMAT, "column %d: text after the closing quote of a quoted field", nf + 1);
        } else {
            while (p < end && *p != ',') {
                if (*p == '"') return sd_errf(err, SD_EFORMAT, "column %d: quote inside an unquoted field", nf + 1);
                p++;
            }
            w = p;
        }
        if (nf < max) { fields[nf] = start; lens[nf] = w - start; }
        nf++;
        int more = p < end; /* p is at ',' or end */
        *w = 0;
        if (!more) break;
        p++;
    }
    return nf;
}

static void trim(const char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t')) { (*s)++; (*len)--; }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

bool sd_parse_i64(const char *s, size_t len, int64_t *out) {
    trim(&s, &len);
    if (!len) return false;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; i = 1; }
    if (i == len) return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return false;
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

const char *sd_int_problem(const char *s, size_t len) {
    trim(&s, &len);
    size_t i = len && (s[0] == '-' || s[0] == '+');
    if (i == len) return "is not an integer";
    for (; i < len; i++)
        if ((unsigned)((unsigned char)s[i] - '0') > 9u) return "is not an integer";
    return "is out of range";
}

bool sd_parse_f64(const char *s, size_t len, double *out) {
    trim(&s, &len);
    if (!len || len > 63) return false;
    char buf[64];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}
