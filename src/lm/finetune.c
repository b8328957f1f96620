#include "lm/finetune.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "nn/dist.h"
#include "nn/train_ckpt.h"

/* ---- data ---- */

static int32_t *g_len; /* qsort has no context argument; building data is single-threaded */
static int by_len(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_len[x] != g_len[y]) return g_len[x] < g_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

int sd_ft_data_build(sd_ft_data *d, const sd_chat_set *s, const sd_tokenizer *tok, int max_len, bool truncate,
                     int batch, sd_err *err) {
    return sd_ft_data_build_lists(d, s, tok, max_len, truncate, batch, NULL, err);
}

static bool task_in(const char *task, const char *const *tasks) {
    for (int i = 0; tasks && tasks[i]; i++)
        if (!strcmp(task, tasks[i])) return true;
    return false;
}

int sd_ft_data_build_lists(sd_ft_data *d, const sd_chat_set *s, const sd_tokenizer *tok, int max_len, bool truncate,
                           int batch, const char *const *list_tasks, sd_err *err) {
    memset(d, 0, sizeof *d);
    if (batch < 1) return sd_errf(err, SD_EUSAGE, "batch must be >= 1 (got %d)", batch);
    if (max_len < 2) return sd_errf(err, SD_EUSAGE, "max length must be >= 2 (got %d)", max_len);
    d->ex = sd_xcalloc(s->n ? s->n : 1, sizeof *d->ex);
    sd_ids ids = {0}, lab = {0};
    sd_tok_cache *cache = sd_tok_cache_new();
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        const sd_chat_conv *c = &s->convs[i];
        if ((rc = sd_chat_encode_lists(tok, cache, c->msgs, c->n_msgs, task_in(c->task, list_tasks), &ids, &lab, err)))
            break;
        int32_t len = (int32_t)ids.n;
        if (len > max_len) {
            if (!truncate) { d->skipped++; continue; }
            d->truncated++;
            len = max_len;
        }
        sd_ft_example e = {.len = len, .ids = sd_xmalloc(sizeof(int32_t) * (size_t)len),
                           .targets = sd_xmalloc(sizeof(int32_t) * (size_t)len)};
        memcpy(e.ids, ids.v, sizeof(int32_t) * (size_t)len);
        /* the target at t is the label of token t + 1 (which may lie just past a truncation) */
        for (int32_t t = 0; t < len; t++) {
            e.targets[t] = (size_t)t + 1 < ids.n ? lab.v[t + 1] : SD_QWEN3_IGNORE;
            e.labelled += e.targets[t] != SD_QWEN3_IGNORE;
        }
        if (!e.labelled) {
            free(e.ids);
            free(e.targets);
            d->no_labels++;
            continue;
        }
        d->tokens += len;
        d->labelled += e.labelled;
        if (len > d->max_len_seen) d->max_len_seen = len;
        d->ex[d->n++] = e;
    }
    sd_tok_cache_free(cache);
    sd_ids_free(&ids);
    sd_ids_free(&lab);
    if (rc) { sd_ft_data_free(d); return rc; }
    /* length buckets: neighbours in length order share a batch */
    int32_t n = d->n;
    d->order = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int32_t *len = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    for (int32_t i = 0; i < n; i++) d->order[i] = i, len[i] = d->ex[i].len;
    g_len = len;
    qsort(d->order, (size_t)n, sizeof(int32_t), by_len);
    free(len);
    d->n_batches = (n + batch - 1) / batch;
    d->start = sd_xmalloc(sizeof(int32_t) * (size_t)(d->n_batches + 1));
    for (int32_t b = 0; b <= d->n_batches; b++) d->start[b] = b * batch < n ? b * batch : n;
    for (int32_t b = 0; b < d->n_batches; b++) {
        int32_t T = d->ex[d->order[d->start[b + 1] - 1]].len;
        d->padded_slots += (int64_t)(d->start[b + 1] - d->start[b]) * T;
    }
    return 0;
}

void sd_ft_data_free(sd_ft_data *d) {
    for (int32_t i = 0; i < d->n; i++) { free(d->ex[i].ids); free(d->ex[i].targets); }
    free(d->ex);
    free(d->order);
    free(d->start);
    memset(d, 0, sizeof *d);
}

double sd_ft_data_padding(const sd_ft_data *d) {
    return d->padded_slots ? 1.0 - (double)d->tokens / (double)d->padded_slots : 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

void sd_ft_data_fingerprint(const sd_ft_data *d, char *buf) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t i = 0; i < d->n; i++) {
        h = fnv(h, &d->ex[i].len, sizeof d->ex[i].len);
        h = fnv(h, d->ex[i].ids, sizeof(int32_t) * (size_t)d->ex[i].len);
        h = fnv(h, d->ex[i].targets, sizeof(int32_t) * (size_t)d->ex[i].len);
    }
    snprintf(buf, 17, "%016llx", (unsigned long long)h);
}

/* ---- log ---- */

void sd_ft_log_free(sd_ft_log *l) {
    free(l->rows);
    memset(l, 0, sizeof *l);
}

static void log_push(sd_ft_log *l, sd_ft_log_row r) {
    SD_GROW(l->rows, l->cap, l->n + 1);
    l->rows[l->n++] = r;
}

char *sd_ft_log_csv(const sd_ft_log *const *logs, const char *const *stages, int n) {
    size_t cap = 128, len = 0;
    for (int k = 0; k < n; k++) cap += logs[k]->n * 128;
    char *s = sd_xmalloc(cap);
    len += (size_t)snprintf(s, cap, "%sstep,lr,loss,valid_loss,tokens_per_s\n", stages ? "stage," : "");
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < logs[k]->n; i++) {
            const sd_ft_log_row *r = &logs[k]->rows[i];
            if (stages) len += (size_t)snprintf(s + len, cap - len, "%s,", stages[k]);
            len += (size_t)snprintf(s + len, cap - len, "%lld,%.6g,%.6f,", (long long)r->step, r->lr, r->loss);
            if (!isnan(r->valid_loss)) len += (size_t)snprintf(s + len, cap - len, "%.6f", r->valid_loss);
            len += (size_t)snprintf(s + len, cap - len, ",%.1f\n", r->tokens_per_s);
        }
    return s;
}

/* ---- training ---- */

typedef struct ft_ctx {
    sd_qwen3 *m;
    const sd_ft_data *tr, *va;
    const sd_ft_opts *o;
    int64_t bpe;                 /* the loop's micro-batches per epoch */
    int64_t cursor;              /* global micro-batch index over the whole run */
    int64_t pass;                /* pass whose batch order perm holds (-1: none) */
    int32_t *perm;
    sd_qwen3_state st, vst;      /* training / validation states for the current shape */
    bool st_ok, vst_ok;
    int32_t *ids, *tg;
    uint8_t *kv;
    double t_step;
    int step_n;
    int64_t step_tokens, tokens;
    double last_tps, step_seconds, last_valid; /* last_valid: NAN before the first validation */ /* step_seconds: forward, backward and optimizer, no validation */
    sd_ft_log *log;
    sd_ft_report *rep;
} ft_ctx;

static void state_for(ft_ctx *f, sd_qwen3_state *s, bool *ok, int B, int T, bool train) {
    if (*ok && s->B == B && s->T == T) return;
    if (*ok) sd_qwen3_state_free(s);
    sd_qwen3_state_init(s, f->m, B, T, train, train && f->o->recompute);
    *ok = true;
}

/* Batch b of d as a right-padded [B, T] batch in f's buffers. */
static sd_qwen3_batch make_batch(ft_ctx *f, const sd_ft_data *d, int32_t b, int64_t *tokens) {
    int32_t a = d->start[b], e = d->start[b + 1], B = e - a, T = d->ex[d->order[e - 1]].len;
    *tokens = 0;
    for (int32_t i = 0; i < B; i++) {
        const sd_ft_example *x = &d->ex[d->order[a + i]];
        int32_t *ids = f->ids + (size_t)i * T, *tg = f->tg + (size_t)i * T;
        uint8_t *kv = f->kv + (size_t)i * T;
        for (int32_t t = 0; t < T; t++) {
            bool real = t < x->len;
            ids[t] = real ? x->ids[t] : 0;
            tg[t] = real ? x->targets[t] : SD_QWEN3_IGNORE;
            kv[t] = real;
        }
        *tokens += x->len;
    }
    return (sd_qwen3_batch){.B = B, .T = T, .ids = f->ids, .key_valid = f->kv, .targets = f->tg};
}

static int ft_epoch_begin(void *ctx, const sd_train_state *s, sd_err *err) {
    (void)err;
    ft_ctx *f = ctx;
    f->cursor = (int64_t)(s->epoch - 1) * f->bpe + s->batch;
    return 0;
}

/* Under MPI (nn/dist.h): this rank's rows of the batch, its loss and gradients weighted by its
 * share of the batch's labelled positions, so the sums over ranks are the whole batch's mean. */
static int shard_step(ft_ctx *f, const sd_qwen3_batch *b, float *loss, sd_err *err) {
    int R = sd_dist_size(), r = sd_dist_rank(), T = b->T;
    int a = (int)((int64_t)b->B * r / R), e = (int)((int64_t)b->B * (r + 1) / R);
    int64_t all = 0, mine = 0;
    for (size_t i = 0; i < (size_t)b->B * T; i++)
        if (b->targets[i] != SD_QWEN3_IGNORE) all++, mine += i >= (size_t)a * T && i < (size_t)e * T;
    *loss = 0;
    if (!mine) return 0;
    sd_qwen3_batch sb = *b;
    sb.B = e - a;
    sb.ids += (size_t)a * T;
    sb.key_valid += (size_t)a * T;
    sb.targets += (size_t)a * T;
    state_for(f, &f->st, &f->st_ok, sb.B, T, true);
    float l = 0, w = (float)((double)mine / (double)all);
    int rc = sd_qwen3_forward(f->m, &f->st, &sb, &l, err);
    if (!rc) rc = sd_qwen3_backward(f->m, &f->st, &sb, w, err);
    *loss = l * w;
    return rc;
}

static int ft_next(void *ctx, const sd_train_state *s, float *loss, sd_err *err) {
    ft_ctx *f = ctx;
    if (s->batch >= f->bpe) return 0;
    int64_t g = f->cursor++, nb = f->tr->n_batches, pass = g / nb;
    if (pass != f->pass) {
        /* a new pass: the batch order from (seed, pass) alone, so a resume finds the same */
        for (int32_t i = 0; i < nb; i++) f->perm[i] = i;
        sd_rng r;
        sd_rng_stream(&r, f->o->train.seed, (uint64_t)pass);
        sd_rng_shuffle_i32(&r, f->perm, (size_t)nb);
        f->pass = pass;
    }
    int64_t tokens;
    sd_qwen3_batch b = make_batch(f, f->tr, f->perm[g % nb], &tokens);
    if (f->step_n == 0) f->t_step = sd_now();
    int rc = sd_dist_size() > 1 ? shard_step(f, &b, loss, err) : 0;
    if (sd_dist_size() == 1) {
        state_for(f, &f->st, &f->st_ok, b.B, b.T, true);
        rc = sd_qwen3_forward(f->m, &f->st, &b, loss, err);
        if (!rc) rc = sd_qwen3_backward(f->m, &f->st, &b, 1.0f, err);
    }
    if (rc) return rc;
    f->step_n++;
    f->step_tokens += tokens;
    f->tokens += tokens;
    return 1;
}

static void ft_after_step(void *ctx, const sd_train_state *s) {
    ft_ctx *f = ctx;
    double dt = sd_now() - f->t_step;
    f->last_tps = dt > 0 ? (double)f->step_tokens / dt : 0;
    f->step_seconds += dt;
    sd_ft_log_row r = {.step = s->step, .lr = s->lr, .loss = s->step_loss,
                       .valid_loss = NAN, .tokens_per_s = f->last_tps};
    if (f->log) log_push(f->log, r);
    if (f->rep->steps == 0) f->rep->first_loss = r.loss;
    f->rep->last_loss = r.loss;
    f->rep->steps++;
    f->step_n = 0;
    f->step_tokens = 0;
}

static void ft_note(void *ctx, const sd_train_state *s, char *buf, size_t cap) {
    ft_ctx *f = ctx;
    (void)s;
    if (isnan(f->last_valid)) snprintf(buf, cap, "loss %.4f, %.0f tok/s", f->rep->last_loss, f->last_tps);
    else snprintf(buf, cap, "loss %.4f, valid %.4f, %.0f tok/s", f->rep->last_loss, f->last_valid, f->last_tps);
}

static int ft_validate(void *ctx, const sd_train_state *s, double *metric, int *better, sd_err *err) {
    (void)better;
    ft_ctx *f = ctx;
    double sum = 0;
    int64_t count = 0;
    for (int32_t b = 0; b < f->va->n_batches; b++) {
        int64_t tokens;
        sd_qwen3_batch bt = make_batch(f, f->va, b, &tokens);
        state_for(f, &f->vst, &f->vst_ok, bt.B, bt.T, false);
        float loss;
        int rc = sd_qwen3_forward(f->m, &f->vst, &bt, &loss, err);
        if (rc) return rc;
        sum += (double)loss * f->vst.n_valid;
        count += f->vst.n_valid;
    }
    *metric = count ? sum / (double)count : 0;
    if (f->log && f->log->n && f->log->rows[f->log->n - 1].step == s->step) f->log->rows[f->log->n - 1].valid_loss = *metric;
    /* shown in the progress note (a log line here would cut through the bar) */
    f->last_valid = *metric;
    if (*metric < f->rep->best_valid) f->rep->best_valid = *metric, f->rep->best_step = s->step;
    return 0;
}

/* The log and the report's figures travel in checkpoints so a resumed run reports the whole. */
static void ft_state_write(void *ctx, cJSON *o) {
    ft_ctx *f = ctx;
    size_t n = f->log ? f->log->n : 0, cap = 64 + n * 120, len = 0;
    char *s = sd_xmalloc(cap);
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const sd_ft_log_row *r = &f->log->rows[i];
        len += (size_t)snprintf(s + len, cap - len, "%lld %a %a %a %a\n", (long long)r->step, r->lr, r->loss,
                                r->valid_loss, r->tokens_per_s);
    }
    cJSON_AddStringToObject(o, "log", s);
    free(s);
    sd_ckpt_put_bits(o, "first_loss", f->rep->first_loss);
    sd_ckpt_put_bits(o, "best_valid", f->rep->best_valid);
    cJSON_AddNumberToObject(o, "best_valid_step", (double)f->rep->best_step);
    cJSON_AddNumberToObject(o, "steps_logged", (double)f->rep->steps);
}

static int ft_state_read(void *ctx, const cJSON *o) {
    ft_ctx *f = ctx;
    const cJSON *log = cJSON_GetObjectItemCaseSensitive(o, "log");
    int64_t bs, steps;
    if (!cJSON_IsString(log) || sd_ckpt_get_bits(o, "first_loss", &f->rep->first_loss) ||
        sd_ckpt_get_bits(o, "best_valid", &f->rep->best_valid) || sd_ckpt_get_int(o, "best_valid_step", &bs) ||
        sd_ckpt_get_int(o, "steps_logged", &steps))
        return -1;
    f->rep->best_step = bs;
    f->rep->steps = steps;
    if (f->log) f->log->n = 0;
    for (const char *p = log->valuestring; *p;) {
        sd_ft_log_row r;
        char *e;
        r.step = strtoll(p, &e, 10);
        if (e == p) return -1;
        r.lr = strtod(e, &e);
        r.loss = strtod(e, &e);
        r.valid_loss = strtod(e, &e);
        r.tokens_per_s = strtod(e, &e);
        if (*e != '\n') return -1;
        p = e + 1;
        if (f->log) log_push(f->log, r);
        f->rep->last_loss = r.loss;
    }
    return 0;
}

static void loop_shape(const sd_ft_data *tr, const sd_ft_opts *o, int *epochs, int64_t *bpe) {
    int accum = o->train.accum > 1 ? o->train.accum : 1;
    if (o->steps > 0) *epochs = 1, *bpe = o->steps * accum;
    else *epochs = o->train.epochs, *bpe = tr->n_batches;
}

int64_t sd_ft_total_steps(const sd_ft_data *tr, const sd_ft_opts *o) {
    int epochs;
    int64_t bpe;
    loop_shape(tr, o, &epochs, &bpe);
    int accum = o->train.accum > 1 ? o->train.accum : 1;
    return (bpe + accum - 1) / accum * epochs;
}

/* What a resumed run must share with the interrupted one (the loop adds the thread count). */
static cJSON *ckpt_identity(const sd_qwen3 *m, const sd_ft_data *tr, const sd_ft_opts *o) {
    cJSON *j = cJSON_CreateObject();
    char fp[17];
    sd_ft_data_fingerprint(tr, fp);
    cJSON_AddStringToObject(j, "stage", o->stage ? o->stage : "train");
    cJSON_AddStringToObject(j, "data_fingerprint", fp);
    cJSON_AddNumberToObject(j, "examples", tr->n);
    cJSON_AddNumberToObject(j, "params", (double)m->p.n);
    cJSON_AddNumberToObject(j, "vocab_size", m->cfg.vocab_size);
    cJSON_AddNumberToObject(j, "batch", o->train.batch);
    cJSON_AddNumberToObject(j, "accum", o->train.accum);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "epochs", o->train.epochs);
    cJSON_AddNumberToObject(j, "lr", o->train.adam.lr);
    cJSON_AddNumberToObject(j, "weight_decay", o->train.adam.weight_decay);
    cJSON_AddNumberToObject(j, "warmup", (double)o->train.warmup);
    cJSON_AddNumberToObject(j, "cosine", o->train.schedule == SD_LR_COSINE);
    cJSON_AddNumberToObject(j, "clip", o->train.clip);
    cJSON_AddNumberToObject(j, "seed", (double)o->train.seed);
    cJSON_AddNumberToObject(j, "row_lo", o->row_lo);
    cJSON_AddNumberToObject(j, "row_hi", o->row_hi);
    cJSON_AddNumberToObject(j, "eval_every", (double)o->train.eval_every_steps);
    return j;
}

int sd_ft_train(sd_qwen3 *m, const sd_ft_data *train, const sd_ft_data *valid, const sd_ft_opts *o, sd_ft_log *log,
                sd_ft_report *rep, sd_err *err) {
    memset(rep, 0, sizeof *rep);
    rep->best_valid = INFINITY;
    const char *stage = o->stage ? o->stage : "finetune";
    if (train->n_batches == 0)
        return sd_errf(err, SD_ESTATE, "%s: no training conversation left to learn from", stage);
    if (o->row_hi > 0) {
        sd_qwen3_train_embeddings_only(m);
        sd_qwen3_set_trainable_rows(m, o->row_lo, o->row_hi);
    } else {
        sd_qwen3_train_all(m);
        sd_qwen3_set_trainable_rows(m, 0, 0);
    }
    /* a stage starts with fresh AdamW moments (a resume loads its own) */
    sd_qwen3_alloc_train(m);
    memset(m->p.m, 0, m->p.n * sizeof(float));
    memset(m->p.v, 0, m->p.n * sizeof(float));
    sd_train_opts t = o->train;
    loop_shape(train, o, &t.epochs, &t.batches_per_epoch);
    if (t.accum < 1) t.accum = 1;
    t.lower_is_better = true;
    t.best_init = INFINITY;
    t.eval_every_epochs = 1;
    t.progress_per_epoch = false;
    t.name = stage;
    t.ckpt_kind = "finetune";
    t.metric_key = "best_valid_loss";
    t.ckpt_every = 1;
    t.stop_after = 0;
    cJSON *ident = t.ckpt_path ? ckpt_identity(m, train, o) : NULL;
    t.ckpt_config = ident;
    bool has_valid = valid && valid->n_batches > 0;
    if (!has_valid) t.eval_every_steps = 0;
    int max_B = 1, max_T = 2;
    const sd_ft_data *ds[2] = {train, has_valid ? valid : NULL};
    for (int k = 0; k < 2; k++)
        for (int32_t b = 0; ds[k] && b < ds[k]->n_batches; b++) {
            int B = ds[k]->start[b + 1] - ds[k]->start[b], T = ds[k]->ex[ds[k]->order[ds[k]->start[b + 1] - 1]].len;
            if (B > max_B) max_B = B;
            if (T > max_T) max_T = T;
        }
    size_t cells = (size_t)max_B * max_T;
    ft_ctx f = {.m = m, .tr = train, .va = has_valid ? valid : NULL, .o = o, .bpe = t.batches_per_epoch, .pass = -1,
                .perm = sd_xmalloc(sizeof(int32_t) * (size_t)train->n_batches),
                .ids = sd_xmalloc(sizeof(int32_t) * cells), .tg = sd_xmalloc(sizeof(int32_t) * cells),
                .kv = sd_xmalloc(cells), .last_valid = NAN, .log = log, .rep = rep};
    sd_trainer tr = {.p = &m->p, .ctx = &f, .next = ft_next, .epoch_begin = ft_epoch_begin,
                     .after_step = ft_after_step, .validate = has_valid ? ft_validate : NULL, .note = ft_note,
                     .state_write = ft_state_write, .state_read = ft_state_read};
    double t0 = sd_now();
    sd_train_state s;
    int rc = sd_train(&tr, &t, &s, err);
    rep->seconds = sd_now() - t0;
    rep->tokens = f.tokens;
    rep->tokens_per_s = f.step_seconds > 0 ? (double)f.tokens / f.step_seconds : 0;
    rep->interrupted = s.interrupted;
    if (rc) sd_err_prefix(err, "%s: ", stage);
    if (f.st_ok) sd_qwen3_state_free(&f.st);
    if (f.vst_ok) sd_qwen3_state_free(&f.vst);
    free(f.perm);
    free(f.ids);
    free(f.tg);
    free(f.kv);
    cJSON_Delete(ident);
    sd_qwen3_train_all(m);
    sd_qwen3_set_trainable_rows(m, 0, 0);
    return rc;
}
