#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "test_util.h"

/* The demo runs every stage of the build end to end on a small store; a failing stage fails it. */
Test(demo, runs_every_stage, .timeout = 600) {
    char dir[256], cmd[1024];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "%s demo %s/w --quick --quiet --threads 2", sd_test_bin(), dir);
    char *out = NULL;
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "demo failed:\n%s", out);
    cr_assert(strstr(out, "semid demo summary"), "%s", out);
    cr_assert(!strstr(out, "FAILED"), "%s", out);
    cr_assert(!strstr(out, "not run"), "%s", out);
    /* the conversation's three turns, the server's answers, the report */
    cr_assert(strstr(out, "you> How about something similar but for "), "%s", out);
    cr_assert(strstr(out, "POST /v1/chat/completions -> 200") && strstr(out, "POST /v1/recommend -> 200"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s/w/report.html", dir);
    FILE *r = fopen(cmd, "r");
    cr_assert(r, "the demo writes the report");
    fclose(r);
    snprintf(cmd, sizeof cmd, "%s/w/items.jsonl", dir);
    FILE *f = fopen(cmd, "r");
    cr_assert(f, "the demo leaves its work directory to inspect");
    fclose(f);
}

Test(demo, bad_usage_exit_2) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s demo a b", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s demo --items", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, NULL), 2);
}
