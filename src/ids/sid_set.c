#include "ids/sid_set.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/version.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Size and CRC-32 of a regular file (a link is not followed: the set is what is in WORK). */
static int file_sum(const char *path, int64_t *bytes, uint32_t *crc, sd_err *err) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sd_errf(err, SD_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sd_errf(err, SD_EIO, "%s: not a regular file", path);
    }
    size_t cap = 1 << 20;
    unsigned char *buf = sd_xmalloc(cap);
    uLong c = crc32(0L, Z_NULL, 0);
    int64_t n = 0;
    ssize_t got;
    while ((got = read(fd, buf, cap)) > 0) {
        c = crc32(c, buf, (uInt)got);
        n += got;
    }
    int e = errno;
    free(buf);
    close(fd);
    if (got < 0) return sd_errf(err, SD_EIO, "%s: read failed: %s", path, strerror(e));
    *bytes = n;
    *crc = (uint32_t)c;
    return 0;
}

static char *split_dir(const char *path, const char **base) {
    const char *s = strrchr(path, '/');
    *base = s ? s + 1 : path;
    return s ? sd_xstrndup(path, (size_t)(s - path) + 1) : sd_xstrdup("");
}

static char *record_name(const char *dir, const char *prefix) {
    size_t n = strlen(dir) + strlen(prefix) + 32;
    char *p = sd_xmalloc(n);
    snprintf(p, n, "%s%s%sids_set.json", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", prefix);
    return p;
}

char *sd_sid_set_record_path(const char *path) {
    const char *base;
    char *dir = split_dir(path, &base);
    size_t bl = strlen(base);
    char *rec = NULL;
    size_t sl = bl >= 8 && (!strcmp(base + bl - 8, "sids.tsv") || !strcmp(base + bl - 8, "sids.bin")) ? 8
                : bl >= 14 && !strcmp(base + bl - 14, "sid_vocab.json")                                 ? 14
                                                                                                         : 0;
    if (sl) {
        char *prefix = sd_xstrndup(base, bl - sl);
        rec = record_name(dir, prefix);
        free(prefix);
    }
    free(dir);
    return rec;
}

int sd_sid_set_write(const char *dir, const char *prefix, const sd_sid_set_file *files, int n, sd_err *err) {
    cJSON *r = cJSON_CreateObject(), *fs = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "semid", SEMID_VERSION);
    uLong gen = crc32(0L, Z_NULL, 0), gen2 = adler32(0L, Z_NULL, 0);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int64_t bytes;
        uint32_t crc;
        if ((rc = file_sum(files[i].staged, &bytes, &crc, err))) break;
        char hex[16], line[600];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        cJSON *e = cJSON_AddObjectToObject(fs, files[i].name);
        cJSON_AddNumberToObject(e, "bytes", (double)bytes);
        cJSON_AddStringToObject(e, "crc32", hex);
        int k = snprintf(line, sizeof line, "%s %lld %s\n", files[i].name, (long long)bytes, hex);
        gen = crc32(gen, (const unsigned char *)line, (uInt)k);
        gen2 = adler32(gen2, (const unsigned char *)line, (uInt)k);
    }
    char g[24];
    snprintf(g, sizeof g, "%08lx%08lx", (unsigned long)(gen & 0xffffffffUL), (unsigned long)(gen2 & 0xffffffffUL));
    cJSON_AddStringToObject(r, "generation", g);
    cJSON_AddItemToObject(r, "files", fs);
    if (!rc) {
        char *path = record_name(dir, prefix), *s = cJSON_Print(r);
        size_t len = strlen(s);
        s = sd_xrealloc(s, len + 2);
        s[len] = '\n';
        rc = sd_write_file_atomic(path, s, len + 1, err);
        free(s);
        free(path);
    }
    cJSON_Delete(r);
    return rc;
}

int sd_sid_set_check(const char *path, sd_err *err) {
    char *rec = sd_sid_set_record_path(path);
    if (!rec || !sd_exists(rec)) { free(rec); return 0; }
    const char *base;
    char *dir = split_dir(path, &base);
    char *data = NULL;
    size_t len;
    int rc = sd_read_small_file(rec, 1 << 20, &data, &len, err);
    cJSON *r = rc ? NULL : cJSON_Parse(data);
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(r, "files");
    if (!rc && (!cJSON_IsObject(fs) || !fs->child))
        rc = sd_errf(err, SD_EFORMAT, "%s: not a record of a semantic-ID set (no \"files\" object); run `semid ids` "
                     "again or delete it", rec);
    char bad[700] = "";
    size_t nb = 0;
    bool listed = false;
    const cJSON *e, *list = rc ? NULL : fs;
    cJSON_ArrayForEach(e, list) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "bytes"), *c = cJSON_GetObjectItemCaseSensitive(e, "crc32");
        if (!e->string || !*e->string || strchr(e->string, '/') || !cJSON_IsNumber(b) || !cJSON_IsString(c)) {
            rc = sd_errf(err, SD_EFORMAT, "%s: entry \"%s\" is not {\"bytes\": N, \"crc32\": \"hex\"}", rec,
                         e->string ? e->string : "");
            break;
        }
        if (!strcmp(e->string, base)) listed = true;
        char *p = sd_path_join(*dir ? dir : ".", e->string);
        int64_t bytes;
        uint32_t crc;
        char hex[16] = "";
        bool ok = sd_exists(p) && file_sum(p, &bytes, &crc, NULL) == 0;
        if (ok) snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        if (!ok || bytes != (int64_t)b->valuedouble || strcmp(hex, c->valuestring))
            nb += (size_t)snprintf(bad + nb, nb < sizeof bad ? sizeof bad - nb : 0, "%s%s%s", nb ? ", " : "", p,
                                   ok ? "" : " (missing)");
        if (nb >= sizeof bad) nb = sizeof bad - 1;
        free(p);
    }
    if (!rc && !listed)
        nb += (size_t)snprintf(bad + nb, nb < sizeof bad ? sizeof bad - nb : 0, "%s%s (not in the record)",
                               nb ? ", " : "", path);
    if (!rc && nb)
        rc = sd_errf(err, SD_EFORMAT, "%s: mixed semantic-ID outputs: %s not written by the same `semid ids` run as "
                     "the rest of the set recorded in %s (an interrupted run, or a file replaced); run `semid ids` "
                     "again, or delete %s to use the files as they are", path, bad, rec, rec);
    cJSON_Delete(r);
    free(data);
    free(dir);
    free(rec);
    return rc;
}
