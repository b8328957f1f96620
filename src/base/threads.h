/* --threads: the OpenMP thread count of the calling thread, which every parallel loop and
 * sd_sgemm's split use (OpenBLAS itself always runs on one thread, see nn/gemm.h). Results are
 * deterministic for a given thread count (reductions are split by thread count, not by
 * scheduling). */
#ifndef SD_THREADS_H
#define SD_THREADS_H
void sd_set_threads(int n);  /* n <= 0: all cores */
int sd_threads(void);        /* omp_get_max_threads() of the calling thread */
/* k processes share the cores (MPI ranks on one node): n <= 0 then means cores / k. */
void sd_threads_share(int k);
#endif
