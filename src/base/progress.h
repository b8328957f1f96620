/* A progress bar on stderr with rate and ETA, redrawn when stderr is a terminal; otherwise a
 * plain log line every SEMID_LOG_EVERY seconds (10). Nothing with --quiet. Calls in between are
 * cheap, so long loops can call it freely. */
#ifndef SD_PROGRESS_H
#define SD_PROGRESS_H
#include <stdint.h>
#include <stdbool.h>

typedef struct sd_progress {
    char label[48];
    char unit[16];
    int64_t total;     /* 0 = unknown (shows count and rate only) */
    int64_t done;
    double t_start, t_last_draw;
    bool active, tty;
    double every;      /* seconds between redraws (terminal) or log lines (not a terminal) */
    char extra[96];    /* e.g. "loss 0.1234", shown after the bar */
} sd_progress;

void sd_progress_start(sd_progress *p, const char *label, int64_t total, const char *unit);
void sd_progress_set(sd_progress *p, int64_t done);      /* redraws at most ~10 times a second */
void sd_progress_add(sd_progress *p, int64_t delta);
void sd_progress_note(sd_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sd_progress_finish(sd_progress *p);

#endif
