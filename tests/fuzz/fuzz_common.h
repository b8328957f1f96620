/* Shared plumbing of the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * Loaders that only take a path get the input written to a file in a private directory made
 * once per process (under $SEMID_FUZZ_TMP, else /dev/shm when it exists, so no disk traffic)
 * and removed at exit.
 * Harnesses that need several files cut the input at form-feed bytes (0x0C), which no seed uses
 * inside a file, so a mutated input still maps onto the same files. */
#ifndef SD_FUZZ_COMMON_H
#define SD_FUZZ_COMMON_H
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"

#define FZ_SEP 0x0C

static char fz_dir_path[256];

static inline void fz_cleanup(void) {
    if (!fz_dir_path[0]) return;
    DIR *d = opendir(fz_dir_path);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", fz_dir_path, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(fz_dir_path);
}

/* The private directory; also quiets semid's info messages (warnings still print). */
static inline const char *fz_dir(void) {
    if (fz_dir_path[0]) return fz_dir_path;
    sd_quiet = true;
    /* run.sh points SEMID_FUZZ_TMP at a directory it removes afterwards, so a crashed run
     * (no atexit) leaves nothing behind */
    const char *base = getenv("SEMID_FUZZ_TMP");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fz_dir_path, sizeof fz_dir_path, "%s/semid-fuzz.XXXXXX", base);
    if (!mkdtemp(fz_dir_path)) { perror("mkdtemp"); abort(); }
    atexit(fz_cleanup);
    return fz_dir_path;
}

/* Writes data to NAME in the private directory (replacing it); returns the path (static,
 * one per distinct call site is enough: the caller copies it if it needs two at once). */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t n, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", fz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); abort(); }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) { perror(path); abort(); }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

static inline void fz_remove(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", fz_dir(), name);
    unlink(p);
}

/* Cuts data at FZ_SEP into at most max parts (the last part keeps any further separators).
 * Returns the number of parts (at least 1). */
static inline int fz_split(const uint8_t *data, size_t n, const uint8_t **part, size_t *len, int max) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i < n && k < max - 1; i++)
        if (data[i] == FZ_SEP) {
            part[k] = data + start;
            len[k++] = i - start;
            start = i + 1;
        }
    part[k] = data + start;
    len[k++] = n - start;
    return k;
}

/* A NUL-terminated copy (for parsers that want C strings). */
static inline char *fz_strndup(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}
#endif
