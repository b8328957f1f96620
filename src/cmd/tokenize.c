/* semid tokenize: text on stdin -> ids (or token strings); --decode: ids -> text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/log.h"
#include "base/mem.h"
#include "text/tokenizer.h"

static int read_stdin(char **data, size_t *len) {
    size_t cap = 1 << 16, n = 0, k;
    char *buf = sd_xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += k;
        if (cap - n < 2) buf = sd_xrealloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *data = buf; *len = n;
    return ferror(stdin) ? -1 : 0;
}

static void print_ids(const sd_tokenizer *t, const sd_ids *ids, bool tokens, FILE *f) {
    for (size_t i = 0; i < ids->n; i++) {
        if (i) fputc(' ', f);
        if (tokens) fputs(sd_tok_id_to_token(t, ids->v[i]), f);
        else fprintf(f, "%d", ids->v[i]);
    }
    fputc('\n', f);
}

static int decode_ids(const sd_tokenizer *t, const char *text, bool skip_special, sd_err *err) {
    sd_ids ids = {0};
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= sd_tok_vocab_size(t) || !sd_tok_id_to_token(t, (int32_t)v)) {
            sd_ids_free(&ids);
            return sd_errf(err, SD_EUSAGE, "stdin: \"%.20s\" is not a token id of this tokenizer", p);
        }
        SD_GROW(ids.v, ids.cap, ids.n + 1);
        ids.v[ids.n++] = (int32_t)v;
        p = end;
    }
    size_t len;
    char *s = sd_tok_decode(t, ids.v, ids.n, skip_special, &len);
    fwrite(s, 1, len, stdout);
    free(s);
    sd_ids_free(&ids);
    return 0;
}

static int run(int argc, char **argv) {
    const char *path = NULL;
    bool decode = false, tokens = false, lines = false, skip_special = false;
    sd_opt opts[] = {
        {.name = "tokenizer", .type = SD_OPT_STR, .ptr = &path, .metavar = "FILE",
         .help = "tokenizer.json to use (required)"},
        {.name = "decode", .type = SD_OPT_FLAG, .ptr = &decode,
         .help = "read ids (space or comma separated) and print the text"},
        {.name = "skip-special", .type = SD_OPT_FLAG, .ptr = &skip_special,
         .help = "with --decode: leave out special tokens"},
        {.name = "tokens", .type = SD_OPT_FLAG, .ptr = &tokens, .help = "print token strings instead of ids"},
        {.name = "lines", .type = SD_OPT_FLAG, .ptr = &lines,
         .help = "encode each input line as its own document (parallel, --threads); one output line per input line"},
        {0},
    };
    sd_usage u = {.usage = "semid tokenize --tokenizer FILE [--decode | --tokens | --lines] < input",
                  .about = "Encodes text on stdin into token ids printed space-separated (all of stdin is one document "
                           "unless --lines), or decodes ids back to text.",
                  .min_pos = 0, .max_pos = 0};
    sd_err err = {0};
    int rc = sd_parse(&u, opts, argc, argv, NULL, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (!path) { sd_errf(&err, SD_EUSAGE, "tokenize: --tokenizer FILE is required"); return sd_cmd_error(&err); }
    sd_tokenizer *t;
    if ((rc = sd_tok_load(&t, path, &err))) return sd_cmd_error(&err);
    char *text; size_t len;
    if (read_stdin(&text, &len)) { sd_tok_free(t); sd_errf(&err, SD_EIO, "stdin: read failed"); return sd_cmd_error(&err); }
    if (decode) {
        rc = decode_ids(t, text, skip_special, &err);
    } else if (lines) {
        size_t n = 0, cap = 0;
        const char **docs = NULL; size_t *lens = NULL, lcap = 0;
        for (size_t i = 0; i < len;) {
            const char *nl = memchr(text + i, '\n', len - i);
            size_t e = nl ? (size_t)(nl - text) : len;
            SD_GROW(docs, cap, n + 1);
            SD_GROW(lens, lcap, n + 1);
            docs[n] = text + i; lens[n] = e - i; n++;
            i = e + 1;
        }
        sd_ids *outs = sd_xcalloc(n ? n : 1, sizeof *outs);
        double t0 = sd_now();
        sd_tok_encode_batch(t, docs, lens, n, outs, sd_opt_threads);
        double dt = sd_now() - t0;
        sd_debug("encoded %zu lines, %zu bytes in %.3f s (%.1f MB/s)", n, len, dt, len / 1e6 / (dt > 0 ? dt : 1e-9));
        for (size_t i = 0; i < n; i++) { print_ids(t, &outs[i], tokens, stdout); sd_ids_free(&outs[i]); }
        free(outs); free(docs); free(lens);
    } else {
        sd_ids ids = {0};
        sd_tok_encode(t, NULL, text, len, &ids);
        print_ids(t, &ids, tokens, stdout);
        sd_ids_free(&ids);
    }
    free(text);
    sd_tok_free(t);
    if (fflush(stdout) || rc) { if (!rc) sd_errf(&err, SD_EIO, "stdout: write failed"); return sd_cmd_error(&err); }
    return 0;
}
SD_COMMAND(tokenize, "tokenize", "encode text to token ids (or decode ids) with a tokenizer.json", run)
