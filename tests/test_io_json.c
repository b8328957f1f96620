/* JSON helpers: parse errors with line:column, typed getters naming file and key, atomic writes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "io/json_util.h"
#include "test_util.h"

static char *write_tmp(const char *name, const char *text) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, name);
    cr_assert_eq(sd_write_file_atomic(p, text, strlen(text), NULL), 0);
    return p;
}

static void bad_json(const char *text, const char *want) {
    cJSON *j;
    sd_err err = {0};
    cr_assert_eq(sd_json_parse(text, strlen(text), "cfg.json", &j, &err), SD_EFORMAT, "accepted %s", text);
    cr_assert_null(j);
    cr_assert(strstr(err.msg, want), "text %s\nmessage %s\nexpected %s", text, err.msg, want);
}

Test(json, parse_errors_have_line_and_column) {
    bad_json("{\n  \"a\": 1,\n  \"b\": tru\n}", "cfg.json:3:8: invalid JSON near 'tru'");
    bad_json("{\"a\": [1, 2", "cfg.json:1:12: invalid JSON: unexpected end of text");
    bad_json("", "cfg.json:1:1: invalid JSON");
    bad_json("{} {}", "cfg.json:1:4: invalid JSON near '{}'");
    bad_json("{\"a\":\n\n   }", "cfg.json:3:4");
    cJSON *j;
    sd_err err = {0};
    cr_assert_eq(sd_json_parse("{\"a\":1}\0junk", 12, "nul.json", &j, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "nul.json:1:8: invalid JSON: NUL byte"), "%s", err.msg);
    /* not NUL-terminated input is fine; trailing whitespace too */
    const char text[] = "[1, 2]  \n\tXXXX";
    cr_assert_eq(sd_json_parse(text, 10, "x", &j, &err), 0, "%s", err.msg);
    cr_assert_eq(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);
    char *p = write_tmp("bad.json", "\xEF\xBB\xBF{\"k\": [1,\n 2,,]}");
    cr_assert_eq(sd_json_read_file(p, &j, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, p) && strstr(err.msg, ":2:4: invalid JSON near ',]}'"), "%s", err.msg);
    free(p);
    cr_assert_eq(sd_json_read_file("/nonexistent/c.json", &j, &err), SD_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/c.json"), "%s", err.msg);
}

Test(json, typed_getters) {
    const char *text = "{\"hidden_size\": 1024, \"big\": 12345678901234, \"eps\": 1e-6, \"frac\": 2.5,"
                       " \"name\": \"qwen3\", \"tie\": true, \"none\": null, \"arr\": [1], \"obj\": {},"
                       " \"huge\": 1e300, \"as_float\": 8.0}";
    cJSON *j;
    sd_err err = {0};
    cr_assert_eq(sd_json_parse(text, strlen(text), "config.json", &j, &err), 0, "%s", err.msg);
    int v;
    int64_t big;
    double d;
    bool b;
    const char *s;
    const cJSON *o;
    cr_assert_eq(sd_json_get_int(j, "hidden_size", &v, "config.json", &err), 0);
    cr_assert_eq(v, 1024);
    cr_assert_eq(sd_json_get_int(j, "as_float", &v, "config.json", &err), 0);
    cr_assert_eq(v, 8);
    cr_assert_eq(sd_json_get_i64(j, "big", &big, "config.json", &err), 0);
    cr_assert_eq(big, 12345678901234ll);
    cr_assert_eq(sd_json_get_int(j, "big", &v, "config.json", &err), SD_ERANGE);
    cr_assert(strstr(err.msg, "config.json: \"big\": 12345678901234 is out of range"), "%s", err.msg);
    cr_assert_eq(sd_json_get_int(j, "frac", &v, "config.json", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "config.json: \"frac\": expected an integer, got 2.5"), "%s", err.msg);
    cr_assert_eq(sd_json_get_i64(j, "huge", &big, "config.json", &err), SD_EFORMAT);
    cr_assert_eq(sd_json_get_int(j, "name", &v, "config.json", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "config.json: \"name\": expected an integer, got string"), "%s", err.msg);
    cr_assert_eq(sd_json_get_int(j, "intermediate_size", &v, "config.json", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "config.json: \"intermediate_size\" missing"), "%s", err.msg);
    cr_assert_eq(sd_json_get_double(j, "eps", &d, "config.json", &err), 0);
    cr_assert_eq(d, 1e-6);
    cr_assert_eq(sd_json_get_double(j, "hidden_size", &d, "config.json", &err), 0);
    cr_assert_eq(sd_json_get_double(j, "tie", &d, "config.json", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "expected a number, got boolean"), "%s", err.msg);
    cr_assert_eq(sd_json_get_bool(j, "tie", &b, "config.json", &err), 0);
    cr_assert(b);
    cr_assert_eq(sd_json_get_bool(j, "name", &b, "config.json", &err), SD_EFORMAT);
    cr_assert_eq(sd_json_get_string(j, "name", &s, "config.json", &err), 0);
    cr_assert_str_eq(s, "qwen3");
    cr_assert_eq(sd_json_get_string(j, "none", &s, "config.json", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "expected a string, got null"), "%s", err.msg);
    cr_assert_eq(sd_json_get_array(j, "arr", &o, "config.json", &err), 0);
    cr_assert_eq(sd_json_get_array(j, "obj", &o, "config.json", &err), SD_EFORMAT);
    cr_assert_eq(sd_json_get_object(j, "obj", &o, "config.json", &err), 0);
    cr_assert_eq(sd_json_get_object(j, "arr", &o, "config.json", &err), SD_EFORMAT);
    /* optional: absent or null -> default; wrong type still an error */
    cr_assert_eq(sd_json_opt_int(j, "absent", &v, 7, "config.json", &err), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(sd_json_opt_int(j, "none", &v, 8, "config.json", &err), 0);
    cr_assert_eq(v, 8);
    cr_assert_eq(sd_json_opt_int(j, "name", &v, 8, "config.json", &err), SD_EFORMAT);
    cr_assert_eq(sd_json_opt_i64(j, "big", &big, 0, "config.json", &err), 0);
    cr_assert_eq(big, 12345678901234ll);
    cr_assert_eq(sd_json_opt_double(j, "absent", &d, 0.5, "config.json", &err), 0);
    cr_assert_eq(d, 0.5);
    cr_assert_eq(sd_json_opt_bool(j, "tie", &b, false, "config.json", &err), 0);
    cr_assert(b);
    cr_assert_eq(sd_json_opt_string(j, "absent", &s, "dflt", "config.json", &err), 0);
    cr_assert_str_eq(s, "dflt");
    /* not an object */
    cr_assert_eq(sd_json_get_int(cJSON_GetObjectItem(j, "arr"), "x", &v, "config.json: arr", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "config.json: arr: expected an object holding \"x\", got array"), "%s", err.msg);
    int64_t e;
    cr_assert_eq(sd_json_as_i64(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "arr"), 0), &e, "f", "arr[0]", &err), 0);
    cr_assert_eq(e, 1);
    cJSON_Delete(j);
}

Test(json, write_atomic_round_trip) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "out.json");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "n", 3);
    cJSON_AddStringToObject(j, "s", "quote \" and \xc3\xa9");
    sd_err err = {0};
    for (int pretty = 0; pretty < 2; pretty++) {
        cr_assert_eq(sd_json_write_file(p, j, pretty, &err), 0, "%s", err.msg);
        cJSON *k;
        cr_assert_eq(sd_json_read_file(p, &k, &err), 0, "%s", err.msg);
        cr_assert(cJSON_Compare(j, k, true));
        cJSON_Delete(k);
        char *text;
        size_t len;
        cr_assert_eq(sd_read_file(p, &text, &len, &err), 0);
        cr_assert_eq(text[len - 1], '\n');
        cr_assert_eq(strchr(text, '\n') != text + len - 1, (bool)pretty);
        free(text);
    }
    char *tmp = sd_path_join(dir, "nodir/x.json");
    cr_assert_eq(sd_json_write_file(tmp, j, false, &err), SD_EIO);
    cr_assert(strstr(err.msg, "nodir/x.json"), "%s", err.msg);
    free(tmp);
    cJSON_Delete(j);
    free(p);
}
