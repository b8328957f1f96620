#include "base/threads.h"
#include <cblas.h>
#include <omp.h>
#include <unistd.h>

static int g_threads = 0;

void sd_set_threads(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int sd_threads(void) {
    if (!g_threads) sd_set_threads(0);
    return g_threads;
}
