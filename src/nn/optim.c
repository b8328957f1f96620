#include "nn/optim.h"
#include <math.h>
#include <omp.h>

sd_adamw sd_adamw_default(void) {
    return (sd_adamw){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
}

void sd_adamw_step(sd_params *p, const sd_adamw *opt, long t, double lr) {
    double bc1 = 1.0 - pow(opt->beta1, (double)t), bc2 = 1.0 - pow(opt->beta2, (double)t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)opt->beta1, b2 = (float)opt->beta2, eps = (float)opt->eps;
    float omb1 = (float)(1.0 - opt->beta1), omb2 = (float)(1.0 - opt->beta2);
    for (int k = 0; k < p->n_views; k++) {
        const sd_view *vw = &p->views[k];
        if (!vw->requires_grad) continue;
        float *w = p->data + vw->offset, *g = p->grad + vw->offset, *m = p->m + vw->offset, *v = p->v + vw->offset;
        float decay = vw->weight_decay ? (float)(1.0 - lr * opt->weight_decay) : 1.0f;
        long n = (long)vw->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float wi = w[i] * decay;
            m[i] = m[i] * b1 + omb1 * g[i];
            v[i] = v[i] * b2 + omb2 * g[i] * g[i];
            float denom = sqrtf(v[i]) / bc2_sqrt + eps;
            w[i] = wi - step_size * (m[i] / denom);
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
        const float *g = p->grad + vw->offset;
        long n = (long)vw->numel;
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
                float *g = p->grad + vw->offset;
                for (size_t i = 0; i < vw->numel; i++) g[i] *= coef;
            }
        }
    }
    return norm;
}
