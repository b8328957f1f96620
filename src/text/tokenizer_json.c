/* tokenizer.json reader and writer. The big parts (model.vocab, model.merges, added_tokens) are
 * read by a dedicated scanner straight into the tokenizer's tables, which loads the 11 MB Qwen3
 * file several times faster than building a cJSON tree; the small configuration objects
 * (normalizer, pre_tokenizer, decoder, post_processor) go through cJSON. Errors name the file,
 * line and field. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "io/json_util.h"
#include "text/tok_internal.h"

#define MAX_FILE_BYTES ((size_t)1 << 31)
#define MAX_DEPTH 64

typedef struct {
    const char *s, *p, *end;
    const char *name;
    sd_err *err;
    char *buf; size_t cap;  /* unescaped string scratch */
    char *buf2; size_t cap2;
    int64_t max_id;         /* ids are below this: SD_TOK_MAX_ID, and below the file size or
                               SD_TOK_ID_FLOOR, whichever is larger (tok_internal.h) */
} jscan;

/* Quotes the character at `at` (a whole UTF-8 sequence, or one byte) for a message. */
static const char *char_at(const jscan *j, const char *at, char *buf, size_t cap) {
    size_t k = sd_utf8_seq_at((const unsigned char *)at, (size_t)(j->end - at), 0, NULL);
    return sd_quote_bytes(buf, cap, at, k ? k : 1);
}
#define QUOTE(q, s, n) sd_quote_bytes(q, sizeof q, s, n)

__attribute__((format(printf, 3, 4)))
static int jfail(jscan *j, const char *at, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    sd_json_line_col(j->s, (size_t)((at < j->end ? at : j->end) - j->s), &line, &col);
    return sd_errf(j->err, SD_EFORMAT, "%s:%d:%d: %s", j->name, line, col, msg);
}

static inline void ws(jscan *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}
static int expect(jscan *j, char c, const char *what) {
    ws(j);
    if (j->p >= j->end) return jfail(j, j->p, "unexpected end of file in %s (expected '%c')", what, c);
    char q[16];
    if (*j->p != c) return jfail(j, j->p, "%s: expected '%c', found '%s'", what, c, char_at(j, j->p, q, sizeof q));
    j->p++;
    return 0;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15) return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* JSON text is UTF-8 (RFC 8259); a string that is not would reach the tokenizer's tables, whose
 * code assumes well-formed UTF-8, so it is refused here with the field and byte offset. */
static int check_utf8(jscan *j, const char *at, const char *s, size_t n, const char *what) {
    size_t bad = sd_utf8_invalid_at(s, n);
    if (bad == n) return 0;
    char q[SD_QUOTE_CAP];
    return jfail(j, at, "%s: invalid UTF-8 at byte %zu of \"%s\"", what, bad, QUOTE(q, s, n));
}

/* Reads a JSON string; *out points into the file when there are no escapes, else into scratch
 * (second scratch if alt). The UTF-8 check is left out for values that are skipped (check
 * false): they are never used, and the pass that reads them later names the field. */
static int jstring_opt(jscan *j, const char **out, size_t *len, const char *what, bool alt, bool check) {
    ws(j);
    if (j->p >= j->end || *j->p != '"') return jfail(j, j->p, "%s: expected a string", what);
    const char *start = ++j->p, *q = start;
    unsigned high = 0;
    while (q < j->end && *q != '"' && *q != '\\') {
        if ((unsigned char)*q < 0x20) return jfail(j, q, "%s: control character in string", what);
        high |= (unsigned char)*q;
        q++;
    }
    if (q >= j->end) return jfail(j, start, "%s: unterminated string", what);
    if (*q == '"') {
        *out = start; *len = (size_t)(q - start); j->p = q + 1;
        return check && (high & 0x80) ? check_utf8(j, start, start, *len, what) : 0;
    }
    char **buf = alt ? &j->buf2 : &j->buf;
    size_t *cap = alt ? &j->cap2 : &j->cap;
    size_t o = (size_t)(q - start);
    SD_GROW(*buf, *cap, o + 16);
    memcpy(*buf, start, o);
    while (q < j->end && *q != '"') {
        SD_GROW(*buf, *cap, o + 8);
        char c = *q++;
        if ((unsigned char)c < 0x20) return jfail(j, q, "%s: control character in string", what);
        if (c != '\\') { (*buf)[o++] = c; continue; }
        if (q >= j->end) break;
        c = *q++;
        switch (c) {
        case '"': case '\\': case '/': (*buf)[o++] = c; break;
        case 'b': (*buf)[o++] = '\b'; break;
        case 'f': (*buf)[o++] = '\f'; break;
        case 'n': (*buf)[o++] = '\n'; break;
        case 'r': (*buf)[o++] = '\r'; break;
        case 't': (*buf)[o++] = '\t'; break;
        case 'u': {
            unsigned v, lo;
            if (j->end - q < 4 || hex4(q, &v)) return jfail(j, q, "%s: bad \\u escape", what);
            q += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (j->end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return jfail(j, q, "%s: unpaired surrogate in \\u escape", what);
                q += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            } else if (v >= 0xDC00 && v <= 0xDFFF) {
                return jfail(j, q, "%s: unpaired surrogate in \\u escape", what);
            }
            /* tokens are C strings to every caller (sd_tok_token_to_id, the id tables): a NUL
             * would cut one short and make it unreachable by name */
            if (v == 0 && check)
                return jfail(j, q - 6, "%s: \\u0000 (a NUL character) in a string: semid's tokens cannot hold one", what);
            o += sd_utf8_put(*buf + o, (int32_t)v);
            break;
        }
        default: return jfail(j, q - 1, "%s: bad escape '\\%c'", what, c);
        }
    }
    if (q >= j->end) return jfail(j, start, "%s: unterminated string", what);
    j->p = q + 1;
    *out = *buf;
    *len = o;
    return check ? check_utf8(j, start, *buf, o, what) : 0;
}
static int jstring(jscan *j, const char **out, size_t *len, const char *what, bool alt) {
    return jstring_opt(j, out, len, what, alt, true);
}

static int jint(jscan *j, int64_t *v, const char *what) {
    ws(j);
    const char *q = j->p;
    bool neg = q < j->end && *q == '-';
    if (neg) q++;
    if (q >= j->end || *q < '0' || *q > '9') return jfail(j, j->p, "%s: expected an integer", what);
    int64_t x = 0;
    while (q < j->end && *q >= '0' && *q <= '9') {
        if (x > (INT64_MAX - 9) / 10) return jfail(j, j->p, "%s: integer too large", what);
        x = x * 10 + (*q++ - '0');
    }
    /* a file cut inside a number must not look like a smaller, complete one */
    if (q >= j->end) return jfail(j, j->p, "%s: unexpected end of file inside a number", what);
    if (*q == '.' || *q == 'e' || *q == 'E') return jfail(j, j->p, "%s: expected an integer", what);
    j->p = q;
    *v = neg ? -x : x;
    return 0;
}

static int skip_value(jscan *j, int depth, const char *what) {
    ws(j);
    if (j->p >= j->end) return jfail(j, j->p, "%s: unexpected end of file", what);
    if (depth > MAX_DEPTH) return jfail(j, j->p, "%s: nested too deeply", what);
    char c = *j->p;
    if (c == '"') { const char *s; size_t n; return jstring_opt(j, &s, &n, what, false, false); }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == close) { j->p++; return 0; }
        for (;;) {
            int rc;
            if (c == '{') {
                const char *s; size_t n;
                if ((rc = jstring_opt(j, &s, &n, what, false, false)) || (rc = expect(j, ':', what))) return rc;
            }
            if ((rc = skip_value(j, depth + 1, what))) return rc;
            ws(j);
            if (j->p < j->end && *j->p == ',') { j->p++; continue; }
            return expect(j, close, what);
        }
    }
    const char *q = j->p;
    while (q < j->end && (isalnum((unsigned char)*q) || *q == '-' || *q == '+' || *q == '.')) q++;
    char cq[16];
    if (q == j->p) return jfail(j, j->p, "%s: unexpected character '%s'", what, char_at(j, j->p, cq, sizeof cq));
    j->p = q;
    return 0;
}

/* Iterates an object's keys: call with *first = true; returns 1 with the key (into the alt
 * scratch) and the position at its value, 0 at the closing brace, <0 on error. */
static int obj_next(jscan *j, bool *first, const char **key, size_t *klen, const char *what) {
    int rc;
    ws(j);
    if (*first) {
        if ((rc = expect(j, '{', what))) return rc;
        ws(j);
        *first = false;
        if (j->p < j->end && *j->p == '}') { j->p++; return 0; }
    } else {
        if (j->p < j->end && *j->p == '}') { j->p++; return 0; }
        if ((rc = expect(j, ',', what))) return rc;
    }
    if ((rc = jstring(j, key, klen, what, true)) || (rc = expect(j, ':', what))) return rc;
    ws(j);
    return 1;
}
static int arr_next(jscan *j, bool *first, const char *what) {
    int rc;
    ws(j);
    if (*first) {
        if ((rc = expect(j, '[', what))) return rc;
        ws(j);
        *first = false;
        if (j->p < j->end && *j->p == ']') { j->p++; return 0; }
        return 1;
    }
    if (j->p < j->end && *j->p == ']') { j->p++; return 0; }
    if ((rc = expect(j, ',', what))) return rc;
    return 1;
}
static bool key_is(const char *k, size_t n, const char *lit) { return strlen(lit) == n && !memcmp(k, lit, n); }
static bool is_null(jscan *j) {
    ws(j);
    if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) { j->p += 4; return true; }
    return false;
}

/* Keys already seen in one object. semid refuses a repeated key (Python's json and serde keep the
 * last, semid's readers used to keep the first: either way the two tools would disagree), see
 * README. The objects checked this way hold a handful of keys; model.vocab has its own check. */
typedef struct { char **keys; size_t *lens; size_t n, cap; } keyset;

static int keyset_add(jscan *j, keyset *ks, const char *k, size_t kn, const char *at, const char *what) {
    for (size_t i = 0; i < ks->n; i++)
        if (ks->lens[i] == kn && !memcmp(ks->keys[i], k, kn)) {
            char q[SD_QUOTE_CAP];
            return jfail(j, at, "%s: duplicate key \"%s\" (semid refuses repeated keys)", what, QUOTE(q, k, kn));
        }
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? 2 * ks->cap : 8;
        ks->keys = sd_xrealloc(ks->keys, ks->cap * sizeof *ks->keys);
        ks->lens = sd_xrealloc(ks->lens, ks->cap * sizeof *ks->lens);
    }
    ks->keys[ks->n] = sd_xstrndup(k, kn);
    ks->lens[ks->n++] = kn;
    return 0;
}
static void keyset_free(keyset *ks) {
    for (size_t i = 0; i < ks->n; i++) free(ks->keys[i]);
    free(ks->keys);
    free(ks->lens);
    memset(ks, 0, sizeof *ks);
}

/* Number of entries of the object or array at `at`, for messages only; -1 if it is malformed.
 * Leaves the scanner where it was (the error being reported is written after this). */
static long count_entries(jscan *j, const char *at) {
    const char *save = j->p;
    sd_err scratch = {0}, *real = j->err;
    j->err = &scratch;
    j->p = at;
    ws(j);
    bool is_obj = j->p < j->end && *j->p == '{', first = true;
    long n = 0;
    int rc;
    for (;;) {
        const char *k; size_t kn;
        rc = is_obj ? obj_next(j, &first, &k, &kn, "") : arr_next(j, &first, "");
        if (rc != 1 || (rc = skip_value(j, 1, ""))) break;
        n++;
    }
    j->p = save;
    j->err = real;
    return rc ? -1 : n;
}

/* "ids may leave gaps but stay below B": B is SD_TOK_MAX_ID, or for a small file the larger of
 * its size and SD_TOK_ID_FLOOR. */
static const char *id_bound_note(const jscan *j, char *buf, size_t cap) {
    snprintf(buf, cap, "ids may leave gaps but must be below %lld%s", (long long)j->max_id,
             j->max_id < SD_TOK_MAX_ID ? " in a file of this size" : "");
    return buf;
}

/* ---- sections ---- */
/* "model.vocab has 263 tokens", or a fallback when the vocabulary cannot be counted. */
static const char *vocab_size_note(jscan *j, const char *vocab_at, const sd_tokenizer *t, char *buf, size_t cap) {
    long n = vocab_at ? count_entries(j, vocab_at) : -1;
    if (n >= 0) snprintf(buf, cap, "model.vocab has %ld tokens", n);
    else snprintf(buf, cap, "%d tokens read so far", sd_tok_vocab_size(t));
    return buf;
}

static int parse_vocab(jscan *j, sd_tokenizer *t) {
    bool first = true;
    const char *k; size_t kn;
    const char *vocab_at = j->p;
    int rc;
    char q[SD_QUOTE_CAP], q2[SD_QUOTE_CAP], note[96];
    while ((rc = obj_next(j, &first, &k, &kn, "model.vocab")) == 1) {
        const char *at = j->p;
        int64_t id;
        if ((rc = jint(j, &id, "model.vocab"))) return rc;
        if (id < 0)
            return jfail(j, at, "model.vocab: token \"%s\": id %lld out of range (ids are >= 0)", QUOTE(q, k, kn),
                         (long long)id);
        if (id >= j->max_id) {
            QUOTE(q, k, kn);
            return jfail(j, at, "model.vocab: token \"%s\": id %lld out of range: %s (%s)", q, (long long)id,
                         vocab_size_note(j, vocab_at, t, q2, sizeof q2), id_bound_note(j, note, sizeof note));
        }
        if (sd_tok_set(t, (int32_t)id, k, kn, TOK_MODEL)) {
            if (sd_tok_lookup(t, k, kn) >= 0) return jfail(j, at, "model.vocab: duplicate token \"%s\"", QUOTE(q, k, kn));
            const char *old = sd_tok_id_to_token(t, (int32_t)id);
            return jfail(j, at, "model.vocab: duplicate id %lld (\"%s\" and \"%s\")", (long long)id, QUOTE(q, k, kn),
                         QUOTE(q2, old, strlen(old)));
        }
    }
    return rc;
}

static int merge_part(jscan *j, sd_tokenizer *t, const char *s, size_t n, long idx, const char *at, int32_t *id) {
    *id = sd_tok_lookup(t, s, n);
    char q[SD_QUOTE_CAP];
    if (*id < 0 || !(t->flags[*id] & TOK_MODEL))
        return jfail(j, at, "model.merges[%ld]: \"%s\" is not in the vocabulary", idx, QUOTE(q, s, n));
    return 0;
}

/* Writes "[idx]" after the prefix of length n in what: each of 150k merges needs its name
 * ready for a message, and snprintf for each was a tenth of the load time. */
static void set_index(char *what, size_t n, long idx) {
    char digits[24];
    int k = 0;
    do { digits[k++] = (char)('0' + idx % 10); idx /= 10; } while (idx > 0);
    what[n++] = '[';
    while (k) what[n++] = digits[--k];
    what[n++] = ']';
    what[n] = 0;
}

static int parse_merges(jscan *j, sd_tokenizer *t) {
    bool first = true;
    int rc;
    long idx = 0;
    char what[48] = "model.merges", q[SD_QUOTE_CAP], q2[SD_QUOTE_CAP];
    while ((rc = arr_next(j, &first, "model.merges")) == 1) {
        ws(j);
        const char *at = j->p;
        const char *a, *b; size_t an, bn;
        set_index(what, sizeof "model.merges" - 1, idx);
        if (j->p < j->end && *j->p == '"') {
            const char *s; size_t n;
            if ((rc = jstring(j, &s, &n, what, false))) return rc;
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) || sp == s || sp + 1 == s + n)
                return jfail(j, at, "%s: \"%s\" is not two tokens separated by one space", what, QUOTE(q, s, n));
            a = s; an = (size_t)(sp - s); b = sp + 1; bn = n - an - 1;
        } else {
            if ((rc = expect(j, '[', what)) || (rc = jstring(j, &a, &an, what, false)) ||
                (rc = expect(j, ',', what)) || (rc = jstring(j, &b, &bn, what, true)) ||
                (rc = expect(j, ']', "model.merges (a pair)")))
                return rc;
        }
        int32_t ia, ib;
        if ((rc = merge_part(j, t, a, an, idx, at, &ia)) || (rc = merge_part(j, t, b, bn, idx, at, &ib))) return rc;
        if (sd_tok_add_merge(t, ia, ib) < 0)
            return jfail(j, at, "%s: \"%s%s\" (the merged token) is not in the vocabulary", what, QUOTE(q, a, an),
                         QUOTE(q2, b, bn));
        idx++;
    }
    return rc;
}

static int jbool(jscan *j, bool *v, const char *what) {
    ws(j);
    if (j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) { *v = true; j->p += 4; return 0; }
    if (j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) { *v = false; j->p += 5; return 0; }
    return jfail(j, j->p, "%s: expected true or false", what);
}

static int parse_added(jscan *j, sd_tokenizer *t, const char *vocab_at) {
    bool first = true;
    int rc;
    long idx = 0;
    const char *added_at = j->p;
    char what[64], field[80], q[SD_QUOTE_CAP], q2[SD_QUOTE_CAP], note[96], vnote[64];
    while ((rc = arr_next(j, &first, "added_tokens")) == 1) {
        snprintf(what, sizeof what, "added_tokens[%ld]", idx);
        ws(j);
        const char *at = j->p;
        bool ofirst = true, have_id = false, have_content = false;
        const char *k; size_t kn;
        int64_t id = -1;
        char *content = NULL; size_t clen = 0;
        sd_added_token a = {0};
        keyset seen = {0};
        while ((rc = obj_next(j, &ofirst, &k, &kn, what)) == 1) {
            if ((rc = keyset_add(j, &seen, k, kn, j->p, what))) break;
            if (key_is(k, kn, "id")) { if ((rc = jint(j, &id, what))) break; have_id = true; }
            else if (key_is(k, kn, "content")) {
                const char *s; size_t n;
                snprintf(field, sizeof field, "%s.content", what);
                if ((rc = jstring(j, &s, &n, field, false))) break;
                content = sd_xstrndup(s, n); clen = n; have_content = true;
            }
            else if (key_is(k, kn, "special")) rc = jbool(j, &a.special, what);
            else if (key_is(k, kn, "normalized")) rc = jbool(j, &a.normalized, what);
            else if (key_is(k, kn, "lstrip")) rc = jbool(j, &a.lstrip, what);
            else if (key_is(k, kn, "rstrip")) rc = jbool(j, &a.rstrip, what);
            else if (key_is(k, kn, "single_word")) rc = jbool(j, &a.single_word, what);
            else rc = skip_value(j, 1, what);
            if (rc) break;
        }
        keyset_free(&seen);
        if (!rc && (!have_id || !have_content)) rc = jfail(j, at, "%s: missing \"%s\"", what, have_id ? "content" : "id");
        if (!rc && clen == 0) rc = jfail(j, at, "%s: empty content", what);
        if (!rc && id < 0) rc = jfail(j, at, "%s: id %lld out of range (ids are >= 0)", what, (long long)id);
        if (!rc && id >= j->max_id) {
            long n = count_entries(j, added_at);
            vocab_size_note(j, vocab_at, t, vnote, sizeof vnote);
            rc = jfail(j, at, "%s: id %lld out of range: %s, added_tokens %ld (%s)", what, (long long)id, vnote, n,
                       id_bound_note(j, note, sizeof note));
        }
        if (!rc) {
            const char *old = sd_tok_id_to_token(t, (int32_t)id);
            int32_t other = sd_tok_lookup(t, content, clen);
            if (old && (strlen(old) != clen || memcmp(old, content, clen)))
                rc = jfail(j, at, "%s: id %lld is already the token \"%s\"", what, (long long)id, QUOTE(q, old, strlen(old)));
            else if (!old && other >= 0)
                rc = jfail(j, at, "%s: \"%s\" already has id %d", what, QUOTE(q, content, clen), other);
            else if (old && (t->flags[id] & TOK_ADDED))
                rc = jfail(j, at, "%s: \"%s\" (id %lld) is listed twice", what, QUOTE(q2, content, clen), (long long)id);
            else {
                /* The file's id is kept. (Hugging Face instead numbers added tokens missing from
                 * the vocabulary after it, in order; files it writes agree with that.) */
                if (!old) sd_tok_set(t, (int32_t)id, content, clen, 0);
                a.content = content;
                sd_tok_add_added(t, (int32_t)id, &a);
            }
        }
        free(content);
        if (rc) return rc;
        idx++;
    }
    return rc;
}

/* ---- configuration objects ---- */
static const char *jtype(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : "";
}
static bool jflag(const cJSON *o, const char *key) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key)); }

static int check_config(jscan *j, sd_tokenizer *t, const char *field, const char *at, const char *vend) {
    const char *stop = NULL;
    size_t bad = sd_utf8_invalid_at(at, (size_t)(vend - at));
    char bq[16];
    if (bad < (size_t)(vend - at)) return jfail(j, at + bad, "%s: invalid UTF-8 (byte %s)", field, char_at(j, at + bad, bq, sizeof bq));
    cJSON *o = cJSON_ParseWithLengthOpts(at, (size_t)(vend - at), &stop, false);
    if (!o) return jfail(j, stop && stop >= at && stop <= vend ? stop : at, "%s: malformed JSON", field);
    char path[256];
    const char *dup = sd_json_find_duplicate(o, path, sizeof path);
    if (dup) {
        char q[SD_QUOTE_CAP];
        int rc = jfail(j, at, "%s: duplicate key \"%s\"%s%s (semid refuses repeated keys)", field,
                       QUOTE(q, dup, strlen(dup)), path[0] ? " in " : "", path);
        cJSON_Delete(o);
        return rc;
    }
    int rc = 0;
    const char *ty = jtype(o);
    char tq[SD_QUOTE_CAP];
    QUOTE(tq, ty, strlen(ty));
    if (cJSON_IsNull(o)) {
        if (!strcmp(field, "normalizer")) t->nfc = false;
        else if (strcmp(field, "post_processor")) rc = jfail(j, at, "%s: null is not supported (expected ByteLevel)", field);
    } else if (!strcmp(field, "normalizer")) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!strcmp(ty, "NFC")) t->nfc = true;
        else if (!strcmp(ty, "Sequence") && cJSON_GetArraySize(seq) == 0) t->nfc = false;
        else if (!strcmp(ty, "Sequence") && cJSON_GetArraySize(seq) == 1 && !strcmp(jtype(cJSON_GetArrayItem(seq, 0)), "NFC"))
            t->nfc = true;
        else rc = jfail(j, at, "normalizer: type \"%s\" is not supported (only NFC or none)", tq);
    } else if (!strcmp(field, "pre_tokenizer")) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        const cJSON *split = cJSON_GetArrayItem(seq, 0), *bl = cJSON_GetArrayItem(seq, 1);
        const cJSON *pat = split ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex") : NULL;
        const cJSON *beh = split ? cJSON_GetObjectItemCaseSensitive(split, "behavior") : NULL;
        if (strcmp(ty, "Sequence") || cJSON_GetArraySize(seq) != 2 || strcmp(jtype(split), "Split") ||
            strcmp(jtype(bl), "ByteLevel"))
            rc = jfail(j, at, "pre_tokenizer: only Sequence[Split (Qwen2 regex), ByteLevel] is supported");
        else if (!cJSON_IsString(pat) || strcmp(pat->valuestring, SD_QWEN2_PATTERN))
            rc = jfail(j, at, "pre_tokenizer: Split pattern is not the Qwen2 regex (others are not supported)");
        else if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") || jflag(split, "invert"))
            rc = jfail(j, at, "pre_tokenizer: Split must have behavior Isolated, invert false");
        else if (jflag(bl, "use_regex") || jflag(bl, "add_prefix_space"))
            rc = jfail(j, at, "pre_tokenizer: ByteLevel with use_regex or add_prefix_space is not supported");
    } else if (!strcmp(field, "decoder")) {
        if (strcmp(ty, "ByteLevel")) rc = jfail(j, at, "decoder: type \"%s\" is not supported (expected ByteLevel)", tq);
    } else if (!strcmp(field, "post_processor")) {
        if (strcmp(ty, "ByteLevel")) rc = jfail(j, at, "post_processor: type \"%s\" is not supported (expected ByteLevel or null)", tq);
    }
    cJSON_Delete(o);
    return rc;
}

static int check_model_scalar(jscan *j, const char *k, size_t kn) {
    const char *at = j->p;
    if (key_is(k, kn, "type")) {
        const char *s; size_t n;
        int rc = jstring(j, &s, &n, "model.type", false);
        if (rc) return rc;
        char q[SD_QUOTE_CAP];
        if (!key_is(s, n, "BPE")) return jfail(j, at, "model.type: \"%s\" is not supported (expected BPE)", QUOTE(q, s, n));
        return 0;
    }
    if (key_is(k, kn, "dropout") || key_is(k, kn, "unk_token")) {
        if (is_null(j)) return 0;
        if (key_is(k, kn, "unk_token")) return skip_value(j, 1, "model.unk_token"); /* unused: every byte is in the vocabulary */
        return jfail(j, at, "model.dropout: BPE dropout is not supported (expected null)");
    }
    if (key_is(k, kn, "continuing_subword_prefix") || key_is(k, kn, "end_of_word_suffix")) {
        if (is_null(j)) return 0;
        const char *s; size_t n;
        int rc = jstring(j, &s, &n, "model", false);
        if (rc) return rc;
        if (n) return jfail(j, at, "model.%.*s: must be empty", (int)kn, k);
        return 0;
    }
    if (key_is(k, kn, "byte_fallback") || key_is(k, kn, "ignore_merges") || key_is(k, kn, "fuse_unk")) {
        bool v;
        int rc = jbool(j, &v, "model");
        if (rc) return rc;
        if (v && !key_is(k, kn, "fuse_unk")) return jfail(j, at, "model.%.*s: true is not supported", (int)kn, k);
        return 0;
    }
    return skip_value(j, 1, "model");
}

int sd_tok_load_mem(sd_tokenizer **out, const char *json, size_t len, const char *name, sd_err *err) {
    *out = NULL;
    /* a UTF-8 byte order mark, as some editors and Hugging Face tooling on Windows write it */
    if (len >= 3 && !memcmp(json, "\xEF\xBB\xBF", 3)) { json += 3; len -= 3; }
    jscan j = {.s = json, .p = json, .end = json + len, .name = name, .err = err,
               .max_id = (int64_t)len < SD_TOK_ID_FLOOR ? SD_TOK_ID_FLOOR
                         : (int64_t)len < SD_TOK_MAX_ID ? (int64_t)len : SD_TOK_MAX_ID};
    sd_tokenizer *t = sd_tok_new();
    sd_tok_reserve(t, len / 64 < SD_TOK_MAX_ID ? len / 64 : SD_TOK_MAX_ID); /* ~75 bytes per token + merge in real files */
    bool vocab_done = false, merges_done = false;
    const char *model_at = NULL, *added_at = NULL, *vocab_at = NULL, *merges_at = NULL;
    const char *cfg_at[4] = {0}, *cfg_end[4] = {0};
    static const char *const cfg_names[4] = {"normalizer", "pre_tokenizer", "decoder", "post_processor"};
    bool first = true;
    const char *k; size_t kn;
    int rc;
    keyset top = {0}, model = {0};
    while ((rc = obj_next(&j, &first, &k, &kn, "tokenizer")) == 1) {
        const char *at = j.p;
        if ((rc = keyset_add(&j, &top, k, kn, at, "tokenizer"))) break;
        int ci = -1;
        for (int i = 0; i < 4; i++) if (key_is(k, kn, cfg_names[i])) ci = i;
        if (key_is(k, kn, "model")) {
            model_at = at;
            bool mfirst = true;
            while ((rc = obj_next(&j, &mfirst, &k, &kn, "model")) == 1) {
                /* vocab and merges are read in place when they come in that order (as in every
                 * file Hugging Face writes); otherwise merges wait for the vocabulary. A repeated
                 * key is refused before a table is read twice, or after a scalar's value is
                 * checked (an unsupported value is the more useful message). */
                const char *vat = j.p;
                bool table = key_is(k, kn, "vocab") || key_is(k, kn, "merges");
                if (table && (rc = keyset_add(&j, &model, k, kn, vat, "model"))) break;
                if (key_is(k, kn, "vocab")) { vocab_at = j.p; rc = parse_vocab(&j, t); vocab_done = true; }
                else if (key_is(k, kn, "merges") && vocab_done) { merges_at = j.p; rc = parse_merges(&j, t); merges_done = true; }
                else if (key_is(k, kn, "merges")) { merges_at = j.p; rc = skip_value(&j, 1, "model.merges"); }
                else if (!(rc = check_model_scalar(&j, k, kn))) rc = keyset_add(&j, &model, k, kn, vat, "model");
                if (rc) break;
            }
            if (rc) break;
            continue;
        }
        rc = skip_value(&j, 0, "tokenizer");
        if (rc) break;
        if (key_is(k, kn, "added_tokens")) added_at = at;
        if (ci >= 0) { cfg_at[ci] = at; cfg_end[ci] = j.p; }
    }
    if (!rc) { ws(&j); if (j.p != j.end) rc = jfail(&j, j.p, "trailing data after the top-level object"); }
    if (!rc && !model_at) rc = sd_errf(err, SD_EFORMAT, "%s: no \"model\" object", name);
    if (!rc && !vocab_at) rc = jfail(&j, model_at, "model: no \"vocab\"");
    if (!rc && !merges_at) rc = jfail(&j, model_at, "model: no \"merges\"");
    for (int i = 0; i < 4 && !rc; i++) {
        if (!cfg_at[i] && i < 3) {
            if (i == 0) { t->nfc = false; continue; }
            rc = sd_errf(err, SD_EFORMAT, "%s: no \"%s\"", name, cfg_names[i]);
        } else if (cfg_at[i]) {
            rc = check_config(&j, t, cfg_names[i], cfg_at[i], cfg_end[i]);
        }
    }
    if (!rc && !merges_done) { j.p = merges_at; rc = parse_merges(&j, t); }
    if (!rc && added_at) { j.p = added_at; if (!is_null(&j)) rc = parse_added(&j, t, vocab_at); }
    keyset_free(&top); keyset_free(&model);
    free(j.buf); free(j.buf2);
    if (rc) { sd_tok_free(t); return rc; }
    sd_tok_finish(t);
    *out = t;
    return 0;
}

int sd_tok_load(sd_tokenizer **out, const char *path, sd_err *err) {
    *out = NULL;
    int64_t size = sd_file_size(path);
    if (size < 0) return sd_errf(err, SD_EIO, "%s: no such file", path);
    if (sd_is_dir(path)) return sd_errf(err, SD_EIO, "%s: is a directory, expected a tokenizer.json file", path);
    if ((uint64_t)size > MAX_FILE_BYTES) return sd_errf(err, SD_ERANGE, "%s: %lld bytes is too large for a tokenizer", path, (long long)size);
    sd_map m;
    int rc = sd_map_open(&m, path, err);
    if (rc) return rc;
    rc = sd_tok_load_mem(out, m.data, m.size, path, err);
    sd_map_close(&m);
    return rc;
}

/* ---- writer ---- */
static void put_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        fwrite(s + run, 1, i - run, f);
        run = i + 1;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default: fprintf(f, "\\u%04x", c);
        }
    }
    fwrite(s + run, 1, n - run, f);
    fputc('"', f);
}

static const char *const SAVED_CONFIG_FMT =
    "  \"normalizer\": %s,\n"
    "  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n    \"pretokenizers\": [\n"
    "      {\n        \"type\": \"Split\",\n        \"pattern\": {\n          \"Regex\": ";
static const char *const BYTE_LEVEL =
    "{\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": false,\n    \"trim_offsets\": false,\n"
    "    \"use_regex\": false\n  }";

int sd_tok_save(const sd_tokenizer *t, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    FILE *f = a.f;
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [", f);
    for (int32_t i = 0; i < t->n_added; i++) {
        const tok_added *x = &t->added[i];
        fprintf(f, "%s\n    {\n      \"id\": %d,\n      \"content\": ", i ? "," : "", x->id);
        put_json_string(f, t->strs + t->str_off[x->id], t->str_len[x->id]);
        fprintf(f, ",\n      \"single_word\": %s,\n      \"lstrip\": %s,\n      \"rstrip\": %s,\n"
                   "      \"normalized\": %s,\n      \"special\": %s\n    }",
                x->single_word ? "true" : "false", x->lstrip ? "true" : "false", x->rstrip ? "true" : "false",
                x->normalized ? "true" : "false", x->special ? "true" : "false");
    }
    fputs(t->n_added ? "\n  ],\n" : "],\n", f);
    fprintf(f, SAVED_CONFIG_FMT, t->nfc ? "{\n    \"type\": \"NFC\"\n  }" : "null");
    put_json_string(f, SD_QWEN2_PATTERN, strlen(SD_QWEN2_PATTERN));
    fputs("\n        },\n        \"behavior\": \"Isolated\",\n        \"invert\": false\n      },\n"
          "      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n"
          "        \"trim_offsets\": false,\n        \"use_regex\": false\n      }\n    ]\n  },\n", f);
    fprintf(f, "  \"post_processor\": %s,\n  \"decoder\": %s,\n", BYTE_LEVEL, BYTE_LEVEL);
    fputs("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
          "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n"
          "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {", f);
    bool first = true;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->str_off[id] == UINT32_MAX || !(t->flags[id] & TOK_MODEL)) continue;
        fputs(first ? "\n      " : ",\n      ", f);
        first = false;
        put_json_string(f, t->strs + t->str_off[id], t->str_len[id]);
        fprintf(f, ": %d", id);
    }
    fputs("\n    },\n    \"merges\": [", f);
    for (int32_t i = 0; i < t->n_merges; i++) {
        int32_t ma = t->merges[i][0], mb = t->merges[i][1];
        fputs(i ? ",\n      [" : "\n      [", f);
        put_json_string(f, t->strs + t->str_off[ma], t->str_len[ma]);
        fputs(", ", f);
        put_json_string(f, t->strs + t->str_off[mb], t->str_len[mb]);
        fputc(']', f);
    }
    fputs("\n    ]\n  }\n}\n", f);
    if (ferror(f)) { sd_atomic_abort(&a); return sd_errf(err, SD_EIO, "%s: write failed", path); }
    return sd_atomic_commit(&a, err);
}
