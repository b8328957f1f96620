#include "eval/baselines.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"

void sd_train_item_counts(const sd_sequences *seq, const sd_split *sp, int64_t *counts) {
    memset(counts, 0, (size_t)seq->n_items * sizeof *counts);
    for (int32_t u = 0; u < seq->n_users; u++) {
        const int32_t *it = sd_seq_items(seq, u);
        int32_t n = sp->train_len[u] < sd_seq_len(seq, u) ? sp->train_len[u] : sd_seq_len(seq, u);
        for (int32_t k = 0; k < n; k++) counts[it[k]]++;
    }
}

/* ---- popularity ---- */

typedef struct pop_model {
    float *score;  /* [n_items] training counts */
    int32_t n_items;
    bool unseen;
} pop_model;

static int pop_score(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                     const int32_t *hist_len, float *scores, sd_err *err) {
    (void)users; (void)err;
    const pop_model *m = model;
    for (int b = 0; b < n_users; b++) {
        float *row = scores + (size_t)b * m->n_items;
        memcpy(row, m->score, (size_t)m->n_items * sizeof *row);
        if (m->unseen)
            for (int32_t j = 0; j < hist_len[b]; j++) row[hist[b][j]] = -INFINITY;
    }
    return 0;
}

static int pop_score_cand(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                          const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores, sd_err *err) {
    (void)users; (void)hist; (void)hist_len; (void)err;
    const pop_model *m = model;
    for (size_t k = 0; k < (size_t)n_users * n_cand; k++) scores[k] = m->score[cand[k]];
    return 0;
}

static void pop_free(void *model) {
    pop_model *m = model;
    sd_afree(m->score);
    free(m);
}

int sd_baseline_popularity(const sd_sequences *seq, const sd_split *sp, bool unseen, sd_scorer *out, sd_err *err) {
    if (sp->n_users != seq->n_users)
        return sd_errf(err, SD_ESTATE, "split has %d users, sequences %d", sp->n_users, seq->n_users);
    pop_model *m = sd_xcalloc(1, sizeof *m);
    m->n_items = seq->n_items;
    m->unseen = unseen;
    m->score = sd_afloats((size_t)seq->n_items + 1);
    int64_t *counts = sd_xmalloc(sd_mul_size((size_t)seq->n_items + 1, sizeof *counts));
    sd_train_item_counts(seq, sp, counts);
    for (int32_t i = 0; i < seq->n_items; i++) m->score[i] = (float)counts[i];
    free(counts);
    *out = (sd_scorer){.name = unseen ? "popularity_unseen" : "popularity", .n_items = seq->n_items, .model = m,
                       .score_batch = pop_score, .score_candidates = unseen ? NULL : pop_score_cand,
                       .concurrent = true, .batch_hint = 32, .free = pop_free};
    return 0;
}

/* ---- random ---- */

typedef struct rand_model {
    uint64_t seed;
    int32_t n_items;
} rand_model;

static inline uint64_t rand_user_key(const rand_model *m, int32_t user) {
    return sd_mix64(m->seed ^ sd_mix64(0x9e3779b97f4a7c15ULL + (uint64_t)(uint32_t)user));
}
/* splitmix64's finaliser, as sd_mix64 (base/rng.c), but inline: the full-ranking loop calls it
 * n_items times per user, and an out-of-line call made the random baseline 10x slower than
 * ranking itself. */
static inline uint64_t mix64_inline(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
/* 24 bits of the item's hash as a float in [0, 1): exact, so both paths agree bit for bit */
static inline float rand_item_score(uint64_t key, int32_t item) {
    return (float)(mix64_inline(key + (uint64_t)(uint32_t)item) >> 40) * (1.0f / 16777216.0f);
}

static int rand_score(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                      const int32_t *hist_len, float *scores, sd_err *err) {
    (void)hist; (void)hist_len; (void)err;
    const rand_model *m = model;
    for (int b = 0; b < n_users; b++) {
        uint64_t key = rand_user_key(m, users[b]);
        float *row = scores + (size_t)b * m->n_items;
        for (int32_t i = 0; i < m->n_items; i++) row[i] = rand_item_score(key, i);
    }
    return 0;
}

static int rand_score_cand(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                           const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores, sd_err *err) {
    (void)hist; (void)hist_len; (void)err;
    const rand_model *m = model;
    for (int b = 0; b < n_users; b++) {
        uint64_t key = rand_user_key(m, users[b]);
        for (int j = 0; j < n_cand; j++)
            scores[(size_t)b * n_cand + j] = rand_item_score(key, cand[(size_t)b * n_cand + j]);
    }
    return 0;
}

int sd_baseline_random(int32_t n_items, uint64_t seed, sd_scorer *out, sd_err *err) {
    if (n_items <= 0) return sd_errf(err, SD_ERANGE, "random baseline: %d items", n_items);
    rand_model *m = sd_xcalloc(1, sizeof *m);
    m->seed = seed;
    m->n_items = n_items;
    *out = (sd_scorer){.name = "random", .n_items = n_items, .model = m, .score_batch = rand_score,
                       .score_candidates = rand_score_cand, .concurrent = true, .batch_hint = 32, .free = free};
    return 0;
}
