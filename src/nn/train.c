#include "nn/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/threads.h"
#include "nn/dist.h"
#include "nn/train_ckpt.h"

sd_train_opts sd_train_defaults(void) {
    return (sd_train_opts){.epochs = 1, .accum = 1, .adam = sd_adamw_default(), .schedule = SD_LR_CONSTANT,
                           .best_init = -1, .name = "train", .ckpt_every = 1};
}

int sd_train_opts_check(const sd_train_opts *o, sd_err *err) {
    const char *n = o->name ? o->name : "train";
    if (o->epochs < 1) return sd_errf(err, SD_EUSAGE, "%s: epochs %d < 1", n, o->epochs);
    if (o->batches_per_epoch < 1) return sd_errf(err, SD_EUSAGE, "%s: %lld batches per epoch < 1", n, (long long)o->batches_per_epoch);
    if (!(o->adam.lr > 0)) return sd_errf(err, SD_EUSAGE, "%s: learning rate %g must be > 0", n, o->adam.lr);
    if (o->warmup < 0) return sd_errf(err, SD_EUSAGE, "%s: warmup %lld < 0", n, (long long)o->warmup);
    if (!(o->clip >= 0)) return sd_errf(err, SD_EUSAGE, "%s: clip %g < 0", n, o->clip);
    if (o->eval_every_epochs < 0 || o->eval_every_steps < 0 || o->patience < 0)
        return sd_errf(err, SD_EUSAGE, "%s: validation intervals and patience must be >= 0", n);
    if (o->resume && !o->ckpt_path) return sd_errf(err, SD_EUSAGE, "%s: resume needs a checkpoint path", n);
    return 0;
}

double sd_train_lr(const sd_train_opts *o, int64_t step, int64_t total) {
    double lr = o->adam.lr;
    if (o->schedule == SD_LR_COSINE) return sd_lr_cosine((long)step, (long)o->warmup, (long)total, lr, o->lr_min);
    return step < o->warmup ? lr * (double)(step + 1) / (double)o->warmup : lr;
}

/* ---- checkpoints ---- */

/* mid: written inside an epoch (a step checkpoint): "epoch" counts the completed ones, and the
 * position in the one in progress is added (epoch-end checkpoints keep SASRec's first layout). */
static cJSON *state_json(const sd_trainer *t, const sd_train_opts *o, const sd_train_state *s, bool mid,
                         int64_t last_eval) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", mid ? s->epoch - 1 : s->epoch);
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddBoolToObject(j, "done", s->done);
    cJSON_AddNumberToObject(j, "best_epoch", s->best_epoch);
    cJSON_AddNumberToObject(j, "since_best", s->since_best);
    cJSON_AddNumberToObject(j, "threads", sd_threads());
    if (sd_dist_size() > 1) cJSON_AddNumberToObject(j, "ranks", sd_dist_size());
    sd_ckpt_put_bits(j, o->metric_key ? o->metric_key : "best_metric", s->best_metric);
    sd_ckpt_put_bits(j, "last_loss", (double)s->last_loss);
    if (mid) {
        cJSON_AddNumberToObject(j, "in_epoch", s->epoch);
        cJSON_AddNumberToObject(j, "epoch_batch", (double)s->batch);
        cJSON_AddNumberToObject(j, "epoch_batches", (double)s->epoch_batches);
        sd_ckpt_put_bits(j, "epoch_loss_sum", s->epoch_loss_sum);
        cJSON_AddNumberToObject(j, "last_eval", (double)last_eval);
    }
    if (t->state_write) t->state_write(t->ctx, j);
    return j;
}

static int save_ckpt(const sd_trainer *t, const sd_train_opts *o, const sd_train_state *s, const float *best,
                     bool mid, int64_t last_eval, sd_err *err) {
    if (sd_dist_rank() > 0) return 0; /* rank 0 writes; every rank reads on resume */
    cJSON *state = state_json(t, o, s, mid, last_eval);
    int rc = sd_train_ckpt_save(o->ckpt_path, t->p, best, s->step, o->ckpt_config, state, err);
    cJSON_Delete(state);
    return rc;
}

/* Loop counters from a checkpoint's state (best_step is not stored: it is only reported). A step
 * checkpoint's position inside an epoch goes to *in_epoch (0: at an epoch's end), s->batch,
 * s->epoch_batches, s->epoch_loss_sum and *last_eval. */
static int state_parse(const cJSON *j, const sd_train_opts *o, sd_train_state *s, int *in_epoch, int64_t *last_eval) {
    int64_t ep, step, be, sb;
    double ll;
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(j, "done");
    if (sd_ckpt_get_int(j, "epoch", &ep) || sd_ckpt_get_int(j, "step", &step) || sd_ckpt_get_int(j, "best_epoch", &be) ||
        sd_ckpt_get_int(j, "since_best", &sb) || !cJSON_IsBool(done) ||
        sd_ckpt_get_bits(j, o->metric_key ? o->metric_key : "best_metric", &s->best_metric) ||
        sd_ckpt_get_bits(j, "last_loss", &ll))
        return -1;
    if (ep < 0 || step < 0 || be < 0 || sb < 0) return -1;
    *in_epoch = 0;
    if (cJSON_GetObjectItemCaseSensitive(j, "in_epoch")) {
        int64_t ie, eb, ebs, le;
        if (sd_ckpt_get_int(j, "in_epoch", &ie) || sd_ckpt_get_int(j, "epoch_batch", &eb) ||
            sd_ckpt_get_int(j, "epoch_batches", &ebs) || sd_ckpt_get_bits(j, "epoch_loss_sum", &s->epoch_loss_sum) ||
            sd_ckpt_get_int(j, "last_eval", &le) || ie != ep + 1 || eb < 0 || ebs < 0)
            return -1;
        *in_epoch = (int)ie;
        s->batch = eb;
        s->epoch_batches = ebs;
        *last_eval = le;
    }
    s->epoch = (int)ep;
    s->step = step;
    s->done = cJSON_IsTrue(done);
    s->best_epoch = (int)be;
    s->since_best = (int)sb;
    s->last_loss = (float)ll;
    return 0;
}

static int resume(const sd_trainer *t, const sd_train_opts *o, sd_train_state *s, float *best, int *in_epoch,
                  int64_t *last_eval, sd_err *err) {
    cJSON *j = NULL;
    int rc = sd_train_ckpt_read_state(o->ckpt_path, o->ckpt_kind, o->ckpt_config, &j, err);
    if (rc) return rc;
    int64_t threads = 0;
    if (sd_ckpt_get_int(j, "threads", &threads)) threads = sd_threads();
    int64_t ranks = 1;
    if (sd_ckpt_get_int(j, "ranks", &ranks)) ranks = 1;
    sd_train_state st = *s;
    int ie = 0;
    int64_t le = *last_eval;
    if (state_parse(j, o, &st, &ie, &le) || (t->state_read && t->state_read(t->ctx, j)))
        rc = sd_errf(err, SD_EFORMAT, "%s: training state in metadata \"config\" missing or malformed", o->ckpt_path);
    cJSON_Delete(j);
    if (!rc) rc = sd_train_ckpt_load_params(o->ckpt_path, t->p, best, st.step, err);
    if (rc) return rc;
    *s = st;
    s->resumed_from = st.epoch;
    *in_epoch = ie;
    *last_eval = le;
    if (ranks != sd_dist_size() && sd_dist_rank() == 0)
        sd_warn("%s: made with %d MPI ranks, resuming with %d: results will differ slightly from an uninterrupted run",
                o->ckpt_path, (int)ranks, sd_dist_size());
    if (threads != sd_threads() && sd_dist_rank() == 0)
        sd_warn("%s: made with %d threads, resuming with %d: results will differ slightly from an uninterrupted "
                "run (use --threads %d for bit-identical ones)", o->ckpt_path, (int)threads, sd_threads(), (int)threads);
    return 0;
}

/* ---- the loop ---- */

typedef struct loop {
    const sd_trainer *t;
    const sd_train_opts *o;
    sd_train_state s;
    float *best;          /* in-memory best parameters (NULL when the client keeps them) */
    int64_t last_eval;    /* step of the last validation (-1: none) */
    int resume_epoch;     /* > 0: resuming inside this epoch (a step checkpoint) */
    bool stop;            /* stop_after_steps reached */
    sd_progress pr;
    bool bar;
    double t0;            /* when this run (or resumed run) started, at step step0 */
    int64_t step0;
} loop;

static int validate(loop *L, sd_err *err) {
    const sd_trainer *t = L->t;
    const sd_train_opts *o = L->o;
    double t1 = sd_now(), metric = 0;
    int better = -1;
    /* under MPI rank 0 measures and tells the others (nn/dist.h) */
    int rc = sd_dist_rank() == 0 ? t->validate(t->ctx, &L->s, &metric, &better, err) : 0;
    if (rc) return rc;
    if (sd_dist_size() > 1) {
        double v[2] = {metric, better};
        sd_dist_bcast(v, sizeof v);
        metric = v[0], better = (int)v[1];
    }
    L->s.eval_seconds += sd_now() - t1;
    L->last_eval = L->s.step;
    if (better < 0) better = o->lower_is_better ? metric < L->s.best_metric : metric > L->s.best_metric;
    if (better) {
        L->s.best_metric = metric;
        L->s.best_epoch = L->s.epoch;
        L->s.best_step = L->s.step;
        L->s.since_best = 0;
        if (t->save_best) rc = t->save_best(t->ctx, &L->s, err);
        else memcpy(L->best, t->p->data, t->p->n * sizeof(float));
    } else if (o->patience && ++L->s.since_best >= o->patience) {
        L->s.done = true;
    }
    return rc;
}

static void progress_update(loop *L) {
    if (!L->bar) return;
    char buf[160];
    if (L->t->note) L->t->note(L->t->ctx, &L->s, buf, sizeof buf);
    else snprintf(buf, sizeof buf, "loss %.4f", L->s.epoch_loss_sum / (double)L->s.epoch_batches);
    if (L->o->progress_per_epoch && L->s.step > L->step0) {
        /* a bar per epoch knows only its own ETA: add the run's */
        double rem = (sd_now() - L->t0) / (double)(L->s.step - L->step0) * (double)(L->s.total_steps - L->s.step);
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, ", run ETA %dm%02ds", (int)(rem / 60), (int)rem % 60);
    }
    sd_progress_note(&L->pr, "%s", buf);
    sd_progress_set(&L->pr, L->o->progress_per_epoch ? L->s.epoch_batches : L->s.step);
}

/* One optimizer step over up to accum micro-batches; *got: micro-batches run (0: epoch over). */
static int step(loop *L, int *got, sd_err *err) {
    const sd_trainer *t = L->t;
    const sd_train_opts *o = L->o;
    sd_params *P = t->p;
    int accum = o->accum > 1 ? o->accum : 1, n = 0, rc = 0;
    bool dp = sd_dist_size() > 1;
    double step_sum = 0;
    L->s.lr = sd_train_lr(o, L->s.step, L->s.total_steps);
    double t0 = sd_now();
    sd_params_zero_grad(P);
    L->s.opt_seconds += sd_now() - t0;
    for (; n < accum; n++) {
        float loss = 0;
        rc = t->next(t->ctx, &L->s, &loss, err);
        if (rc <= 0) break;
        L->s.batch++;
        if (!dp) L->s.epoch_loss_sum += loss;
        step_sum += loss;
        L->s.epoch_batches++;
    }
    *got = n;
    if (rc < 0) return rc;
    rc = 0;
    if (!n) return 0;
    /* data parallel: every rank ran its shard of the same micro-batches; the sums join here */
    if (dp) {
        sd_dist_reduce_grads(P, &step_sum);
        L->s.epoch_loss_sum += step_sum;
    }
    L->s.step_loss = step_sum / n;
    t0 = sd_now();
    if (n > 1) {
        /* the mean of the micro-batch means: one batch of n equal parts */
        float inv = 1.0f / (float)n;
        for (int k = 0; k < P->n_views; k++) {
            const sd_view *v = &P->views[k];
            if (!v->requires_grad) continue;
            size_t lo, hi;
            sd_view_train_range(v, &lo, &hi);
            float *g = P->grad + v->offset + lo;
            long cnt = (long)(hi - lo);
#pragma omp parallel for schedule(static) if (cnt > 65536)
            for (long i = 0; i < cnt; i++) g[i] *= inv;
        }
    }
    if (o->clip > 0) sd_clip_grad_norm(P, o->clip);
    sd_adamw_step(P, &o->adam, (long)L->s.step + 1, L->s.lr);
    L->s.opt_seconds += sd_now() - t0;
    L->s.step++;
    if ((rc = sd_dist_check_params(P, L->s.step, err))) return rc;
    if (t->after_step) t->after_step(t->ctx, &L->s);
    progress_update(L);
    if (t->validate && o->eval_every_steps > 0 &&
        (L->s.step % o->eval_every_steps == 0 || L->s.step == L->s.total_steps))
        rc = validate(L, err);
    L->stop = o->stop_after_steps > 0 && L->s.step >= o->stop_after_steps && L->s.step < L->s.total_steps;
    if (!rc && o->ckpt_path && ((o->ckpt_every_steps > 0 && L->s.step % o->ckpt_every_steps == 0) || L->stop))
        rc = save_ckpt(t, o, &L->s, L->best, true, L->last_eval, err);
    return rc;
}

static int epoch(loop *L, int ep, sd_err *err) {
    const sd_trainer *t = L->t;
    const sd_train_opts *o = L->o;
    double t0 = sd_now();
    L->s.epoch = ep;
    if (ep == L->resume_epoch) {
        L->resume_epoch = 0; /* s.batch, epoch_batches and epoch_loss_sum come from the checkpoint */
    } else {
        L->s.batch = 0;
        L->s.epoch_loss_sum = 0;
        L->s.epoch_batches = 0;
    }
    if (L->bar && o->progress_per_epoch) {
        char label[48];
        snprintf(label, sizeof label, "epoch %d/%d", ep, o->epochs);
        sd_progress_start(&L->pr, label, o->batches_per_epoch, "steps");
    }
    int rc = t->epoch_begin ? t->epoch_begin(t->ctx, &L->s, err) : 0;
    for (int got = 1; !rc && got && !L->s.done && !L->stop;) rc = step(L, &got, err);
    if (L->bar && o->progress_per_epoch) sd_progress_finish(&L->pr);
    L->s.epoch_seconds = sd_now() - t0;
    L->s.train_seconds += L->s.epoch_seconds;
    if (rc || L->stop) return rc;
    L->s.last_loss = (float)(L->s.epoch_loss_sum / (double)(L->s.epoch_batches ? L->s.epoch_batches : 1));
    if (!isfinite(L->s.last_loss))
        return sd_errf(err, SD_ERANGE, "%s: loss is not finite at epoch %d (lower --lr?)", o->name, ep);
    if (t->validate && o->eval_every_epochs > 0 && (ep % o->eval_every_epochs == 0 || ep == o->epochs) &&
        L->last_eval != L->s.step && !L->s.done)
        rc = validate(L, err);
    return rc;
}

int sd_train(const sd_trainer *t, const sd_train_opts *o, sd_train_state *out, sd_err *err) {
    int rc = sd_train_opts_check(o, err);
    if (rc) return rc;
    sd_params *P = t->p;
    sd_params_alloc_train(P);
    sd_dist_bcast(P->data, P->n * sizeof(float)); /* MPI: every rank starts from rank 0's parameters */
    int accum = o->accum > 1 ? o->accum : 1;
    loop L = {.t = t, .o = o, .last_eval = -1,
              .s = {.best_metric = o->best_init, .total_steps = (o->batches_per_epoch + accum - 1) / accum * o->epochs}};
    if (!t->save_best) {
        L.best = sd_afloats(P->n);
        memcpy(L.best, P->data, P->n * sizeof(float));
    }
    if (o->resume) {
        rc = resume(t, o, &L.s, L.best, &L.resume_epoch, &L.last_eval, err);
        if (!rc && o->progress) sd_info("resuming from %s after epoch %d", o->ckpt_path, L.s.epoch);
    }
    L.bar = o->progress != NULL;
    L.t0 = sd_now();
    L.step0 = L.s.step;
    if (L.bar && !o->progress_per_epoch) sd_progress_start(&L.pr, o->progress, L.s.total_steps, "step");
    int every = o->ckpt_every > 0 ? o->ckpt_every : 1;
    for (int ep = L.s.epoch + 1; ep <= o->epochs && !rc && !L.s.done; ep++) {
        rc = epoch(&L, ep, err);
        if (rc) break;
        if (L.stop) { L.s.interrupted = true; break; }
        bool stop = o->stop_after > 0 && ep >= o->stop_after && ep < o->epochs && !L.s.done;
        if (o->ckpt_path && (ep % every == 0 || ep == o->epochs || L.s.done || stop) &&
            (rc = save_ckpt(t, o, &L.s, L.best, false, 0, err)))
            break;
        if (stop) { L.s.interrupted = true; break; }
    }
    if (L.bar && !o->progress_per_epoch) sd_progress_finish(&L.pr);
    if (!rc && !L.s.interrupted && L.s.best_epoch > 0) {
        if (t->restore_best) rc = t->restore_best(t->ctx, err);
        else memcpy(P->data, L.best, P->n * sizeof(float));
    }
    sd_afree(L.best);
    if (out) *out = L.s;
    return rc;
}
