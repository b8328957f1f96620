/* Shared plumbing of the loaders (not a public interface): reading an input file line by line
 * with progress and counts, and the strict / skip handling of bad lines. */
#ifndef SD_LOADUTIL_H
#define SD_LOADUTIL_H
#include <cjson/cJSON.h>
#include "base/file.h"
#include "base/progress.h"
#include "data/loaders.h"
#include "base/clean.h"

typedef struct sd_src {
    sd_lines *r;
    const char *path;
    const sd_prep_opts *o;
    sd_prep_stats *st;
    sd_progress prog;
    int64_t skipped, unknown, nonempty;
    int warned;
    char first_unknown[128];
    int64_t first_unknown_line;
} sd_src;

int sd_src_open(sd_src *s, const char *path, const char *label, const sd_prep_opts *o, sd_prep_stats *st,
                sd_err *err);
/* Next line (1), end (0) or error (<0); counts lines and updates the progress bar. */
int sd_src_next(sd_src *s, char **line, size_t *len, sd_err *err);
int64_t sd_src_line(const sd_src *s);
/* A line that cannot be used: with --strict an SD_EFORMAT error "path:line: <message>";
 * otherwise counted as skipped (the first few printed as warnings) and 0 is returned. */
int sd_src_bad(sd_src *s, sd_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An interaction naming an item that is not in the catalogue: strict error naming the field,
 * or counted in stats->inter_unknown_item. line 0 = the current line. */
int sd_src_unknown(sd_src *s, sd_err *err, const char *field, const char *id, size_t len, int64_t line);
/* Finishes the progress bar, adds byte counts, and warns once about skipped lines. */
void sd_src_close(sd_src *s);

/* "malformed JSON near column N" for a failed cJSON parse of line. */
int sd_src_bad_json(sd_src *s, sd_err *err, const char *line, size_t len);
/* Parses line as one JSON object into *out. A line that is not one, that holds a NUL (raw or as
 * \u0000, which cJSON would cut the string at) or a key twice in one object is a bad line
 * (sd_src_bad: *out stays NULL and the return is 0 when skipped, an error with --strict). */
int sd_src_parse_object(sd_src *s, const char *line, size_t len, cJSON **out, sd_err *err);
/* Reads every non-blank line of s as one JSON object and hands it to fn (the object is freed
 * after fn returns). A line that is not a JSON object is a bad line (sd_src_bad). Stops at the
 * first error; *n_lines receives the number of non-blank lines. */
typedef int (*sd_object_fn)(void *ctx, sd_src *s, const cJSON *obj, sd_err *err);
int sd_src_each_object(sd_src *s, sd_object_fn fn, void *ctx, int64_t *n_lines, sd_err *err);
/* True for a line of only spaces/tabs. */
bool sd_blank(const char *line, size_t len);
/* JSON number as attribute text: integers without a fraction, others with %.15g. */
void sd_fmt_num(char *buf, size_t n, double v);
/* String field of a parsed object: 1 when a string, 0 when missing or null, -1 when of
 * another type. */
int sd_json_str(const cJSON *o, const char *key, const char **out);
bool sd_json_is_str_list(const cJSON *v);

/* One item being assembled: cleaned strings collected in a scratch buffer, then handed to
 * sd_catalog_add (which copies them). Reused across lines. */
typedef struct sd_koff { size_t k, v; } sd_koff;
typedef struct sd_itemb {
    char *buf; size_t len, cap;      /* NUL-separated strings; referenced by offset (buf moves) */
    size_t title, desc;
    size_t *feat, *cats;
    sd_koff *attr;
    uint32_t n_feat, n_cats, n_attr, cap_feat, cap_cats, cap_attr;
    const char **ptrs; size_t cap_ptrs;
    sd_kv *kvs; size_t cap_kvs;
    char *join; size_t cap_join;     /* raw description pieces joined before cleaning */
    int64_t n_bad;                   /* invalid UTF-8 bytes replaced, over all items */
    int64_t items_with_bad;
    bool cur_bad;
} sd_itemb;

void sd_itemb_reset(sd_itemb *b);
void sd_itemb_free(sd_itemb *b);
/* Appends src cleaned (sd_clean_text) or as is (clean = false, still UTF-8 fixed); returns its offset. */
size_t sd_itemb_str(sd_itemb *b, const char *src, size_t len, bool clean);
void sd_itemb_title(sd_itemb *b, const char *s);
/* Description from pieces joined by spaces (a JSON list), then cleaned. */
void sd_itemb_desc_list(sd_itemb *b, const cJSON *list);
void sd_itemb_desc(sd_itemb *b, const char *s);
void sd_itemb_feature(sd_itemb *b, const char *s);
void sd_itemb_category(sd_itemb *b, const char *s);
void sd_itemb_attr(sd_itemb *b, const char *key, const char *value);
/* A JSON value as attribute(s): strings cleaned, numbers formatted, booleans as true/false, lists
 * one attribute per element, objects as compact JSON; null adds nothing. */
void sd_itemb_attr_json(sd_itemb *b, const char *key, const cJSON *v);
const char *sd_itemb_get(const sd_itemb *b, size_t off);
size_t sd_itemb_chars(const sd_itemb *b, size_t off); /* code points */
int32_t sd_itemb_add(sd_itemb *b, sd_catalog *c, const char *ext_id, sd_err *err);

#endif
