/* semid finetune WORK: a Qwen3 model that recommends in conversation, trained on WORK/lmdata's chat
 * conversations (or --data FILE) with labels on the assistant's tokens only.
 *
 * Without --base (the default, what works with nothing downloaded): a model from scratch that
 * knows only the store's language: a byte-level BPE tokenizer trained on the catalogue and the
 * conversations, ChatML and semantic-ID tokens added as special tokens, a --size preset with
 * random weights, one training stage.
 * With --base DIR (a Hugging Face Qwen3 folder): the SID tokens are added (or bound when the folder
 * has them), stage 1 trains only their embedding / lm_head rows, stage 2 all weights.
 *
 * Writes WORK/lm/ (or --out DIR) atomically: the Hugging Face folder (config.json,
 * model.safetensors, tokenizer.json, tokenizer_config.json with the ChatML template,
 * generation_config.json), train_log.csv and finetune.json. Training checkpoints go beside it
 * (OUT.ckpt.safetensors, or OUT.stage1 / OUT.stage2.ckpt.safetensors) for --resume. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/catalog.h"
#include "ids/sid_vocab.h"
#include "io/json_util.h"
#include "lm/finetune.h"
#include "lm/lmdata_tasks.h"
#include "nn/dist.h"
#include "text/bpe_train.h"

typedef struct ft_args {
    const char *work, *base, *data, *valid_data, *out, *size, *list_loss;
    int vocab, batch, accum, max_len, eval_every, ckpt_every, warmup, epochs, valid_max;
    int64_t steps, stage1_steps, stage2_steps, stop_after;
    double lr, stage1_lr, weight_decay, mem_limit_mb, noise;
    float clip;
    bool resume, recompute, truncate, force, no_ckpt, lr_set;
} ft_args;

/* ---- inputs ---- */

static int read_chats(sd_chat_set *s, const char *path, const char *work, bool own, sd_err *err) {
    if (!sd_exists(path)) {
        if (own) return sd_errf(err, SD_EUSAGE, "%s: no such file", path);
        return sd_errf(err, SD_ESTATE, "%s: missing; run `semid lmdata %s` first (or give --data FILE.jsonl)", path,
                       work);
    }
    int rc = sd_chat_read_jsonl(s, path, err);
    if (!rc && s->n == 0) rc = sd_errf(err, SD_EFORMAT, "%s: no conversation in it", path);
    return rc;
}

/* Text with every "<|...|>" token cut out, so the BPE learns words, not SID markup. */
static char *strip_tokens(const char *s, size_t *len) {
    size_t n = strlen(s), k = 0;
    char *o = sd_xmalloc(n + 1);
    for (size_t i = 0; i < n;) {
        const char *e;
        if (s[i] == '<' && s[i + 1] == '|' && (e = strstr(s + i + 2, "|>")) && e - (s + i) < 64) {
            o[k++] = ' ';
            i = (size_t)(e - s) + 2;
        } else {
            o[k++] = s[i++];
        }
    }
    o[k] = 0;
    *len = k;
    return o;
}

static const char *const CHAT_SPECIAL[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};
enum { N_CHAT_SPECIAL = 5 };

/* The from-scratch tokenizer: BPE over the catalogue's titles / descriptions and the
 * conversations' words, ChatML tokens first. */
static int scratch_tokenizer(sd_tokenizer **tok, const ft_args *a, const sd_chat_set *train, sd_err *err) {
    char *items = sd_path_join(a->work, "items.jsonl");
    sd_catalog *cat = NULL;
    int rc = sd_exists(items) ? sd_catalog_read_jsonl(&cat, items, err)
                              : sd_errf(err, SD_ESTATE, "%s: missing (not a work directory? see `semid prep`)", items);
    free(items);
    if (rc) return rc;
    size_t n = 0, cap = (size_t)cat->n_items;
    for (size_t i = 0; i < train->n; i++) cap += (size_t)train->convs[i].n_msgs;
    char **texts = sd_xcalloc(cap ? cap : 1, sizeof *texts);
    size_t *lens = sd_xcalloc(cap ? cap : 1, sizeof *lens);
    for (int32_t i = 0; i < cat->n_items; i++) {
        const sd_item *it = &cat->items[i];
        size_t l = strlen(it->title) + strlen(it->description) + 2;
        texts[n] = sd_xmalloc(l);
        lens[n] = (size_t)snprintf(texts[n], l, "%s\n%s", it->title, it->description);
        n++;
    }
    for (size_t i = 0; i < train->n; i++)
        for (int k = 0; k < train->convs[i].n_msgs; k++, n++) texts[n] = strip_tokens(train->convs[i].msgs[k].content, &lens[n]);
    sd_word_counts *w = sd_word_counts_new();
    sd_word_counts_add_texts(w, (const char *const *)texts, lens, n, CHAT_SPECIAL, N_CHAT_SPECIAL, sd_opt_threads);
    sd_bpe_train_opts bo = {.vocab_size = a->vocab, .special = CHAT_SPECIAL, .n_special = N_CHAT_SPECIAL,
                            .min_frequency = 2, .threads = sd_opt_threads, .progress = false};
    rc = sd_bpe_train_words(tok, w, &bo, err);
    sd_word_counts_free(w);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    sd_catalog_free(cat);
    return rc;
}

/* A model from scratch: the --size preset over the new tokenizer, random weights, the SID tokens
 * added the way `semid extend` adds them (their rows drawn like the others: noise 1). */
static int scratch_model(sd_qwen3 *m, const ft_args *a, const sd_chat_set *train, sd_sid_vocab *v,
                         sd_qwen3_vocab_ext *x, sd_err *err) {
    sd_tokenizer *tok;
    int rc = scratch_tokenizer(&tok, a, train, err);
    if (rc) return rc;
    sd_qwen3_config c;
    if ((rc = sd_qwen3_preset(&c, a->size, sd_tok_vocab_size(tok), err))) {
        sd_tok_free(tok);
        return sd_err_prefix(err, "finetune: --size: ");
    }
    c.eos_token_ids[0] = sd_tok_token_to_id(tok, "<|im_end|>");
    c.eos_token_ids[1] = sd_tok_token_to_id(tok, "<|endoftext|>");
    c.n_eos = 2;
    if (a->max_len > c.max_position_embeddings) c.max_position_embeddings = a->max_len;
    if ((rc = sd_qwen3_init(m, &c, err))) { sd_tok_free(tok); return rc; }
    sd_qwen3_init_random(m, sd_seed, 0.02f);
    m->tok = tok;
    rc = sd_qwen3_extend_sid_vocab(m, v, sd_seed, 1.0f, x, err);
    if (rc) sd_qwen3_free(m);
    return rc;
}

/* The base folder with the SID vocabulary: bound when present, added when not. *lo, *hi: the
 * rows stage 1 trains (the SID tokens' rows, and the spare rows after them when added). */
static int base_model(sd_qwen3 *m, const ft_args *a, sd_sid_vocab *v, int32_t *lo, int32_t *hi, bool *added,
                      sd_err *err) {
    int rc = sd_qwen3_load(m, a->base, err);
    if (rc) return rc;
    if (!m->tok) {
        sd_qwen3_free(m);
        return sd_errf(err, SD_EFORMAT, "%s: no tokenizer.json: fine-tuning needs the model's tokenizer", a->base);
    }
    bool has = sd_tok_token_to_id(m->tok, SD_SID_TOKEN_START) >= 0 || sd_tok_token_to_id(m->tok, SD_SID_TOKEN_REC) >= 0 ||
               sd_tok_token_to_id(m->tok, "<|sid_0|>") >= 0;
    *added = !has;
    if (has) {
        if ((rc = sd_qwen3_bind_sid_vocab(m->tok, v, a->base, err))) { sd_qwen3_free(m); return rc; }
        int32_t l = v->first_id;
        if (v->start_id < l) l = v->start_id;
        if (v->end_id < l) l = v->end_id;
        if (v->rec_id < l) l = v->rec_id;
        *lo = l;
        *hi = v->first_id + v->offset[v->n_levels];
    } else {
        sd_qwen3_vocab_ext x;
        if ((rc = sd_qwen3_extend_sid_vocab(m, v, sd_seed, (float)a->noise, &x, err))) { sd_qwen3_free(m); return rc; }
        *lo = x.old_tokens;
        *hi = x.new_rows;
        printf("added %d SID tokens: <|rec|> = %d, <|sid_start|> = %d, <|sid_end|> = %d, <|sid_0|> = %d; vocab_size "
               "%d -> %d\n", x.n_new, x.rec_id, x.sid_start_id, x.sid_end_id, x.sid_base, x.old_rows, x.new_rows);
    }
    return 0;
}

/* ---- memory ---- */

static double mem_available_mb(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static double mb(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* Prints what training needs and refuses when it exceeds what the machine has (--mem-limit or
 * SEMID_MEM_LIMIT_MB override MemAvailable). */
static int memory_check(const sd_qwen3 *m, const ft_args *a, int B, int T, bool stage2, sd_err *err) {
    size_t P = m->p.n, w = 4 * P, g = 4 * P, mom = 8 * P, best = 4 * P;
    size_t act = sd_qwen3_state_bytes(&m->cfg, B, T, true, a->recompute);
    size_t total = w + g + mom + best + act;
    double limit = a->mem_limit_mb;
    const char *src = "--mem-limit";
    if (limit <= 0 && getenv("SEMID_MEM_LIMIT_MB")) limit = atof(getenv("SEMID_MEM_LIMIT_MB")), src = "SEMID_MEM_LIMIT_MB";
    if (limit <= 0) limit = mem_available_mb(), src = "MemAvailable";
    if (!sd_quiet) printf("memory: weights %.1f MB + gradients %.1f MB + AdamW moments %.1f MB + best copy %.1f MB + activations "
           "%.1f MB (batch %d x %d tokens%s) = %.1f MB; available %.0f MB (%s)\n",
           mb(w), mb(g), mb(mom), mb(best), mb(act), B, T, a->recompute ? ", --recompute" : "", mb(total), limit, src);
    if (limit > 0 && mb(total) > limit)
        return sd_errf(err, SD_ERANGE,
                       "finetune: training needs %.0f MB but %.0f MB are available (%s); try %s a smaller --batch "
                       "(now %d), a smaller --max-len (now %d)%s", mb(total), limit, src,
                       a->recompute ? "" : "--recompute (activations of one layer at a time),", B, a->max_len,
                       stage2 ? " or --stage2-steps 0 (stage 1 only)" : "");
    return 0;
}

/* ---- output ---- */

static char *sibling(const char *dir, const char *suffix) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *p = sd_xmalloc(n + strlen(suffix) + 1);
    memcpy(p, dir, n);
    strcpy(p + n, suffix);
    return p;
}

static int write_text(const char *dir, const char *name, const char *text, sd_err *err) {
    char *p = sd_path_join(dir, name);
    int rc = sd_write_file_atomic(p, text, strlen(text), err);
    free(p);
    return rc;
}

static int save_all(const sd_qwen3 *m, const char *dir, unsigned flags, sd_dtype as, const char *log_csv,
                    const cJSON *summary, sd_err *err) {
    char *tmp = NULL;
    int rc = sd_dir_begin_flags(dir, &tmp, flags, err);
    if (rc) return rc;
    /* the model folder is built inside the temp folder, beside the log, and all appear at once */
    sd_qwen3_save_opts so = {.store_as = as, .out_flags = SD_OUT_FORCE};
    rc = sd_qwen3_save(m, tmp, &so, err);
    if (!rc) rc = write_text(tmp, "train_log.csv", log_csv, err);
    if (!rc) {
        char *s = cJSON_Print(summary);
        size_t n = strlen(s);
        s = realloc(s, n + 2);
        s[n] = '\n', s[n + 1] = 0;
        rc = write_text(tmp, "finetune.json", s, err);
        free(s);
    }
    if (!rc) rc = sd_dir_commit(tmp, dir, err);
    else sd_dir_abort(tmp);
    free(tmp);
    return rc;
}

/* ---- training stages ---- */

static sd_ft_opts stage_opts(const ft_args *a, const char *stage, int64_t steps, double lr, const char *ckpt,
                             int64_t stop_after) {
    sd_ft_opts o = {0};
    o.train = sd_train_defaults();
    o.train.batch = a->batch;
    o.train.accum = a->accum;
    o.train.seed = sd_seed;
    o.train.epochs = a->epochs > 0 ? a->epochs : 1;
    o.train.adam.lr = lr;
    o.train.adam.weight_decay = a->weight_decay;
    o.train.schedule = SD_LR_COSINE;
    o.train.lr_min = 0;
    o.train.clip = a->clip;
    o.train.eval_every_steps = a->eval_every;
    o.train.ckpt_path = ckpt;
    o.train.ckpt_every_steps = a->ckpt_every;
    o.train.stop_after_steps = stop_after;
    o.train.resume = a->resume && ckpt && sd_exists(ckpt);
    o.train.progress = sd_quiet ? NULL : stage;
    o.steps = a->epochs > 0 ? 0 : steps;
    o.recompute = a->recompute;
    o.stage = stage;
    return o;
}

static void stage_warmup(sd_ft_opts *o, const sd_ft_data *tr, int warmup) {
    int64_t total = sd_ft_total_steps(tr, o);
    o->train.warmup = warmup >= 0 ? warmup : (total >= 10 ? total / 10 : 0);
}

static void report_stage(const char *stage, const sd_ft_report *r) {
    if (sd_quiet) return;
    printf("%s: %lld steps, loss %.4f -> %.4f", stage, (long long)r->steps, r->first_loss, r->last_loss);
    if (isfinite(r->best_valid)) printf(", best valid loss %.4f at step %lld", r->best_valid, (long long)r->best_step);
    printf(", %.0f tokens/s in training steps (%.1f s in all)\n", r->tokens_per_s, r->seconds);
}

static void add_report(cJSON *o, const char *stage, const sd_ft_report *r) {
    cJSON *j = cJSON_AddObjectToObject(o, stage);
    cJSON_AddNumberToObject(j, "steps", (double)r->steps);
    cJSON_AddNumberToObject(j, "first_loss", r->first_loss);
    cJSON_AddNumberToObject(j, "last_loss", r->last_loss);
    if (isfinite(r->best_valid)) cJSON_AddNumberToObject(j, "best_valid_loss", r->best_valid);
    cJSON_AddNumberToObject(j, "tokens_per_s", r->tokens_per_s);
}

static void print_data(const char *what, const char *path, const sd_chat_set *s, const sd_ft_data *d, const ft_args *a) {
    if (sd_quiet) return;
    printf("%s: %s: %zu conversations, %d kept, %lld tokens (%lld labelled), padding %.1f%% in %d batches", what,
           path, s->n, d->n, (long long)d->tokens, (long long)d->labelled, 100 * sd_ft_data_padding(d), d->n_batches);
    if (d->skipped) printf("; %lld longer than --max-len %d skipped (--truncate cuts them instead)", (long long)d->skipped, a->max_len);
    if (d->truncated) printf("; %lld truncated to --max-len %d", (long long)d->truncated, a->max_len);
    if (d->no_labels) printf("; %lld without an assistant token within --max-len left out", (long long)d->no_labels);
    printf("\n");
}

static int check_args(const ft_args *a, sd_err *err) {
    if (a->batch < 1) return sd_errf(err, SD_EUSAGE, "finetune: --batch must be >= 1 (got %d)", a->batch);
    if (a->accum < 1) return sd_errf(err, SD_EUSAGE, "finetune: --accum must be >= 1 (got %d)", a->accum);
    if (a->max_len < 8) return sd_errf(err, SD_EUSAGE, "finetune: --max-len must be >= 8 (got %d)", a->max_len);
    if (a->vocab < 300 || a->vocab > 1000000)
        return sd_errf(err, SD_EUSAGE, "finetune: --vocab must be in [300, 1000000] (got %d)", a->vocab);
    if (a->steps < 1 && a->epochs < 1) return sd_errf(err, SD_EUSAGE, "finetune: --steps must be >= 1");
    uint32_t mask;
    if (a->list_loss && sd_lm_tasks_parse(a->list_loss, &mask, err)) {
        /* the parser speaks of lmdata's --tasks: name this option instead */
        char m[sizeof err->msg];
        const char *u = strstr(err->msg, "unknown task"), *t = u ? strstr(u, " in --tasks") : NULL;
        if (t) snprintf(m, sizeof m, "finetune: --list-loss: %.*s%.900s", (int)(t - u), u, t + strlen(" in --tasks"));
        else snprintf(m, sizeof m, "finetune: --list-loss: %.900s", err->msg);
        return sd_errf(err, SD_EUSAGE, "%s", m);
    }
    if (a->stage1_steps < 0 || a->stage2_steps < 0 || (a->base && !a->stage1_steps && !a->stage2_steps && a->epochs < 1))
        return sd_errf(err, SD_EUSAGE, "finetune: --stage1-steps and --stage2-steps must be >= 0, not both 0");
    if (a->epochs < 0 || a->eval_every < 0 || a->ckpt_every < 0 || a->stop_after < 0)
        return sd_errf(err, SD_EUSAGE, "finetune: --epochs, --eval-every, --ckpt-every and --stop-after must be >= 0");
    if (!(a->lr > 0) || !(a->stage1_lr > 0) || !(a->weight_decay >= 0) || !(a->clip >= 0) || !(a->noise >= 0))
        return sd_errf(err, SD_EUSAGE, "finetune: --lr, --stage1-lr must be > 0; --weight-decay, --clip, --noise >= 0");
    if (a->no_ckpt && (a->resume || a->stop_after))
        return sd_errf(err, SD_EUSAGE, "finetune: --no-ckpt cannot be combined with --resume or --stop-after");
    if (a->valid_data && !a->data)
        return sd_errf(err, SD_EUSAGE, "finetune: --valid-data goes with --data (WORK/lmdata/valid.jsonl is the default)");
    return 0;
}

static int run(int argc, char **argv) {
    ft_args a = {.size = "tiny", .vocab = 4096, .batch = 8, .accum = 1, .max_len = 512, .eval_every = 50, .valid_max = 1000,
                 .ckpt_every = 100, .warmup = -1, .steps = 300, .stage1_steps = 100, .stage2_steps = 300,
                 .lr = 0, .stage1_lr = 1e-3, .weight_decay = 0.01, .noise = 0.01, .clip = 1.0f};
    sd_opt opts[] = {
        {.name = "base", .type = SD_OPT_STR, .ptr = &a.base, .metavar = "DIR",
         .help = "start from a Hugging Face Qwen3 folder (real weights): stage 1 trains the SID tokens' rows, "
                 "stage 2 everything (default: a model from scratch)"},
        {.name = "size", .type = SD_OPT_STR, .ptr = &a.size, .metavar = "S",
         .help = "without --base: tiny, small, base or qwen3-0.6b (default tiny)"},
        {.name = "vocab", .type = SD_OPT_INT, .ptr = &a.vocab, .metavar = "N",
         .help = "without --base: BPE vocabulary before the SID tokens (default 4096)"},
        {.name = "data", .type = SD_OPT_STR, .ptr = &a.data, .metavar = "FILE",
         .help = "train on this chat JSONL instead of WORK/lmdata/train.jsonl"},
        {.name = "valid-data", .type = SD_OPT_STR, .ptr = &a.valid_data, .metavar = "FILE",
         .help = "with --data: validate on this chat JSONL (default without --data: WORK/lmdata/valid.jsonl)"},
        {.name = "steps", .type = SD_OPT_I64, .ptr = &a.steps, .metavar = "N",
         .help = "without --base: optimizer steps (default 300)"},
        {.name = "epochs", .type = SD_OPT_INT, .ptr = &a.epochs, .metavar = "E",
         .help = "passes over the data instead of --steps (each stage with --base)"},
        {.name = "stage1-steps", .type = SD_OPT_I64, .ptr = &a.stage1_steps, .metavar = "N",
         .help = "with --base: steps training only the SID rows (default 100; 0 skips)"},
        {.name = "stage2-steps", .type = SD_OPT_I64, .ptr = &a.stage2_steps, .metavar = "N",
         .help = "with --base: steps training all weights (default 300; 0 skips)"},
        {.name = "lr", .type = SD_OPT_DOUBLE, .ptr = &a.lr, .metavar = "X",
         .help = "peak learning rate (default 1e-3 from scratch, 2e-5 for stage 2)"},
        {.name = "stage1-lr", .type = SD_OPT_DOUBLE, .ptr = &a.stage1_lr, .metavar = "X",
         .help = "with --base: stage 1 learning rate (default 1e-3)"},
        {.name = "warmup", .type = SD_OPT_INT, .ptr = &a.warmup, .metavar = "N",
         .help = "linear warmup steps, then cosine decay (default 10% of each stage)"},
        {.name = "weight-decay", .type = SD_OPT_DOUBLE, .ptr = &a.weight_decay, .metavar = "X",
         .help = "AdamW weight decay (default 0.01)"},
        {.name = "clip", .type = SD_OPT_FLOAT, .ptr = &a.clip, .metavar = "X",
         .help = "clip the global gradient norm (default 1; 0 = off)"},
        {.name = "batch", .type = SD_OPT_INT, .ptr = &a.batch, .metavar = "N",
         .help = "conversations per micro-batch, bucketed by length (default 8)"},
        {.name = "accum", .type = SD_OPT_INT, .ptr = &a.accum, .metavar = "N",
         .help = "micro-batches per optimizer step (default 1)"},
        {.name = "max-len", .type = SD_OPT_INT, .ptr = &a.max_len, .metavar = "N",
         .help = "longest conversation in tokens; longer ones are skipped (default 512)"},
        {.name = "list-loss", .type = SD_OPT_STR, .ptr = &a.list_loss, .metavar = "TASKS",
         .help = "in the training conversations of these tasks (comma-separated, e.g. next_item) also learn every "
                 "item of an SID list in the user's words from the items before it, as SASRec learns a history "
                 "(default none: the assistant's tokens only)"},
        {.name = "truncate", .type = SD_OPT_FLAG, .ptr = &a.truncate,
         .help = "cut conversations longer than --max-len instead of skipping them"},
        {.name = "recompute", .type = SD_OPT_FLAG, .ptr = &a.recompute,
         .help = "activation checkpointing: one layer's activations at a time (less memory, ~1/3 more compute)"},
        {.name = "eval-every", .type = SD_OPT_INT, .ptr = &a.eval_every, .metavar = "N",
         .help = "validation loss every N steps, the best kept (default 50; 0 = at the end only)"},
        {.name = "valid-max", .type = SD_OPT_INT, .ptr = &a.valid_max, .metavar = "N",
         .help = "validate on at most N conversations, evenly spaced through the file (default 1000; 0 = all)"},
        {.name = "ckpt-every", .type = SD_OPT_INT, .ptr = &a.ckpt_every, .metavar = "N",
         .help = "training checkpoint every N steps (default 100)"},
        {.name = "no-ckpt", .type = SD_OPT_FLAG, .ptr = &a.no_ckpt, .help = "write no training checkpoint"},
        {.name = "resume", .type = SD_OPT_FLAG, .ptr = &a.resume,
         .help = "continue from the training checkpoint (same options and --threads: same bytes)"},
        {.name = "stop-after", .type = SD_OPT_I64, .ptr = &a.stop_after, .metavar = "N",
         .help = "stop after N steps (counted over both stages) as if interrupted: checkpoint, no model"},
        {.name = "mem-limit", .type = SD_OPT_DOUBLE, .ptr = &a.mem_limit_mb, .metavar = "MB",
         .help = "memory training may use (default MemAvailable, or $SEMID_MEM_LIMIT_MB)"},
        {.name = "noise", .type = SD_OPT_DOUBLE, .ptr = &a.noise, .metavar = "X",
         .help = "with --base: new rows = mean of the old + N(0, (X * spread)^2) (default 0.01)"},
        {.name = "out", .type = SD_OPT_STR, .ptr = &a.out, .metavar = "DIR", .help = "output folder (default WORK/lm)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &a.force,
         .help = "replace the output folder even if it is a non-empty folder semid did not write"},
        {0},
    };
    sd_usage u = {.usage = "semid finetune WORK [--base DIR] [options]",
                  .about = "Fine-tunes a Qwen3 model on chat conversations (WORK/lmdata/train.jsonl from `semid lmdata`, "
                           "or --data), the loss on the assistant's tokens only, and writes a Hugging Face folder to "
                           "WORK/lm that `semid generate` and transformers load.\n"
                           "Without --base: a model from scratch (BPE tokenizer trained on the catalogue and the "
                           "conversations, --size preset, random weights) that knows only the store's language.\n"
                           "With --base DIR: real Qwen3 weights; the SID tokens are added (or bound), stage 1 trains "
                           "only their rows (--stage1-steps, --stage1-lr), stage 2 all weights (--stage2-steps, --lr).",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos;
    int npos;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    a.work = pos[0];
    if (a.lr == 0) a.lr = a.base ? 2e-5 : 1e-3;
    else a.lr_set = true;
    if ((rc = check_args(&a, &err))) { free(pos); return sd_cmd_error(&err); }

    sd_chat_set train = {0}, valid = {0};
    sd_ft_data dtr = {0}, dva = {0};
    sd_sid_vocab v = {0};
    bool v_ok = false, m_ok = false;
    sd_qwen3 m;
    sd_lock lk = {.fd = -1}, lk_work = {.fd = -1};
    sd_ft_log logs[2] = {{0}};
    cJSON *summary = cJSON_CreateObject();
    char *dir = a.out ? sd_xstrdup(a.out) : sd_path_join(a.work, "lm");
    char *sids = sd_path_join(a.work, "sids.tsv");
    char *tr_path = a.data ? sd_xstrdup(a.data) : sd_path_join(a.work, "lmdata/train.jsonl");
    char *va_path = a.valid_data ? sd_xstrdup(a.valid_data) : a.data ? NULL : sd_path_join(a.work, "lmdata/valid.jsonl");
    char *ck[2] = {NULL, NULL};
    unsigned flags = a.force ? SD_OUT_FORCE : 0;
    free(pos);

    if (!sd_is_dir(a.work)) { rc = sd_errf(&err, SD_EUSAGE, "%s: no such work directory", a.work); goto done; }
    if (a.out && sd_path_within(a.work, a.out)) {
        rc = sd_errf(&err, SD_EUSAGE, "finetune: --out %s is the work directory %s or holds it", a.out, a.work);
        goto done;
    }
    if (!sd_exists(sids)) { rc = sd_errf(&err, SD_ESTATE, "%s: missing; run `semid ids %s` first", sids, a.work); goto done; }
    if ((rc = sd_lock_output_shared(&lk_work, a.work, &err))) goto done;
    /* the output is checked before any work: a folder semid did not write is never replaced */
    if ((rc = sd_out_dir_check(dir, flags, &err)) || (sd_dist_rank() == 0 && (rc = sd_lock_output(&lk, dir, &err))))
        goto done;
    if ((rc = read_chats(&train, tr_path, a.work, a.data != NULL, &err))) goto done;
    if (va_path && (a.valid_data || sd_exists(va_path)) && (rc = read_chats(&valid, va_path, a.work, true, &err))) goto done;
    if (a.valid_max > 0) sd_chat_set_keep_spaced(&valid, (size_t)a.valid_max);
    if ((rc = sd_sid_vocab_open(&v, sids, NULL, &err))) goto done;
    v_ok = true;
    if ((rc = sd_chat_check_sid_tokens(&train, tr_path, v.offset[v.n_levels], &err)) ||
        (valid.n && (rc = sd_chat_check_sid_tokens(&valid, va_path, v.offset[v.n_levels], &err))))
        goto done;

    int32_t lo = 0, hi = 0;
    bool added = false;
    sd_dtype as = SD_DT_F32;
    if (a.base) {
        rc = base_model(&m, &a, &v, &lo, &hi, &added, &err);
        if (!rc && !strcmp(m.cfg.torch_dtype, "bfloat16")) as = SD_DT_BF16;
    } else {
        sd_qwen3_vocab_ext x;
        rc = scratch_model(&m, &a, &train, &v, &x, &err);
        if (!rc && !sd_quiet)
            printf("tokenizer: %d BPE tokens (%d merges) + %d SID tokens = %d\n", x.old_tokens,
                   sd_tok_merge_count(m.tok), x.n_new, sd_tok_vocab_size(m.tok));
    }
    if (rc) goto done;
    m_ok = true;
    if (!sd_quiet) {
        const sd_qwen3_config *c = &m.cfg;
        printf("model: %s, %zu parameters (%.2f M): hidden %d, %d layers, %d heads (%d kv), ffn %d, vocab %d\n",
               a.base ? a.base : a.size, sd_qwen3_config_params(c), sd_qwen3_config_params(c) / 1e6, c->hidden_size,
               c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, c->intermediate_size,
               c->vocab_size);
    }
    /* --list-loss: the names of the tasks it asks for (checked by check_args) */
    const char *ltasks[SD_LMT_COUNT + 1];
    int nl = 0;
    uint32_t lmask = 0;
    if (a.list_loss) sd_lm_tasks_parse(a.list_loss, &lmask, &err);
    for (int t = 0; t < SD_LMT_COUNT; t++)
        if (lmask >> t & 1u) ltasks[nl++] = sd_lm_task_name((sd_lm_task)t);
    ltasks[nl] = NULL;
    if ((rc = sd_ft_data_build_lists(&dtr, &train, m.tok, a.max_len, a.truncate, a.batch, nl ? ltasks : NULL, &err)))
        goto done;
    print_data("train", tr_path, &train, &dtr, &a);
    if (valid.n) {
        if ((rc = sd_ft_data_build(&dva, &valid, m.tok, a.max_len, a.truncate, a.batch, &err))) goto done;
        print_data("valid", va_path, &valid, &dva, &a);
    } else if (!sd_quiet) {
        printf("valid: none (%s): no validation, the last parameters are kept\n",
               va_path ? "WORK/lmdata/valid.jsonl is missing" : "give --valid-data FILE to validate");
    }
    if (dtr.n == 0) {
        rc = sd_errf(&err, SD_ESTATE, "%s: no conversation fits in --max-len %d (try --truncate or a larger --max-len)",
                     tr_path, a.max_len);
        goto done;
    }
    int maxT = dtr.max_len_seen > dva.max_len_seen ? dtr.max_len_seen : dva.max_len_seen;
    int maxB = a.batch < dtr.n ? a.batch : dtr.n;
    if ((rc = memory_check(&m, &a, maxB, maxT, a.base && a.stage2_steps > 0, &err))) goto done;

    /* stages: from scratch one; with --base stage 1 (new rows only) then stage 2 (all) */
    const char *names[2];
    int n_stages = 0;
    int64_t done_steps = 0;
    bool interrupted = false;
    struct { const char *name; int64_t steps; double lr; int32_t lo, hi; } st[2];
    if (!a.base) st[n_stages++] = (typeof(st[0])){"train", a.steps, a.lr, 0, 0};
    else {
        if (a.stage1_steps > 0 || (a.epochs > 0 && a.stage1_steps > 0)) st[n_stages++] = (typeof(st[0])){"stage1", a.stage1_steps, a.stage1_lr, lo, hi};
        if (a.stage2_steps > 0) st[n_stages++] = (typeof(st[0])){"stage2", a.stage2_steps, a.lr, 0, 0};
    }
    for (int k = 0; k < n_stages && !interrupted; k++) {
        if (!a.no_ckpt) {
            char suffix[40];
            snprintf(suffix, sizeof suffix, a.base ? ".%s.ckpt.safetensors" : ".ckpt.safetensors", st[k].name);
            ck[k] = sibling(dir, suffix);
        }
        if (k == 0 && a.resume && (!ck[0] || !sd_exists(ck[0]))) {
            rc = sd_errf(&err, SD_ESTATE, "finetune: --resume: no training checkpoint %s to continue from",
                         ck[0] ? ck[0] : "(--no-ckpt)");
            goto done;
        }
        int64_t stop = a.stop_after > done_steps ? a.stop_after - done_steps : a.stop_after ? -1 : 0;
        if (stop < 0) break; /* stopped exactly at the end of an earlier stage */
        sd_ft_opts o = stage_opts(&a, st[k].name, st[k].steps, st[k].lr, ck[k], stop);
        o.row_lo = st[k].lo, o.row_hi = st[k].hi;
        stage_warmup(&o, &dtr, a.warmup);
        if (o.train.resume && !sd_quiet) sd_info("%s: resuming from %s", st[k].name, ck[k]);
        sd_ft_report rep;
        if ((rc = sd_ft_train(&m, &dtr, dva.n ? &dva : NULL, &o, &logs[k], &rep, &err))) goto done;
        names[k] = st[k].name;
        report_stage(st[k].name, &rep);
        add_report(summary, st[k].name, &rep);
        done_steps += sd_ft_total_steps(&dtr, &o);
        if (rep.interrupted || (a.stop_after && done_steps == a.stop_after && k + 1 < n_stages)) {
            interrupted = true;
            if (!sd_quiet) sd_info("stopped after step %lld; continue with --resume (%s)", (long long)a.stop_after, ck[k]);
        }
    }
    if (interrupted || sd_dist_rank() > 0) goto done; /* MPI: rank 0 writes */
    const sd_ft_log *lp[2] = {&logs[0], &logs[1]};
    char *csv = sd_ft_log_csv(lp, a.base ? names : NULL, n_stages);
    cJSON_AddStringToObject(summary, "base", a.base ? a.base : "");
    cJSON_AddStringToObject(summary, "size", a.base ? "" : a.size);
    cJSON_AddNumberToObject(summary, "params", (double)m.p.n);
    cJSON_AddNumberToObject(summary, "train_conversations", dtr.n);
    cJSON_AddNumberToObject(summary, "train_tokens", (double)dtr.tokens);
    cJSON_AddNumberToObject(summary, "padding", sd_ft_data_padding(&dtr));
    cJSON_AddNumberToObject(summary, "sid_tokens", v.offset[v.n_levels]);
    rc = save_all(&m, dir, flags, as, csv, summary, &err);
    free(csv);
    if (!rc && !sd_quiet) sd_info("wrote %s", dir);
done:
    sd_unlock(&lk);
    sd_unlock(&lk_work);
    if (m_ok) sd_qwen3_free(&m);
    if (v_ok) sd_sid_vocab_free(&v);
    sd_chat_set_free(&train);
    sd_chat_set_free(&valid);
    sd_ft_data_free(&dtr);
    sd_ft_data_free(&dva);
    sd_ft_log_free(&logs[0]);
    sd_ft_log_free(&logs[1]);
    cJSON_Delete(summary);
    free(dir); free(sids); free(tr_path); free(va_path); free(ck[0]); free(ck[1]);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(finetune, "finetune", "fine-tune a Qwen3 model that recommends in conversation (WORK/lm)", run)
