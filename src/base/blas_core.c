#include "base/blas_core.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *openblas_get_corename(void);
char *openblas_get_config(void);

/* OpenBLAS 0.3.21's x86-64 core names (driver/others/dynamic.c) by the SIMD tier of their kernels. */
static const struct { const char *name; int level; } CORES[] = {
    {"Katmai", 0},      {"Coppermine", 0}, {"Northwood", 0},  {"Prescott", 0},     {"Banias", 0},
    {"Atom", 0},        {"Core2", 0},      {"Penryn", 0},     {"Dunnington", 0},   {"Nehalem", 0},
    {"Athlon", 0},      {"Opteron", 0},    {"Opteron_SSE3", 0}, {"Barcelona", 0},  {"Nano", 0},
    {"Bobcat", 0},      {"Sandybridge", 1}, {"Bulldozer", 1}, {"Piledriver", 1},   {"Steamroller", 1},
    {"Excavator", 1},   {"Haswell", 2},    {"Zen", 2},        {"SkylakeX", 3},     {"Cooperlake", 3},
    {"SapphireRapids", 3},
};

int sd_blas_core_level(const char *core) {
    if (!core) return -1;
    for (size_t i = 0; i < sizeof CORES / sizeof CORES[0]; i++)
        if (!strcasecmp(core, CORES[i].name)) return CORES[i].level;
    return -1;
}

const char *sd_blas_best_core(const sd_cpu_info *ci) {
    switch (sd_cpu_level(ci)) {
    /* SkylakeX rather than Cooperlake: same sgemm kernels, and the one measured on such Xeons. */
    case SD_SIMD_AVX512: return "SkylakeX";
    case SD_SIMD_AVX2: return ci->vendor == SD_VENDOR_AMD ? "Zen" : "Haswell";
    case SD_SIMD_AVX: return "Sandybridge";
    default: return NULL;
    }
}

void sd_blas_choose(const sd_cpu_info *ci, const char *detected, const char *env_core, const char *env_l2,
                    sd_blas_choice *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->core, sizeof out->core, "%s", detected ? detected : "unknown");
    sd_simd_level cpu = sd_cpu_level(ci);
    int have = sd_blas_core_level(detected);
    const char *best = sd_blas_best_core(ci);
    if (env_core && *env_core) {
        snprintf(out->reason, sizeof out->reason, "OPENBLAS_CORETYPE=%s set by the user, left as it is", env_core);
    } else if (env_l2 && *env_l2) {
        snprintf(out->reason, sizeof out->reason,
                 "OPENBLAS_L2_SIZE set by the user: the core is left to OpenBLAS");
    } else if (have < 0) {
        snprintf(out->reason, sizeof out->reason, "OpenBLAS core '%s' is not one semid knows: left to OpenBLAS",
                 out->core);
    } else if (!best) {
        snprintf(out->reason, sizeof out->reason, "CPU has no AVX: OpenBLAS's choice stands");
    } else if (have >= (int)cpu) {
        snprintf(out->reason, sizeof out->reason, "OpenBLAS's own choice, already right for the CPU's %s",
                 sd_simd_level_name(cpu));
    } else {
        out->change = true;
        snprintf(out->core, sizeof out->core, "%s", best);
        snprintf(out->reason, sizeof out->reason,
                 "OpenBLAS picked %s (%s kernels) on a CPU with %s: %s kernels chosen after a self-test",
                 detected, sd_simd_level_name((sd_simd_level)have), sd_simd_level_name(cpu), best);
    }
}

void sd_blas_cblas_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* |got - want| within a float32 accumulation bound of the magnitudes that went into it. */
static bool close_enough(double got, double want, double mag) {
    return isfinite(got) && fabs(got - want) <= 1e-5 * mag + 1e-30;
}

static int check_gemm(sd_sgemm_fn fn, int M, int N, int K, bool ta, bool tb, char *msg, int n) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    int ar = ta ? K : M, br = tb ? N : K;
    float *A = malloc(sizeof(float) * ar * lda), *B = malloc(sizeof(float) * br * ldb);
    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
    unsigned s = (unsigned)(M * 7919 + N * 131 + K + ta * 2 + tb);
    for (int i = 0; i < ar * lda; i++) A[i] = frand(&s);
    for (int i = 0; i < br * ldb; i++) B[i] = frand(&s);
    for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = frand(&s);
    const float alpha = 0.75f, beta = -0.5f;
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int rc = 0;
    for (int i = 0; i < M && !rc; i++)
        for (int j = 0; j < N && !rc; j++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k], b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
                mag += fabs(a * b);
            }
            double want = alpha * acc + beta * C0[i * ldc + j];
            if (!close_enough(C[i * ldc + j], want, fabs(alpha) * mag + fabs(beta * C0[i * ldc + j]))) {
                snprintf(msg, n, "sgemm %dx%dx%d%s%s: C[%d,%d] = %g, expected %g", M, N, K, ta ? " A^T" : "",
                         tb ? " B^T" : "", i, j, C[i * ldc + j], want);
                rc = -1;
            }
        }
    /* padding columns of C must be untouched */
    for (int i = 0; i < M && !rc; i++)
        for (int j = N; j < ldc; j++)
            if (C[i * ldc + j] != C0[i * ldc + j]) {
                snprintf(msg, n, "sgemm %dx%dx%d wrote outside C (row %d, column %d)", M, N, K, i, j);
                rc = -1;
                break;
            }
    free(A); free(B); free(C); free(C0);
    return rc;
}

/* sgemv, strsm and dsyrk, which semid also calls, on one shape each. */
static int check_others(char *msg, int n) {
    enum { M = 37, N = 29 };
    float A[M * N], x[N], y[M], y0[M];
    unsigned s = 12345;
    for (int i = 0; i < M * N; i++) A[i] = frand(&s);
    for (int i = 0; i < N; i++) x[i] = frand(&s);
    for (int i = 0; i < M; i++) y[i] = y0[i] = frand(&s);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, M, N, 1.5f, A, N, x, 1, 0.25f, y, 1);
    for (int i = 0; i < M; i++) {
        double acc = 0, mag = 0;
        for (int j = 0; j < N; j++) acc += (double)A[i * N + j] * x[j], mag += fabs((double)A[i * N + j] * x[j]);
        if (!close_enough(y[i], 1.5 * acc + 0.25 * y0[i], 1.5 * mag + 1)) {
            snprintf(msg, n, "sgemv: y[%d] = %g, expected %g", i, y[i], 1.5 * acc + 0.25 * y0[i]);
            return -1;
        }
    }
    /* strsm: solve L X = B with a well-conditioned lower-triangular L, then check L X == B. */
    enum { T = 33, R = 17 };
    float L[T * T], X[T * R], Bm[T * R];
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) L[i * T + j] = j < i ? 0.1f * frand(&s) : j == i ? 2.0f + frand(&s) * 0.5f : 0;
    for (int i = 0; i < T * R; i++) Bm[i] = X[i] = frand(&s);
    cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, T, R, 1.0f, L, T, X, R);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < R; j++) {
            double acc = 0;
            for (int k = 0; k <= i; k++) acc += (double)L[i * T + k] * X[k * R + j];
            if (!close_enough(acc, Bm[i * R + j], 4.0 * T)) {
                snprintf(msg, n, "strsm: (L X)[%d,%d] = %g, expected %g", i, j, acc, Bm[i * R + j]);
                return -1;
            }
        }
    /* dsyrk: C = A^T A (upper), float64 */
    enum { DK = 41, DN = 23 };
    double Ad[DK * DN], Cd[DN * DN];
    for (int i = 0; i < DK * DN; i++) Ad[i] = frand(&s);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, DN, DK, 1.0, Ad, DN, 0.0, Cd, DN);
    for (int i = 0; i < DN; i++)
        for (int j = i; j < DN; j++) {
            double acc = 0;
            for (int k = 0; k < DK; k++) acc += Ad[k * DN + i] * Ad[k * DN + j];
            if (!(fabs(Cd[i * DN + j] - acc) <= 1e-12 * DK)) {
                snprintf(msg, n, "dsyrk: C[%d,%d] = %g, expected %g", i, j, Cd[i * DN + j], acc);
                return -1;
            }
        }
    return 0;
}

int sd_blas_selftest(sd_sgemm_fn fn, char *msg, int n) {
    bool real = !fn;
    if (real) fn = sd_blas_cblas_sgemm;
    /* Shapes that hit the kernels' edge cases (1, below and above the register block) and one
     * large enough that OpenBLAS splits it across threads. */
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 48, 65}, {97, 131, 150}, {128, 96, 112}};
    int saved = openblas_get_num_threads();
    int rc = 0;
    for (int th = 1; th <= 2 && !rc; th++) {
        openblas_set_num_threads(th);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++) {
            bool last = s + 1 == sizeof shapes / sizeof shapes[0];
            if ((th == 2) != last) continue; /* the large shape, where OpenBLAS splits work, on 2 threads */
            for (int t = 0; t < 4 && !rc; t++)
                rc = check_gemm(fn, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, msg, n);
        }
    }
    openblas_set_num_threads(saved);
    if (!rc && real) rc = check_others(msg, n);
    return rc;
}

static void copy_field(char *dst, size_t n, const char *s, size_t len) {
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

void sd_blas_state_get(sd_blas_state *st) {
    memset(st, 0, sizeof *st);
    const char *core = openblas_get_corename();
    snprintf(st->core, sizeof st->core, "%s", core ? core : "unknown");
    snprintf(st->detected, sizeof st->detected, "%s", st->core);
    const char *cfg = openblas_get_config();
    snprintf(st->config, sizeof st->config, "%s", cfg ? cfg : "");
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    const char *mark = getenv(SD_BLAS_CHOICE_ENV);
    /* The parent's note counts only while the environment is still the one it set up. */
    char how[16], want[32], detected[32], reason[256];
    if (mark && sscanf(mark, "%15[^|]|%31[^|]|%31[^|]|%255[^\n]", how, want, detected, reason) == 4) {
        bool semid = !strcmp(how, "semid") && env_core && !strcasecmp(env_core, want) && !strcasecmp(st->core, want);
        bool fallback = !strcmp(how, "fallback") && !(env_core && *env_core) && !strcasecmp(st->core, want);
        if (semid || fallback) {
            st->how = semid ? "semid" : "fallback";
            snprintf(st->detected, sizeof st->detected, "%s", detected);
            snprintf(st->reason, sizeof st->reason, "%s", reason);
            return;
        }
    }
    if (env_core && *env_core) {
        st->how = "user";
        snprintf(st->reason, sizeof st->reason, "OPENBLAS_CORETYPE=%s set by the user", env_core);
        return;
    }
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    sd_blas_choice ch;
    sd_blas_choose(&ci, st->core, env_core, getenv("OPENBLAS_L2_SIZE"), &ch);
    st->how = "detected";
    snprintf(st->reason, sizeof st->reason, "%s", ch.change ? "OpenBLAS's own choice (semid's re-exec did not run)" : ch.reason);
}

void sd_blas_describe(char *buf, int n) {
    sd_blas_state st;
    sd_blas_state_get(&st);
    const char *ver = strstr(st.config, "OpenBLAS ");
    char v[32] = "OpenBLAS";
    if (ver) {
        const char *e = strchr(ver + 9, ' ');
        copy_field(v, sizeof v, ver, e ? (size_t)(e - ver) : strlen(ver));
    }
    snprintf(buf, n, "%s core %s (%s: %s)", v, st.core, st.how, st.reason);
}
