/* Files: line reading from plain or gzip input (detected by content, not name), whole-file
 * reads, read-only mmap, atomic writes (temp file + fsync + rename) and atomic directories. */
#ifndef SD_FILE_H
#define SD_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/err.h"

/* ---- line reader ---- */
typedef struct sd_lines sd_lines;
/* Longest line sd_lines_next returns (a power of two); a longer one is an error naming the line. */
#ifndef SD_LINE_MAX
#define SD_LINE_MAX (256 << 20)
#endif
/* Opens path (plain or gzip). A UTF-8 BOM at the start is skipped. */
int sd_lines_open(sd_lines **out, const char *path, sd_err *err);
/* Next line without its "\n" or "\r\n"; *line stays valid until the next call (and is NUL
 * terminated; embedded NULs are reported by len > strlen). Returns 1 for a line, 0 at end of
 * file, <0 on error (a truncated or corrupt gzip stream is an error naming the file and line). */
int sd_lines_next(sd_lines *r, char **line, size_t *len, sd_err *err);
int64_t sd_lines_lineno(const sd_lines *r); /* 1-based number of the last line returned */
int64_t sd_lines_bytes(const sd_lines *r);  /* uncompressed bytes consumed so far */
int64_t sd_lines_compressed_pos(const sd_lines *r); /* bytes of the file read so far (for progress) */
const char *sd_lines_path(const sd_lines *r);
void sd_lines_close(sd_lines *r);

/* Whole file (gzip-aware) into a NUL-terminated malloc'd buffer. */
int sd_read_file(const char *path, char **data, size_t *len, sd_err *err);
int64_t sd_file_size(const char *path); /* -1 if missing */
/* A small file as it is on disk (no gzip, a link not followed, a regular file of at most max
 * bytes) into a NUL-terminated malloc'd buffer: for semid's own records, read before trusting. */
int sd_read_small_file(const char *path, size_t max, char **data, size_t *len, sd_err *err);
bool sd_exists(const char *path);
bool sd_is_dir(const char *path);

/* ---- mmap (read-only) ---- */
typedef struct sd_map { void *data; size_t size; } sd_map;
int sd_map_open(sd_map *m, const char *path, sd_err *err);
void sd_map_close(sd_map *m);

/* ---- atomic writes ---- */
typedef struct sd_atomic { FILE *f; char *path; char *tmp; } sd_atomic;
/* Writes go to "path.tmp.<pid>"; commit flushes, fsyncs and renames over path; abort unlinks.
 * open refuses a path that is not a regular file (sd_out_file_check) and removes stale temps. */
int sd_atomic_open(sd_atomic *a, const char *path, sd_err *err);
int sd_atomic_commit(sd_atomic *a, sd_err *err);
void sd_atomic_abort(sd_atomic *a);
int sd_write_file_atomic(const char *path, const void *data, size_t len, sd_err *err);

/* ---- atomic directories ----
 * A stage that writes several files builds them in a fresh sibling "DIR.tmp.<pid>" (holding
 * SD_DIR_MARKER from the start) and then swaps it in, so a failure never leaves a half-written
 * DIR. begin checks DIR with sd_out_dir_check (flags: SD_OUT_FORCE or 0) and removes stale temp
 * dirs of dead runs; commit swaps in one step (renameat2 RENAME_EXCHANGE) so DIR is never
 * missing, refuses if DIR has meanwhile become something other than a directory, and removes
 * the old contents. */
int sd_dir_begin(const char *dir, char **tmp_dir, sd_err *err); /* flags 0 */
int sd_dir_begin_flags(const char *dir, char **tmp_dir, unsigned flags, sd_err *err);
int sd_dir_commit(const char *tmp_dir, const char *dir, sd_err *err);
void sd_dir_abort(const char *tmp_dir);
int sd_mkdir_p(const char *dir, sd_err *err);
int sd_rm_rf(const char *path);

/* ---- what an output may replace ----
 * semid replaces only what it wrote itself. A directory it wrote holds SD_DIR_MARKER (a small
 * JSON file {"semid": VERSION}) or, for work directories written before the marker existed,
 * a meta.json with a "semid" key. Every refusal is SD_EUSAGE (exit 2) and names the path and
 * what is there. */
#define SD_DIR_MARKER ".semid"
enum { SD_OUT_FORCE = 1 }; /* --force: a non-empty directory semid did not write may be replaced */
/* True when dir is a directory (not a link to one) holding semid's marker. */
bool sd_dir_is_semid(const char *dir);
/* May dir be written (created or replaced) as an output directory? Absent, empty, semid's own,
 * or any directory with SD_OUT_FORCE; never a regular file, device, fifo, socket or symlink. */
int sd_out_dir_check(const char *dir, unsigned flags, sd_err *err);
/* True when path names dir itself or something inside it (both resolved with realpath; false
 * when either does not exist): an output at dir would replace path. */
bool sd_path_within(const char *path, const char *dir);
/* May path be written as a single output file? Absent or a regular file (replaced, as asked);
 * never a directory, device, fifo, socket or symlink. */
int sd_out_file_check(const char *path, sd_err *err);
/* Removes siblings of path named exactly "BASE.tmp.PID" or "BASE.new.PID" (BASE = path's last
 * component) that belong to this user and whose process is gone: what a killed run left.
 * Returns how many were removed. */
int sd_clean_stale_temps(const char *path);

/* ---- one writer per output ----
 * An advisory flock on "OUT.lock" beside the output (it works before OUT exists and is not part
 * of OUT); the holder's pid is written in it and the file is removed on release by the last
 * holder. A second writer fails at once with "OUT is being written by pid N" (SD_ESTATE, exit 1).
 * A shared lock is for a command that writes its own files inside a work directory: WORK stays
 * as it is while it runs (prep/synth, which replace WORK, take it exclusively), but several such
 * commands may run at once, each holding the exclusive lock of its own output. Initialise an
 * sd_lock with {.fd = -1} when sd_unlock may run before sd_lock_output. */
typedef struct sd_lock { int fd; char *path; bool shared; } sd_lock;
int sd_lock_output(sd_lock *l, const char *out, sd_err *err);
/* Shared: the parent is not created, and where it is missing nothing is locked (returns 0). */
int sd_lock_output_shared(sd_lock *l, const char *out, sd_err *err);
void sd_unlock(sd_lock *l);

/* malloc'd "a/b". */
char *sd_path_join(const char *dir, const char *name);

#endif
