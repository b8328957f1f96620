#include "data/loadutil.h"
#include "base/log.h"
#include "base/utf8.h"
#include "io/json_util.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARN_LINES 5 /* bad lines printed per file before only counting */

int sd_src_open(sd_src *s, const char *path, const char *label, const sd_prep_opts *o, sd_prep_stats *st,
                sd_err *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->o = o;
    s->st = st;
    int rc = sd_lines_open(&s->r, path, err);
    if (rc) return rc;
    sd_progress_start(&s->prog, label, sd_file_size(path), "B");
    return 0;
}

int sd_src_next(sd_src *s, char **line, size_t *len, sd_err *err) {
    int rc = sd_lines_next(s->r, line, len, err);
    if (rc != 1) return rc;
    s->st->lines_read++;
    if ((sd_lines_lineno(s->r) & 4095) == 0) sd_progress_set(&s->prog, sd_lines_compressed_pos(s->r));
    return 1;
}

int64_t sd_src_line(const sd_src *s) { return sd_lines_lineno(s->r); }

int sd_src_bad(sd_src *s, sd_err *err, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long long ln = (long long)sd_src_line(s);
    if (s->o->strict) return sd_errf(err, SD_EFORMAT, "%s:%lld: %s", s->path, ln, msg);
    s->skipped++;
    s->st->lines_skipped++;
    if (s->warned++ < WARN_LINES) {
        sd_progress_finish(&s->prog); /* keep the bar from overwriting the warning */
        sd_warn("%s:%lld: %s (line skipped)", s->path, ln, msg);
    }
    return 0;
}

int sd_src_unknown(sd_src *s, sd_err *err, const char *field, const char *id, size_t len, int64_t line) {
    if (!line) line = sd_src_line(s);
    if (s->o->strict)
        return sd_errf(err, SD_EFORMAT, "%s:%lld: \"%s\": item \"%.*s\" is not in the items file", s->path,
                       (long long)line, field, (int)(len > 100 ? 100 : len), id);
    if (!s->unknown++) {
        snprintf(s->first_unknown, sizeof s->first_unknown, "%.*s", (int)(len > 100 ? 100 : len), id);
        s->first_unknown_line = line;
    }
    s->st->inter_unknown_item++;
    return 0;
}

void sd_src_close(sd_src *s) {
    if (!s->r) return;
    sd_progress_set(&s->prog, sd_lines_compressed_pos(s->r));
    sd_progress_finish(&s->prog);
    s->st->bytes_read += sd_lines_bytes(s->r);
    if (s->skipped > WARN_LINES)
        sd_warn("%s: %lld bad lines skipped in all (use --strict to stop at the first)", s->path,
                (long long)s->skipped);
    if (s->unknown)
        sd_warn("%s: %lld interactions name items not in the items file, skipped (first: \"%s\" at line %lld)",
                s->path, (long long)s->unknown, s->first_unknown, (long long)s->first_unknown_line);
    sd_lines_close(s->r);
    s->r = NULL;
}

int sd_src_bad_json(sd_src *s, sd_err *err, const char *line, size_t len) {
    const char *ep = cJSON_GetErrorPtr();
    if (ep && ep >= line && ep <= line + len)
        return sd_src_bad(s, err, "malformed JSON near column %lld", (long long)(ep - line + 1));
    return sd_src_bad(s, err, "not a JSON object");
}

/* Byte offset of a \u0000 escape in line (an escape: an odd run of backslashes before the u), or -1. */
static ptrdiff_t nul_escape(const char *line, size_t len) {
    for (const char *p = line, *end = line + len; (p = memchr(p, '\\', end - p)) != NULL;) {
        const char *q = p;
        while (q < end && *q == '\\') q++;
        if ((q - p) % 2 == 1 && end - q >= 5 && !memcmp(q, "u0000", 5)) return q - 1 - line;
        p = q;
    }
    return -1;
}

int sd_src_parse_object(sd_src *s, const char *line, size_t len, cJSON **out, sd_err *err) {
    *out = NULL;
    /* cJSON would end the string at a NUL, so the text would be cut without a word: refuse it, as
     * config.json refuses it (a bad line, counted; an error with --strict) */
    const char *z = memchr(line, 0, len);
    if (z) return sd_src_bad(s, err, "raw NUL byte at column %lld", (long long)(z - line + 1));
    ptrdiff_t e = nul_escape(line, len);
    if (e >= 0) return sd_src_bad(s, err, "\\u0000 (a NUL character) in a string at column %lld", (long long)e + 1);
    /* len + 1: the NUL ends the buffer, so trailing garbage after the object is an error */
    cJSON *j = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1);
    if (!j) return sd_src_bad_json(s, err, line, len);
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); return sd_src_bad(s, err, "expected a JSON object"); }
    char where[128];
    const char *dup = sd_json_find_duplicate(j, where, sizeof where);
    if (dup) {
        char q[SD_QUOTE_CAP];
        int rc = sd_src_bad(s, err, "key \"%s\" appears twice%s%s (semid does not guess which one is meant)",
                            sd_quote_bytes(q, sizeof q, dup, strlen(dup)), where[0] ? " in " : "", where);
        cJSON_Delete(j);
        return rc;
    }
    *out = j;
    return 0;
}

int sd_src_each_object(sd_src *s, sd_object_fn fn, void *ctx, int64_t *n_lines, sd_err *err) {
    char *line;
    size_t len;
    int rc;
    *n_lines = 0;
    while ((rc = sd_src_next(s, &line, &len, err)) == 1) {
        if (sd_blank(line, len)) continue;
        (*n_lines)++;
        cJSON *j;
        rc = sd_src_parse_object(s, line, len, &j, err);
        if (!rc && j) rc = fn(ctx, s, j, err);
        cJSON_Delete(j);
        if (rc) return rc;
    }
    return rc;
}

bool sd_blank(const char *line, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t') return false;
    return true;
}

void sd_fmt_num(char *buf, size_t n, double v) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.15g", v);
}

int sd_json_str(const cJSON *o, const char *key, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return -1;
    *out = v->valuestring;
    return 1;
}

bool sd_json_is_str_list(const cJSON *v) {
    if (!cJSON_IsArray(v)) return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return false;
    return true;
}

void sd_itemb_reset(sd_itemb *b) {
    b->len = 0;
    b->n_feat = b->n_cats = b->n_attr = 0;
    b->cur_bad = false;
    b->title = b->desc = sd_itemb_str(b, "", 0, false);
}

void sd_itemb_free(sd_itemb *b) {
    free(b->buf); free(b->feat); free(b->cats); free(b->attr);
    free(b->ptrs); free(b->kvs); free(b->join);
    memset(b, 0, sizeof *b);
}

size_t sd_itemb_str(sd_itemb *b, const char *src, size_t len, bool clean) {
    SD_GROW(b->buf, b->cap, b->len + 3 * len + 1);
    size_t off = b->len, bad = 0;
    size_t k = clean ? sd_clean_text(b->buf + off, src, len, &bad) : sd_utf8_fix(b->buf + off, src, len, &bad);
    b->len += k + 1;
    if (bad) {
        b->n_bad += (int64_t)bad;
        if (!b->cur_bad) b->items_with_bad++;
        b->cur_bad = true;
    }
    return off;
}

void sd_itemb_title(sd_itemb *b, const char *s) { b->title = sd_itemb_str(b, s, strlen(s), true); }
void sd_itemb_desc(sd_itemb *b, const char *s) { b->desc = sd_itemb_str(b, s, strlen(s), true); }

void sd_itemb_desc_list(sd_itemb *b, const cJSON *list) {
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        if (!cJSON_IsString(e)) continue;
        size_t k = strlen(e->valuestring);
        SD_GROW(b->join, b->cap_join, n + k + 2);
        if (n) b->join[n++] = ' ';
        memcpy(b->join + n, e->valuestring, k);
        n += k;
    }
    b->desc = sd_itemb_str(b, n ? b->join : "", n, true);
}

void sd_itemb_feature(sd_itemb *b, const char *s) {
    size_t off = sd_itemb_str(b, s, strlen(s), true);
    if (!b->buf[off]) return; /* empty after cleaning: nothing to keep */
    SD_GROW(b->feat, b->cap_feat, b->n_feat + 1);
    b->feat[b->n_feat++] = off;
}

void sd_itemb_category(sd_itemb *b, const char *s) {
    size_t off = sd_itemb_str(b, s, strlen(s), true);
    if (!b->buf[off]) return;
    SD_GROW(b->cats, b->cap_cats, b->n_cats + 1);
    b->cats[b->n_cats++] = off;
}

void sd_itemb_attr(sd_itemb *b, const char *key, const char *value) {
    size_t v = sd_itemb_str(b, value, strlen(value), true);
    if (!b->buf[v]) return;
    size_t k = sd_itemb_str(b, key, strlen(key), true);
    if (!b->buf[k]) return;
    SD_GROW(b->attr, b->cap_attr, b->n_attr + 1);
    b->attr[b->n_attr++] = (sd_koff){k, v};
}

void sd_itemb_attr_json(sd_itemb *b, const char *key, const cJSON *v) {
    char num[64];
    if (!v || cJSON_IsNull(v)) return;
    if (cJSON_IsString(v)) { sd_itemb_attr(b, key, v->valuestring); return; }
    if (cJSON_IsNumber(v)) { sd_fmt_num(num, sizeof num, v->valuedouble); sd_itemb_attr(b, key, num); return; }
    if (cJSON_IsBool(v)) { sd_itemb_attr(b, key, cJSON_IsTrue(v) ? "true" : "false"); return; }
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (cJSON_IsArray(e)) { /* nested lists: keep as JSON rather than flatten */
                char *s = cJSON_PrintUnformatted(e);
                sd_itemb_attr(b, key, s);
                free(s);
            } else {
                sd_itemb_attr_json(b, key, e);
            }
        }
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (s) sd_itemb_attr(b, key, s);
    free(s);
}

const char *sd_itemb_get(const sd_itemb *b, size_t off) { return b->buf + off; }
size_t sd_itemb_chars(const sd_itemb *b, size_t off) {
    const char *s = b->buf + off;
    return sd_utf8_count(s, strlen(s));
}

int32_t sd_itemb_add(sd_itemb *b, sd_catalog *c, const char *ext_id, sd_err *err) {
    SD_GROW(b->ptrs, b->cap_ptrs, (size_t)b->n_feat + b->n_cats + 1);
    SD_GROW(b->kvs, b->cap_kvs, (size_t)b->n_attr + 1);
    for (uint32_t i = 0; i < b->n_feat; i++) b->ptrs[i] = b->buf + b->feat[i];
    for (uint32_t i = 0; i < b->n_cats; i++) b->ptrs[b->n_feat + i] = b->buf + b->cats[i];
    for (uint32_t i = 0; i < b->n_attr; i++) b->kvs[i] = (sd_kv){b->buf + b->attr[i].k, b->buf + b->attr[i].v};
    sd_item_in in = {ext_id, b->buf + b->title, b->buf + b->desc, b->ptrs, b->n_feat, b->ptrs + b->n_feat,
                     b->n_cats, b->kvs, b->n_attr};
    return sd_catalog_add(c, &in, err);
}
