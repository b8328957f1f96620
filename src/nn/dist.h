/* Data-parallel training over MPI (`mpirun -np N semid sasrec|finetune ...`).
 *
 * Every rank holds the whole model and walks the same global batches; each takes a disjoint shard
 * of every batch (the clients: rec/sasrec.c, lm/finetune.c), scaled by its share, so the sum over
 * ranks is the gradient one process computes for the whole batch. The training loop (nn/train.c)
 * then calls sd_dist_reduce_grads once per optimizer step: one in-place MPI_Allreduce (sum) over
 * the gradient buffer, in buckets of at most SD_DIST_BUCKET floats over the trainable views only,
 * with the step's loss sum in the same call sequence. Clipping and AdamW run on every rank on
 * identical sums, so parameters stay identical; SEMID_MPI_CHECK=K compares a checksum of them
 * across ranks every K steps and fails loudly on divergence. Rank 0 alone validates (the
 * verdict is broadcast), writes checkpoints, logs, progress and outputs; every rank reads a
 * checkpoint it resumes from.
 *
 * Built with `make MPI=1` (this file compiled with mpicc -DSD_MPI); without it every function is
 * the one-process case (rank 0 of 1) and a start under mpirun is refused. */
#ifndef SD_DIST_H
#define SD_DIST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "nn/params.h"

enum { SD_DIST_BUCKET = 1 << 24 }; /* floats per MPI_Allreduce call (64 MB): MPI counts are int */

/* Called by main before the command runs. Under a launcher (OMPI_COMM_WORLD_SIZE / PMI_SIZE
 * > 1): an MPI build starts MPI (only commands with parallel = true may run on several ranks;
 * ranks > 0 become quiet: no info, no progress, stdout to /dev/null; OpenMP threads default to
 * the cores / ranks on the node); a build without MPI refuses ("built without MPI: make MPI=1").
 * Elsewhere nothing happens and the process is rank 0 of 1. */
int sd_dist_init(int *argc, char ***argv, const char *cmd, bool parallel, sd_err *err);
/* After the command: MPI_Finalize on success, MPI_Abort on failure (other ranks may wait in a
 * collective for the one that failed). Returns rc. */
int sd_dist_finish(int rc);
int sd_dist_rank(void);
int sd_dist_size(void);
bool sd_dist_built(void); /* compiled with SD_MPI */

/* In-place sum over ranks. */
void sd_dist_sum_floats(float *x, size_t n);
void sd_dist_sum_doubles(double *x, int n);
/* Rank 0's bytes to every rank. */
void sd_dist_bcast(void *buf, size_t bytes);

/* The loop's hooks. reduce_grads: every trainable view of p->grad and *loss_sum summed over
 * ranks. check_params: with SEMID_MPI_CHECK=K, at steps K, 2K, ... every rank's checksum of
 * p->data must equal rank 0's, else an error naming the step and the ranks (every rank fails,
 * and sd_dist_finish aborts the job). SEMID_MPI_TEST_DIVERGE=1 (tests) makes the last rank's
 * checksum differ. */
void sd_dist_reduce_grads(sd_params *p, double *loss_sum);
int sd_dist_check_params(const sd_params *p, int64_t step, sd_err *err);
/* Seconds spent in reduce_grads and floats it reduced (per rank) so far. */
void sd_dist_stats(double *seconds, double *floats, int64_t *calls);

#endif
