/* Inline SVG charts for the HTML report (serve/report.h): line charts of training curves and bar
 * charts of code usage and metrics. Plain SVG 1.1 with the colours in attributes, so a page
 * holding them needs no script, style sheet or font to render. Every text (titles, labels,
 * series names) is escaped; NaN values are gaps (a line is broken there, a bar is left out). */
#ifndef SD_SVG_CHART_H
#define SD_SVG_CHART_H
#include <stdbool.h>
#include "serve/html_buf.h"

typedef struct sd_svg_series {
    const char *name;      /* in the legend */
    const double *x, *y;   /* n points; x ascending */
    int n;
    bool dashed;
} sd_svg_series;

typedef struct sd_svg_chart {
    const char *title, *xlabel, *ylabel;
    int width, height;     /* pixels; 0: 600 x 300 */
    bool y_from_zero;      /* the y axis starts at 0 (else at the data's minimum) */
    bool x_integer;        /* x values are counts (epochs): no tick between two integers */
} sd_svg_chart;

/* Lines (with a dot on every point when there are few) over shared axes, a legend above the plot. */
void sd_svg_line_chart(sd_html *h, const sd_svg_chart *c, const sd_svg_series *s, int n_series);

/* Vertical bars, one per value, in the order given; labels (may be NULL) under the bars when
 * there are few enough to read, else every k-th index. highlight[i] (may be NULL) draws bar i in
 * the second colour. */
void sd_svg_bar_chart(sd_html *h, const sd_svg_chart *c, const double *values, const char *const *labels, int n,
                      const bool *highlight);

/* Horizontal bars with their label on the left and value (fmt, e.g. "%.4f") on the right. */
void sd_svg_hbar_chart(sd_html *h, const sd_svg_chart *c, const double *values, const char *const *labels, int n,
                       const bool *highlight, const char *fmt);

/* "Nice" axis ticks over [lo, hi]: *step in {1, 2, 5} x 10^k, about `want` of them. Returns the first tick. */
double sd_svg_ticks(double lo, double hi, int want, double *step);

#endif
