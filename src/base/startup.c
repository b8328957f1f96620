#include "base/startup.h"
#include "base/blas_core.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

char *openblas_get_corename(void);

/* The self-test child: the core must be the one asked for (OpenBLAS silently ignores a name it
 * does not know) and every routine must match the reference. Exit 0 = pass. */
static void selftest_child(const char *want) {
    alarm(30); /* a hung kernel counts as a failure */
    const char *fail = getenv("SEMID_BLAS_SELFTEST_FAIL");
    if (fail && !strcmp(fail, "crash")) raise(SIGILL);
    const char *got = openblas_get_corename();
    if (!got || strcasecmp(got, want)) {
        fprintf(stderr, "OpenBLAS ran core %s when asked for %s", got ? got : "?", want);
        _exit(3);
    }
    char msg[256] = "";
    if (sd_blas_selftest(NULL, msg, sizeof msg) || (fail && !strcmp(fail, "wrong"))) {
        fprintf(stderr, "%s", msg[0] ? msg : "results differ from the reference (forced)");
        _exit(4);
    }
    _exit(0);
}

/* Runs the self-test for `core` in a child of this same binary; 0 = passed, else msg says why. */
static int selftest_in_child(const char *core, char **argv, char *msg, int n) {
    int fds[2];
    if (pipe(fds)) { snprintf(msg, n, "pipe: %s", strerror(errno)); return -1; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(fds[0]); close(fds[1]); snprintf(msg, n, "fork: %s", strerror(errno)); return -1; }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1);
        setenv("OPENBLAS_CORETYPE", core, 1);
        setenv("SEMID_BLAS_SELFTEST", core, 1);
        unsetenv("OPENBLAS_VERBOSE");
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[256];
    int len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0) len += (int)r;
    close(fds[0]);
    buf[len] = 0;
    for (char *p = buf; *p; p++) if (*p == '\n' || *p == '|') *p = ' ';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st)) snprintf(msg, n, "the self-test process died (signal %d, %s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 127) snprintf(msg, n, "could not start the self-test process");
    else snprintf(msg, n, "%s", len ? buf : "the self-test failed");
    return -1;
}

/* Decides the OpenBLAS core; returns 1 when the environment was changed and a re-exec is needed. */
static int choose_blas_core(char **argv) {
    if (getenv(SD_BLAS_CHOICE_ENV)) return 0; /* decided by the semid that started this one */
    const char *detected = openblas_get_corename();
    const char *pretend = getenv("SEMID_BLAS_PRETEND_DETECTED");
    if (pretend && *pretend) detected = pretend;
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    sd_blas_choice ch;
    sd_blas_choose(&ci, detected, getenv("OPENBLAS_CORETYPE"), getenv("OPENBLAS_L2_SIZE"), &ch);
    if (!ch.change) return 0;
    char msg[256] = "", mark[640];
    if (selftest_in_child(ch.core, argv, msg, sizeof msg) == 0) {
        setenv("OPENBLAS_CORETYPE", ch.core, 1);
        snprintf(mark, sizeof mark, "semid|%s|%s|%s", ch.core, detected, ch.reason);
        setenv(SD_BLAS_CHOICE_ENV, mark, 1);
        return 1;
    }
    const char *real = openblas_get_corename();
    fprintf(stderr, "semid: warning: OpenBLAS runs %s kernels on a CPU that supports %s; %s failed its "
            "self-test (%s), so semid stays with %s\n", detected, sd_simd_level_name(sd_cpu_level(&ci)),
            ch.core, msg, real);
    snprintf(mark, sizeof mark, "fallback|%s|%s|%s kernels failed the self-test (%s)", real, detected, ch.core, msg);
    setenv(SD_BLAS_CHOICE_ENV, mark, 1); /* so children neither retry nor warn again */
    return 0;
}

void sd_startup(char **argv) {
    const char *st = getenv("SEMID_BLAS_SELFTEST");
    if (st) selftest_child(st);
    int reexec = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        reexec = 1;
    }
    reexec |= choose_blas_core(argv);
    if (reexec) execv("/proc/self/exe", argv);
    /* exec failed (no /proc): go on as loaded */
}
