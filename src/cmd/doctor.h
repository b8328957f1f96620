/* The machine report shared by `semid doctor` and `semid version --verbose`. */
#ifndef SD_CMD_DOCTOR_H
#define SD_CMD_DOCTOR_H
#include <stdbool.h>
#include <stdio.h>
/* CPU, OpenBLAS core and why, threads; with sgemm_seconds > 0 also a timed sgemm rate and the
 * BLAS self-test. json: one object instead of text lines. Returns 0, or 1 if the self-test failed. */
int sd_doctor_report(FILE *f, bool json, double sgemm_seconds);
#endif
