/* semid generate: continue a prompt (or answer it as a chat turn) with a Qwen3 folder, streaming
 * the text as tokens come. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/model_registry.h"
#include "data/workdir.h"
#include "lm/generate.h"
#include "lm/sid_decode.h"
#include "lm/utf8_stream.h"
#include "text/chat_template.h"

typedef struct out_ctx {
    const sd_tokenizer *tok;
    const int32_t *stop;
    int n_stop;
    bool ids;
    int n_printed;
    sd_utf8_stream utf8;
} out_ctx;

static void emit_stdout(void *ctx, const char *s, size_t n) {
    (void)ctx;
    fwrite(s, 1, n, stdout);
}

static void on_token(void *ctx, int seq, int32_t t) {
    (void)seq;
    out_ctx *o = ctx;
    if (o->ids) {
        printf(o->n_printed++ ? " %d" : "%d", t);
    } else {
        for (int i = 0; i < o->n_stop; i++)
            if (o->stop[i] == t) return;
        size_t len;
        const char *b = sd_tok_token_bytes(o->tok, t, &len);
        if (b) sd_utf8_stream_push(&o->utf8, b, len, emit_stdout, NULL);
    }
    fflush(stdout);
}

static int run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *work = NULL, *sids_prefix = NULL;
    bool free_sids = false;
    int max_new = 128, top_k = 0;
    double temperature = 0, top_p = 1, min_p = 0, penalty = 1;
    bool chat = false, ids = false, think = false, no_think = false;
    sd_opt opts[] = {
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "Hugging Face Qwen3 folder (config.json, safetensors, tokenizer.json)"},
        {.name = "prompt", .type = SD_OPT_STR, .ptr = &prompt, .metavar = "TEXT",
         .help = "text to continue (with --chat: the user message)"},
        {.name = "max-new-tokens", .type = SD_OPT_INT, .ptr = &max_new, .metavar = "N",
         .help = "stop after N new tokens (default 128)"},
        {.name = "temperature", .type = SD_OPT_DOUBLE, .ptr = &temperature, .metavar = "T",
         .help = "0 = greedy (default), > 0 samples"},
        {.name = "top-k", .type = SD_OPT_INT, .ptr = &top_k, .metavar = "K",
         .help = "sample among the K most likely tokens (0 = off)"},
        {.name = "top-p", .type = SD_OPT_DOUBLE, .ptr = &top_p, .metavar = "P",
         .help = "nucleus sampling: smallest set of mass >= P (1 = off)"},
        {.name = "min-p", .type = SD_OPT_DOUBLE, .ptr = &min_p, .metavar = "P",
         .help = "drop tokens below P x the top probability (0 = off)"},
        {.name = "repetition-penalty", .type = SD_OPT_DOUBLE, .ptr = &penalty, .metavar = "R",
         .help = "divide seen tokens' logits by R (1 = off)"},
        {.name = "chat", .type = SD_OPT_FLAG, .ptr = &chat,
         .help = "wrap the prompt in the chat template as a user turn"},
        {.name = "no-think", .type = SD_OPT_FLAG, .ptr = &no_think,
         .help = "with --chat: answer directly (the default)"},
        {.name = "think", .type = SD_OPT_FLAG, .ptr = &think,
         .help = "with --chat: let the model write its <think> block"},
        {.name = "work", .type = SD_OPT_STR, .ptr = &work, .metavar = "WORK",
         .help = "work directory whose semantic IDs the model speaks: every SID it writes is a real item"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids_prefix, .metavar = "PREFIX",
         .help = "with --work: read WORK/PREFIXsids.tsv"},
        {.name = "free-sids", .type = SD_OPT_FLAG, .ptr = &free_sids,
         .help = "with --work: do not constrain SIDs (sample them freely, as semantic-ids-llm does)"},
        {.name = "ids", .type = SD_OPT_FLAG, .ptr = &ids,
         .help = "print the new token ids (space-separated) instead of text"},
        {0},
    };
    sd_usage u = {.usage = "semid generate --model DIR --prompt TEXT [options]",
                  .about = "Generates a continuation of TEXT (raw by default; --chat makes it a user message in the "
                           "Qwen3 chat template with the assistant prompt, thinking off unless --think). Stops at "
                           "the model's end tokens or after --max-new-tokens. Temperature 0 is greedy; sampling is "
                           "seeded by --seed. With --work, SIDs are decoded over the trie of WORK's items: after "
                           "<|sid_start|> only codes that continue a real item are possible.",
                  .min_pos = 0, .max_pos = 0};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    free(pos);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (!model || !prompt) {
        sd_errf(&err, SD_EUSAGE, "generate: --model DIR and --prompt TEXT are required");
        return sd_cmd_error(&err);
    }
    if (think && no_think) {
        sd_errf(&err, SD_EUSAGE, "generate: --think and --no-think contradict each other");
        return sd_cmd_error(&err);
    }
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = max_new;
    g.sample.temperature = (float)temperature;
    g.sample.top_k = top_k;
    g.sample.top_p = (float)top_p;
    g.sample.min_p = (float)min_p;
    g.sample.repetition_penalty = (float)penalty;
    g.sample.seed = sd_seed;
    if ((rc = sd_sample_cfg_check(&g.sample, &err))) return sd_cmd_error(&err);
    if (max_new <= 0) {
        sd_errf(&err, SD_EUSAGE, "generate: --max-new-tokens must be > 0, got %d", max_new);
        return sd_cmd_error(&err);
    }

    sd_qwen3 m;
    if ((rc = sd_qwen3_load(&m, model, &err))) return sd_cmd_error(&err);
    if (!m.tok) {
        sd_qwen3_free(&m);
        sd_errf(&err, SD_EFORMAT, "%s: no tokenizer.json: generate needs the model's tokenizer", model);
        return sd_cmd_error(&err);
    }
    /* constrained SIDs: the work directory's vocabulary bound to the model's tokens */
    sd_work w = {0};
    sd_sid_vocab sv = {0};
    sd_sid_mask mk = {0};
    bool have_work = false, have_vocab = false;
    if (work && !free_sids) {
        char *sp = NULL;
        rc = sd_work_load(&w, work, &err);
        have_work = !rc;
        if (!rc) rc = sd_sids_path(&w, sids_prefix ? sids_prefix : "", "--sids", SD_EUSAGE, &sp, &err);
        if (!rc) rc = sd_sid_vocab_open(&sv, sp, w.cat, &err);
        have_vocab = !rc;
        if (!rc) rc = sd_qwen3_bind_sid_vocab(m.tok, &sv, model, &err);
        if (!rc) rc = sd_sid_mask_init(&mk, &sv, &err);
        free(sp);
        if (rc) {
            if (have_vocab) sd_sid_vocab_free(&sv);
            if (have_work) sd_work_free(&w);
            sd_qwen3_free(&m);
            return sd_cmd_error(&err);
        }
        g.sample.mask = sd_sid_mask_apply;
        g.sample.mask_ctx = &mk;
    }
    char *text = chat ? sd_chat_render(&(sd_chat_msg){.role = "user", .content = prompt}, 1, true, think)
                      : sd_xstrdup(prompt);
    sd_ids in = {0};
    sd_tok_encode(m.tok, NULL, text, strlen(text), &in);
    free(text);
    if (in.n == 0) {
        sd_ids_free(&in);
        sd_qwen3_free(&m);
        sd_errf(&err, SD_EUSAGE, "generate: the prompt is empty");
        return sd_cmd_error(&err);
    }
    uint8_t open_sid = 0;
    if (g.sample.mask) { /* a prompt ending in <|sid_start|> leaves the SID for the model to finish */
        const int32_t *codes;
        open_sid = sd_sid_open_prefix(&sv, in.v, (int)in.n, &codes) == 0;
        mk.open = &open_sid;
    }
    int32_t stop[16];
    g.n_stop = sd_qwen3_stop_ids(&m, stop, 16);
    g.stop_ids = stop;
    out_ctx oc = {.tok = m.tok, .stop = stop, .n_stop = g.n_stop, .ids = ids};
    g.on_token = on_token;
    g.on_token_ctx = &oc;
    const int32_t *prompts[1] = {in.v};
    int lens[1] = {(int)in.n};
    sd_gen_out o;
    rc = sd_generate(&m, prompts, lens, 1, &g, &o, &err);
    if (!ids) sd_utf8_stream_flush(&oc.utf8, emit_stdout, NULL);
    if (!rc) {
        putchar('\n');
        fflush(stdout);
        sd_debug("prompt %ld tokens in %.3f s (%.1f tok/s); %ld new tokens in %.3f s (%.1f tok/s); %s",
                 o.prefill_tokens, o.prefill_s, o.prefill_tokens / (o.prefill_s > 0 ? o.prefill_s : 1e-9),
                 o.decode_tokens, o.decode_s, o.decode_tokens / (o.decode_s > 0 ? o.decode_s : 1e-9),
                 o.finish[0] == SD_GEN_STOP ? "stopped at an end token" : "reached --max-new-tokens");
        sd_gen_out_free(&o);
    }
    sd_ids_free(&in);
    if (g.sample.mask) {
        sd_sid_mask_free(&mk);
        sd_sid_vocab_free(&sv);
        sd_work_free(&w);
    }
    sd_qwen3_free(&m);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(generate, "generate", "continue a prompt or answer a chat turn with a Qwen3 model", run)
