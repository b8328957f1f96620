/* Data-parallel training over MPI (nn/dist.h), end to end on tiny stores: 2 ranks on this machine
 * against 1 rank with the same global batch, for sasrec and finetune.
 *
 * Tolerances (float summation order is all that differs):
 * - sasrec, 2 ranks x 1 thread against 1 rank x 2 threads: the same bytes (the same shards, dropout
 *   keys and summation order: thread 0 + thread 1 is rank 0 + rank 1);
 * - sasrec, 2 ranks against 1 rank x 1 thread, dropout 0, 10 AdamW steps at lr 1e-3: every
 *   parameter within 5e-4 (measured 8e-5; Adam moves a parameter up to lr per step, so a wrong
 *   shard or reduction shows as ~1e-2);
 * - finetune (tiny Qwen3 from scratch), 2 ranks against 1 rank x 1 thread, 6 steps: parameters
 *   within 1e-4 (measured 5e-6), every logged step loss within 1e-4 relative (a wrong loss
 *   scale shows as a factor of 2);
 * - finetune stopped and resumed under 2 ranks: the same bytes as uninterrupted under 2 ranks.
 * mpirun runs in a container as root: shared-memory transport without process_vm_readv (which a
 * container without CAP_SYS_PTRACE refuses), ranks yielding while they wait (2 shared cores).
 * The MPI binary is $SEMID_MPI_BIN (make test builds build/semid-mpi when mpicc is present); the
 * tests that need mpirun skip, saying so, when it or the binary is missing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "io/safetensors.h"
#include "test_util.h"

#define MPIRUN "OMP_WAIT_POLICY=passive OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none " \
               "OMPI_MCA_mpi_yield_when_idle=1 mpirun --oversubscribe --allow-run-as-root --bind-to none"

static const char *mpi_bin(void) {
    const char *b = getenv("SEMID_MPI_BIN");
    return b && *b ? b : NULL;
}

static void need_mpi(void) {
    if (!mpi_bin()) cr_skip_test("SEMID_MPI_BIN unset (no mpicc: install libopenmpi-dev, see scripts/install-deps.sh)");
    if (sd_test_run("command -v mpirun", NULL) != 0) cr_skip_test("mpirun missing (install openmpi-bin)");
}

/* Runs `mpirun -np N semid-mpi ARGS`; exit status, output in *out. */
static int mpi_semid(char **out, int np, const char *env, const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s -np %d %s %s", env ? env : "", MPIRUN, np, mpi_bin(), args);
    return sd_test_run(cmd, out);
}

static void run_ok(int rc, char *out) {
    cr_assert_eq(rc, 0, "%s", out ? out : "");
    free(out);
}

/* Max |a - b| over every tensor of two safetensors files with the same names and shapes. */
static double max_param_diff(const char *pa, const char *pb) {
    sd_st *a, *b;
    sd_err err;
    cr_assert_eq(sd_st_open(&a, pa, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_open(&b, pb, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(a), sd_st_count(b));
    double worst = 0;
    for (int i = 0; i < sd_st_count(a); i++) {
        const sd_st_tensor *ta = sd_st_get(a, i), *tb = sd_st_find(b, ta->name);
        cr_assert(tb && tb->numel == ta->numel, "%s", ta->name);
        float *x = malloc(sizeof(float) * ta->numel), *y = malloc(sizeof(float) * ta->numel);
        cr_assert_eq(sd_st_read_f32(ta, x, ta->numel, &err), 0, "%s", err.msg);
        cr_assert_eq(sd_st_read_f32(tb, y, tb->numel, &err), 0, "%s", err.msg);
        double d = sd_max_abs_diff(x, y, ta->numel);
        if (d > worst) worst = d;
        free(x);
        free(y);
    }
    sd_st_close(a);
    sd_st_close(b);
    return worst;
}

static bool same_file(const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return sd_test_run(cmd, NULL) == 0;
}

static void make_store(char *work, size_t n, bool lm) {
    char tmp[256];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(work, n, "%s/w", tmp);
    char *out = NULL;
    run_ok(sd_test_semid(&out, "synth -o %s --items 200 --users 300 --quiet", work), out);
    if (!lm) return;
    run_ok(sd_test_semid(&out, "embed %s --quiet", work), out);
    run_ok(sd_test_semid(&out, "ids %s --quiet", work), out);
    run_ok(sd_test_semid(&out, "lmdata %s --quiet --max-per-task 10", work), out);
}

Test(mpi, serial_build_refuses_under_mpirun) {
    /* what mpirun sets; the serial binary must not start N independent trainings */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 %s sasrec /nonexistent", sd_test_bin());
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "built without MPI: make MPI=1"), "%s", out);
    free(out);
}

Test(mpi, other_commands_refuse_several_ranks) {
    need_mpi();
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "OMPI_COMM_WORLD_SIZE=2 %s synth -o /nonexistent/x", mpi_bin());
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "does not run data-parallel"), "%s", out);
    free(out);
}

#define SASREC "sasrec %s --epochs 2 --batch 64 --eval-every 1 --no-ckpt --quiet"

Test(mpi, sasrec_two_ranks_match_one, .timeout = 120) {
    need_mpi();
    char work[300], args[1024], a[400], b[400];
    make_store(work, sizeof work, false);
    char *out = NULL;
    /* dropout on: 2 ranks x 1 thread is 1 rank x 2 threads, byte for byte */
    run_ok(sd_test_semid(&out, SASREC " --threads 2 --out %s/t2", work, work), out);
    snprintf(args, sizeof args, SASREC " --threads 1 --out %s/r2", work, work);
    int rc = mpi_semid(&out, 2, NULL, args);
    cr_assert_eq(rc, 0, "%s", out);
    /* rank 0 alone reports */
    const char *first = strstr(out, "| sasrec | full");
    cr_assert(first && !strstr(first + 1, "| sasrec | full"), "%s", out);
    free(out);
    snprintf(a, sizeof a, "%s/t2/model.safetensors", work);
    snprintf(b, sizeof b, "%s/r2/model.safetensors", work);
    cr_assert(same_file(a, b), "2 ranks x 1 thread differ from 1 rank x 2 threads");
    /* dropout 0: against one process on one thread, the same batches summed in another order */
    run_ok(sd_test_semid(&out, SASREC " --dropout 0 --threads 1 --out %s/s1", work, work), out);
    snprintf(args, sizeof args, SASREC " --dropout 0 --threads 1 --out %s/s2", work, work);
    run_ok(mpi_semid(&out, 2, NULL, args), out);
    snprintf(a, sizeof a, "%s/s1/model.safetensors", work);
    snprintf(b, sizeof b, "%s/s2/model.safetensors", work);
    double d = max_param_diff(a, b);
    cr_assert(d <= 5e-4, "2 ranks vs 1: max |dparam| %g > 5e-4", d);
}

/* The loss column of train_log.csv, row by row. */
static int read_losses(const char *path, double *loss, int cap) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[512];
    int n = 0;
    cr_assert(fgets(line, sizeof line, f));
    while (n < cap && fgets(line, sizeof line, f)) {
        long long step;
        double lr;
        cr_assert_eq(sscanf(line, "%lld,%lf,%lf", &step, &lr, &loss[n]), 3, "%s", line);
        n++;
    }
    fclose(f);
    return n;
}

#define FINETUNE "finetune %s --steps 6 --vocab 400 --batch 8 --eval-every 3 --ckpt-every 3 --max-len 256 --truncate " \
                 "--threads 1 --quiet"

Test(mpi, finetune_two_ranks_match_one, .timeout = 180) {
    need_mpi();
    char work[300], args[1024], a[400], b[400];
    make_store(work, sizeof work, true);
    char *out = NULL;
    run_ok(sd_test_semid(&out, FINETUNE " --out %s/f1", work, work), out);
    snprintf(args, sizeof args, FINETUNE " --out %s/f2", work, work);
    run_ok(mpi_semid(&out, 2, "SEMID_MPI_CHECK=2", args), out);
    snprintf(a, sizeof a, "%s/f1/model.safetensors", work);
    snprintf(b, sizeof b, "%s/f2/model.safetensors", work);
    double d = max_param_diff(a, b);
    cr_assert(d <= 1e-4, "2 ranks vs 1: max |dparam| %g > 1e-4", d);
    double l1[16], l2[16];
    snprintf(a, sizeof a, "%s/f1/train_log.csv", work);
    snprintf(b, sizeof b, "%s/f2/train_log.csv", work);
    int n1 = read_losses(a, l1, 16), n2 = read_losses(b, l2, 16);
    cr_assert_eq(n1, 6);
    cr_assert_eq(n2, 6);
    for (int i = 0; i < n1; i++)
        cr_assert(fabs(l1[i] - l2[i]) <= 1e-4 * fabs(l1[i]), "step %d: loss %g (1 rank) vs %g (2 ranks)", i + 1, l1[i], l2[i]);
    /* stopped after 3 steps and resumed, every rank reading rank 0's checkpoint: the same bytes */
    snprintf(args, sizeof args, FINETUNE " --out %s/f3 --stop-after 3", work, work);
    run_ok(mpi_semid(&out, 2, NULL, args), out);
    snprintf(a, sizeof a, "%s/f3/model.safetensors", work);
    cr_assert(!sd_exists(a), "a stopped run wrote a model");
    snprintf(args, sizeof args, FINETUNE " --out %s/f3 --resume", work, work);
    run_ok(mpi_semid(&out, 2, NULL, args), out);
    snprintf(b, sizeof b, "%s/f2/model.safetensors", work);
    cr_assert(same_file(a, b), "stop + resume under 2 ranks differs from an uninterrupted run");
}

Test(mpi, divergence_fails_loudly, .timeout = 120) {
    need_mpi();
    char work[300], args[1024];
    make_store(work, sizeof work, false);
    char *out = NULL;
    snprintf(args, sizeof args, SASREC " --threads 1 --out %s/x", work, work);
    int rc = mpi_semid(&out, 2, "SEMID_MPI_CHECK=3 SEMID_MPI_TEST_DIVERGE=1", args);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert(strstr(out, "parameters diverged across ranks at step 3: rank 1"), "%s", out);
    free(out);
    char p[400];
    snprintf(p, sizeof p, "%s/x/model.safetensors", work);
    cr_assert(!sd_exists(p), "a diverged run wrote a model");
}
