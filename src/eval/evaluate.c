#include "eval/evaluate.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/threads.h"

static const char *const proto_names[SD_PROTO_COUNT] = {"full", "sampled100", "sampled1000"};

const char *sd_protocol_name(sd_protocol p) { return p >= 0 && p < SD_PROTO_COUNT ? proto_names[p] : "?"; }

int sd_protocol_parse(const char *s, sd_protocol *p) {
    for (int i = 0; i < SD_PROTO_COUNT; i++)
        if (s && !strcmp(s, proto_names[i])) { *p = (sd_protocol)i; return 0; }
    return SD_EUSAGE;
}

int32_t sd_protocol_negatives(sd_protocol p) { return p == SD_PROTO_SAMPLED100 ? 100 : p == SD_PROTO_SAMPLED1000 ? 1000 : 0; }
bool sd_protocol_excludes_history(sd_protocol p) { return p != SD_PROTO_SAMPLED1000; }
const char *sd_part_name(sd_part p) { return p == SD_PART_VALID ? "valid" : "test"; }

int sd_part_parse(const char *s, sd_part *p) {
    if (s && !strcmp(s, "test")) { *p = SD_PART_TEST; return 0; }
    if (s && !strcmp(s, "valid")) { *p = SD_PART_VALID; return 0; }
    return SD_EUSAGE;
}

sd_eval_opts sd_eval_defaults(void) {
    return (sd_eval_opts){.protocol = SD_PROTO_FULL, .part = SD_PART_TEST, .exclude_history = -1, .seed = 42,
                          .batch = 0, .progress = true};
}

bool sd_eval_excludes_history(const sd_eval_opts *o) {
    return o->exclude_history < 0 ? sd_protocol_excludes_history(o->protocol) : o->exclude_history != 0;
}

static const int32_t *part_pos(const sd_split *sp, sd_part part) {
    return part == SD_PART_VALID ? sp->valid_pos : sp->test_pos;
}

int32_t *sd_eval_users(const sd_split *sp, sd_part part, int32_t *n) {
    const int32_t *pos = part_pos(sp, part);
    int32_t *users = sd_xmalloc(sd_mul_size((size_t)sp->n_users + 1, sizeof *users));
    int32_t k = 0;
    for (int32_t u = 0; u < sp->n_users; u++)
        if (pos[u] >= 0) users[k++] = u;
    *n = k;
    return users;
}

int32_t sd_sample_negatives(int32_t n_items, int32_t target, const int32_t *hist, int32_t hist_len, bool exclude,
                            int32_t n_neg, uint64_t seed, sd_part part, int32_t user, uint8_t *mark, int32_t *out) {
    /* mark: 1 = not eligible. Set for the target and (if excluding) distinct history items. */
    int32_t forbidden = 0;
    mark[target] = 1;
    forbidden++;
    if (exclude)
        for (int32_t j = 0; j < hist_len; j++)
            if (!mark[hist[j]]) { mark[hist[j]] = 1; forbidden++; }
    int32_t eligible = n_items - forbidden, got = 0;
    sd_rng r;
    sd_rng_stream(&r, seed, ((uint64_t)(uint32_t)user << 1) | (uint64_t)part);
    if (n_neg >= eligible) {
        for (int32_t i = 0; i < n_items; i++)
            if (!mark[i]) out[got++] = i;
    } else if ((int64_t)(forbidden + n_neg) * 2 > n_items) {
        /* dense case: partial Fisher-Yates over the eligible items (rejection would stall) */
        int32_t *pool = sd_xmalloc(sd_mul_size((size_t)eligible, sizeof *pool));
        int32_t m = 0;
        for (int32_t i = 0; i < n_items; i++)
            if (!mark[i]) pool[m++] = i;
        for (int32_t k = 0; k < n_neg; k++) {
            int32_t j = k + (int32_t)sd_rng_below(&r, (uint64_t)(m - k));
            int32_t t = pool[k]; pool[k] = pool[j]; pool[j] = t;
            out[got++] = pool[k];
        }
        free(pool);
    } else {
        /* sparse case: rejection; at most half the items are marked, so < 2 draws per negative */
        while (got < n_neg) {
            int32_t i = (int32_t)sd_rng_below(&r, (uint64_t)n_items);
            if (mark[i]) continue;
            mark[i] = 1;
            out[got++] = i;
        }
        for (int32_t k = 0; k < got; k++) mark[out[k]] = 0;
    }
    mark[target] = 0;
    if (exclude)
        for (int32_t j = 0; j < hist_len; j++) mark[hist[j]] = 0;
    return got;
}

/* ---- the evaluation loop ---- */

typedef struct eval_ctx {
    const sd_scorer *sc;
    const sd_sequences *seq;
    const int32_t *users, *pos;
    int32_t n_items, n_neg, n_cand;
    bool exclude;
    uint64_t seed;
    sd_part part;
    int32_t *ranks;            /* [n_eval] */
} eval_ctx;

/* Per-thread buffers for one batch of up to `batch` users. */
typedef struct eval_bufs {
    float *full;               /* [batch, n_items], NULL when the candidate path is used */
    float *cscores;            /* [batch, n_cand] */
    int32_t *cand, *n_got;     /* [batch, n_cand], [batch] */
    const int32_t **hist;
    int32_t *hist_len, *target, *bu;
} eval_bufs;

static void bufs_init(eval_bufs *b, const eval_ctx *c, int batch) {
    memset(b, 0, sizeof *b);
    bool need_full = c->n_neg == 0 || !c->sc->score_candidates;
    if (need_full) b->full = sd_afloats(sd_mul_size((size_t)batch, (size_t)c->n_items));
    if (c->n_neg) {
        b->cscores = sd_afloats(sd_mul_size((size_t)batch, (size_t)c->n_cand));
        b->cand = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)batch, (size_t)c->n_cand), sizeof *b->cand));
        b->n_got = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->n_got));
    }
    b->hist = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->hist));
    b->hist_len = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->hist_len));
    b->target = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->target));
    b->bu = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->bu));
}

static void bufs_free(eval_bufs *b) {
    sd_afree(b->full); sd_afree(b->cscores);
    free(b->cand); free(b->n_got); free(b->hist); free(b->hist_len); free(b->target); free(b->bu);
}

/* Other threads poll the flag to skip remaining work; read it atomically. */
static int error_seen(const int *failed) {
    return __atomic_load_n(failed, __ATOMIC_RELAXED);
}

static void keep_first_error(int *failed, sd_err *err, int rc, const sd_err *e) {
#pragma omp critical(sd_eval_error)
    if (!*failed) {
        if (err) *err = *e;
        __atomic_store_n(failed, rc, __ATOMIC_RELAXED);
    }
}

/* Scores and ranks users[start .. start+nb). par: spread sampling and ranking over OpenMP
 * threads (the model is called from this thread only); otherwise everything runs here and
 * marks[0] is this thread's scratch. */
static int run_batch(const eval_ctx *c, eval_bufs *b, int64_t start, int nb, bool par, uint8_t **marks, sd_err *err) {
    const sd_scorer *sc = c->sc;
    for (int i = 0; i < nb; i++) {
        int32_t u = c->users[start + i], p = c->pos[u];
        b->bu[i] = u;
        b->hist[i] = sd_seq_items(c->seq, u);
        b->hist_len[i] = p;
        b->target[i] = sd_seq_items(c->seq, u)[p];
    }
    int32_t nc = c->n_cand;
    if (c->n_neg) {
#pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < nb; i++) {
            int32_t *row = b->cand + (size_t)i * nc;
            row[0] = b->target[i];
            int32_t got = sd_sample_negatives(c->n_items, b->target[i], b->hist[i], b->hist_len[i], c->exclude,
                                              c->n_neg, c->seed, c->part, b->bu[i],
                                              marks[par ? omp_get_thread_num() : 0], row + 1);
            for (int32_t j = 1 + got; j < nc; j++) row[j] = b->target[i]; /* padding, ignored when ranking */
            b->n_got[i] = got;
        }
    }
    int rc;
    if (c->n_neg && sc->score_candidates)
        rc = sc->score_candidates(sc->model, nb, b->bu, b->hist, b->hist_len, nc, b->cand, b->cscores, err);
    else
        rc = sc->score_batch(sc->model, nb, b->bu, b->hist, b->hist_len, b->full, err);
    if (rc) {
        sd_err_prefix(err, "model %s", sc->name);
        return rc < 0 ? rc : SD_ESTATE;
    }
    if (c->n_neg && !sc->score_candidates)
        for (int i = 0; i < nb; i++)
            for (int32_t j = 0; j < nc; j++)
                b->cscores[(size_t)i * nc + j] = b->full[(size_t)i * c->n_items + b->cand[(size_t)i * nc + j]];
    int failed = 0;
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < nb; i++) {
        if (error_seen(&failed)) continue;
        sd_err e = {0};
        int32_t r;
        if (c->n_neg)
            r = sd_rank_first(b->cscores + (size_t)i * nc, 1 + b->n_got[i], &e);
        else if (c->exclude)
            r = sd_rank_full_excl(b->full + (size_t)i * c->n_items, c->n_items, b->target[i], b->hist[i],
                                  b->hist_len[i], &e);
        else
            r = sd_rank_full(b->full + (size_t)i * c->n_items, c->n_items, b->target[i], &e);
        if (r < 0) {
            const char *uid = c->seq->user_ids ? c->seq->user_ids[b->bu[i]] : "?";
            sd_err_prefix(&e, "model %s: user %s (row %d)", sc->name, uid, b->bu[i]);
            keep_first_error(&failed, err, r, &e);
        }
        c->ranks[start + i] = r;
    }
    return failed;
}

int sd_evaluate(const sd_scorer *sc, const sd_sequences *seq, const sd_split *sp, const sd_eval_opts *o,
                sd_metrics *out, int32_t *ranks, sd_err *err) {
    if (!sc->score_batch) return sd_errf(err, SD_ESTATE, "model %s: no score_batch", sc->name);
    if (sc->n_items != seq->n_items)
        return sd_errf(err, SD_ESTATE, "model %s scores %d items but the work directory has %d (trained on another "
                       "work directory?)", sc->name, sc->n_items, seq->n_items);
    if (sp->n_users != seq->n_users)
        return sd_errf(err, SD_ESTATE, "split has %d users, sequences %d", sp->n_users, seq->n_users);
    if (o->protocol < 0 || o->protocol >= SD_PROTO_COUNT) return sd_errf(err, SD_EUSAGE, "unknown protocol %d", o->protocol);
    eval_ctx c = {.sc = sc, .seq = seq, .pos = part_pos(sp, o->part), .n_items = seq->n_items,
                  .n_neg = sd_protocol_negatives(o->protocol), .seed = o->seed, .part = o->part};
    c.exclude = sd_eval_excludes_history(o);
    c.n_cand = 1 + c.n_neg;
    int32_t n_eval;
    int32_t *users = sd_eval_users(sp, o->part, &n_eval);
    c.users = users;
    for (int32_t i = 0; i < n_eval; i++)
        if (c.pos[users[i]] >= sd_seq_len(seq, users[i])) {
            free(users);
            return sd_errf(err, SD_EFORMAT, "split: user %d: %s position %d beyond its %d items", users[i],
                           sd_part_name(o->part), c.pos[users[i]], sd_seq_len(seq, users[i]));
        }
    c.ranks = sd_xcalloc((size_t)n_eval + 1, sizeof *c.ranks);
    int batch = o->batch > 0 ? o->batch : sc->batch_hint > 0 ? sc->batch_hint : 256;
    if (n_eval > 0 && batch > n_eval) batch = n_eval;
    int64_t n_batches = n_eval ? (n_eval + batch - 1) / batch : 0;
    int nt = sd_threads();
    uint8_t **marks = sd_xcalloc((size_t)nt, sizeof *marks);
    for (int t = 0; t < nt; t++) marks[t] = sd_xcalloc((size_t)seq->n_items + 1, 1);

    sd_progress pg;
    char label[48];
    snprintf(label, sizeof label, "eval %s", sc->name);
    if (o->progress) sd_progress_start(&pg, label, n_eval, "users");
    int failed = 0;
    if (sc->concurrent) {
#pragma omp parallel num_threads(nt)
        {
            eval_bufs b;
            bufs_init(&b, &c, batch);
            uint8_t *mine = marks[omp_get_thread_num()];
            sd_err e = {0};
#pragma omp for schedule(dynamic, 1)
            for (int64_t k = 0; k < n_batches; k++) {
                if (error_seen(&failed)) continue;
                int64_t start = k * batch;
                int nb = (int)(n_eval - start < batch ? n_eval - start : batch);
                int rc = run_batch(&c, &b, start, nb, false, &mine, &e);
                if (rc) keep_first_error(&failed, err, rc, &e);
                if (o->progress) {
#pragma omp critical(sd_eval_progress)
                    sd_progress_add(&pg, nb);
                }
            }
            bufs_free(&b);
        }
    } else {
        eval_bufs b;
        bufs_init(&b, &c, batch);
        for (int64_t k = 0; k < n_batches && !failed; k++) {
            int64_t start = k * batch;
            int nb = (int)(n_eval - start < batch ? n_eval - start : batch);
            failed = run_batch(&c, &b, start, nb, true, marks, err);
            if (o->progress) sd_progress_add(&pg, nb);
        }
        bufs_free(&b);
    }
    if (o->progress) sd_progress_finish(&pg);
    for (int t = 0; t < nt; t++) free(marks[t]);
    free(marks);
    if (!failed) {
        sd_metrics_from_ranks(c.ranks, n_eval, out);
        if (ranks) {
            memset(ranks, 0, (size_t)seq->n_users * sizeof *ranks);
            for (int32_t i = 0; i < n_eval; i++) ranks[users[i]] = c.ranks[i];
        }
    }
    free(c.ranks);
    free(users);
    return failed;
}
