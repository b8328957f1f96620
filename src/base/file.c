#define _GNU_SOURCE
#include "base/file.h"
#include "base/mem.h"
#include "base/version.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
        /* one record never needs this much; a file without newlines (or a gzip bomb) would
         * otherwise grow the buffer until memory runs out */
        if (r->cap >= (size_t)SD_LINE_MAX)
            return sd_errf(err, SD_EFORMAT, "%s:%lld: line longer than %d MiB (not a file of text lines?)", r->path,
                           (long long)r->lineno + 1, SD_LINE_MAX >> 20);
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

int sd_read_small_file(const char *path, size_t max, char **data, size_t *len, sd_err *err) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        return sd_errf(err, SD_EFORMAT, "%s: not a regular file of at most %zu bytes", path, max);
    }
    char *buf = sd_xmalloc((size_t)st.st_size + 1);
    size_t n = 0;
    ssize_t got = 1;
    while (n < (size_t)st.st_size && (got = read(fd, buf + n, (size_t)st.st_size - n)) > 0) n += (size_t)got;
    close(fd);
    if (got < 0) { free(buf); return sd_errf(err, SD_EIO, "%s: read failed: %s", path, strerror(errno)); }
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
    a->f = NULL;
    a->path = a->tmp = NULL;
    int rc = sd_out_file_check(path, err);
    if (rc) return rc;
    sd_clean_stale_temps(path);
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

/* Links are removed, never followed; another file system mounted inside is not entered. */
int sd_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
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

/* malloc'd copy of path without trailing slashes: "work/" must name the link "work" itself,
 * not what it points to, and the temp dir must be a sibling, not a child. */
static char *strip_slashes(const char *path) {
    char *d = sd_xstrdup(path);
    for (size_t k = strlen(d); k > 1 && d[k - 1] == '/'; k--) d[k - 1] = 0;
    return d;
}

static const char *kind_of(mode_t m) {
    return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : S_ISFIFO(m) ? "a fifo"
         : S_ISSOCK(m) ? "a socket" : "a special file";
}

static bool dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false; /* unreadable: not known to be empty */
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
    closedir(d);
    return empty;
}

/* A small regular file (not a link) holding a JSON object with a string "semid". */
static bool has_semid_key(const char *dir, const char *name) {
    char *p = sd_path_join(dir, name);
    bool ok = false;
    char *data;
    size_t len;
    if (sd_read_small_file(p, 1 << 20, &data, &len, NULL) == 0) {
        cJSON *j = cJSON_Parse(data);
        ok = cJSON_IsObject(j) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "semid"));
        cJSON_Delete(j);
        free(data);
    }
    free(p);
    return ok;
}

bool sd_dir_is_semid(const char *dir) {
    char *d = strip_slashes(dir);
    struct stat st;
    bool ok = lstat(d, &st) == 0 && S_ISDIR(st.st_mode) &&
              (has_semid_key(d, SD_DIR_MARKER) || has_semid_key(d, "meta.json"));
    free(d);
    return ok;
}

static int refuse_kind(const char *path, mode_t m, const char *want, sd_err *err) {
    if (S_ISLNK(m))
        return sd_errf(err, SD_EUSAGE, "%s: is a symbolic link; semid does not write through links (give the real "
                       "path, or another output path)", path);
    return sd_errf(err, SD_EUSAGE, "%s: exists and is %s, not %s; semid will not replace it (choose another output "
                   "path)", path, kind_of(m), want);
}

int sd_out_dir_check(const char *dir, unsigned flags, sd_err *err) {
    char *d = strip_slashes(dir);
    struct stat st;
    int rc = 0;
    if (lstat(d, &st) != 0) {
        if (errno != ENOENT) rc = sd_errf(err, SD_EIO, "%s: cannot inspect: %s", d, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        rc = refuse_kind(d, st.st_mode, "a directory semid wrote", err);
    } else if (!(flags & SD_OUT_FORCE) && !dir_is_empty(d) && !sd_dir_is_semid(d)) {
        rc = sd_errf(err, SD_EUSAGE, "%s: is a non-empty directory that semid did not write (no %s marker, no meta.json "
                     "with a \"semid\" key); semid will not replace it: choose another output path, or pass --force to "
                     "replace the directory and everything in it", d, SD_DIR_MARKER);
    }
    free(d);
    return rc;
}

int sd_out_file_check(const char *path, sd_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : sd_errf(err, SD_EIO, "%s: cannot inspect: %s", path, strerror(errno));
    return S_ISREG(st.st_mode) ? 0 : refuse_kind(path, st.st_mode, "a regular file", err);
}

/* ".tmp.PID" or ".new.PID" at s (PID: 1-9 digits, no leading 0): returns PID and sets *end. */
static long tag_pid(const char *s, const char **end) {
    if (strncmp(s, ".tmp.", 5) && strncmp(s, ".new.", 5)) return 0;
    const char *p = s + 5;
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 9 || p[0] == '0') return 0;
    *end = p + nd;
    return strtol(p, NULL, 10);
}

/* "BASE.tmp.PID", "BASE.new.PID" or "BASE.new.PID.tmp.PID" (a staged file's own temp, the same
 * PID) exactly: returns PID, else 0. */
static long temp_pid(const char *name, const char *base) {
    size_t bl = strlen(base);
    const char *end;
    if (strncmp(name, base, bl)) return 0;
    long pid = tag_pid(name + bl, &end);
    if (pid && *end) {
        const char *end2;
        long pid2 = name[bl + 1] == 'n' ? tag_pid(end, &end2) : 0;
        pid = pid2 == pid && end[1] == 't' && !*end2 ? pid : 0;
    }
    return pid;
}

int sd_clean_stale_temps(const char *path) {
    char *d = strip_slashes(path);
    char *slash = strrchr(d, '/');
    const char *base = slash ? slash + 1 : d;
    char *parent = slash ? (slash == d ? sd_xstrdup("/") : sd_xstrndup(d, (size_t)(slash - d))) : sd_xstrdup(".");
    int removed = 0;
    DIR *dd = *base ? opendir(parent) : NULL;
    struct dirent *e;
    while (dd && (e = readdir(dd))) {
        long pid = temp_pid(e->d_name, base);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        struct stat st;
        if (fstatat(dirfd(dd), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != geteuid()) continue;
        char *p = sd_path_join(parent, e->d_name);
        if (S_ISDIR(st.st_mode) ? sd_rm_rf(p) == 0 : S_ISREG(st.st_mode) ? unlink(p) == 0 : false) removed++;
        free(p);
    }
    if (dd) closedir(dd);
    free(parent);
    free(d);
    return removed;
}

/* The holder's pid from the lock file, and whether it holds the lock shared. */
static int read_lock_pid(int fd, bool *shared) {
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    *shared = n > 0 && strstr(buf, "shared");
    return n > 0 ? atoi(buf) : 0;
}

static int lock_output(sd_lock *l, const char *out, bool shared, sd_err *err) {
    l->fd = -1;
    l->path = NULL;
    l->shared = shared;
    char *d = strip_slashes(out);
    size_t n = strlen(d) + 8;
    char *p = sd_xmalloc(n);
    snprintf(p, n, "%s.lock", d);
    char *slash = strrchr(d, '/');
    if (!shared && slash && slash != d) { /* the output's parent may not exist yet: it is created as part of the output */
        *slash = 0;
        int rc = sd_mkdir_p(d, err);
        if (rc) { free(d); free(p); return rc; }
        *slash = '/';
    }
    int rc = 0;
    /* The last holder unlinks the file as it releases it; a lock taken on an unlinked file is
     * retried on the new one, so two writers never both hold "the" lock. */
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        struct stat a, b;
        if (fd < 0 && shared && errno == ENOENT) break; /* no directory there to keep: its reader says so */
        if (fd < 0) { rc = sd_errf(err, SD_EIO, "%s: cannot create the lock file: %s", p, strerror(errno)); break; }
        if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) {
            close(fd);
            rc = sd_errf(err, SD_EUSAGE, "%s: the lock file is not a regular file", p);
            break;
        }
        if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
            int e = errno;
            bool by_shared;
            int pid = read_lock_pid(fd, &by_shared);
            close(fd);
            if (e != EWOULDBLOCK) { rc = sd_errf(err, SD_EIO, "%s: cannot lock: %s", p, strerror(e)); break; }
            if (pid > 0 && by_shared)
                rc = sd_errf(err, SD_ESTATE, "%s is in use by pid %d, which writes into it (lock %s)", d, pid, p);
            else if (pid > 0) rc = sd_errf(err, SD_ESTATE, "%s is being written by pid %d (lock %s)", d, pid, p);
            else rc = sd_errf(err, SD_ESTATE, "%s is being written by another process (lock %s)", d, p);
            break;
        }
        if (lstat(p, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char buf[32];
            int k = snprintf(buf, sizeof buf, "%d%s\n", (int)getpid(), shared ? " shared" : "");
            if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)k, 0) != k) { /* the lock holds without the pid */ }
            l->fd = fd;
            l->path = p;
            free(d);
            return 0;
        }
        close(fd);
    }
    if (!rc && !shared) rc = sd_errf(err, SD_ESTATE, "%s: could not take the lock %s", d, p);
    free(d);
    free(p);
    return rc;
}

int sd_lock_output(sd_lock *l, const char *out, sd_err *err) { return lock_output(l, out, false, err); }
int sd_lock_output_shared(sd_lock *l, const char *out, sd_err *err) { return lock_output(l, out, true, err); }

void sd_unlock(sd_lock *l) {
    if (l->fd >= 0) {
        /* Only a holder of the exclusive lock on the file the path names may unlink it (nobody
         * can replace the path meanwhile); a shared holder removes it only if it is the last. */
        struct stat a, b;
        bool last = !l->shared || flock(l->fd, LOCK_EX | LOCK_NB) == 0;
        if (last && fstat(l->fd, &a) == 0 && lstat(l->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            unlink(l->path);
        close(l->fd);
    }
    free(l->path);
    l->fd = -1;
    l->path = NULL;
}

int sd_dir_begin(const char *dir, char **tmp_dir, sd_err *err) { return sd_dir_begin_flags(dir, tmp_dir, 0, err); }

int sd_dir_begin_flags(const char *dir, char **tmp_dir, unsigned flags, sd_err *err) {
    int rc = sd_out_dir_check(dir, flags, err);
    if (rc) return rc;
    char *d = strip_slashes(dir);
    size_t n = strlen(d) + 32;
    char *t = sd_xmalloc(n);
    snprintf(t, n, "%s.tmp.%d", d, (int)getpid());
    free(d);
    sd_clean_stale_temps(dir);
    sd_rm_rf(t);
    rc = sd_mkdir_p(t, err);
    if (!rc) {
        char *mark = sd_path_join(t, SD_DIR_MARKER);
        const char *text = "{\"semid\": \"" SEMID_VERSION "\"}\n";
        rc = sd_write_file_atomic(mark, text, strlen(text), err);
        free(mark);
        if (rc) sd_rm_rf(t);
    }
    if (rc) { free(t); return rc; }
    *tmp_dir = t;
    return 0;
}

/* Replaces d by tmp_dir by renaming d aside first: for file systems without RENAME_EXCHANGE. */
static int commit_by_rename(const char *tmp_dir, const char *d, sd_err *err) {
    size_t n = strlen(d) + 32;
    char *old = sd_xmalloc(n);
    snprintf(old, n, "%s.old.%d", d, (int)getpid());
    int rc = 0;
    if (rename(d, old) != 0) rc = sd_errf(err, SD_EIO, "%s: cannot replace: %s", d, strerror(errno));
    else if (rename(tmp_dir, d) != 0) {
        rc = sd_errf(err, SD_EIO, "%s: cannot rename into place: %s", d, strerror(errno));
        rename(old, d);
    } else {
        sd_rm_rf(old);
    }
    free(old);
    return rc;
}

int sd_dir_commit(const char *tmp_dir, const char *dir, sd_err *err) {
    char *d = strip_slashes(dir);
    struct stat st;
    int rc = 0;
    if (lstat(d, &st) != 0) {
        if (rename(tmp_dir, d) != 0) rc = sd_errf(err, SD_EIO, "%s: cannot rename into place: %s", d, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        rc = refuse_kind(d, st.st_mode, "a directory semid wrote", err); /* it changed since begin */
    } else if (renameat2(AT_FDCWD, tmp_dir, AT_FDCWD, d, RENAME_EXCHANGE) == 0) {
        sd_rm_rf(tmp_dir); /* now the previous contents */
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        rc = commit_by_rename(tmp_dir, d, err);
    } else {
        rc = sd_errf(err, SD_EIO, "%s: cannot replace: %s", d, strerror(errno));
    }
    free(d);
    return rc;
}

void sd_dir_abort(const char *tmp_dir) { sd_rm_rf(tmp_dir); }

bool sd_path_within(const char *path, const char *dir) {
    char *p = realpath(path, NULL), *d = realpath(dir, NULL);
    size_t n = d ? strlen(d) : 0;
    /* "/" is a prefix of everything; otherwise dir must be followed by the end or a slash */
    bool in = p && d && !strncmp(p, d, n) && (p[n] == 0 || p[n] == '/' || (n == 1 && d[0] == '/'));
    free(p);
    free(d);
    return in;
}
