#include "base/progress.h"
#include "base/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Not on a terminal (a log file, CI, nohup), a redrawn bar would be noise: a plain line every
 * SEMID_LOG_EVERY seconds (default 10) says the run is alive and how far it is. */
static double log_every(void) {
    const char *e = getenv("SEMID_LOG_EVERY");
    double s = e ? atof(e) : 10.0;
    return s > 0 ? s : 10.0;
}

/* time of the last line on this thread: bars restarted often (one per epoch) still log every
 * few seconds, not never */
static _Thread_local double last_line;

static void log_line(sd_progress *p) {
    double t = sd_now(), el = t - p->t_start, rate = el > 0 ? p->done / el : 0;
    char eta[32] = "";
    if (p->total > 0 && rate > 0) {
        double rem = (p->total - p->done) / rate;
        snprintf(eta, sizeof eta, ", ETA %dm%02ds", (int)(rem / 60), (int)rem % 60);
    }
    if (p->total > 0)
        sd_info("%s: %lld/%lld %s (%.1f%%), %.4g %s/s%s%s%s", p->label, (long long)p->done, (long long)p->total,
                p->unit, 100.0 * (double)p->done / (double)p->total, rate, p->unit, eta, p->extra[0] ? ", " : "",
                p->extra);
    else
        sd_info("%s: %lld %s, %.4g %s/s%s%s", p->label, (long long)p->done, p->unit, rate, p->unit,
                p->extra[0] ? ", " : "", p->extra);
    p->t_last_draw = last_line = t;
}

void sd_progress_start(sd_progress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
    p->total = total;
    p->t_start = p->t_last_draw = sd_now();
    p->tty = isatty(2);
    p->active = !sd_quiet;
    p->every = p->tty ? 0.1 : log_every();
    if (!p->tty) {
        if (last_line == 0) last_line = p->t_start;
        p->t_last_draw = last_line;
    }
}

void sd_progress_set(sd_progress *p, int64_t done) {
    p->done = done;
    if (!p->active) return;
    if (sd_now() - p->t_last_draw < p->every) return;
    if (p->tty) draw(p, false);
    else log_line(p);
}

void sd_progress_add(sd_progress *p, int64_t delta) { sd_progress_set(p, p->done + delta); }

void sd_progress_note(sd_progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->extra, sizeof p->extra, fmt, ap);
    va_end(ap);
}

void sd_progress_finish(sd_progress *p) {
    if (p->active && p->tty) draw(p, true);
    p->active = false;
}
