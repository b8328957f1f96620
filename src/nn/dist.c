#include "nn/dist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/threads.h"
#ifdef SD_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
#ifdef SD_MPI
static int g_check = 0;
static bool g_started = false;
#endif
static double g_seconds = 0, g_floats = 0;
static int64_t g_calls = 0;

static int env_int(const char *name) {
    const char *s = getenv(name);
    return s && *s ? atoi(s) : 0;
}

/* Ranks the launcher started (0: not under a launcher). */
static int launched_size(void) {
    int n = env_int("OMPI_COMM_WORLD_SIZE");
    if (!n) n = env_int("PMI_SIZE");
    return n;
}

bool sd_dist_built(void) {
#ifdef SD_MPI
    return true;
#else
    return false;
#endif
}

int sd_dist_init(int *argc, char ***argv, const char *cmd, bool parallel, sd_err *err) {
    int n = launched_size();
    if (n <= 1) return 0;
#ifndef SD_MPI
    (void)argc; (void)argv; (void)parallel;
    return sd_errf(err, SD_EUSAGE, "%s: started by mpirun with %d ranks but built without MPI: make MPI=1 "
                   "(else %d copies would train alone and write the same outputs)", cmd, n, n);
#else
    if (!parallel)
        return sd_errf(err, SD_EUSAGE, "%s: does not run data-parallel (only sasrec and finetune do); run it "
                       "without mpirun", cmd);
    MPI_Init(argc, argv);
    g_started = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* the node's cores are shared by its ranks unless --threads says otherwise */
    MPI_Comm node;
    int local = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    MPI_Comm_free(&node);
    sd_threads_share(local);
    g_check = env_int("SEMID_MPI_CHECK");
    if (g_rank > 0) {
        sd_quiet = true;
        if (!freopen("/dev/null", "w", stdout)) sd_warn("rank %d: stdout stays open", g_rank);
    }
    return 0;
#endif
}

int sd_dist_finish(int rc) {
#ifdef SD_MPI
    if (!g_started) return rc;
    if (rc) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    if (g_rank == 0 && g_calls && !sd_quiet)
        sd_info("mpi: %d ranks, %lld gradient all-reduces of %.2f MB each, %.2f s in all", g_size, (long long)g_calls,
                g_floats * 4 / 1e6 / (double)g_calls, g_seconds);
    MPI_Finalize();
#endif
    return rc;
}

int sd_dist_rank(void) { return g_rank; }
int sd_dist_size(void) { return g_size; }

void sd_dist_sum_floats(float *x, size_t n) {
#ifdef SD_MPI
    if (g_size < 2) return;
    for (size_t a = 0; a < n; a += SD_DIST_BUCKET) {
        size_t k = n - a < SD_DIST_BUCKET ? n - a : SD_DIST_BUCKET;
        MPI_Allreduce(MPI_IN_PLACE, x + a, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
#else
    (void)x; (void)n;
#endif
}

void sd_dist_sum_doubles(double *x, int n) {
#ifdef SD_MPI
    if (g_size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)x; (void)n;
#endif
}

void sd_dist_bcast(void *buf, size_t bytes) {
#ifdef SD_MPI
    if (g_size < 2) return;
    enum { CHUNK = 1 << 30 };
    for (size_t a = 0; a < bytes; a += CHUNK) {
        size_t k = bytes - a < CHUNK ? bytes - a : CHUNK;
        MPI_Bcast((char *)buf + a, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
#else
    (void)buf; (void)bytes;
#endif
}

void sd_dist_reduce_grads(sd_params *p, double *loss_sum) {
    if (g_size < 2) return;
    double t0 = sd_now();
    /* runs of adjacent trainable views (frozen ones keep a zero gradient: not sent) */
    for (int k = 0; k < p->n_views;) {
        if (!p->views[k].requires_grad) { k++; continue; }
        size_t a = p->views[k].offset, e = a + p->views[k].numel;
        for (k++; k < p->n_views && p->views[k].requires_grad; k++) e = p->views[k].offset + p->views[k].numel;
        sd_dist_sum_floats(p->grad + a, e - a);
        g_floats += (double)(e - a);
    }
    sd_dist_sum_doubles(loss_sum, 1);
    g_seconds += sd_now() - t0;
    g_calls++;
}

#ifdef SD_MPI
static uint64_t checksum(const float *x, size_t n) {
    const unsigned char *b = (const unsigned char *)x;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#endif

int sd_dist_check_params(const sd_params *p, int64_t step, sd_err *err) {
#ifdef SD_MPI
    if (g_size < 2 || g_check <= 0 || step % g_check) return 0;
    uint64_t mine = checksum(p->data, p->n), *all = malloc(sizeof(uint64_t) * (size_t)g_size);
    /* test hook: the last rank pretends its parameters differ */
    if (g_rank == g_size - 1 && env_int("SEMID_MPI_TEST_DIVERGE")) mine ^= 1;
    MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int bad = -1;
    for (int r = 1; r < g_size && bad < 0; r++)
        if (all[r] != all[0]) bad = r;
    int rc = 0;
    if (bad >= 0)
        rc = sd_errf(err, SD_ESTATE, "mpi: parameters diverged across ranks at step %lld: rank %d checksum %016llx, "
                     "rank 0 %016llx (SEMID_MPI_CHECK=%d)", (long long)step, bad, (unsigned long long)all[bad],
                     (unsigned long long)all[0], g_check);
    free(all);
    return rc;
#else
    (void)p; (void)step; (void)err;
    return 0;
#endif
}

void sd_dist_stats(double *seconds, double *floats, int64_t *calls) {
    if (seconds) *seconds = g_seconds;
    if (floats) *floats = g_floats;
    if (calls) *calls = g_calls;
}
