/* The web page compiled into the binary: every file is found under its path, with its MIME type and
 * the same bytes as the file in src/serve/static/; other paths are not found. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/err.h"
#include "base/file.h"
#include "serve/static.h"
#include "test_util.h"

static void check_file(const char *path, const char *file, const char *mime_prefix) {
    const unsigned char *data = NULL;
    size_t len = 0;
    const char *mime = NULL;
    cr_assert(sd_static_find(path, &data, &len, &mime), "%s not found", path);
    cr_assert(mime && !strncmp(mime, mime_prefix, strlen(mime_prefix)), "%s: mime %s", path, mime ? mime : "(null)");
    char p[512], *txt = NULL;
    size_t n = 0;
    sd_err err = {0};
    /* the fixtures are tests/fixtures, so the sources are two levels up */
    snprintf(p, sizeof p, "%s/../../src/serve/static/%s", sd_test_fixtures(), file);
    cr_assert_eq(sd_read_file(p, &txt, &n, &err), 0, "%s", err.msg);
    cr_assert(n > 0, "%s is empty", p);
    cr_assert_eq(len, n, "%s: %zu bytes embedded, %zu on disk", path, len, n);
    cr_assert(!memcmp(data, txt, n), "%s: embedded bytes differ from %s", path, p);
    free(txt);
}

Test(static, files_match_disk) {
    check_file("/", "index.html", "text/html");
    check_file("/index.html", "index.html", "text/html");
    check_file("/static/app.js", "app.js", "text/javascript");
    check_file("/static/style.css", "style.css", "text/css");
}

Test(static, unknown_paths) {
    const char *bad[] = {"", "/static/", "/static/app.js/", "/static/../index.html", "/app.js", "/STATIC/app.js",
                         "/static/app.jsx", "/index.htm", "//", "/report"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const unsigned char *data = (const unsigned char *)"x";
        size_t len = 7;
        const char *mime = "y";
        cr_assert(!sd_static_find(bad[i], &data, &len, &mime), "'%s' found", bad[i]);
        cr_assert(len == 7 && !strcmp(mime, "y"), "'%s': outputs written on a miss", bad[i]);
    }
    cr_assert(!sd_static_find(NULL, NULL, NULL, NULL));
    cr_assert(sd_static_find("/", NULL, NULL, NULL), "outputs are optional");
}
