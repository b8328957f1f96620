#include "io/json_util.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE(w) ((w) ? (w) : "JSON")

void sd_json_line_col(const char *text, size_t pos, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') { l++; c = 1; } else c++;
    }
    *line = l;
    *col = c;
}

const char *sd_json_type_name(const cJSON *j) {
    if (!j) return "nothing";
    if (cJSON_IsObject(j)) return "object";
    if (cJSON_IsArray(j)) return "array";
    if (cJSON_IsString(j)) return "string";
    if (cJSON_IsNumber(j)) return "number";
    if (cJSON_IsBool(j)) return "boolean";
    if (cJSON_IsNull(j)) return "null";
    return "invalid";
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends to where[*len..cap) what names child `key` (or element idx when key is NULL). */
static void path_push(char *where, size_t cap, size_t *len, const char *key, int idx) {
    if (*len >= cap) return;
    char q[SD_QUOTE_CAP];
    int k = key ? snprintf(where + *len, cap - *len, "%s\"%s\"", *len ? "." : "", sd_quote_bytes(q, sizeof q, key, strlen(key)))
                : snprintf(where + *len, cap - *len, "[%d]", idx);
    *len = k < 0 ? *len : *len + (size_t)k < cap ? *len + (size_t)k : cap - 1;
}

static const char *find_dup(const cJSON *j, char *where, size_t cap, size_t len) {
    if (cJSON_IsObject(j) && j->child && j->child->next) {
        size_t n = 0, m = 0;
        for (const cJSON *c = j->child; c; c = c->next) n++;
        const char **keys = sd_xmalloc(n * sizeof *keys);
        for (const cJSON *c = j->child; c; c = c->next) keys[m++] = c->string ? c->string : "";
        qsort(keys, n, sizeof *keys, cmp_key);
        const char *dup = NULL;
        for (size_t i = 1; i < n && !dup; i++)
            if (!strcmp(keys[i - 1], keys[i])) dup = keys[i];
        free(keys);
        if (dup) return dup;
    }
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return NULL;
    int idx = 0;
    for (const cJSON *c = j->child; c; c = c->next, idx++) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c)) continue;
        size_t l = len;
        path_push(where, cap, &l, cJSON_IsObject(j) ? (c->string ? c->string : "") : NULL, idx);
        const char *dup = find_dup(c, where, cap, l);
        if (dup) return dup;
        where[len] = 0;
    }
    return NULL;
}

const char *sd_json_find_duplicate(const cJSON *j, char *where, size_t cap) {
    if (!cap) return NULL;
    where[0] = 0;
    return j ? find_dup(j, where, cap, 0) : NULL;
}

int sd_json_parse(const char *text, size_t len, const char *label, cJSON **out, sd_err *err) {
    *out = NULL;
    /* cJSON wants a terminator to be safe; a copy costs little next to parsing. */
    char *buf = sd_xstrndup(text, len);
    size_t n = strlen(buf);
    if (n != len) {
        int line, col;
        sd_json_line_col(buf, n, &line, &col);
        free(buf);
        return sd_errf(err, SD_EFORMAT, "%s:%d:%d: invalid JSON: NUL byte in text", WHERE(label), line, col);
    }
    size_t bad = sd_utf8_invalid_at(buf, n);
    if (bad < n) {
        int line, col;
        sd_json_line_col(buf, bad, &line, &col);
        int rc = sd_errf(err, SD_EFORMAT, "%s:%d:%d: invalid JSON: not UTF-8 (byte \\x%02X)", WHERE(label), line, col,
                         (unsigned char)buf[bad]);
        free(buf);
        return rc;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf, &end, false);
    if (j) {
        while (end && *end && is_ws(*end)) end++;
        if (end && *end) { cJSON_Delete(j); j = NULL; }
    }
    if (!j) {
        size_t pos = end ? (size_t)(end - buf) : 0;
        if (pos > len) pos = len;
        int line, col;
        sd_json_line_col(buf, pos, &line, &col);
        size_t k = 0;
        while (pos + k < len && k < 16 && buf[pos + k] != '\n') k++;
        char near[SD_QUOTE_CAP];
        sd_quote_bytes(near, sizeof near, buf + pos, k);
        int rc = pos >= len ? sd_errf(err, SD_EFORMAT, "%s:%d:%d: invalid JSON: unexpected end of text",
                                      WHERE(label), line, col)
                            : sd_errf(err, SD_EFORMAT, "%s:%d:%d: invalid JSON near '%s'", WHERE(label), line,
                                      col, near);
        free(buf);
        return rc;
    }
    free(buf);
    char where[256];
    const char *dup = sd_json_find_duplicate(j, where, sizeof where);
    if (dup) {
        char q[SD_QUOTE_CAP];
        int rc = sd_errf(err, SD_EFORMAT, "%s: key \"%s\" appears twice in %s (semid refuses repeated keys)",
                         WHERE(label), sd_quote_bytes(q, sizeof q, dup, strlen(dup)),
                         where[0] ? where : "the top-level object");
        cJSON_Delete(j);
        return rc;
    }
    *out = j;
    return 0;
}

int sd_json_read_file(const char *path, cJSON **out, sd_err *err) {
    char *data;
    size_t len;
    *out = NULL;
    if (sd_is_dir(path)) return sd_errf(err, SD_EIO, "%s: is a directory, expected a JSON file", path);
    int rc = sd_read_file(path, &data, &len, err);
    if (rc) return rc;
    size_t skip = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    rc = sd_json_parse(data + skip, len - skip, path, out, err);
    free(data);
    return rc;
}

int sd_json_write_file(const char *path, const cJSON *json, bool pretty, sd_err *err) {
    char *s = pretty ? cJSON_Print(json) : cJSON_PrintUnformatted(json);
    if (!s) return sd_errf(err, SD_ENOMEM, "%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    char *buf = sd_xmalloc(n + 2);
    memcpy(buf, s, n);
    buf[n] = '\n';
    cJSON_free(s);
    int rc = sd_write_file_atomic(path, buf, n + 1, err);
    free(buf);
    return rc;
}

static int type_err(const cJSON *j, const char *key, const char *want, const char *where, sd_err *err) {
    return sd_errf(err, SD_EFORMAT, "%s: \"%s\": expected %s, got %s", WHERE(where), key, want,
                   sd_json_type_name(j));
}

static int find(const cJSON *obj, const char *key, const cJSON **j, bool required, const char *where,
                sd_err *err) {
    *j = NULL;
    if (!cJSON_IsObject(obj))
        return sd_errf(err, SD_EFORMAT, "%s: expected an object holding \"%s\", got %s", WHERE(where), key,
                       sd_json_type_name(obj));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || (!required && cJSON_IsNull(v))) {
        if (required) return sd_errf(err, SD_EFORMAT, "%s: \"%s\" missing", WHERE(where), key);
        return 0;
    }
    *j = v;
    return 0;
}

int sd_json_as_i64(const cJSON *j, int64_t *v, const char *where, const char *what, sd_err *err) {
    if (!cJSON_IsNumber(j)) return type_err(j, what, "an integer", where, err);
    double d = j->valuedouble;
    /* 2^63 is exactly representable; anything at or beyond it does not fit */
    if (!(d == floor(d)) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
        return sd_errf(err, SD_EFORMAT, "%s: \"%s\": expected an integer, got %.17g", WHERE(where), what, d);
    *v = (int64_t)d;
    return 0;
}

int sd_json_get_i64(const cJSON *obj, const char *key, int64_t *v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    return rc ? rc : sd_json_as_i64(j, v, where, key, err);
}

int sd_json_get_int(const cJSON *obj, const char *key, int *v, const char *where, sd_err *err) {
    int64_t x;
    int rc = sd_json_get_i64(obj, key, &x, where, err);
    if (rc) return rc;
    if (x < INT32_MIN || x > INT32_MAX)
        return sd_errf(err, SD_ERANGE, "%s: \"%s\": %lld is out of range for an int", WHERE(where), key, (long long)x);
    *v = (int)x;
    return 0;
}

int sd_json_get_double(const cJSON *obj, const char *key, double *v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    if (rc) return rc;
    if (!cJSON_IsNumber(j)) return type_err(j, key, "a number", where, err);
    *v = j->valuedouble;
    return 0;
}

int sd_json_get_bool(const cJSON *obj, const char *key, bool *v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    if (rc) return rc;
    if (!cJSON_IsBool(j)) return type_err(j, key, "true or false", where, err);
    *v = cJSON_IsTrue(j);
    return 0;
}

int sd_json_get_string(const cJSON *obj, const char *key, const char **v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    if (rc) return rc;
    if (!cJSON_IsString(j)) return type_err(j, key, "a string", where, err);
    *v = j->valuestring;
    return 0;
}

int sd_json_get_object(const cJSON *obj, const char *key, const cJSON **v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    if (rc) return rc;
    if (!cJSON_IsObject(j)) return type_err(j, key, "an object", where, err);
    *v = j;
    return 0;
}

int sd_json_get_array(const cJSON *obj, const char *key, const cJSON **v, const char *where, sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, true, where, err);
    if (rc) return rc;
    if (!cJSON_IsArray(j)) return type_err(j, key, "an array", where, err);
    *v = j;
    return 0;
}

/* Optional getters: absent or null keeps the default, anything else goes through the strict getter. */
#define OPT_GETTER(fn, get, T)                                                                   \
    int fn(const cJSON *obj, const char *key, T *v, T def, const char *where, sd_err *err) {     \
        const cJSON *j;                                                                          \
        int rc = find(obj, key, &j, false, where, err);                                          \
        if (rc) return rc;                                                                       \
        if (!j) { *v = def; return 0; }                                                          \
        return get(obj, key, v, where, err);                                                     \
    }
OPT_GETTER(sd_json_opt_int, sd_json_get_int, int)
OPT_GETTER(sd_json_opt_i64, sd_json_get_i64, int64_t)
OPT_GETTER(sd_json_opt_double, sd_json_get_double, double)
OPT_GETTER(sd_json_opt_bool, sd_json_get_bool, bool)

int sd_json_opt_string(const cJSON *obj, const char *key, const char **v, const char *def, const char *where,
                       sd_err *err) {
    const cJSON *j;
    int rc = find(obj, key, &j, false, where, err);
    if (rc) return rc;
    if (!j) { *v = def; return 0; }
    return sd_json_get_string(obj, key, v, where, err);
}
