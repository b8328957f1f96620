/* Small helpers on top of cJSON: parse a file with a line:column error, typed getters whose
 * errors name the file and key, and atomic writes.
 *
 * Getter contract: `sd_json_get_*` require the key (missing -> SD_EFORMAT "file: \"key\" missing");
 * `sd_json_opt_*` leave *v at the given default when the key is missing or null. A value of the
 * wrong type is always an error naming file, key, expected and found type. `where` is the file
 * (or "file: section") used as the message prefix; it may be NULL. */
#ifndef SD_JSON_UTIL_H
#define SD_JSON_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/err.h"

/* Parses text[0..len) (need not be NUL terminated). Errors: "label:LINE:COL: invalid JSON near
 * '...'"; trailing non-whitespace after the value is an error, so is text that is not UTF-8, and
 * so is an object holding one key twice ("label: key \"hidden_size\" appears twice in the
 * top-level object"): Python's json keeps the last value and cJSON the first, so semid refuses
 * rather than read a file differently from transformers. */
int sd_json_parse(const char *text, size_t len, const char *label, cJSON **out, sd_err *err);
/* Reads and parses a file (gzip-aware, like sd_read_file; a leading UTF-8 byte order mark is
 * skipped; a directory is refused as one). Free with cJSON_Delete. */
int sd_json_read_file(const char *path, cJSON **out, sd_err *err);
/* Writes the JSON (indented when pretty) plus a final newline atomically. */
int sd_json_write_file(const char *path, const cJSON *json, bool pretty, sd_err *err);
/* A key found twice in one object anywhere in j (NULL if none); where (cap bytes) then names
 * that object by its path: "" for j itself, "\"rope_scaling\"", "\"a\".\"b\"" or "\"a\"[3]". */
const char *sd_json_find_duplicate(const cJSON *j, char *where, size_t cap);
/* 1-based line and column of byte offset pos in text. */
void sd_json_line_col(const char *text, size_t pos, int *line, int *col);
/* "object", "array", "string", "number", "true/false", "null". */
const char *sd_json_type_name(const cJSON *j);

/* Integers must be integral numbers in the target type's range (1.0 is accepted, 1.5 is not). */
int sd_json_get_int(const cJSON *obj, const char *key, int *v, const char *where, sd_err *err);
int sd_json_get_i64(const cJSON *obj, const char *key, int64_t *v, const char *where, sd_err *err);
int sd_json_get_double(const cJSON *obj, const char *key, double *v, const char *where, sd_err *err);
int sd_json_get_bool(const cJSON *obj, const char *key, bool *v, const char *where, sd_err *err);
/* *v points into obj (valid while obj lives). */
int sd_json_get_string(const cJSON *obj, const char *key, const char **v, const char *where, sd_err *err);
int sd_json_get_object(const cJSON *obj, const char *key, const cJSON **v, const char *where, sd_err *err);
int sd_json_get_array(const cJSON *obj, const char *key, const cJSON **v, const char *where, sd_err *err);

int sd_json_opt_int(const cJSON *obj, const char *key, int *v, int def, const char *where, sd_err *err);
int sd_json_opt_i64(const cJSON *obj, const char *key, int64_t *v, int64_t def, const char *where, sd_err *err);
int sd_json_opt_double(const cJSON *obj, const char *key, double *v, double def, const char *where, sd_err *err);
int sd_json_opt_bool(const cJSON *obj, const char *key, bool *v, bool def, const char *where, sd_err *err);
int sd_json_opt_string(const cJSON *obj, const char *key, const char **v, const char *def, const char *where,
                       sd_err *err);

/* Integral-number check for a value already in hand (e.g. an array element); `what` names it in
 * the message ("shape[2]"). */
int sd_json_as_i64(const cJSON *j, int64_t *v, const char *where, const char *what, sd_err *err);

#endif
