#include "serve/svg_chart.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const COLOURS[] = {"#1f6fb4", "#d9642a", "#2a9d5c", "#8e44ad", "#c0392b", "#7f8c8d"};
#define N_COLOURS (int)(sizeof COLOURS / sizeof *COLOURS)
#define HIGHLIGHT "#d9642a"
#define FONT "font-family=\"sans-serif\" font-size=\"12\""

double sd_svg_ticks(double lo, double hi, int want, double *step) {
    double range = hi - lo;
    if (!(range > 0) || !isfinite(range)) range = fabs(hi) > 0 ? fabs(hi) : 1;
    double raw = range / (want > 0 ? want : 5), mag = pow(10, floor(log10(raw))), f = raw / mag;
    *step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    return ceil(lo / *step - 1e-9) * *step;
}

/* a tick label short enough for the axis: integers as they are, else 3 significant digits */
static void tick_label(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-6) v = 0;
    if (fabs(v) >= 1e6 || (fabs(v) < 1e-4 && v != 0)) { snprintf(buf, n, "%.3g", v); return; }
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9); /* as many as the step needs */
    snprintf(buf, n, "%.*f", decimals, v);
}

typedef struct frame { double x0, y0, w, h; double xlo, xhi, ylo, yhi; } frame;

static double px(const frame *f, double x) { return f->x0 + (f->xhi > f->xlo ? (x - f->xlo) / (f->xhi - f->xlo) : 0.5) * f->w; }
static double py(const frame *f, double y) { return f->y0 + f->h - (f->yhi > f->ylo ? (y - f->ylo) / (f->yhi - f->ylo) : 0.5) * f->h; }

static void open_svg(sd_html *h, const sd_svg_chart *c, int W, int H) {
    sd_html_printf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"",
                   W, H, W, H);
    sd_html_raw(h, " aria-label=\"");
    sd_html_text(h, c->title ? c->title : "chart");
    sd_html_raw(h, "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    if (c->title) {
        sd_html_printf(h, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"14\" "
                          "font-weight=\"bold\">", W / 2);
        sd_html_text(h, c->title);
        sd_html_raw(h, "</text>\n");
    }
}

/* y grid, ticks and axis labels; x ticks when xticks */
static void axes(sd_html *h, const sd_svg_chart *c, const frame *f, bool xticks) {
    double step, t = sd_svg_ticks(f->ylo, f->yhi, 5, &step);
    char buf[32];
    for (int i = 0; i < 12 && t <= f->yhi + step * 1e-6; i++, t += step) {
        double y = py(f, t);
        tick_label(buf, sizeof buf, t, step);
        sd_html_printf(h, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" " FONT ">%s</text>\n",
                       f->x0, y, f->x0 + f->w, y, f->x0 - 6, y + 4, buf);
    }
    if (xticks) {
        t = sd_svg_ticks(f->xlo, f->xhi, 6, &step);
        if (c->x_integer && step < 1) step = 1, t = ceil(f->xlo); /* no tick between two epochs */
        for (int i = 0; i < 14 && t <= f->xhi + step * 1e-6; i++, t += step) {
            double x = px(f, t);
            tick_label(buf, sizeof buf, t, step);
            sd_html_printf(h, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>"
                              "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" " FONT ">%s</text>\n",
                           x, f->y0 + f->h, x, f->y0 + f->h + 5, x, f->y0 + f->h + 18, buf);
        }
    }
    sd_html_printf(h, "<polyline points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" stroke=\"#444\"/>\n", f->x0, f->y0,
                   f->x0, f->y0 + f->h, f->x0 + f->w, f->y0 + f->h);
    if (c->xlabel) {
        sd_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" " FONT ">", f->x0 + f->w / 2,
                       f->y0 + f->h + 34);
        sd_html_text(h, c->xlabel);
        sd_html_raw(h, "</text>\n");
    }
    if (c->ylabel) {
        sd_html_printf(h, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\" " FONT ">",
                       f->y0 + f->h / 2, f->y0 + f->h / 2);
        sd_html_text(h, c->ylabel);
        sd_html_raw(h, "</text>\n");
    }
}

static void size_of(const sd_svg_chart *c, int *W, int *H) {
    *W = c->width > 0 ? c->width : 600;
    *H = c->height > 0 ? c->height : 300;
}

void sd_svg_line_chart(sd_html *h, const sd_svg_chart *c, const sd_svg_series *s, int n_series) {
    int W, H;
    size_of(c, &W, &H);
    frame f = {.x0 = 64, .y0 = 48, .w = W - 84, .h = H - 48 - 44, .xlo = INFINITY, .xhi = -INFINITY,
               .ylo = INFINITY, .yhi = -INFINITY};
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
            if (s[k].x[i] < f.xlo) f.xlo = s[k].x[i];
            if (s[k].x[i] > f.xhi) f.xhi = s[k].x[i];
            if (s[k].y[i] < f.ylo) f.ylo = s[k].y[i];
            if (s[k].y[i] > f.yhi) f.yhi = s[k].y[i];
        }
    open_svg(h, c, W, H);
    if (f.xlo > f.xhi) { /* no finite point at all */
        sd_html_printf(h, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" " FONT ">no data</text>\n</svg>\n", W / 2, H / 2);
        return;
    }
    if (c->y_from_zero && f.ylo > 0) f.ylo = 0;
    double pad = (f.yhi - f.ylo) * 0.05;
    if (!(pad > 0)) pad = fabs(f.yhi) > 0 ? fabs(f.yhi) * 0.1 : 1;
    f.yhi += pad;
    if (!(c->y_from_zero && f.ylo == 0)) f.ylo -= pad;
    axes(h, c, &f, true);
    double lx = f.x0;
    for (int k = 0; k < n_series; k++) {
        const char *col = COLOURS[k % N_COLOURS];
        const char *dash = s[k].dashed ? " stroke-dasharray=\"6 4\"" : "";
        bool open = false;
        int finite = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) {
                if (open) sd_html_raw(h, "\"/>\n");
                open = false;
                continue;
            }
            finite++;
            if (!open)
                sd_html_printf(h, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col, dash);
            sd_html_printf(h, "%s%.1f,%.1f", open ? " " : "", px(&f, s[k].x[i]), py(&f, s[k].y[i]));
            open = true;
        }
        if (open) sd_html_raw(h, "\"/>\n");
        if (finite <= 40) /* dots show where the measurements are (validation every N steps) */
            for (int i = 0; i < s[k].n; i++)
                if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
                    sd_html_printf(h, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(&f, s[k].x[i]),
                                   py(&f, s[k].y[i]), col);
        /* legend entry: a short line and the name, left to right above the plot */
        sd_html_printf(h, "<line x1=\"%.1f\" y1=\"34\" x2=\"%.1f\" y2=\"34\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                          "<text x=\"%.1f\" y=\"38\" " FONT ">", lx, lx + 18, col, dash, lx + 22);
        sd_html_text(h, s[k].name ? s[k].name : "");
        sd_html_raw(h, "</text>\n");
        lx += 22 + 7.0 * (double)strlen(s[k].name ? s[k].name : "") + 18;
    }
    sd_html_raw(h, "</svg>\n");
}

void sd_svg_bar_chart(sd_html *h, const sd_svg_chart *c, const double *values, const char *const *labels, int n,
                      const bool *highlight) {
    int W, H;
    size_of(c, &W, &H);
    frame f = {.x0 = 64, .y0 = 32, .w = W - 84, .h = H - 32 - 44, .xlo = 0, .xhi = n, .ylo = 0, .yhi = 0};
    for (int i = 0; i < n; i++)
        if (isfinite(values[i]) && values[i] > f.yhi) f.yhi = values[i];
    if (!(f.yhi > 0)) f.yhi = 1;
    f.yhi *= 1.05;
    open_svg(h, c, W, H);
    axes(h, c, &f, false);
    double bw = f.w / (n > 0 ? n : 1), gap = bw > 4 ? bw * 0.15 : 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        double y = py(&f, values[i]);
        sd_html_printf(h, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"><title>", f.x0 + i * bw + gap / 2,
                       y, bw - gap, f.y0 + f.h - y, highlight && highlight[i] ? HIGHLIGHT : COLOURS[0]);
        if (labels && labels[i]) sd_html_text(h, labels[i]);
        else sd_html_printf(h, "%d", i);
        sd_html_printf(h, ": %.6g</title></rect>\n", values[i]);
    }
    /* x labels: every k-th, k the smallest that keeps them apart (about 7 px a character) */
    size_t widest = 2;
    for (int i = 0; labels && i < n; i++)
        if (labels[i] && strlen(labels[i]) > widest) widest = strlen(labels[i]);
    int every = (int)ceil((7.0 * (double)widest + 8) / (bw > 0 ? bw : 1));
    if (every < 1) every = 1;
    if (!labels && every < (n + 9) / 10) every = (n + 9) / 10; /* indices: about ten */
    for (int i = 0; i < n; i += every) {
        sd_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" " FONT ">", f.x0 + (i + 0.5) * bw,
                       f.y0 + f.h + 16);
        if (labels && labels[i]) sd_html_text(h, labels[i]);
        else sd_html_printf(h, "%d", i);
        sd_html_raw(h, "</text>\n");
    }
    sd_html_raw(h, "</svg>\n");
}

/* A label cut to fit the space left of the bars (about 7 px a character), at a UTF-8 character
 * boundary, with an ellipsis; the whole label stays in the element's tooltip. */
#define LABEL_CHARS 26
static void short_label(sd_html *h, const char *s) {
    size_t n = strlen(s), chars = 0, cut = n;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) { /* a character starts here */
            if (chars == LABEL_CHARS - 1) cut = i;
            chars++;
        }
    if (chars <= LABEL_CHARS) { sd_html_text(h, s); return; }
    sd_html_textn(h, s, cut);
    sd_html_raw(h, "\u2026");
}

void sd_svg_hbar_chart(sd_html *h, const sd_svg_chart *c, const double *values, const char *const *labels, int n,
                       const bool *highlight, const char *fmt) {
    int W = c->width > 0 ? c->width : 600, row = 22, top = c->title ? 30 : 8;
    int H = c->height > 0 ? c->height : top + n * row + 12;
    double lw = 180, vw = 70, x0 = lw + 8, w = W - x0 - vw, hi = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(values[i]) && values[i] > hi) hi = values[i];
    if (!(hi > 0)) hi = 1;
    open_svg(h, c, W, H);
    for (int i = 0; i < n; i++) {
        double y = top + i * row;
        const char *lab = labels && labels[i] ? labels[i] : "";
        sd_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" " FONT "><title>", lw, y + 15);
        sd_html_text(h, lab);
        sd_html_raw(h, "</title>");
        short_label(h, lab);
        sd_html_raw(h, "</text>\n");
        if (!isfinite(values[i])) continue;
        double bw = values[i] > 0 ? values[i] / hi * w : 0;
        char val[48];
        snprintf(val, sizeof val, fmt ? fmt : "%.4g", values[i]);
        sd_html_printf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" " FONT ">%s</text>\n",
                       x0, y + 3, bw, row - 6, highlight && highlight[i] ? HIGHLIGHT : COLOURS[0], x0 + bw + 4, y + 15,
                       val);
    }
    sd_html_raw(h, "</svg>\n");
}
