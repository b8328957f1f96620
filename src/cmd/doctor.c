/* semid doctor: what this machine gives semid — CPU features, the OpenBLAS kernels in use and
 * why, threads, and a measured sgemm rate — so a slow run can be told from a slow machine. */
#include "cmd/doctor.h"
#include "base/blas_core.h"
#include "cmd/cli.h"
#include "base/cpu.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/version.h"
#include "nn/gemm.h"
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Best-of sgemm rate at 1024^3 (the shape semid's big matmuls have) on `threads` threads, run for
 * about `seconds`. */
static double sgemm_gflops(int threads, double seconds) {
    const int n = 1024;
    float *a = sd_afloats((size_t)n * n), *b = sd_afloats((size_t)n * n), *c = sd_afloats((size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 17) * 0.01f, b[i] = (float)(i % 13) * 0.01f;
    int saved = sd_threads();
    sd_set_threads(threads);
    double best = 1e30, t_end = sd_now() + seconds;
    int reps = 0;
    do {
        double t0 = sd_now();
        sd_sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n);
        double t = sd_now() - t0;
        if (t < best) best = t;
        reps++;
    } while (sd_now() < t_end || reps < 2);
    sd_set_threads(saved);
    sd_afree(a); sd_afree(b); sd_afree(c);
    return 2.0 * n * n * n / best / 1e9;
}

int sd_doctor_report(FILE *f, bool json, double sgemm_seconds) {
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    char flags[256];
    sd_cpu_flags_str(&ci, flags, sizeof flags);
    sd_blas_state st;
    sd_blas_state_get(&st);
    const char *best = sd_blas_best_core(&ci);
    const char *wait = getenv("OMP_WAIT_POLICY");
    int threads = sd_threads();
    double g1 = 0, gn = 0;
    char msg[256] = "";
    int selftest = 0;
    if (sgemm_seconds > 0) {
        selftest = sd_blas_selftest(NULL, msg, sizeof msg);
        g1 = sgemm_gflops(1, sgemm_seconds / 2);
        gn = threads > 1 ? sgemm_gflops(threads, sgemm_seconds / 2) : g1;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *cpu = cJSON_AddObjectToObject(o, "cpu"), *bl = cJSON_AddObjectToObject(o, "blas");
        cJSON_AddStringToObject(o, "version", SEMID_VERSION);
        cJSON_AddStringToObject(cpu, "brand", ci.brand);
        cJSON_AddStringToObject(cpu, "vendor", ci.vendor == SD_VENDOR_INTEL ? "intel" : ci.vendor == SD_VENDOR_AMD ? "amd" : "other");
        cJSON_AddNumberToObject(cpu, "family", ci.family);
        cJSON_AddNumberToObject(cpu, "model", ci.model);
        cJSON_AddStringToObject(cpu, "features", flags);
        cJSON_AddStringToObject(cpu, "simd", sd_simd_level_name(sd_cpu_level(&ci)));
        cJSON_AddStringToObject(bl, "config", st.config);
        cJSON_AddStringToObject(bl, "core", st.core);
        cJSON_AddStringToObject(bl, "detected", st.detected);
        cJSON_AddStringToObject(bl, "chosen_by", st.how);
        cJSON_AddStringToObject(bl, "reason", st.reason);
        cJSON_AddStringToObject(bl, "best_for_cpu", best ? best : "");
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddStringToObject(o, "omp_wait_policy", wait ? wait : "");
        if (sgemm_seconds > 0) {
            cJSON_AddBoolToObject(bl, "selftest_passed", selftest == 0);
            if (selftest) cJSON_AddStringToObject(bl, "selftest_error", msg);
            cJSON_AddNumberToObject(bl, "sgemm_gflops_1_thread", g1);
            cJSON_AddNumberToObject(bl, "sgemm_gflops", gn);
        }
        char *s = cJSON_Print(o);
        fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        fprintf(f, "cpu:      %s (family %d, model %d)\n", ci.brand[0] ? ci.brand : "unknown", ci.family, ci.model);
        fprintf(f, "features: %s -> %s kernels\n", flags, sd_simd_level_name(sd_cpu_level(&ci)));
        fprintf(f, "openblas: %s\n", st.config);
        fprintf(f, "core:     %s, %s: %s\n", st.core, st.how, st.reason);
        if (strcasecmp(st.detected, st.core)) fprintf(f, "          (OpenBLAS by itself picked %s)\n", st.detected);
        fprintf(f, "best:     %s for this CPU\n", best ? best : "(none better than SSE)");
        fprintf(f, "threads:  %d (OMP_WAIT_POLICY=%s)\n", threads, wait ? wait : "unset");
        if (sgemm_seconds > 0) {
            fprintf(f, "selftest: %s%s\n", selftest ? "FAILED: " : "passed", selftest ? msg : "");
            fprintf(f, "sgemm:    %.1f GFLOP/s on %d thread%s, %.1f on 1 (1024^3, best of %.1f s)\n", gn, threads,
                    threads == 1 ? "" : "s", g1, sgemm_seconds);
        }
    }
    return selftest ? 1 : 0;
}

static int run(int argc, char **argv) {
    bool json = false;
    double seconds = 1.0;
    sd_opt opts[] = {
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json, .help = "print one JSON object"},
        {.name = "seconds", .type = SD_OPT_DOUBLE, .ptr = &seconds, .metavar = "S",
         .help = "time spent measuring sgemm (default 1; 0 skips it and the self-test)"},
        {0}};
    sd_usage u = {.usage = "semid doctor [--json] [--seconds S]",
                  .about = "Reports the CPU's features, the OpenBLAS kernels (core) in use and why, the thread count, "
                           "a BLAS self-test and a measured sgemm rate. semid picks the best kernels itself when "
                           "OpenBLAS misdetects the CPU; OPENBLAS_CORETYPE set by you is always left alone.",
                  .min_pos = 0, .max_pos = 0};
    sd_err err = {0};
    int rc = sd_parse(&u, opts, argc, argv, NULL, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (!(seconds >= 0 && seconds <= 600)) {
        sd_errf(&err, SD_EUSAGE, "doctor: --seconds must be in [0, 600]");
        return sd_cmd_error(&err);
    }
    return sd_doctor_report(stdout, json, seconds);
}
SD_COMMAND(doctor, "doctor", "report CPU, OpenBLAS kernels and why, threads, sgemm speed", run)
