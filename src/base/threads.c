#include "base/threads.h"
#include <omp.h>
#include <unistd.h>

/* The count lives in OpenMP's per-thread setting, not in a variable of ours: a thread that calls
 * sd_set_threads changes its own parallel regions (and sd_sgemm's split) only. OpenBLAS's own
 * thread count is not touched here; it stays 1 (nn/gemm.h). */
static int g_share = 1;

void sd_threads_share(int k) { g_share = k > 1 ? k : 1; }

void sd_set_threads(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
        n = n / g_share > 0 ? n / g_share : 1;
    }
    omp_set_num_threads(n);
}

int sd_threads(void) { return omp_get_max_threads(); }
