#include "base/progress.h"
#include "base/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void draw(sd_progress *p, bool final) {
    double t = sd_now(), el = t - p->t_start;
    double rate = el > 0 ? p->done / el : 0;
    char eta[32] = "";
    if (p->total > 0 && rate > 0 && !final) {
        double rem = (p->total - p->done) / rate;
        snprintf(eta, sizeof eta, " ETA %dm%02ds", (int)(rem / 60), (int)rem % 60);
    }
    if (p->total > 0) {
        double frac = (double)p->done / p->total;
        if (frac > 1) frac = 1;
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%-20s [%s] %5.1f%% %lld/%lld %.4g %s/s%s %s\033[K", p->label, bar, frac * 100,
                (long long)p->done, (long long)p->total, rate, p->unit, eta, p->extra);
    } else {
        fprintf(stderr, "\r%-20s %lld %s %.4g %s/s %s\033[K", p->label, (long long)p->done, p->unit, rate,
                p->unit, p->extra);
    }
    if (final) fprintf(stderr, " (%.1fs)\n", el);
    fflush(stderr);
    p->t_last_draw = t;
}

void sd_progress_start(sd_progress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
    p->total = total;
    p->t_start = sd_now();
    p->active = !sd_quiet && isatty(2);
}

void sd_progress_set(sd_progress *p, int64_t done) {
    p->done = done;
    if (!p->active) return;
    if (sd_now() - p->t_last_draw >= 0.1) draw(p, false);
}

void sd_progress_add(sd_progress *p, int64_t delta) { sd_progress_set(p, p->done + delta); }

void sd_progress_note(sd_progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->extra, sizeof p->extra, fmt, ap);
    va_end(ap);
}

void sd_progress_finish(sd_progress *p) {
    if (p->active) draw(p, true);
    p->active = false;
}
