/* semid tokenizer train: learn a byte-level BPE tokenizer.json from text files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "text/bpe_train.h"
#include "text/tokenizer.h"

static int train(int argc, char **argv) {
    char **corpus = NULL, **special = NULL;
    const char *out = NULL;
    int vocab = 0;
    int64_t min_freq = 0;
    sd_opt opts[] = {
        {.name = "corpus", .type = SD_OPT_STRS, .ptr = &corpus, .metavar = "FILE",
         .help = "training text, one document per line (plain or gzip; repeatable)"},
        {.name = "vocab-size", .type = SD_OPT_INT, .ptr = &vocab, .metavar = "N",
         .help = "vocabulary size including the 256 bytes and special tokens (required)"},
        {.name = "special", .type = SD_OPT_STRS, .ptr = &special, .metavar = "TOKEN",
         .help = "special token, gets the first ids in order (repeatable)"},
        {.name = "min-frequency", .type = SD_OPT_I64, .ptr = &min_freq, .metavar = "N",
         .help = "stop merging when the best pair occurs fewer times (default 0)"},
        {.name = "output", .type = SD_OPT_STR, .ptr = &out, .metavar = "FILE",
         .help = "output tokenizer.json (required; -o FILE works too)"},
        {0},
    };
    sd_usage u = {.usage = "semid tokenizer train --corpus FILE... --vocab-size N -o tokenizer.json "
                           "[--special TOKEN...]",
                  .about = "Learns byte-level BPE merges with the Qwen2 pre-tokenizer and NFC, and writes a Hugging "
                           "Face tokenizer.json. Deterministic: the same corpus and options give the same file. Extra "
                           "arguments are more corpus files (--corpus a.txt b.txt).",
                  .min_pos = 0, .max_pos = -1};
    sd_err err = {0};
    /* -o is the usual spelling for the output; the shared parser knows only long options */
    char **args = sd_xcalloc((size_t)argc + 1, sizeof *args);
    for (int i = 0; i < argc; i++) args[i] = !strcmp(argv[i], "-o") ? "--output" : argv[i];
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, args, &pos, &npos, &err);
    free(args);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    for (int i = 0; i < npos; i++) {
        size_t k = 0;
        while (corpus && corpus[k]) k++;
        corpus = sd_xrealloc(corpus, (k + 2) * sizeof *corpus);
        corpus[k] = pos[i]; corpus[k + 1] = NULL;
    }
    free(pos);
    if (!corpus || !corpus[0] || !out || vocab <= 0) {
        sd_errf(&err, SD_EUSAGE, "tokenizer train: --corpus, --vocab-size and -o are required");
        return sd_cmd_error(&err);
    }
    /* refuse a directory, device, fifo or link at -o before training; a regular file is replaced */
    sd_lock lk = {.fd = -1};
    if ((rc = sd_out_file_check(out, &err)) || (rc = sd_lock_output(&lk, out, &err))) {
        sd_unlock(&lk);
        free(corpus); free(special);
        return sd_cmd_error(&err);
    }
    size_t nc = 0, ns = 0;
    while (corpus[nc]) nc++;
    while (special && special[ns]) ns++;
    sd_bpe_train_opts o = {.vocab_size = vocab, .special = (const char *const *)special, .n_special = ns,
                           .min_frequency = min_freq, .threads = sd_opt_threads, .progress = true};
    double t0 = sd_now();
    sd_tokenizer *t;
    if ((rc = sd_bpe_train_files(&t, (const char *const *)corpus, nc, &o, &err))) {
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    rc = sd_tok_save(t, out, &err);
    if (!rc) sd_info("%s: %d tokens, %d merges (%.2f s)", out, sd_tok_vocab_size(t), sd_tok_merge_count(t), sd_now() - t0);
    sd_tok_free(t);
    sd_unlock(&lk);
    free(corpus); free(special);
    return rc ? sd_cmd_error(&err) : 0;
}

static int run(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    FILE *f = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
    fprintf(f, "usage: semid tokenizer train --corpus FILE... --vocab-size N -o tokenizer.json [--special TOKEN...]\n"
               "       (semid tokenizer train --help for all options; encoding is `semid tokenize`)\n");
    return f == stdout ? 0 : 2;
}
SD_COMMAND(tokenizer, "tokenizer", "train a byte-level BPE tokenizer.json (`tokenizer train`)", run)
