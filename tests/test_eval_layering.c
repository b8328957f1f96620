/* src/eval depends on base and data only: a model folder (rec/, lm/, ids/) must never be
 * included from it, or evaluating a new model would make eval/ (and through it every model)
 * depend on every other. The model registry that includes the models lives in src/cmd. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include "test_util.h"

static const char *const allowed[] = {"base/", "data/", "eval/"};

/* Returns the number of project includes in path outside `allowed`, reporting each. */
static int bad_includes(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char line[1024];
    int bad = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, "#include \"", 10)) continue;
        p += 10;
        bool ok = false;
        for (size_t a = 0; a < sizeof allowed / sizeof allowed[0]; a++)
            ok |= !strncmp(p, allowed[a], strlen(allowed[a]));
        if (!ok) {
            cr_log_error("%s:%d: %s", path, lineno, line);
            bad++;
        }
    }
    fclose(f);
    return bad;
}

Test(eval_layering, eval_includes_base_and_data_only) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/../../src/eval", sd_test_fixtures());
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    int files = 0, bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h"))) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        bad += bad_includes(path);
        files++;
    }
    closedir(d);
    cr_assert_geq(files, 9, "only %d sources found in %s", files, dir);
    cr_assert_eq(bad, 0, "%d includes from src/eval reach beyond base/ and data/ (listed above)", bad);
}
