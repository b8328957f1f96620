#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "ids_fixture.h"
#include "test_util.h"

Test(ids_cli, smoke_embed_and_ids) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char w[300], cmd[1024];
    snprintf(w, sizeof w, "%s/work", dir);
    ids_make_work(w, 600, 3);
    char *out;
    snprintf(cmd, sizeof cmd, "%s embed %s --dim 32 --quiet", sd_test_bin(), w);
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s ids %s --levels 2 --codes 8 --quiet", sd_test_bin(), w);
    rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    printf("%s", out);
    free(out);
}
