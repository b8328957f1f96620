/* What every semid program (the CLI and the benchmarks) does first: settings that are read when
 * libgomp and OpenBLAS load, before main, and so need the process re-executed once. */
#ifndef SD_STARTUP_H
#define SD_STARTUP_H

/* 1. OMP_WAIT_POLICY=passive unless the user chose a policy (spinning libgomp workers steal the
 *    cores from the serial parts in between on a small, busy machine).
 * 2. OPENBLAS_CORETYPE when OpenBLAS picked kernels below what the CPU runs (base/blas_core.h),
 *    after the wanted kernels pass a self-test in a child process; a failure (wrong results, or a
 *    child that dies) keeps OpenBLAS's own choice and says so once.
 * Then re-executes /proc/self/exe with the same arguments if anything changed; returns when it
 * did not (or could not). Also serves the self-test child: a process started with
 * SEMID_BLAS_SELFTEST=CORE runs the self-test and exits here. */
void sd_startup(char **argv);

/* Test hooks (environment): SEMID_BLAS_PRETEND_DETECTED=CORE makes startup act as if OpenBLAS had
 * picked CORE; SEMID_BLAS_SELFTEST_FAIL=wrong|crash makes the self-test child fail or die. */
#endif
