/* semid extend: add the semantic-ID tokens to a Qwen3 folder and write the extended folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "ids/sid_vocab.h"
#include "lm/qwen3.h"

static int parse_dtype(const char *s, const char *torch_dtype, sd_dtype *out) {
    if (!s) s = !strcmp(torch_dtype, "bfloat16") ? "bf16" : !strcmp(torch_dtype, "float16") ? "f16" : "f32";
    if (!strcmp(s, "f32")) *out = SD_DT_F32;
    else if (!strcmp(s, "bf16")) *out = SD_DT_BF16;
    else if (!strcmp(s, "f16")) *out = SD_DT_F16;
    else return -1;
    return 0;
}

static int run(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *dtype = NULL, *work = NULL;
    int levels = 0, codes = 0;
    double noise = 0.01, shard_mb = 0;
    bool force = false;
    sd_opt opts[] = {
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "Hugging Face Qwen3 folder (config.json, safetensors, tokenizer.json)"},
        {.name = "work", .type = SD_OPT_STR, .ptr = &work, .metavar = "WORK",
         .help = "take levels and codes from WORK/sid_vocab.json, written by `semid ids` (uniqueness levels included)"},
        {.name = "levels", .type = SD_OPT_INT, .ptr = &levels, .metavar = "L",
         .help = "without --work: token levels per item, uniqueness levels included (with --work: must agree)"},
        {.name = "codes", .type = SD_OPT_INT, .ptr = &codes, .metavar = "K",
         .help = "without --work: codes per level (with --work: must agree)"},
        {.name = "noise", .type = SD_OPT_DOUBLE, .ptr = &noise, .metavar = "X",
         .help = "new rows: mean of the old rows + N(0, (X * row spread)^2) (default 0.01)"},
        {.name = "dtype", .type = SD_OPT_STR, .ptr = &dtype, .metavar = "T",
         .help = "stored weights: f32, bf16 or f16 (default: the folder's torch_dtype)"},
        {.name = "shard-mb", .type = SD_OPT_DOUBLE, .ptr = &shard_mb, .metavar = "MB",
         .help = "shard the weights above this size (default 5000)"},
        {.name = "output", .type = SD_OPT_STR, .ptr = &out, .metavar = "DIR",
         .help = "output folder (required; -o DIR works too)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace OUT even if it is a non-empty folder semid did not write"},
        {0},
    };
    sd_usage u = {.usage = "semid extend --model DIR (--work WORK | --levels L --codes K) -o OUT",
                  .about = "Adds <|rec|>, <|sid_start|>, <|sid_end|> and the SID tokens of WORK's vocabulary "
                           "(<|sid_0|> .. <|sid_{L*K-1}|>, L counting the uniqueness levels) as special tokens right "
                           "after the existing ones, grows the embedding and lm_head to max(old rows, tokens) and sets "
                           "every row from the old token count up (spare checkpoint rows included) to the mean of the "
                           "old rows plus small seeded noise (--seed). Writes a complete folder that transformers "
                           "loads.",
                  .min_pos = 0, .max_pos = 0};
    sd_err err = {0};
    char **args = sd_xcalloc((size_t)argc + 1, sizeof *args);
    for (int i = 0; i < argc; i++) args[i] = !strcmp(argv[i], "-o") ? "--output" : argv[i];
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, args, &pos, &npos, &err);
    free(args);
    free(pos);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (!model || !out || (!work && (levels <= 0 || codes <= 0)) || (work && (levels < 0 || codes < 0))) {
        sd_errf(&err, SD_EUSAGE, "extend: --model, -o and either --work or --levels and --codes (positive) are required");
        return sd_cmd_error(&err);
    }
    if (shard_mb < 0 || !(noise >= 0)) {
        sd_errf(&err, SD_EUSAGE, "extend: --shard-mb and --noise must be >= 0");
        return sd_cmd_error(&err);
    }
    /* the vocabulary: WORK's, which the typed sizes (if any) must match, or the typed sizes */
    sd_sid_vocab v;
    if (work) {
        char *sids = sd_path_join(work, "sids.tsv");
        if (!sd_exists(sids)) {
            sd_errf(&err, SD_ESTATE, "%s: missing; run `semid ids %s` first", sids, work);
            free(sids);
            return sd_cmd_error(&err);
        }
        rc = sd_sid_vocab_open(&v, sids, NULL, &err);
        free(sids);
        if (rc) return sd_cmd_error(&err);
        int32_t K = v.K[0];
        for (int l = 1; l < v.n_levels; l++) if (v.K[l] != K) K = -1;
        if ((levels && levels != v.n_levels) || (codes && codes != K)) {
            sd_errf(&err, SD_EUSAGE, "extend: --levels %d --codes %d disagree with %s's semantic IDs: %d levels (%d "
                    "semantic + %d uniqueness) x %d codes; leave --levels and --codes out to use them", levels ? levels : v.n_levels,
                    codes ? codes : K, work, v.n_levels, v.levels, v.n_levels - v.levels, K);
            sd_sid_vocab_free(&v);
            return sd_cmd_error(&err);
        }
    } else {
        int32_t K[SD_SID_MAX_LEVELS];
        for (int l = 0; l < levels && l < SD_SID_MAX_LEVELS; l++) K[l] = codes;
        if ((int64_t)levels * codes > (1 << 20) || sd_sid_vocab_init(&v, levels, levels, K, &err)) {
            sd_errf(&err, SD_EUSAGE, "extend: %d levels x %d codes (each >= 1, at most %d levels, 2^20 tokens in all)",
                    levels, codes, SD_SID_MAX_LEVELS);
            return sd_cmd_error(&err);
        }
    }
    unsigned out_flags = force ? SD_OUT_FORCE : 0;
    sd_lock lk = {.fd = -1};
    if (sd_out_dir_check(out, out_flags, &err) || sd_lock_output(&lk, out, &err)) {
        sd_unlock(&lk);
        sd_sid_vocab_free(&v);
        return sd_cmd_error(&err);
    }
    double t0 = sd_now();
    sd_qwen3 m;
    if ((rc = sd_qwen3_load(&m, model, &err))) { sd_unlock(&lk); sd_sid_vocab_free(&v); return sd_cmd_error(&err); }
    sd_dtype as;
    if (parse_dtype(dtype, m.cfg.torch_dtype, &as)) {
        sd_qwen3_free(&m);
        sd_unlock(&lk);
        sd_sid_vocab_free(&v);
        sd_errf(&err, SD_EUSAGE, "extend: --dtype \"%s\": expected f32, bf16 or f16", dtype);
        return sd_cmd_error(&err);
    }
    sd_qwen3_vocab_ext x;
    rc = sd_qwen3_extend_sid_vocab(&m, &v, sd_seed, (float)noise, &x, &err);
    if (!rc) {
        int32_t n_sid = v.offset[v.n_levels];
        printf("tokens before: %d (model rows %d)\n", x.old_tokens, x.old_rows);
        bool one_k = true;
        for (int l = 1; l < v.n_levels; l++) one_k = one_k && v.K[l] == v.K[0];
        printf("added: %d tokens (<|rec|>, <|sid_start|>, <|sid_end|> + ", x.n_new);
        if (one_k) printf("%d x %d SID tokens)\n", v.n_levels, v.K[0]);
        else {
            for (int l = 0; l < v.n_levels; l++) printf("%s%d", l ? " + " : "", v.K[l]);
            printf(" = %d SID tokens)\n", n_sid);
        }
        printf("<|rec|> = %d\n<|sid_start|> = %d\n<|sid_end|> = %d\n", x.rec_id, x.sid_start_id, x.sid_end_id);
        printf("<|sid_0|> .. <|sid_%d|> = %d .. %d\n", n_sid - 1, x.sid_base, x.sid_base + n_sid - 1);
        printf("vocab_size: %d -> %d (rows %d .. %d initialised to the mean of rows 0 .. %d)\n", x.old_rows,
               x.new_rows, x.old_tokens, x.new_rows - 1, x.old_tokens - 1);
        sd_qwen3_save_opts so = {.store_as = as, .max_shard_bytes = (size_t)(shard_mb * 1e6), .out_flags = out_flags};
        rc = sd_qwen3_save(&m, out, &so, &err);
    }
    sd_qwen3_free(&m);
    sd_unlock(&lk);
    sd_sid_vocab_free(&v);
    if (rc) return sd_cmd_error(&err);
    sd_info("%s: written (%s, %.1f s)", out, sd_dtype_name(as), sd_now() - t0);
    return 0;
}
SD_COMMAND(extend, "extend", "add semantic-ID tokens to a Qwen3 folder (tokenizer, embedding, lm_head)", run)
