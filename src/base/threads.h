/* --threads: one setting for OpenMP loops and OpenBLAS. Results are deterministic for a
 * given thread count (reductions are split by thread count, not by scheduling). */
#ifndef SD_THREADS_H
#define SD_THREADS_H
void sd_set_threads(int n);  /* n <= 0: all cores */
int sd_threads(void);
#endif
