/* OpenBLAS kernel choice (base/blas_core.c, base/startup.c): the pure decision over a table of
 * CPUs and environments, the self-test against broken sgemms, and the whole path through
 * `semid doctor` with OpenBLAS's detection pretended and the self-test forced to fail or die. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/blas_core.h"
#include "base/cpu.h"
#include "test_util.h"

static sd_cpu_info cpu(sd_cpu_vendor v, int level) {
    sd_cpu_info c = {.vendor = v, .sse3 = true};
    c.avx = level >= 1;
    c.avx2 = c.fma = level >= 2;
    c.avx512f = c.avx512bw = c.avx512vl = c.avx512dq = level >= 3;
    return c;
}

typedef struct { const char *what; sd_cpu_info c; const char *detected, *env_core, *env_l2; bool change;
                 const char *core; const char *reason_has; } choose_case;

Test(blas_core, choose_table) {
    sd_cpu_info avx512_no_bw = cpu(SD_VENDOR_INTEL, 3);
    avx512_no_bw.avx512bw = false;
    choose_case cases[] = {
        {"misdetected AVX-512 Xeon", cpu(SD_VENDOR_INTEL, 3), "Prescott", NULL, NULL, true, "SkylakeX", "Prescott"},
        {"Haswell kernels on AVX-512", cpu(SD_VENDOR_INTEL, 3), "Haswell", NULL, NULL, true, "SkylakeX", "AVX-512"},
        {"Zen4 with AVX-512 seen as Zen", cpu(SD_VENDOR_AMD, 3), "Zen", NULL, NULL, true, "SkylakeX", "Zen"},
        {"already optimal Xeon", cpu(SD_VENDOR_INTEL, 3), "SkylakeX", NULL, NULL, false, "SkylakeX", "already"},
        {"already optimal, other case", cpu(SD_VENDOR_INTEL, 3), "cooperlake", NULL, NULL, false, "cooperlake", "already"},
        {"already optimal Zen3", cpu(SD_VENDOR_AMD, 2), "Zen", NULL, NULL, false, "Zen", "already"},
        {"AVX2-only Intel, SSE kernels", cpu(SD_VENDOR_INTEL, 2), "Nehalem", NULL, NULL, true, "Haswell", "AVX2"},
        {"AVX2-only AMD, SSE kernels", cpu(SD_VENDOR_AMD, 2), "Barcelona", NULL, NULL, true, "Zen", "Barcelona"},
        {"AVX2-only, Sandybridge kernels", cpu(SD_VENDOR_INTEL, 2), "Sandybridge", NULL, NULL, true, "Haswell", "AVX"},
        {"AVX-only CPU", cpu(SD_VENDOR_INTEL, 1), "Core2", NULL, NULL, true, "Sandybridge", "Core2"},
        {"AVX-512F without BW is an AVX2 CPU", avx512_no_bw, "Haswell", NULL, NULL, false, "Haswell", "already"},
        {"user set the core", cpu(SD_VENDOR_INTEL, 3), "Prescott", "Prescott", NULL, false, "Prescott", "user"},
        {"user set another core", cpu(SD_VENDOR_INTEL, 3), "Haswell", "Haswell", NULL, false, "Haswell", "OPENBLAS_CORETYPE=Haswell"},
        {"user set the L2 size", cpu(SD_VENDOR_INTEL, 3), "Prescott", NULL, "1048576", false, "Prescott", "OPENBLAS_L2_SIZE"},
        {"empty variables count as unset", cpu(SD_VENDOR_INTEL, 3), "Prescott", "", "", true, "SkylakeX", "Prescott"},
        {"unknown CPU (no SIMD found)", cpu(SD_VENDOR_OTHER, 0), "Prescott", NULL, NULL, false, "Prescott", "no AVX"},
        {"unknown core name", cpu(SD_VENDOR_INTEL, 3), "Armv8", NULL, NULL, false, "Armv8", "not one semid knows"},
        {"no core name at all", cpu(SD_VENDOR_INTEL, 3), NULL, NULL, NULL, false, "unknown", "not one semid knows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        choose_case *k = &cases[i];
        sd_blas_choice ch;
        sd_blas_choose(&k->c, k->detected, k->env_core, k->env_l2, &ch);
        cr_expect_eq(ch.change, k->change, "%s: change %d", k->what, ch.change);
        cr_expect_str_eq(ch.core, k->core, "%s", k->what);
        cr_expect(strstr(ch.reason, k->reason_has), "%s: reason '%s' lacks '%s'", k->what, ch.reason, k->reason_has);
    }
}

Test(blas_core, core_levels) {
    cr_expect_eq(sd_blas_core_level("Prescott"), 0);
    cr_expect_eq(sd_blas_core_level("SANDYBRIDGE"), 1);
    cr_expect_eq(sd_blas_core_level("haswell"), 2);
    cr_expect_eq(sd_blas_core_level("SkylakeX"), 3);
    cr_expect_eq(sd_blas_core_level("Bogus"), -1);
    cr_expect_eq(sd_blas_core_level(NULL), -1);
}

/* sgemms that are wrong in the ways a bad kernel is: one element off, NaN, beta ignored, a write
 * past the row, and only on shapes above a register block. */
static int broken_kind;
static void broken_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
    sd_blas_cblas_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, broken_kind == 2 ? 0 : beta, C, ldc);
    if (broken_kind == 0 && M > 2 && N > 2) C[1 * ldc + 2] += 1e-3f;
    if (broken_kind == 1 && M * N > 1000) C[(M - 1) * ldc + N - 1] = NAN;
    if (broken_kind == 3 && M > 1) C[N] = 7;
    if (broken_kind == 4 && M >= 64 && tb) C[0] *= 1.01f;
}

Test(blas_core, selftest_passes_real_and_catches_broken) {
    char msg[256] = "";
    cr_assert_eq(sd_blas_selftest(NULL, msg, sizeof msg), 0, "real OpenBLAS: %s", msg);
    cr_assert_eq(sd_blas_selftest(sd_blas_cblas_sgemm, msg, sizeof msg), 0, "%s", msg);
    for (broken_kind = 0; broken_kind <= 4; broken_kind++) {
        msg[0] = 0;
        cr_expect_eq(sd_blas_selftest(broken_sgemm, msg, sizeof msg), -1, "broken kind %d passed", broken_kind);
        cr_expect(strstr(msg, "sgemm"), "kind %d: message '%s'", broken_kind, msg);
    }
}

/* The environment the test runs in decides what semid must do (a machine may set
 * OPENBLAS_CORETYPE on purpose; the tests never change it), so expectations come from
 * sd_blas_choose over that same environment with the pretended detection. */
static cJSON *doctor(const char *env, char **err_out) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "(env %s %s doctor --json --seconds 0 2>/dev/null)", env, sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s\n%s", cmd, out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "not JSON: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "(env %s %s doctor --seconds 0 >/dev/null)", env, sd_test_bin());
    sd_test_run(cmd, err_out);
    return j;
}

static const char *blas_field(cJSON *j, const char *k) {
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "blas"), k);
    cr_assert(cJSON_IsString(v), "blas.%s missing", k);
    return v->valuestring;
}

static bool user_env_set(void) {
    const char *c = getenv("OPENBLAS_CORETYPE"), *l = getenv("OPENBLAS_L2_SIZE");
    return (c && *c) || (l && *l);
}

Test(blas_core, startup_chooses_after_selftest) {
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    sd_blas_choice want;
    sd_blas_choose(&ci, "Prescott", getenv("OPENBLAS_CORETYPE"), getenv("OPENBLAS_L2_SIZE"), &want);
    char *err = NULL;
    cJSON *j = doctor("SEMID_BLAS_PRETEND_DETECTED=Prescott", &err);
    if (want.change) {
        cr_expect_str_eq(blas_field(j, "chosen_by"), "semid");
        cr_expect(!strcasecmp(blas_field(j, "core"), want.core), "core %s, want %s", blas_field(j, "core"), want.core);
        cr_expect_str_eq(blas_field(j, "detected"), "Prescott");
        cr_expect(strstr(blas_field(j, "reason"), "self-test"));
        cr_expect(!strstr(err, "warning"), "%s", err);
    } else {
        cr_expect(user_env_set() || !sd_blas_best_core(&ci), "no change on a machine with AVX and no user setting");
        cr_expect_str_neq(blas_field(j, "chosen_by"), "semid");
    }
    free(err);
    cJSON_Delete(j);
}

static void forced_failure(const char *how, const char *msg_has) {
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    sd_blas_choice want;
    sd_blas_choose(&ci, "Prescott", getenv("OPENBLAS_CORETYPE"), getenv("OPENBLAS_L2_SIZE"), &want);
    char env[128], *err = NULL;
    snprintf(env, sizeof env, "SEMID_BLAS_PRETEND_DETECTED=Prescott SEMID_BLAS_SELFTEST_FAIL=%s", how);
    cJSON *j = doctor(env, &err);
    if (want.change) {
        cr_expect_str_eq(blas_field(j, "chosen_by"), "fallback");
        cr_expect(strstr(blas_field(j, "reason"), msg_has), "reason: %s", blas_field(j, "reason"));
        cr_expect(strstr(err, "warning") && strstr(err, "self-test"), "no warning: %s", err);
        char *p = strstr(err, "warning"), *q = p ? strstr(p + 1, "warning") : NULL;
        cr_expect(!q, "warned more than once: %s", err);
    } else {
        cr_expect_str_neq(blas_field(j, "chosen_by"), "fallback");
    }
    free(err);
    cJSON_Delete(j);
}

Test(blas_core, selftest_failure_falls_back) { forced_failure("wrong", "differ"); }
Test(blas_core, selftest_crash_falls_back) { forced_failure("crash", "died"); }

Test(blas_core, user_coretype_is_never_overridden) {
    /* Haswell kernels run on both CPU kinds this project meets; pretend OpenBLAS picked Prescott
     * anyway, and the user's choice must stand. */
    char *err = NULL;
    cJSON *j = doctor("OPENBLAS_CORETYPE=Haswell SEMID_BLAS_PRETEND_DETECTED=Prescott", &err);
    cr_expect(!strcasecmp(blas_field(j, "core"), "Haswell"), "core %s", blas_field(j, "core"));
    cr_expect_str_eq(blas_field(j, "chosen_by"), "user");
    free(err);
    cJSON_Delete(j);
    j = doctor("OPENBLAS_L2_SIZE=1048576 SEMID_BLAS_PRETEND_DETECTED=Prescott", &err);
    cr_expect_str_neq(blas_field(j, "chosen_by"), "semid");
    free(err);
    cJSON_Delete(j);
}

Test(blas_core, doctor_reports_selftest_and_sgemm) {
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "(%s doctor --json --seconds 0.2 2>/dev/null)", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "%s", out);
    cJSON *b = cJSON_GetObjectItem(j, "blas");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(b, "selftest_passed")));
    cr_expect_gt(cJSON_GetObjectItem(b, "sgemm_gflops")->valuedouble, 1.0);
    cr_expect_gt(cJSON_GetObjectItem(j, "threads")->valueint, 0);
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof cmd, "%s version --verbose", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 0);
    cr_expect(strstr(out, "core:") && strstr(out, "OpenBLAS"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s doctor --seconds -1", sd_test_bin());
    cr_expect_eq(sd_test_run(cmd, NULL), 2);
}
