#include "nn/optim.h"
#include <math.h>
#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#include "nn/vmath.h"

sd_adamw sd_adamw_default(void) {
    return (sd_adamw){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
}

typedef struct adam_hyper { float b1, b2, omb1, omb2, eps, step_size, bc2_sqrt, decay; } adam_hyper;

/* The update of n elements, 8 lanes at a time. Explicit vectors because gcc keeps a loop with
 * sqrtf scalar (a libm call per element for errno) unless -fno-math-errno, ~6x slower here;
 * vsqrtps is correctly rounded like sqrtf, so results are the same. */
static inline sd_v8f v8_sqrt(sd_v8f x) {
#ifdef __AVX__
    return (sd_v8f)_mm256_sqrt_ps((__m256)x);
#else
    for (int k = 0; k < 8; k++) x[k] = sqrtf(x[k]);
    return x;
#endif
}

static void adam_range(float *w, const float *g, float *m, float *v, long n, const adam_hyper *h) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        sd_v8f gi = sd_v8_load(g + i);
        sd_v8f wi = sd_v8_load(w + i) * h->decay;
        sd_v8f mi = sd_v8_load(m + i) * h->b1 + h->omb1 * gi;
        sd_v8f vi = sd_v8_load(v + i) * h->b2 + h->omb2 * gi * gi;
        sd_v8f denom = v8_sqrt(vi) / h->bc2_sqrt + h->eps;
        sd_v8_store(m + i, mi);
        sd_v8_store(v + i, vi);
        sd_v8_store(w + i, wi - h->step_size * (mi / denom));
    }
    for (; i < n; i++) {
        float wi = w[i] * h->decay;
        m[i] = m[i] * h->b1 + h->omb1 * g[i];
        v[i] = v[i] * h->b2 + h->omb2 * g[i] * g[i];
        float denom = sqrtf(v[i]) / h->bc2_sqrt + h->eps;
        w[i] = wi - h->step_size * (m[i] / denom);
    }
}

void sd_adamw_step(sd_params *p, const sd_adamw *opt, long t, double lr) {
    double bc1 = 1.0 - pow(opt->beta1, (double)t), bc2 = 1.0 - pow(opt->beta2, (double)t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)opt->beta1, b2 = (float)opt->beta2, eps = (float)opt->eps;
    float omb1 = (float)(1.0 - opt->beta1), omb2 = (float)(1.0 - opt->beta2);
    for (int k = 0; k < p->n_views; k++) {
        const sd_view *vw = &p->views[k];
        if (!vw->requires_grad) continue;
        size_t lo, hi;
        sd_view_train_range(vw, &lo, &hi);
        size_t o = vw->offset + lo;
        float *w = p->data + o, *g = p->grad + o, *m = p->m + o, *v = p->v + o;
        float decay = vw->weight_decay ? (float)(1.0 - lr * opt->weight_decay) : 1.0f;
        long n = (long)(hi - lo);
        adam_hyper h = {b1, b2, omb1, omb2, eps, step_size, bc2_sqrt, decay};
        if (n <= 65536) { adam_range(w, g, m, v, n, &h); continue; }
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), th = omp_get_thread_num();
            long i0 = n * th / nt, i1 = n * (th + 1) / nt;
            adam_range(w + i0, g + i0, m + i0, v + i0, i1 - i0, &h);
        }
    }
}

double sd_lr_cosine(long step, long warmup, long total, double lr_max, double lr_min) {
    if (step < warmup) return lr_max * (double)(step + 1) / (double)warmup;
    if (step >= total || total <= warmup) return lr_min;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    return lr_min + (lr_max - lr_min) * 0.5 * (1.0 + cos(M_PI * progress));
}

float sd_clip_grad_norm(sd_params *p, float max_norm) {
    double total = 0;
    for (int k = 0; k < p->n_views; k++) {
        const sd_view *vw = &p->views[k];
        if (!vw->requires_grad) continue;
        size_t lo, hi;
        sd_view_train_range(vw, &lo, &hi);
        const float *g = p->grad + vw->offset + lo;
        long n = (long)(hi - lo);
        double s = 0;
        /* OpenMP's reduction order is unspecified; fixed per-thread partials keep it deterministic. */
        int nth = n > 65536 ? omp_get_max_threads() : 1;
        double part[nth];
#pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            long i0 = n * t / nth, i1 = n * (t + 1) / nth;
            double a = 0;
            for (long i = i0; i < i1; i++) a += (double)g[i] * g[i];
            part[t] = a;
        }
        for (int t = 0; t < nth; t++) s += part[t];
        total += s;
    }
    float norm = (float)sqrt(total);
    if (max_norm > 0) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f) {
            for (int k = 0; k < p->n_views; k++) {
                const sd_view *vw = &p->views[k];
                if (!vw->requires_grad) continue;
                size_t lo, hi;
                sd_view_train_range(vw, &lo, &hi);
                float *g = p->grad + vw->offset + lo;
                long n = (long)(hi - lo);
#pragma omp parallel for schedule(static) if (n > 65536)
                for (long i = 0; i < n; i++) g[i] *= coef;
            }
        }
    }
    return norm;
}
