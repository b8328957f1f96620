/* Training checkpoints of `semid sasrec`: an interrupted run continued with --resume ends with
 * bit-identical parameters and report, and bad checkpoints are refused without writing anything. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "data/catalog.h"
#include "test_util.h"

/* Two identical small synthetic work directories a and b (300 items, 600 users) with a
 * hand-made sids.tsv (c0 = i / 25, c1 = i / 5 % 5, c2 = i % 5, uniqueness 0). */
static void make_works(char *a, char *b, size_t n) {
    char dir[256], cmd[8192];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(a, n, "%s/a", dir);
    snprintf(b, n, "%s/b", dir);
    snprintf(cmd, sizeof cmd, "%s synth -o %s --items 300 --users 600 --threads 1 --quiet", sd_test_bin(), a);
    cr_assert_eq(system(cmd), 0);
    /* the rows name the catalogue's items (sids.tsv is checked against items.jsonl) */
    sd_catalog *cat = NULL;
    sd_err err = {0};
    snprintf(cmd, sizeof cmd, "%s/items.jsonl", a);
    cr_assert_eq(sd_catalog_read_jsonl(&cat, cmd, &err), 0, "%s", err.msg);
    cr_assert_eq(cat->n_items, 300);
    snprintf(cmd, sizeof cmd, "%s/sids.tsv", a);
    FILE *f = fopen(cmd, "w");
    cr_assert(f);
    fprintf(f, "id\text_id\tc0\tc1\tc2\tc3\tsid\n");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%d\t%s\t%d\t%d\t%d\t0\t<|sid_start|><|sid_%d|><|sid_%d|><|sid_%d|><|sid_%d|><|sid_end|>\n", i,
                cat->items[i].ext_id, i / 25, i / 5 % 5, i % 5, i / 25, 16 + i / 5 % 5, 32 + i % 5, 48);
    fclose(f);
    sd_catalog_free(cat);
    snprintf(cmd, sizeof cmd, "cp -r %s %s", a, b);
    cr_assert_eq(system(cmd), 0);
}

static int run_sasrec(const char *work, const char *args, char **out) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s sasrec %s %s --threads 1 --quiet", sd_test_bin(), work, args);
    return sd_test_run(cmd, out);
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *path = sd_path_join(dir, name), *text = NULL;
    sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &text, len, &err), 0, "%s", err.msg);
    free(path);
    return text;
}

static bool exists_in(const char *dir, const char *name) {
    char *path = sd_path_join(dir, name);
    bool e = sd_exists(path);
    free(path);
    return e;
}

/* a: `opts` uninterrupted; b: stopped after `stop` epochs, then --resume. The test report (stdout)
 * and model.safetensors must be equal byte for byte (exact: same seed, same --threads). */
static void resume_case(const char *opts, int stop, const char *model_dir, const char *ckpt) {
    char a[512], b[512], args[1024], *out_a = NULL, *out_b = NULL;
    make_works(a, b, sizeof a);
    cr_assert_eq(run_sasrec(a, opts, &out_a), 0, "%s", out_a);
    cr_assert(strstr(out_a, "| full |"), "%s", out_a);
    cr_assert(exists_in(a, ckpt), "no %s after a finished run (it is kept)", ckpt);
    snprintf(args, sizeof args, "%s --stop-after %d", opts, stop);
    char *out = NULL;
    cr_assert_eq(run_sasrec(b, args, &out), 0, "%s", out);
    cr_assert(!strstr(out, "| full |"), "an interrupted run reported test figures: %s", out);
    free(out);
    cr_assert(exists_in(b, ckpt));
    cr_assert(!exists_in(b, model_dir), "an interrupted run wrote %s", model_dir);
    snprintf(args, sizeof args, "%s --resume", opts);
    cr_assert_eq(run_sasrec(b, args, &out_b), 0, "%s", out_b);
    cr_assert_str_eq(out_b, out_a, "resumed report differs:\n%s\nuninterrupted:\n%s", out_b, out_a);
    char name[256];
    snprintf(name, sizeof name, "%s/model.safetensors", model_dir);
    size_t la, lb;
    char *ma = slurp(a, name, &la), *mb = slurp(b, name, &lb);
    cr_assert(la == lb && memcmp(ma, mb, la) == 0, "resumed %s differs from the uninterrupted one", name);
    free(ma); free(mb);
    /* and the checkpoints themselves (parameters, moments, best, state) agree */
    ma = slurp(a, ckpt, &la);
    mb = slurp(b, ckpt, &lb);
    cr_assert(la == lb && memcmp(ma, mb, la) == 0, "final checkpoints differ");
    free(ma); free(mb);
    free(out_a); free(out_b);
}

/* BCE (sampled negatives + dropout), validation every epoch so the best epoch crosses the stop,
 * warmup + cosine so the schedule must resume at the right step. */
Test(sasrec_resume, sasrec_bit_identical) {
    resume_case("--epochs 5 --eval-every 1 --dim 16 --maxlen 10 --batch 64 --warmup 5 --cosine", 2, "sasrec",
                "sasrec.ckpt.safetensors");
}

Test(sasrec_resume, sasrec_softmax_ckpt_every) {
    /* checkpoints every 2 epochs; the stop at 3 writes one too */
    resume_case("--epochs 4 --eval-every 2 --dim 16 --maxlen 10 --batch 64 --loss softmax --ckpt-every 2", 3,
                "sasrec", "sasrec.ckpt.safetensors");
}

Test(sasrec_resume, sid_tokens_bit_identical) {
    resume_case("--sid --epochs 4 --eval-every 1 --dim 16 --maxlen 8 --batch 64", 2, "sasrec_sid",
                "sasrec_sid.ckpt.safetensors");
}

Test(sasrec_resume, sid_sum_bit_identical) {
    resume_case("--sid --sid-mode sum --epochs 3 --eval-every 1 --dim 16 --maxlen 8 --batch 64", 1, "sasrec_sid",
                "sasrec_sid.ckpt.safetensors");
}

/* Every refusal: exit != 0, the message names the checkpoint file (and the differing key), the
 * checkpoint is left as it was and no model folder is written. */
Test(sasrec_resume, bad_checkpoints) {
    char a[512], b[512], *out = NULL;
    make_works(a, b, sizeof a);
    const char *opts = "--epochs 3 --eval-every 1 --dim 16 --maxlen 10 --batch 64";
    char ckpt[600], args[1024];
    snprintf(ckpt, sizeof ckpt, "%s/sasrec.ckpt.safetensors", a);

    snprintf(args, sizeof args, "%s --resume", opts);
    cr_assert_neq(run_sasrec(a, args, &out), 0);
    cr_assert(strstr(out, ckpt) && strstr(out, "no checkpoint to resume from"), "%s", out);
    free(out);
    cr_assert(!exists_in(a, "sasrec"));

    snprintf(args, sizeof args, "%s --stop-after 1", opts);
    cr_assert_eq(run_sasrec(a, args, &out), 0, "%s", out);
    free(out);
    size_t len0;
    char *orig = slurp(a, "sasrec.ckpt.safetensors", &len0);

    struct { const char *args, *msg; } bad[] = {
        {"--epochs 3 --eval-every 1 --dim 32 --maxlen 10 --batch 64 --resume", "\"dim\" is 16 in the checkpoint, 32 now"},
        {"--epochs 3 --eval-every 1 --dim 16 --maxlen 10 --batch 64 --loss softmax --resume", "\"loss\" is \"bce\""},
        {"--epochs 3 --eval-every 1 --dim 16 --maxlen 10 --batch 64 --seed 7 --resume", "\"seed\" is \"42\""},
        {"--epochs 4 --eval-every 1 --dim 16 --maxlen 10 --batch 64 --resume", "\"epochs\" is 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_neq(run_sasrec(a, bad[i].args, &out), 0, "%s: exit 0", bad[i].args);
        cr_assert(strstr(out, ckpt) && strstr(out, bad[i].msg), "%s: message: %s", bad[i].args, out);
        free(out);
    }
    /* the same checkpoint over different data (b's sequences are a's; change b's seed of synth) */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s && %s synth -o %s --items 300 --users 600 --seed 5 --threads 1 --quiet && cp %s %s/",
             b, sd_test_bin(), b, ckpt, b);
    cr_assert_eq(system(cmd), 0);
    snprintf(args, sizeof args, "%s --resume", opts);
    cr_assert_neq(run_sasrec(b, args, &out), 0);
    cr_assert(strstr(out, "checkpoint does not match this run: \"data_"), "%s", out);
    free(out);
    cr_assert(!exists_in(b, "sasrec"));

    /* corrupt: truncated, garbage, a plain weights file */
    const char *corrupt[][2] = {
        {"head -c 1000 %s > %s.t && mv %s.t %s", "runs past the end"},
        {"printf 'garbage' > %s.t && mv %s.t %s", ""},
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "cp %s %s.orig", ckpt, ckpt);
        cr_assert_eq(system(cmd), 0);
        if (i == 0) snprintf(cmd, sizeof cmd, corrupt[i][0], ckpt, ckpt, ckpt, ckpt);
        else snprintf(cmd, sizeof cmd, corrupt[i][0], ckpt, ckpt, ckpt);
        cr_assert_eq(system(cmd), 0);
        size_t lb;
        char *before = slurp(a, "sasrec.ckpt.safetensors", &lb);
        cr_assert_neq(run_sasrec(a, args, &out), 0, "corrupt %zu: exit 0", i);
        cr_assert(strstr(out, ckpt) && strstr(out, corrupt[i][1]), "corrupt %zu: %s", i, out);
        free(out);
        size_t la;
        char *after = slurp(a, "sasrec.ckpt.safetensors", &la);
        cr_assert(la == lb && memcmp(before, after, la) == 0, "corrupt %zu: checkpoint rewritten", i);
        free(before); free(after);
        cr_assert(!exists_in(a, "sasrec"));
        snprintf(cmd, sizeof cmd, "mv %s.orig %s", ckpt, ckpt);
        cr_assert_eq(system(cmd), 0);
    }
    /* a model file where the checkpoint should be */
    cr_assert_eq(run_sasrec(b, opts, &out), 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "cp %s/sasrec/model.safetensors %s", b, ckpt);
    cr_assert_eq(system(cmd), 0);
    cr_assert_neq(run_sasrec(a, args, &out), 0);
    cr_assert(strstr(out, ckpt) && strstr(out, "not a semid sasrec training checkpoint"), "%s", out);
    free(out);
    cr_assert(!exists_in(a, "sasrec"));

    /* the failed attempts left the good checkpoint usable: restore it and finish */
    FILE *f = fopen(ckpt, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(orig, 1, len0, f), len0);
    fclose(f);
    free(orig);
    cr_assert_eq(run_sasrec(a, args, &out), 0, "%s", out);
    cr_assert(strstr(out, "| sasrec | full |"), "%s", out);
    free(out);
    cr_assert(exists_in(a, "sasrec"));

    /* option errors */
    snprintf(args, sizeof args, "%s --ckpt-every 0", opts);
    cr_assert_neq(run_sasrec(a, args, &out), 0);
    cr_assert(strstr(out, "--ckpt-every must be > 0"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "%s --no-ckpt --resume", opts);
    cr_assert_neq(run_sasrec(a, args, &out), 0);
    cr_assert(strstr(out, "--no-ckpt cannot be combined"), "%s", out);
    free(out);
}
