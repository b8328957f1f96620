/* Helpers shared by the C tests. */
#ifndef SD_TEST_UTIL_H
#define SD_TEST_UTIL_H
#include <stddef.h>
#include <math.h>

/* A fresh empty directory for this test process (removed by the OS tmp cleaner, not by us, so
 * a failing test leaves its files to look at). */
void sd_test_tmpdir(char *out, size_t n);
/* Path of the semid binary under test ($SEMID_BIN) and of fixtures/reference data. */
const char *sd_test_bin(void);
const char *sd_test_fixtures(void);
const char *sd_test_ref(void);
/* Runs a shell command; returns its exit status; stdout+stderr go to *out (malloc'd) if asked. */
int sd_test_run(const char *cmd, char **out);
/* Runs `semid ARGS` (ARGS from fmt; OMP_WAIT_POLICY=passive) like sd_test_run: exit status,
 * stdout+stderr in *out (malloc'd) when out is not NULL. */
int sd_test_semid(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A small synthetic work directory with semantic IDs, in a fresh temporary directory:
 * `synth --items ITEMS --users USERS`, embed, ids; then, when lmdata_opts is not NULL,
 * `lmdata WORK lmdata_opts` and `finetune WORK finetune_opts` (a model in WORK/lm). work [n]
 * receives WORK's path. A stage that fails fails the test with its output. */
void sd_test_lm_work(char *work, size_t n, int items, int users, const char *lmdata_opts, const char *finetune_opts);
/* Sequences from a literal list of item ids (-1 ends a user, -2 ends the list) over n_items
 * items, and their leave-one-out split. */
struct sd_sequences;
struct sd_split;
void sd_test_seqs_from_list(const int *flat, int n_items, struct sd_sequences *s, struct sd_split *sp);
/* Max abs difference and max relative difference (|a-b| / (|b| + atol)). */
double sd_max_abs_diff(const float *a, const float *b, size_t n);

#endif
