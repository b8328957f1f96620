#include "lm/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

void sd_sample_cfg_default(sd_sample_cfg *c) {
    memset(c, 0, sizeof *c);
    c->temperature = 0.0f;
    c->top_k = 0;
    c->top_p = 1.0f;
    c->min_p = 0.0f;
    c->repetition_penalty = 1.0f;
    c->seed = 42;
}

int sd_sample_cfg_check(const sd_sample_cfg *c, sd_err *err) {
    if (!(c->temperature >= 0.0f) || isinf(c->temperature))
        return sd_errf(err, SD_EUSAGE, "temperature must be a finite number >= 0 (0 = greedy), got %g",
                       (double)c->temperature);
    if (c->top_k < 0) return sd_errf(err, SD_EUSAGE, "top-k must be >= 0 (0 = off), got %d", c->top_k);
    if (!(c->top_p > 0.0f && c->top_p <= 1.0f))
        return sd_errf(err, SD_EUSAGE, "top-p must be in (0, 1] (1 = off), got %g", (double)c->top_p);
    if (!(c->min_p >= 0.0f && c->min_p <= 1.0f))
        return sd_errf(err, SD_EUSAGE, "min-p must be in [0, 1] (0 = off), got %g", (double)c->min_p);
    if (!(c->repetition_penalty > 0.0f) || isinf(c->repetition_penalty))
        return sd_errf(err, SD_EUSAGE, "repetition penalty must be a finite number > 0 (1 = off), got %g",
                       (double)c->repetition_penalty);
    return 0;
}

int sd_sampler_init(sd_sampler *s, const sd_sample_cfg *cfg, int V, int n_seq, sd_err *err) {
    memset(s, 0, sizeof *s);
    int rc = sd_sample_cfg_check(cfg, err);
    if (rc) return rc;
    if (V <= 0 || n_seq <= 0)
        return sd_errf(err, SD_ERANGE, "sampler: vocabulary size %d and sequence count %d must be > 0", V, n_seq);
    s->cfg = *cfg;
    s->V = V;
    s->n_seq = n_seq;
    s->rng = sd_xmalloc(sd_mul_size((size_t)n_seq, sizeof *s->rng));
    for (int i = 0; i < n_seq; i++) sd_rng_stream(&s->rng[i], cfg->seed, (uint64_t)i);
    s->cand_val = sd_xmalloc(sd_mul_size((size_t)V, sizeof(float)));
    s->cand_idx = sd_xmalloc(sd_mul_size((size_t)V, sizeof(int32_t)));
    s->seen = sd_xcalloc((size_t)V, 1);
    return 0;
}

void sd_sampler_free(sd_sampler *s) {
    free(s->rng);
    free(s->cand_val);
    free(s->cand_idx);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

int32_t sd_argmax(const float *logits, int V) {
    int32_t best = -1;
    float bv = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] > bv) { bv = logits[i]; best = i; }
    return best;
}

/* Total order for selection: larger value first, lower id first among equal values, so the
 * outcome never depends on the order quickselect happens to leave ties in. */
static inline bool before(float va, int32_t ia, float vb, int32_t ib) {
    return va > vb || (va == vb && ia < ib);
}

static inline void swap2(float *v, int32_t *id, int a, int b) {
    float tv = v[a]; v[a] = v[b]; v[b] = tv;
    int32_t ti = id[a]; id[a] = id[b]; id[b] = ti;
}

/* Rearranges v/id [0, n) so that [0, m) holds the m first elements in the order above
 * (unsorted). Average O(n). */
static void select_top(float *v, int32_t *id, int n, int m) {
    if (m >= n) return;
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        /* median of three as pivot, moved to hi */
        if (before(v[mid], id[mid], v[lo], id[lo])) swap2(v, id, mid, lo);
        if (before(v[hi], id[hi], v[lo], id[lo])) swap2(v, id, hi, lo);
        if (before(v[mid], id[mid], v[hi], id[hi])) swap2(v, id, mid, hi);
        float pv = v[hi];
        int32_t pi = id[hi];
        int store = lo;
        for (int i = lo; i < hi; i++)
            if (before(v[i], id[i], pv, pi)) swap2(v, id, i, store++);
        swap2(v, id, store, hi);
        if (store == m - 1 || store == m) return;
        if (store < m) lo = store + 1;
        else hi = store - 1;
    }
}

typedef struct { float v; int32_t id; } cand;

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (before(x->v, x->id, y->v, y->id)) return -1;
    if (before(y->v, y->id, x->v, x->id)) return 1;
    return 0;
}

/* Sorts [0, m) in the order above. */
static void sort_top(float *v, int32_t *id, int m) {
    cand *c = sd_xmalloc(sd_mul_size((size_t)(m ? m : 1), sizeof *c));
    for (int i = 0; i < m; i++) c[i] = (cand){v[i], id[i]};
    qsort(c, (size_t)m, sizeof *c, cmp_cand);
    for (int i = 0; i < m; i++) { v[i] = c[i].v; id[i] = c[i].id; }
    free(c);
}

static float max_of(const float *v, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static void apply_penalty(sd_sampler *s, float *logits, const int32_t *context, int n_context) {
    float r = s->cfg.repetition_penalty;
    if (r == 1.0f) return;
    for (int i = 0; i < n_context; i++) {
        int32_t t = context[i];
        if (t < 0 || t >= s->V || s->seen[t]) continue;
        s->seen[t] = 1;
        float l = logits[t];
        logits[t] = l < 0 ? l * r : l / r;
    }
    for (int i = 0; i < n_context; i++) {
        int32_t t = context[i];
        if (t >= 0 && t < s->V) s->seen[t] = 0;
    }
}

/* Runs the processors; leaves the surviving tokens in s->cand_idx/cand_val [0, n) with their
 * temperature-scaled logits and returns n (0 when nothing is left). */
static int process(sd_sampler *s, int seq, float *logits, const int32_t *context, int n_context,
                   int n_generated) {
    const sd_sample_cfg *c = &s->cfg;
    int V = s->V;
    apply_penalty(s, logits, context, n_context);
    if (c->mask) {
        if (n_generated > n_context) n_generated = n_context;
        c->mask(c->mask_ctx, seq, context + (n_context - n_generated), n_generated, logits, V);
    }
    float *v = s->cand_val;
    int32_t *id = s->cand_idx;
    if (c->temperature == 0.0f) {
        int32_t best = sd_argmax(logits, V);
        if (best < 0) return 0;
        v[0] = logits[best];
        id[0] = best;
        return 1;
    }
    int n = 0;
    for (int i = 0; i < V; i++) {
        float l = logits[i];
        if (l > -INFINITY) { v[n] = l / c->temperature; id[n] = i; n++; }
    }
    if (n == 0) return 0;

    if (c->top_k > 0 && c->top_k < n) {
        int k = c->top_k;
        select_top(v, id, n, k);
        float thr = max_of(v, k);
        for (int i = 0; i < k; i++) thr = v[i] < thr ? v[i] : thr;
        /* HF keeps every token tied with the k-th value */
        int kept = k;
        for (int i = k; i < n; i++)
            if (v[i] >= thr) swap2(v, id, i, kept++);
        n = kept;
    }

    if (c->top_p < 1.0f && n > 1) {
        float M = max_of(v, n);
        double Z = 0;
        for (int i = 0; i < n; i++) Z += exp((double)v[i] - M);
        double target = (double)c->top_p * Z;
        int m = n < 64 ? n : 64;
        for (;;) {
            select_top(v, id, n, m);
            sort_top(v, id, m);
            double cum = 0;
            int cut = -1;
            for (int i = 0; i < m; i++) {
                if (cum >= target) { cut = i; break; }
                cum += exp((double)v[i] - M);
            }
            if (cut >= 0) { n = cut; break; }
            if (m == n) break;
            m = m > n / 8 ? n : m * 8;
        }
    }

    if (c->min_p > 0.0f && n > 1) {
        float M = max_of(v, n);
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (exp((double)v[i] - M) >= (double)c->min_p) { v[kept] = v[i]; id[kept] = id[i]; kept++; }
        n = kept;
    }
    return n;
}

int32_t sd_sampler_next(sd_sampler *s, int seq, float *logits, const int32_t *context, int n_context,
                        int n_generated) {
    int n = process(s, seq, logits, context, n_context, n_generated);
    if (n == 0) return -1;
    if (n == 1) return s->cand_idx[0];
    float *v = s->cand_val;
    float M = max_of(v, n);
    double Z = 0;
    for (int i = 0; i < n; i++) Z += exp((double)v[i] - M);
    double u = sd_rng_double(&s->rng[seq]) * Z, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += exp((double)v[i] - M);
        if (u < cum) return s->cand_idx[i];
    }
    return s->cand_idx[n - 1]; /* u within rounding of Z */
}

int sd_sampler_probs(sd_sampler *s, int seq, float *logits, const int32_t *context, int n_context,
                     int n_generated, float *probs) {
    int n = process(s, seq, logits, context, n_context, n_generated);
    memset(probs, 0, sizeof(float) * (size_t)s->V);
    if (n == 0) return 0;
    float *v = s->cand_val;
    float M = max_of(v, n);
    double Z = 0;
    for (int i = 0; i < n; i++) Z += exp((double)v[i] - M);
    for (int i = 0; i < n; i++) probs[s->cand_idx[i]] = (float)(exp((double)v[i] - M) / Z);
    return n;
}
