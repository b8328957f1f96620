/* What an output may replace, from the command line: semid replaces only what it wrote (a
 * directory holding its .semid marker or a semid meta.json), refuses a regular file, a device or
 * fifo, a symlink and a foreign non-empty directory with exit 2 (--force: the directory only),
 * and leaves the refused thing byte for byte as it was. Also: stale temp dirs of dead runs are
 * removed (only those), one writer per output (flock), and a mixed set of `semid ids` outputs
 * is refused by its readers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/file.h"
#include "ids/sid_set.h"
#include "ids/sid_table.h"
#include "ids_fixture.h"
#include "lm/qwen3.h"
#include "test_util.h"
#include "text/tokenizer.h"

/* semid with --quiet */
#define semid(out, fmt, ...) sd_test_semid(out, fmt " --quiet", ##__VA_ARGS__)

#define SYNTH "synth --items 100 --users 40 -o"

static char *in(const char *dir, const char *name) { return sd_path_join(dir, name); }

static char *slurp(const char *p, size_t *n) {
    char *d = NULL;
    size_t len = 0;
    cr_assert_eq(sd_read_file(p, &d, &len, NULL), 0, "%s unreadable", p);
    if (n) *n = len;
    return d;
}

static void put(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    cr_assert(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void assert_content(const char *p, const char *want) {
    struct stat st;
    cr_assert_eq(lstat(p, &st), 0, "%s is gone", p);
    cr_assert(S_ISREG(st.st_mode), "%s is no longer a regular file", p);
    size_t n;
    char *d = slurp(p, &n);
    cr_assert(n == strlen(want) && !memcmp(d, want, n), "%s changed: \"%s\"", p, d);
    free(d);
}

/* Runs semid with the arguments and checks the refusal: exit 2 (usage), the path named, what is
 * there said. */
static void refused(const char *path, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refused(const char *path, const char *what, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out;
    int rc = semid(&out, "%s", args);
    cr_assert_eq(rc, 2, "%s: exit %d, expected 2 (usage): %s", args, rc, out);
    cr_assert(strstr(out, path), "the message does not name %s: %s", path, out);
    cr_assert(strstr(out, what), "the message does not say \"%s\": %s", what, out);
    free(out);
}

/* A pid that no process has now: a child that has exited and been reaped. */
static pid_t dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    cr_assert(p > 0);
    waitpid(p, NULL, 0);
    return p;
}

Test(outputs, regular_file_is_never_replaced, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *f = in(d, "notes.txt");
    put(f, "my notes\n");
    refused(f, "a regular file", SYNTH " %s", f);
    assert_content(f, "my notes\n");
    /* --force is for directories only */
    refused(f, "a regular file", SYNTH " %s --force", f);
    assert_content(f, "my notes\n");
    refused(f, "a regular file", "prep --format sasrec --interactions %s/sasrec/data.txt -o %s", sd_test_fixtures(), f);
    assert_content(f, "my notes\n");
    cr_assert(!sd_exists(in(d, "notes.txt.lock")), "a refused output left its lock file");
    free(f);
}

Test(outputs, fifo_and_device_are_never_replaced, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *fifo = in(d, "pipe");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    refused(fifo, "a fifo", SYNTH " %s --force", fifo);
    refused(fifo, "a fifo", "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s",
            sd_test_fixtures(), fifo);
    struct stat st;
    cr_assert(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the fifo is gone");
    /* a device node: a copy of /dev/null made here (needs root; nothing under /dev is touched) */
    char *dev = in(d, "null");
    if (geteuid() == 0 && mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        refused(dev, "a character device", SYNTH " %s", dev);
        refused(dev, "a character device", "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s",
                sd_test_fixtures(), dev);
        cr_assert(lstat(dev, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "the device is gone");
    }
    free(fifo);
    free(dev);
}

Test(outputs, symlinks_are_never_followed, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *target = in(d, "target"), *kept = in(d, "target/kept.txt"), *ldir = in(d, "link_to_dir");
    char *file = in(d, "file.txt"), *lfile = in(d, "link_to_file");
    cr_assert_eq(mkdir(target, 0755), 0);
    put(kept, "precious\n");
    put(file, "also precious\n");
    cr_assert_eq(symlink(target, ldir), 0);
    cr_assert_eq(symlink(file, lfile), 0);
    /* with and without a trailing slash, with and without --force */
    refused(ldir, "symbolic link", SYNTH " %s", ldir);
    refused(ldir, "symbolic link", SYNTH " %s/ --force", ldir);
    refused(lfile, "symbolic link", SYNTH " %s --force", lfile);
    refused(lfile, "symbolic link", "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s",
                         sd_test_fixtures(), lfile);
    char buf[512];
    ssize_t k = readlink(ldir, buf, sizeof buf - 1);
    cr_assert(k > 0 && (buf[k] = 0, !strcmp(buf, target)), "the link to the directory changed");
    k = readlink(lfile, buf, sizeof buf - 1);
    cr_assert(k > 0 && (buf[k] = 0, !strcmp(buf, file)), "the link to the file changed");
    assert_content(kept, "precious\n");
    assert_content(file, "also precious\n");
    free(target); free(kept); free(ldir); free(file); free(lfile);
}

Test(outputs, foreign_directory_needs_force, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *dir = in(d, "userdir"), *f = in(d, "userdir/thesis.tex"), *out;
    cr_assert_eq(mkdir(dir, 0755), 0);
    put(f, "\\section{Results}\n");
    refused(dir, "non-empty directory that semid did not write", SYNTH " %s", dir);
    refused(dir, "--force", SYNTH " %s", dir);
    assert_content(f, "\\section{Results}\n");
    /* a directory with a meta.json that is not semid's is foreign too */
    char *meta = in(dir, "meta.json");
    put(meta, "{\"project\": \"mine\"}\n");
    refused(dir, "non-empty directory", "prep --format sasrec --interactions %s/sasrec/data.txt -o %s",
            sd_test_fixtures(), dir);
    assert_content(f, "\\section{Results}\n");
    assert_content(meta, "{\"project\": \"mine\"}\n");
    /* sasrec refuses its output folder before training */
    char *w = in(d, "work");
    cr_assert_eq(semid(&out, SYNTH " %s", w), 0, "%s", out);
    free(out);
    refused(dir, "non-empty directory", "sasrec %s --out %s --epochs 1", w, dir);
    assert_content(f, "\\section{Results}\n");
    /* nor may its output be the work directory itself, or a folder holding it */
    refused(w, "is the work directory", "sasrec %s --out %s --epochs 1", w, w);
    refused(w, "or holds it", "sasrec %s --out %s/.. --epochs 1 --force", w, w);
    char *items = in(w, "items.jsonl");
    cr_assert(sd_exists(items), "the work directory was replaced");
    free(items);
    /* the demo's work directory too */
    char *o2;
    cr_assert_neq(semid(&o2, "demo %s --items 100 --users 40", dir), 0, "demo replaced a foreign directory");
    cr_assert(strstr(o2, "non-empty directory"), "%s", o2);
    free(o2);
    assert_content(f, "\\section{Results}\n");
    /* --force replaces the directory (and only then) */
    cr_assert_eq(semid(&out, SYNTH " %s --force", dir), 0, "%s", out);
    free(out);
    cr_assert(!sd_exists(f), "--force kept the old contents");
    char *m = slurp(meta, NULL);
    cr_assert(!strstr(m, "project") && strstr(m, "\"semid\""), "meta.json is not semid's: %s", m);
    free(m);
    cr_assert(sd_dir_is_semid(dir));
    free(dir); free(f); free(meta); free(w);
}

Test(outputs, semid_and_empty_directories_are_replaced, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "work"), *empty = in(d, "empty"), *out;
    cr_assert_eq(semid(&out, SYNTH " %s", w), 0, "%s", out);
    free(out);
    char *marker = in(w, SD_DIR_MARKER);
    cr_assert(sd_exists(marker), "no %s marker in a work directory semid wrote", SD_DIR_MARKER);
    cr_assert_eq(semid(&out, SYNTH " %s --seed 7", w), 0, "semid's own directory refused: %s", out);
    free(out);
    /* a work directory written before the marker existed: meta.json with "semid" is enough */
    cr_assert_eq(unlink(marker), 0);
    cr_assert_eq(semid(&out, "prep --format sasrec --interactions %s/sasrec/data.txt -o %s", sd_test_fixtures(), w), 0,
                 "a semid work directory without the marker refused: %s", out);
    free(out);
    cr_assert(sd_exists(marker));
    cr_assert_eq(mkdir(empty, 0755), 0);
    cr_assert_eq(semid(&out, SYNTH " %s", empty), 0, "an empty directory refused: %s", out);
    free(out);
    cr_assert(sd_dir_is_semid(empty));
    /* nothing beside the outputs: no temp dir, no old copy, no lock file */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s", d);
    char *ls;
    cr_assert_eq(sd_test_run(cmd, &ls), 0);
    cr_assert_str_eq(ls, "empty\nwork\n");
    free(ls);
    /* a regular file is what tokenizer train -o asked for: it is replaced */
    char *tok = in(d, "tok.json");
    put(tok, "old\n");
    cr_assert_eq(semid(&out, "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s",
                       sd_test_fixtures(), tok), 0, "%s", out);
    free(out);
    size_t n;
    char *t = slurp(tok, &n);
    cr_assert(n > 100 && t[0] == '{', "tokenizer.json not written");
    free(t);
    /* a directory is not */
    refused(w, "a directory", "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s",
            sd_test_fixtures(), w);
    cr_assert(sd_dir_is_semid(w));
    free(w); free(empty); free(marker); free(tok);
}

/* Library level: a directory that turns into something else between begin and commit is not
 * replaced; RENAME_EXCHANGE keeps the old directory present until the swap. */
Test(outputs, commit_rechecks_the_target) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "out"), *tmp = NULL;
    sd_err err = {0};
    cr_assert_eq(sd_dir_begin(w, &tmp, &err), 0, "%s", err.msg);
    put(w, "now a file\n");
    cr_assert_neq(sd_dir_commit(tmp, w, &err), 0);
    cr_assert_eq(err.code, SD_EUSAGE, "%s", err.msg);
    assert_content(w, "now a file\n");
    sd_dir_abort(tmp);
    free(tmp);
    free(w);
}

Test(outputs, stale_temp_dirs_of_dead_runs_are_removed, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "work"), *out;
    pid_t dead = dead_pid(), me = getpid();
    char names[6][64];
    snprintf(names[0], 64, "work.tmp.%d", (int)dead);   /* stale: removed */
    snprintf(names[1], 64, "work.tmp.%d", (int)me);     /* a live run's: kept */
    snprintf(names[2], 64, "work.tmp.0%d", (int)dead);  /* not semid's pattern: kept */
    snprintf(names[3], 64, "work.tmp.%dx", (int)dead);  /* not semid's pattern: kept */
    snprintf(names[4], 64, "other.tmp.%d", (int)dead);  /* another output's: kept */
    snprintf(names[5], 64, "work.old.%d", (int)dead);   /* a copy of an earlier WORK: kept */
    for (int i = 0; i < 6; i++) {
        char *p = in(d, names[i]), *f = sd_path_join(p, "items.jsonl");
        cr_assert_eq(mkdir(p, 0755), 0);
        put(f, "x\n");
        free(p); free(f);
    }
    cr_assert_eq(semid(&out, SYNTH " %s", w), 0, "%s", out);
    free(out);
    for (int i = 0; i < 6; i++) {
        char *p = in(d, names[i]);
        cr_assert_eq(sd_exists(p), i != 0, "%s %s", names[i], i ? "was removed" : "is still there");
        free(p);
    }
    /* a stale single-file temp inside WORK (a killed `semid embed`) goes the same way */
    char stale[64], live[64];
    snprintf(stale, sizeof stale, "emb.npy.tmp.%d", (int)dead);
    snprintf(live, sizeof live, "emb.npy.tmp.%d", (int)me);
    char *ps = in(w, stale), *pl = in(w, live);
    put(ps, "half\n");
    put(pl, "half\n");
    cr_assert_eq(semid(&out, "embed %s --dim 8", w), 0, "%s", out);
    free(out);
    cr_assert(!sd_exists(ps), "%s is still there", stale);
    cr_assert(sd_exists(pl), "%s of a live process was removed", live);
    /* and the staged files of a killed `semid ids`, with their own temps */
    char names2[4][80];
    snprintf(names2[0], 80, "sids.tsv.new.%d", (int)dead);                /* removed */
    snprintf(names2[1], 80, "sids.bin.new.%d.tmp.%d", (int)dead, (int)dead); /* removed */
    snprintf(names2[2], 80, "sids.bin.new.%d.tmp.%d", (int)dead, (int)me);   /* two pids: kept */
    snprintf(names2[3], 80, "sids.tsv.tmp.%d.new.%d", (int)dead, (int)dead); /* not semid's order: kept */
    for (int i = 0; i < 4; i++) { char *p = in(w, names2[i]); put(p, "half\n"); free(p); }
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 8 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    for (int i = 0; i < 4; i++) {
        char *p = in(w, names2[i]);
        cr_assert_eq(sd_exists(p), i >= 2, "%s %s", names2[i], i >= 2 ? "was removed" : "is still there");
        free(p);
    }
    free(ps); free(pl); free(w);
}

Test(outputs, one_writer_per_output, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "work"), *out;
    cr_assert_eq(semid(&out, SYNTH " %s", w), 0, "%s", out);
    free(out);
    size_t n0;
    char *before = slurp(in(w, "items.jsonl"), &n0);
    sd_lock lk;
    sd_err err = {0};
    cr_assert_eq(sd_lock_output(&lk, w, &err), 0, "%s", err.msg);
    char want[300];
    snprintf(want, sizeof want, "%s is being written by pid %d", w, (int)getpid());
    /* a second lock in this process is a second writer too */
    sd_lock again;
    cr_assert_eq(sd_lock_output(&again, w, &err), SD_ESTATE);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    int rc = semid(&out, SYNTH " %s --seed 9", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    rc = semid(&out, "embed %s --dim 8", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    cr_assert(!sd_exists(in(w, "emb.npy")), "embed wrote while the work directory was locked");
    size_t n1;
    char *after = slurp(in(w, "items.jsonl"), &n1);
    cr_assert(n0 == n1 && !memcmp(before, after, n0), "WORK was written while locked");
    free(after);
    sd_unlock(&lk);
    cr_assert(!sd_exists(in(d, "work.lock")), "the lock file stays after release");
    cr_assert_eq(semid(&out, SYNTH " %s --seed 9", w), 0, "%s", out);
    free(out);
    /* a stage writing inside WORK (as sasrec does) holds it shared: WORK is not replaced under it,
     * other stages run beside it, but not a second writer of the same file */
    cr_assert_eq(sd_lock_output_shared(&lk, w, &err), 0, "%s", err.msg);
    rc = semid(&out, SYNTH " %s", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    snprintf(want, sizeof want, "%s is in use by pid %d", w, (int)getpid());
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "embed %s --dim 8", w), 0, "a stage beside a shared holder failed: %s", out);
    free(out);
    char *emb = in(w, "emb.npy");
    cr_assert_eq(sd_lock_output(&again, emb, &err), 0, "%s", err.msg);
    rc = semid(&out, "embed %s --dim 8", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    snprintf(want, sizeof want, "%s is being written by pid %d", emb, (int)getpid());
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    sd_unlock(&again);
    sd_unlock(&lk);
    cr_assert(!sd_exists(in(d, "work.lock")) && !sd_exists(in(w, "emb.npy.lock")), "lock files stay after release");
    free(emb);
    free(before);
    free(w);
}

/* Shared holders: the lock file goes with the last of them, and an exclusive lock waits for all. */
Test(outputs, shared_lock_released_by_the_last_holder) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "work"), *lockf = in(d, "work.lock");
    sd_lock a, b, x;
    sd_err err = {0};
    cr_assert_eq(sd_lock_output_shared(&a, w, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_lock_output_shared(&b, w, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_lock_output(&x, w, &err), SD_ESTATE);
    sd_unlock(&a);
    cr_assert(sd_exists(lockf), "a shared holder removed the lock file of another");
    cr_assert_eq(sd_lock_output(&x, w, &err), SD_ESTATE, "exclusive lock taken beside a shared holder");
    sd_unlock(&b);
    cr_assert(!sd_exists(lockf));
    cr_assert_eq(sd_lock_output(&x, w, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_lock_output_shared(&a, w, &err), SD_ESTATE);
    sd_unlock(&x);
    free(w); free(lockf);
}

/* The record of a `semid ids` set: a complete set is read; a file of another run is refused by
 * every reader (sids.tsv and sids.bin loaders, sasrec --sid), naming it. */
Test(outputs, mixed_ids_outputs_are_refused, .timeout = 120) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = in(d, "work"), *out;
    ids_make_work(w, 200, 3);
    cr_assert_eq(semid(&out, "embed %s --dim 16", w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 8 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    char *tsv = in(w, "sids.tsv"), *bin = in(w, "sids.bin"), *rec = in(w, "ids_set.json");
    cr_assert(sd_exists(rec), "no ids_set.json");
    sd_sid_table t;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_load(&t, bin, &err), 0, "%s", err.msg);
    sd_sid_table_free(&t);
    cr_assert_eq(sd_sid_table_read_tsv(&t, tsv, NULL, 0, 0, &err), 0, "%s", err.msg);
    sd_sid_table_free(&t);
    /* keep this run's sids.tsv, run again with other codes, put the old sids.tsv back: the mix
     * a kill between two renames leaves */
    size_t n;
    char *old_tsv = slurp(tsv, &n);
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 16 --seed 5 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_write_file_atomic(tsv, old_tsv, n, &err), 0, "%s", err.msg);
    cr_assert_neq(sd_sid_table_read_tsv(&t, tsv, NULL, 0, 0, &err), 0, "a mixed set was read");
    cr_assert(strstr(err.msg, "mixed") && strstr(err.msg, tsv) && strstr(err.msg, "ids_set.json"), "%s", err.msg);
    cr_assert_neq(sd_sid_table_load(&t, bin, &err), 0, "sids.bin of a mixed set was read");
    cr_assert(strstr(err.msg, tsv), "%s", err.msg);
    int rc = semid(&out, "sasrec %s --sid --epochs 1 --eval-every 1 --no-ckpt", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "mixed") && strstr(out, "sids.tsv"), "%s", out);
    free(out);
    /* a report of another run is a mix too */
    char *rep = in(w, "ids_report.json");
    put(rep, "{}\n");
    cr_assert_neq(sd_sid_set_check(bin, &err), 0);
    cr_assert(strstr(err.msg, rep), "%s", err.msg);
    /* without the record (hand-made files) nothing is checked */
    cr_assert_eq(unlink(rec), 0);
    cr_assert_eq(sd_sid_table_read_tsv(&t, tsv, NULL, 0, 0, &err), 0, "%s", err.msg);
    sd_sid_table_free(&t);
    free(old_tsv); free(tsv); free(bin); free(rec); free(rep); free(w);
}

/* A tiny Qwen3 folder saved by semid (so it carries the marker), with the real Qwen3 tokenizer. */
static void tiny_model(const char *dir) {
    char tok_path[1024];
    snprintf(tok_path, sizeof tok_path, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_tokenizer *tok;
    sd_err err = {0};
    cr_assert_eq(sd_tok_load(&tok, tok_path, &err), 0, "%s", err.msg);
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 16, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 8, c.intermediate_size = 32, c.vocab_size = sd_tok_vocab_size(tok);
    sd_qwen3 m;
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 1, 0.5f);
    m.tok = tok;
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    sd_qwen3_free(&m);
}

Test(outputs, extend_output_folder, .timeout = 60) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *model = in(d, "model"), *ext = in(d, "ext"), *hf = in(d, "hf"), *cfg = in(d, "hf/config.json"), *out;
    tiny_model(model);
    cr_assert(sd_dir_is_semid(model), "a folder sd_qwen3_save wrote has no marker");
    /* a Hugging Face folder semid did not write (here: one without the marker) is refused */
    cr_assert_eq(mkdir(hf, 0755), 0);
    put(cfg, "{\"model_type\": \"qwen3\"}\n");
    refused(hf, "non-empty directory", "extend --model %s --levels 2 --codes 4 -o %s", model, hf);
    assert_content(cfg, "{\"model_type\": \"qwen3\"}\n");
    cr_assert_eq(semid(&out, "extend --model %s --levels 2 --codes 4 -o %s", model, ext), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "extend --model %s --levels 2 --codes 8 -o %s", model, ext), 0,
                 "a folder semid wrote was refused: %s", out);
    free(out);
    cr_assert_eq(semid(&out, "extend --model %s --levels 2 --codes 4 -o %s --force", model, hf), 0, "%s", out);
    free(out);
    cr_assert(sd_dir_is_semid(hf));
    free(model); free(ext); free(hf); free(cfg);
}
