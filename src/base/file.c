#define _GNU_SOURCE
#include "base/file.h"
#include "base/mem.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct sd_lines {
    gzFile gz;
    FILE *raw;      /* the same file, for compressed position */
    char *path;
    char *buf;      /* holds [start, end) unread bytes */
    size_t cap, start, end;
    bool eof, first;
    int64_t lineno, bytes;
};

int sd_lines_open(sd_lines **out, const char *path, sd_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return sd_errf(err, SD_EIO, "%s: is a directory, expected a file", path);
    }
    int fd2 = dup(fd);
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) { close(fd); if (fd2 >= 0) close(fd2); return sd_errf(err, SD_EIO, "%s: cannot open", path); }
    gzbuffer(gz, 1 << 18);
    sd_lines *r = sd_xcalloc(1, sizeof *r);
    r->gz = gz;
    r->raw = fd2 >= 0 ? fdopen(fd2, "rb") : NULL;
    r->path = sd_xstrdup(path);
    r->cap = 1 << 16;
    r->buf = sd_xmalloc(r->cap);
    r->first = true;
    *out = r;
    return 0;
}

static int fill(sd_lines *r, sd_err *err) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end + 1 >= r->cap) {
        r->cap *= 2;
        r->buf = sd_xrealloc(r->buf, r->cap);
    }
    int want = (int)((r->cap - 1 - r->end) > (1u << 30) ? (1u << 30) : (r->cap - 1 - r->end));
    int n = gzread(r->gz, r->buf + r->end, want);
    if (n < 0) {
        int zerr;
        const char *msg = gzerror(r->gz, &zerr);
        return sd_errf(err, SD_EFORMAT, "%s:%lld: corrupt compressed data: %s", r->path,
                       (long long)r->lineno + 1, msg);
    }
    if (n == 0) {
        int zerr;
        const char *msg = gzerror(r->gz, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END)
            return sd_errf(err, SD_EFORMAT, "%s:%lld: truncated or corrupt gzip stream: %s", r->path,
                           (long long)r->lineno + 1, msg);
        r->eof = true;
    }
    r->end += n;
    return 0;
}

int sd_lines_next(sd_lines *r, char **line, size_t *len, sd_err *err) {
    for (;;) {
        if (r->first && (r->end - r->start >= 3 || r->eof)) {
            r->first = false;
            if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0) r->start += 3;
        }
        char *nl = r->first ? NULL : memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl || (r->eof && r->end > r->start && !r->first)) {
            char *s = r->buf + r->start;
            size_t n = nl ? (size_t)(nl - s) : r->end - r->start;
            r->start += nl ? n + 1 : n;
            r->bytes += nl ? n + 1 : n;
            if (n > 0 && s[n - 1] == '\r') n--;
            if (!nl) { /* last line without newline: make room for the terminator */
                if (r->end >= r->cap) { size_t off = s - r->buf; r->buf = sd_xrealloc(r->buf, ++r->cap); s = r->buf + off; }
            }
            s[n] = 0;
            r->lineno++;
            *line = s;
            *len = n;
            return 1;
        }
        if (r->eof) return 0;
        int rc = fill(r, err);
        if (rc) return rc;
    }
}

int64_t sd_lines_lineno(const sd_lines *r) { return r->lineno; }
int64_t sd_lines_bytes(const sd_lines *r) { return r->bytes; }
int64_t sd_lines_compressed_pos(const sd_lines *r) { return (int64_t)gzoffset(r->gz); }
const char *sd_lines_path(const sd_lines *r) { return r->path; }

void sd_lines_close(sd_lines *r) {
    if (!r) return;
    gzclose(r->gz);
    if (r->raw) fclose(r->raw);
    free(r->path);
    free(r->buf);
    free(r);
}

int sd_read_file(const char *path, char **data, size_t *len, sd_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) { close(fd); return sd_errf(err, SD_EIO, "%s: cannot open", path); }
    size_t cap = 1 << 16, n = 0;
    char *buf = sd_xmalloc(cap);
    for (;;) {
        if (cap - n < (1 << 16) + 1) { cap *= 2; buf = sd_xrealloc(buf, cap); }
        int got = gzread(gz, buf + n, (unsigned)(cap - n - 1 > (1u << 30) ? (1u << 30) : cap - n - 1));
        int zerr = Z_OK;
        if (got <= 0) gzerror(gz, &zerr);
        if (got < 0 || (got == 0 && zerr != Z_OK && zerr != Z_STREAM_END)) {
            free(buf);
            gzclose(gz);
            return sd_errf(err, SD_EFORMAT, "%s: truncated or corrupt file", path);
        }
        if (got == 0) break;
        n += got;
    }
    gzclose(gz);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int64_t sd_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

bool sd_exists(const char *path) { return access(path, F_OK) == 0; }

bool sd_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sd_map_open(sd_map *m, const char *path, sd_err *err) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sd_errf(err, SD_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return sd_errf(err, SD_EIO, "%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
    }
    m->size = st.st_size;
    close(fd);
    return 0;
}

void sd_map_close(sd_map *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int sd_atomic_open(sd_atomic *a, const char *path, sd_err *err) {
    a->path = sd_xstrdup(path);
    size_t n = strlen(path) + 32;
    a->tmp = sd_xmalloc(n);
    snprintf(a->tmp, n, "%s.tmp.%d", path, (int)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        free(a->path); free(a->tmp);
        a->path = a->tmp = NULL;
        return sd_errf(err, SD_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    setvbuf(a->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

int sd_atomic_commit(sd_atomic *a, sd_err *err) {
    int rc = 0;
    if (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)
        rc = sd_errf(err, SD_EIO, "%s: write failed: %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && !rc) rc = sd_errf(err, SD_EIO, "%s: close failed: %s", a->path, strerror(errno));
    a->f = NULL;
    if (!rc && rename(a->tmp, a->path) != 0)
        rc = sd_errf(err, SD_EIO, "%s: rename failed: %s", a->path, strerror(errno));
    if (rc) unlink(a->tmp);
    free(a->path); free(a->tmp);
    a->path = a->tmp = NULL;
    return rc;
}

void sd_atomic_abort(sd_atomic *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->path); free(a->tmp);
    a->f = NULL; a->path = a->tmp = NULL;
}

int sd_write_file_atomic(const char *path, const void *data, size_t len, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    if (len && fwrite(data, 1, len, a.f) != len) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed", path);
    }
    return sd_atomic_commit(&a, err);
}

int sd_mkdir_p(const char *dir, sd_err *err) {
    char *p = sd_xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            int rc = sd_errf(err, SD_EIO, "%s: cannot create directory: %s", p, strerror(e));
            free(p);
            return rc;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = sd_errf(err, SD_EIO, "%s: cannot create directory: %s", p, strerror(errno));
    else if (!sd_is_dir(p)) rc = sd_errf(err, SD_EIO, "%s: exists and is not a directory", p);
    free(p);
    return rc;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

int sd_rm_rf(const char *path) {
    if (!sd_exists(path)) return 0;
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *sd_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = sd_xmalloc(a + b + 2);
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

int sd_dir_begin(const char *dir, char **tmp_dir, sd_err *err) {
    size_t n = strlen(dir) + 32;
    char *t = sd_xmalloc(n);
    /* strip trailing slashes so the temp dir is a sibling, not a child */
    char *d = sd_xstrdup(dir);
    for (size_t k = strlen(d); k > 1 && d[k - 1] == '/'; k--) d[k - 1] = 0;
    snprintf(t, n, "%s.tmp.%d", d, (int)getpid());
    free(d);
    sd_rm_rf(t);
    int rc = sd_mkdir_p(t, err);
    if (rc) { free(t); return rc; }
    *tmp_dir = t;
    return 0;
}

int sd_dir_commit(const char *tmp_dir, const char *dir, sd_err *err) {
    char *d = sd_xstrdup(dir);
    for (size_t k = strlen(d); k > 1 && d[k - 1] == '/'; k--) d[k - 1] = 0;
    size_t n = strlen(d) + 32;
    char *old = sd_xmalloc(n);
    snprintf(old, n, "%s.old.%d", d, (int)getpid());
    bool had = sd_exists(d);
    int rc = 0;
    if (had && rename(d, old) != 0) rc = sd_errf(err, SD_EIO, "%s: cannot replace: %s", d, strerror(errno));
    if (!rc && rename(tmp_dir, d) != 0) {
        rc = sd_errf(err, SD_EIO, "%s: cannot rename into place: %s", d, strerror(errno));
        if (had) rename(old, d);
    }
    if (!rc && had) sd_rm_rf(old);
    free(old);
    free(d);
    return rc;
}

void sd_dir_abort(const char *tmp_dir) { sd_rm_rf(tmp_dir); }
