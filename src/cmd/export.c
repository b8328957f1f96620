/* semid export: a Qwen3 folder -> one GGUF file that llama.cpp runs (llama-cli, llama-server). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "lm/qwen3.h"

/* general.name: the folder's last component ("WORK/lm/" -> "lm"). */
static void folder_name(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(out, cap, "%.*s", (int)(n - s), dir + s);
    if (!*out || !strcmp(out, ".") || !strcmp(out, "..") || !strcmp(out, "/")) snprintf(out, cap, "qwen3");
}

static int run(int argc, char **argv) {
    const char *out = NULL, *dtype = NULL, *name = NULL;
    bool force = false;
    sd_opt opts[] = {
        {.name = "gguf", .type = SD_OPT_STR, .ptr = &out, .metavar = "OUT.gguf", .help = "output file (required)"},
        {.name = "dtype", .type = SD_OPT_STR, .ptr = &dtype, .metavar = "T",
         .help = "weights: f32, f16, bf16 or q8_0 (default: bf16 for a bfloat16 folder, else f16); norm weights stay "
                 "f32, q8_0 falls back to f16 for rows that are not whole blocks of 32"},
        {.name = "name", .type = SD_OPT_STR, .ptr = &name, .metavar = "NAME",
         .help = "general.name in the file (default: the folder's name)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace OUT even if it is a file semid did not write"},
        {0},
    };
    sd_usage u = {.usage = "semid export MODEL_DIR --gguf OUT.gguf [--dtype f32|f16|bf16|q8_0]",
                  .about = "Writes a Hugging Face Qwen3 folder (e.g. WORK/lm from `semid finetune`) as one GGUF v3 file "
                           "in llama.cpp's qwen3 layout: hyper-parameters, the tokenizer (the SID tokens as control "
                           "tokens), the chat template and the weights under llama.cpp's tensor names. Run it with "
                           "`llama-cli -m OUT.gguf` or `llama-server -m OUT.gguf`. llama.cpp samples SID tokens freely; "
                           "only semid's own decoding keeps them to real items.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) {
        free(pos);
        return rc == 1 ? 0 : sd_cmd_error(&err);
    }
    const char *model = pos[0];
    free(pos);
    if (!out || !*out) {
        sd_errf(&err, SD_EUSAGE, "export: --gguf OUT.gguf is required");
        return sd_cmd_error(&err);
    }
    sd_qwen3_gguf_type ty = SD_QWEN3_GGUF_F16;
    if (dtype && sd_qwen3_gguf_type_parse(dtype, &ty)) {
        sd_errf(&err, SD_EUSAGE, "export: --dtype \"%s\": expected f32, f16, bf16 or q8_0", dtype);
        return sd_cmd_error(&err);
    }
    /* OUT: absent, or a GGUF file semid wrote (or any regular file with --force); never a folder,
     * link or device */
    if (sd_out_file_check(out, &err)) return sd_cmd_error(&err);
    if (sd_exists(out) && !force && !sd_qwen3_gguf_is_semid(out)) {
        sd_errf(&err, SD_EUSAGE, "%s: exists and is not a GGUF file semid wrote; choose another path or pass --force "
                "to replace it", out);
        return sd_cmd_error(&err);
    }
    sd_lock lk = {.fd = -1};
    if (sd_lock_output(&lk, out, &err)) return sd_cmd_error(&err);
    double t0 = sd_now();
    sd_qwen3 m;
    if ((rc = sd_qwen3_load(&m, model, &err))) {
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    if (!dtype && !strcmp(m.cfg.torch_dtype, "bfloat16")) ty = SD_QWEN3_GGUF_BF16;
    char gname[256];
    folder_name(model, gname, sizeof gname);
    sd_qwen3_gguf_opts o = {.type = ty, .name = name ? name : gname};
    sd_qwen3_gguf_info info;
    rc = sd_qwen3_save_gguf(&m, out, &o, &info, &err);
    sd_qwen3_free(&m);
    sd_unlock(&lk);
    if (rc) return sd_cmd_error(&err);
    sd_info("%s: %s, %d tensors (%d q8_0, %d bf16, %d f16, %d f32), %.2f MB (%.1f s)", out,
            sd_qwen3_gguf_type_name(ty), info.n_tensors, info.n_q8_0, info.n_bf16, info.n_f16, info.n_f32,
            info.bytes / 1e6, sd_now() - t0);
    return 0;
}
SD_COMMAND(export, "export", "write a Qwen3 folder as a GGUF file for llama.cpp (--gguf OUT.gguf)", run)
