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
const char *sd_part_name(sd_part p) { return p == SD_PART_VALID ? "valid" : p == SD_PART_COLD ? "cold" : "test"; }

int sd_part_parse(const char *s, sd_part *p) {
    if (s && !strcmp(s, "test")) { *p = SD_PART_TEST; return 0; }
    if (s && !strcmp(s, "valid")) { *p = SD_PART_VALID; return 0; }
    if (s && !strcmp(s, "cold")) { *p = SD_PART_COLD; return 0; }
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
        if (pos[u] >= 0 && (part != SD_PART_COLD || (sp->cold_target && sp->cold_target[u]))) users[k++] = u;
    *n = k;
    return users;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int32_t *sd_eval_users_sample(const sd_split *sp, sd_part part, int32_t max_users, uint64_t seed, int32_t *n,
                              int32_t *total) {
    int32_t all;
    int32_t *users = sd_eval_users(sp, part, &all);
    if (total) *total = all;
    *n = all;
    if (max_users <= 0 || max_users >= all) return users;
    /* a partial Fisher-Yates shuffle from its own stream of the seed (not the negatives'), so the
     * sample depends on (seed, part) only: every model and protocol gets the same users */
    sd_rng r;
    sd_rng_stream(&r, seed, 0x6576616c75736572ull + (uint64_t)part); /* "evalusers" */
    for (int32_t i = 0; i < max_users; i++) {
        int32_t j = i + (int32_t)sd_rng_below(&r, (uint64_t)(all - i)), t = users[i];
        users[i] = users[j];
        users[j] = t;
    }
    qsort(users, (size_t)max_users, sizeof *users, cmp_i32); /* ascending, as sd_eval_users */
    *n = max_users;
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
    /* the cold part is a subset of test: the same user gets the same negatives in both */
    if (part == SD_PART_COLD) part = SD_PART_TEST;
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

/* How a batch is scored: every item, the sampled candidates only, or a top-K list. */
typedef enum { PATH_FULL, PATH_CAND, PATH_TOPK } eval_path;

typedef struct eval_ctx {
    const sd_scorer *sc;
    eval_path path;
    int32_t k;                 /* list length asked of a top-K scorer */
    const sd_sequences *seq;
    const int32_t *users, *pos;
    int32_t n_items, n_neg, n_cand;
    bool exclude;
    uint64_t seed;
    sd_part part;
    int32_t *ranks;            /* [n_eval] */
    uint8_t *unlisted, *short_list; /* [n_eval], top-K path: target outside the list / and a bound */
} eval_ctx;

/* Per-thread buffers for one batch of up to `batch` users. */
typedef struct eval_bufs {
    float *full;               /* [batch, n_items], NULL when the candidate path is used */
    float *cscores;            /* [batch, n_cand] */
    int32_t *cand, *n_got;     /* [batch, n_cand], [batch] */
    const int32_t **hist;
    int32_t *hist_len, *target, *bu;
    int32_t *top, *n_top, *listed; /* [batch, k], [batch], [batch, k]: the top-K path */
} eval_bufs;

static void bufs_init(eval_bufs *b, const eval_ctx *c, int batch) {
    memset(b, 0, sizeof *b);
    if (c->path == PATH_FULL) b->full = sd_afloats(sd_mul_size((size_t)batch, (size_t)c->n_items));
    if (c->path == PATH_TOPK) {
        size_t nk = sd_mul_size((size_t)batch, (size_t)c->k);
        b->top = sd_xmalloc(sd_mul_size(nk, sizeof *b->top));
        b->listed = sd_xmalloc(sd_mul_size(nk, sizeof *b->listed));
        b->n_top = sd_xmalloc(sd_mul_size((size_t)batch, sizeof *b->n_top));
    }
    if (c->n_neg) {
        if (c->path != PATH_TOPK) b->cscores = sd_afloats(sd_mul_size((size_t)batch, (size_t)c->n_cand));
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
    free(b->top); free(b->n_top); free(b->listed);
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

/* Bits in the per-thread scratch `mark` while one user's list is read (zero outside). */
enum { MARK_SEEN = 1, MARK_CAND = 2, MARK_LISTED = 4 };

/* Marks batch user i's candidates in `mark` and returns their number: a sampled protocol's
 * drawn row (MARK_CAND), else every item but the excluded history (MARK_SEEN on the rest). */
static int32_t mark_candidates(const eval_ctx *c, const eval_bufs *b, int i, uint8_t *mark) {
    const int32_t *hist = b->hist[i];
    if (c->n_neg) {
        const int32_t *cand = b->cand + (size_t)i * c->n_cand;
        for (int32_t j = 0; j < 1 + b->n_got[i]; j++) mark[cand[j]] |= MARK_CAND;
        return 1 + b->n_got[i];
    }
    int32_t n_cand = c->n_items;
    if (c->exclude)
        for (int32_t j = 0; j < b->hist_len[i]; j++)
            if (hist[j] != b->target[i] && !(mark[hist[j]] & MARK_SEEN)) { mark[hist[j]] |= MARK_SEEN; n_cand--; }
    return n_cand;
}

/* Undoes mark_candidates and the MARK_LISTED bits of the first n_walked list items. */
static void clear_marks(const eval_ctx *c, const eval_bufs *b, int i, int32_t n_walked, uint8_t *mark) {
    const int32_t *top = b->top + (size_t)i * c->k;
    for (int32_t j = 0; j < n_walked; j++) mark[top[j]] = 0;
    if (c->n_neg)
        for (int32_t j = 0; j < 1 + b->n_got[i]; j++) mark[b->cand[(size_t)i * c->n_cand + j]] = 0;
    else if (c->exclude)
        for (int32_t j = 0; j < b->hist_len[i]; j++) mark[b->hist[i][j]] = 0;
}

/* Rank of batch user i (evaluated user number u) from its top-K list: the list is checked and
 * reduced to candidates, then ranked by sd_rank_topk (the rule is in eval/metrics.h). */
static int32_t rank_topk_user(const eval_ctx *c, const eval_bufs *b, int i, int64_t u, uint8_t *mark, sd_err *e) {
    const int32_t *top = b->top + (size_t)i * c->k;
    int32_t n_top = b->n_top[i];
    if (n_top < 0 || n_top > c->k)
        return sd_errf(e, SD_ERANGE, "top-K list of %d items (asked for at most %d)", n_top, c->k);
    int32_t n_cand = mark_candidates(c, b, i, mark);
    int32_t *listed = b->listed + (size_t)i * c->k, n_listed = 0, walked = 0, rc = 0;
    for (; walked < n_top; walked++) {
        int32_t id = top[walked];
        if (id < 0 || id >= c->n_items) {
            rc = sd_errf(e, SD_ERANGE, "top-K list position %d: item %d out of range [0, %d)", walked + 1, id,
                         c->n_items);
            break;
        }
        if (mark[id] & MARK_LISTED) {
            int32_t first = 0;
            while (top[first] != id) first++;
            rc = sd_errf(e, SD_ERANGE, "top-K list repeats item %d (positions %d and %d)", id, first + 1, walked + 1);
            break;
        }
        mark[id] |= MARK_LISTED;
        if (c->n_neg ? mark[id] & MARK_CAND : !(mark[id] & MARK_SEEN)) listed[n_listed++] = id;
    }
    clear_marks(c, b, i, walked, mark);
    if (rc) return rc;
    int32_t r = sd_rank_topk(listed, n_listed, b->target[i], n_cand, e);
    if (r > n_listed) {
        /* ranked last; exact only when the list settles every cut-off or misses just the target */
        int32_t cut = sd_metric_ks[SD_METRIC_NK - 1];
        c->unlisted[u] = 1;
        c->short_list[u] = n_listed < cut && n_listed < n_cand - 1;
    }
    return r;
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
    if (c->path == PATH_CAND) {
        rc = sc->score_candidates(sc->model, nb, b->bu, b->hist, b->hist_len, nc, b->cand, b->cscores, err);
    } else if (c->path == PATH_FULL) {
        rc = sc->score_batch(sc->model, nb, b->bu, b->hist, b->hist_len, b->full, err);
    } else {
        for (int i = 0; i < nb; i++) b->n_top[i] = -1; /* a length the model forgot to write is an error */
        rc = sc->score_topk(sc->model, nb, b->bu, b->hist, b->hist_len, c->k, b->top, b->n_top, err);
    }
    if (rc) {
        sd_err_prefix(err, "model %s", sc->name);
        return rc < 0 ? rc : SD_ESTATE;
    }
    if (c->n_neg && c->path == PATH_FULL)
        for (int i = 0; i < nb; i++)
            for (int32_t j = 0; j < nc; j++)
                b->cscores[(size_t)i * nc + j] = b->full[(size_t)i * c->n_items + b->cand[(size_t)i * nc + j]];
    int failed = 0;
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < nb; i++) {
        if (error_seen(&failed)) continue;
        sd_err e = {0};
        int32_t r;
        if (c->path == PATH_TOPK)
            r = rank_topk_user(c, b, i, start + i, marks[par ? omp_get_thread_num() : 0], &e);
        else if (c->n_neg)
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
    if (!sc->score_batch && !sc->score_topk)
        return sd_errf(err, SD_ESTATE, "model %s: neither score_batch nor score_topk", sc->name);
    if (sc->n_items != seq->n_items)
        return sd_errf(err, SD_ESTATE, "model %s scores %d items but the work directory has %d (trained on another "
                       "work directory?)", sc->name, sc->n_items, seq->n_items);
    if (sp->n_users != seq->n_users)
        return sd_errf(err, SD_ESTATE, "split has %d users, sequences %d", sp->n_users, seq->n_users);
    if (o->protocol < 0 || o->protocol >= SD_PROTO_COUNT) return sd_errf(err, SD_EUSAGE, "unknown protocol %d", o->protocol);
    if (o->top_k < 0)
        return sd_errf(err, SD_EUSAGE, "top-K list length %d must be >= 0 (0: the largest cut-off)", o->top_k);
    eval_ctx c = {.sc = sc, .seq = seq, .pos = part_pos(sp, o->part), .n_items = seq->n_items,
                  .n_neg = sd_protocol_negatives(o->protocol), .seed = o->seed, .part = o->part};
    c.exclude = sd_eval_excludes_history(o);
    c.n_cand = 1 + c.n_neg;
    /* the exact path when there is one: scores for the candidates, else for every item */
    c.path = c.n_neg && sc->score_candidates ? PATH_CAND : sc->score_batch ? PATH_FULL : PATH_TOPK;
    c.k = o->top_k > 0 ? o->top_k : sd_metric_ks[SD_METRIC_NK - 1];
    if (c.k > c.n_items) c.k = c.n_items > 0 ? c.n_items : 1; /* a list holds distinct items */
    int32_t n_eval;
    if (o->max_users < 0) return sd_errf(err, SD_EUSAGE, "evaluated users %d must be >= 0 (0: all)", o->max_users);
    int32_t *users = sd_eval_users_sample(sp, o->part, o->max_users, o->seed, &n_eval, NULL);
    c.users = users;
    for (int32_t i = 0; i < n_eval; i++)
        if (c.pos[users[i]] >= sd_seq_len(seq, users[i])) {
            free(users);
            return sd_errf(err, SD_EFORMAT, "split: user %d: %s position %d beyond its %d items", users[i],
                           sd_part_name(o->part), c.pos[users[i]], sd_seq_len(seq, users[i]));
        }
    c.ranks = sd_xcalloc((size_t)n_eval + 1, sizeof *c.ranks);
    c.unlisted = sd_xcalloc((size_t)n_eval + 1, 1);
    c.short_list = sd_xcalloc((size_t)n_eval + 1, 1);
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
        for (int32_t i = 0; i < n_eval; i++) {
            out->n_unlisted += c.unlisted[i];
            out->n_short += c.short_list[i];
        }
        if (ranks) {
            memset(ranks, 0, (size_t)seq->n_users * sizeof *ranks);
            for (int32_t i = 0; i < n_eval; i++) ranks[users[i]] = c.ranks[i];
        }
    }
    free(c.ranks);
    free(c.unlisted);
    free(c.short_list);
    free(users);
    return failed;
}
