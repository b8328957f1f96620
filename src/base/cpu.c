#include "base/cpu.h"
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void sd_cpu_detect(sd_cpu_info *ci) {
    memset(ci, 0, sizeof *ci);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned maxleaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4); memcpy(vendor + 4, &d, 4); memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    ci->vendor = !strcmp(vendor, "GenuineIntel") ? SD_VENDOR_INTEL
               : !strcmp(vendor, "AuthenticAMD") ? SD_VENDOR_AMD : SD_VENDOR_OTHER;
    __get_cpuid(1, &a, &b, &c, &d);
    int fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
    if (fam == 0xf) fam += (a >> 20) & 0xff;
    if (fam == 0x6 || fam >= 0xf) mod |= ((a >> 16) & 0xf) << 4;
    ci->family = fam;
    ci->model = mod;
    ci->sse3 = c & bit_SSE3;
    bool osxsave = c & bit_OSXSAVE;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    bool os_avx = (xcr0 & 0x6) == 0x6;       /* XMM + YMM state */
    bool os_avx512 = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    ci->avx = os_avx && (c & bit_AVX);
    ci->fma = os_avx && (c & bit_FMA);
    if (maxleaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        ci->avx2 = os_avx && (b & bit_AVX2);
        ci->avx512f = os_avx512 && (b & bit_AVX512F);
        ci->avx512bw = os_avx512 && (b & bit_AVX512BW);
        ci->avx512vl = os_avx512 && (b & bit_AVX512VL);
        ci->avx512dq = os_avx512 && (b & bit_AVX512DQ);
        __cpuid_count(7, 1, a, b, c, d);
        ci->avx512_bf16 = os_avx512 && (a & (1u << 5));
    }
    unsigned ext = __get_cpuid_max(0x80000000, NULL);
    if (ext >= 0x80000004) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(ci->brand, r, 48);
        ci->brand[48] = 0;
        char *s = ci->brand; /* brand strings are padded with leading and trailing spaces */
        while (*s == ' ') s++;
        memmove(ci->brand, s, strlen(s) + 1);
        for (int n = (int)strlen(ci->brand); n > 0 && ci->brand[n - 1] == ' '; n--) ci->brand[n - 1] = 0;
    }
}
#else
void sd_cpu_detect(sd_cpu_info *ci) { memset(ci, 0, sizeof *ci); }
#endif

sd_simd_level sd_cpu_level(const sd_cpu_info *ci) {
    /* OpenBLAS's SkylakeX kernels use F, BW, VL and DQ; its Haswell kernels AVX2 with FMA. */
    if (ci->avx512f && ci->avx512bw && ci->avx512vl && ci->avx512dq && ci->avx2 && ci->fma) return SD_SIMD_AVX512;
    if (ci->avx2 && ci->fma) return SD_SIMD_AVX2;
    if (ci->avx) return SD_SIMD_AVX;
    return SD_SIMD_SSE;
}

const char *sd_simd_level_name(sd_simd_level l) {
    static const char *const names[] = {"SSE", "AVX", "AVX2+FMA", "AVX-512"};
    return names[l];
}

void sd_cpu_flags_str(const sd_cpu_info *ci, char *buf, int n) {
    struct { bool on; const char *name; } f[] = {
        {ci->sse3, "sse3"}, {ci->avx, "avx"}, {ci->fma, "fma"}, {ci->avx2, "avx2"},
        {ci->avx512f, "avx512f"}, {ci->avx512bw, "avx512bw"}, {ci->avx512vl, "avx512vl"},
        {ci->avx512dq, "avx512dq"}, {ci->avx512_bf16, "avx512_bf16"}};
    int len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0] && len < n; i++)
        if (f[i].on) len += snprintf(buf + len, n - len, "%s%s", len ? " " : "", f[i].name);
}
