#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "nn/ops.h"

int sd_embedding_forward(float *y, const int32_t *ids, const float *table, int N, int V, int C) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if ((long)N * C > 32768)
    for (int i = 0; i < N; i++) {
        float *row = y + (size_t)i * C;
        if (ids[i] < 0 || ids[i] >= V) { memset(row, 0, (size_t)C * sizeof(float)); bad++; continue; }
        memcpy(row, table + (size_t)ids[i] * C, (size_t)C * sizeof(float));
    }
    return bad ? SD_ERANGE : 0;
}

void sd_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int N, int C, int padding_idx) {
    /* Columns split across threads so no two threads add into the same element and every
     * element is summed in row order (deterministic, no atomics). */
#pragma omp parallel if ((long)N * C > 32768)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
        for (int i = 0; i < N; i++) {
            if (ids[i] == padding_idx) continue;
            float *d = dtable + (size_t)ids[i] * C;
            const float *g = dy + (size_t)i * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}
