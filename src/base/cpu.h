/* What the CPU can run, from cpuid and xgetbv: the facts OpenBLAS's kernel choice depends on.
 * A feature counts only when the OS also saves its registers (XCR0), as OpenBLAS checks. */
#ifndef SD_CPU_H
#define SD_CPU_H
#include <stdbool.h>

typedef enum { SD_VENDOR_OTHER, SD_VENDOR_INTEL, SD_VENDOR_AMD } sd_cpu_vendor;

typedef struct sd_cpu_info {
    sd_cpu_vendor vendor;
    int family, model;            /* display family/model (extended fields folded in) */
    char brand[64];               /* "Intel(R) Xeon(R) Platinum ..." or "" */
    bool sse3, avx, fma, avx2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512_bf16;
} sd_cpu_info;

/* The SIMD tier a CPU supports, in the order OpenBLAS's x86-64 kernels need them. */
typedef enum { SD_SIMD_SSE = 0, SD_SIMD_AVX = 1, SD_SIMD_AVX2 = 2, SD_SIMD_AVX512 = 3 } sd_simd_level;

void sd_cpu_detect(sd_cpu_info *ci);
sd_simd_level sd_cpu_level(const sd_cpu_info *ci);
const char *sd_simd_level_name(sd_simd_level l);
/* "avx2 fma avx512f ..." into buf. */
void sd_cpu_flags_str(const sd_cpu_info *ci, char *buf, int n);
#endif
