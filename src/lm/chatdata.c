#include "lm/chatdata.h"
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "base/file.h"
#include "base/mem.h"
#include "io/json_util.h"
#include "lm/qwen3.h"

static void conv_free(sd_chat_conv *c) {
    for (int i = 0; i < c->n_msgs; i++) {
        free((char *)c->msgs[i].role);
        free((char *)c->msgs[i].content);
    }
    free(c->msgs);
    free(c->task);
}

void sd_chat_set_free(sd_chat_set *s) {
    for (size_t i = 0; i < s->n; i++) conv_free(&s->convs[i]);
    free(s->convs);
    memset(s, 0, sizeof *s);
}

void sd_chat_set_keep_spaced(sd_chat_set *s, size_t max) {
    if (max == 0 || s->n <= max) return;
    size_t n = s->n, k = 0;
    for (size_t i = 0, next = 0; i < n; i++) {
        if (k < max && i == next) {
            s->convs[k++] = s->convs[i];
            next = (k * n) / max;
        } else {
            conv_free(&s->convs[i]);
        }
    }
    s->n = k;
}

/* One parsed line into c; errors name where (file:line) and the field. */
static int parse_conv(const cJSON *j, const char *where, sd_chat_conv *c, sd_err *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(j)) return sd_errf(err, SD_EFORMAT, "%s: expected a JSON object", where);
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task");
    if (task && !cJSON_IsNull(task) && !cJSON_IsString(task))
        return sd_errf(err, SD_EFORMAT, "%s: task: expected a string", where);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!msgs) return sd_errf(err, SD_EFORMAT, "%s: \"messages\" missing", where);
    if (!cJSON_IsArray(msgs)) return sd_errf(err, SD_EFORMAT, "%s: messages: expected an array", where);
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) return sd_errf(err, SD_EFORMAT, "%s: messages: empty", where);
    c->task = sd_xstrdup(cJSON_IsString(task) ? task->valuestring : "");
    c->msgs = sd_xcalloc((size_t)n, sizeof *c->msgs);
    int i = 0, n_assistant = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        int rc = 0;
        if (!cJSON_IsObject(m)) rc = sd_errf(err, SD_EFORMAT, "%s: messages[%d]: expected an object", where, i);
        else if (!cJSON_IsString(role))
            rc = sd_errf(err, SD_EFORMAT, "%s: messages[%d].role: %s", where, i, role ? "expected a string" : "missing");
        else if (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "user") &&
                 strcmp(role->valuestring, "assistant"))
            rc = sd_errf(err, SD_EFORMAT, "%s: messages[%d].role: \"%.40s\" (expected system, user or assistant)",
                         where, i, role->valuestring);
        else if (!cJSON_IsString(content))
            rc = sd_errf(err, SD_EFORMAT, "%s: messages[%d].content: %s", where, i,
                         content ? "expected a string" : "missing");
        if (rc) { conv_free(c); memset(c, 0, sizeof *c); return rc; }
        c->msgs[i].role = sd_xstrdup(role->valuestring);
        c->msgs[i].content = sd_xstrdup(content->valuestring);
        n_assistant += !strcmp(role->valuestring, "assistant");
        c->n_msgs = ++i;
    }
    if (!n_assistant) {
        conv_free(c);
        memset(c, 0, sizeof *c);
        return sd_errf(err, SD_EFORMAT, "%s: messages: no assistant message (nothing to learn)", where);
    }
    return 0;
}

int sd_chat_read_jsonl(sd_chat_set *out, const char *path, sd_err *err) {
    memset(out, 0, sizeof *out);
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *line, where[1100];
    size_t len;
    while ((rc = sd_lines_next(r, &line, &len, err)) == 1) {
        snprintf(where, sizeof where, "%s:%lld", path, (long long)sd_lines_lineno(r));
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == len) { out->blank_lines++; continue; }
        cJSON *j;
        if ((rc = sd_json_parse(line, len, where, &j, err))) break;
        sd_chat_conv c;
        rc = parse_conv(j, where, &c, err);
        cJSON_Delete(j);
        if (rc) break;
        c.line = sd_lines_lineno(r);
        SD_GROW(out->convs, out->cap, out->n + 1);
        out->convs[out->n++] = c;
    }
    sd_lines_close(r);
    if (rc < 0) { sd_chat_set_free(out); return rc; }
    return 0;
}

int sd_chat_check_sid_tokens(const sd_chat_set *s, const char *path, int32_t n_sid, sd_err *err) {
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < s->convs[i].n_msgs; k++)
            for (const char *p = s->convs[i].msgs[k].content; (p = strstr(p, "<|sid_"));) {
                p += 6;
                if (*p < '0' || *p > '9') continue;
                char *e;
                long long n = strtoll(p, &e, 10);
                if (strncmp(e, "|>", 2)) continue;
                if (n >= n_sid)
                    return sd_errf(err, SD_EFORMAT,
                                   "%s:%lld: messages[%d].content: <|sid_%lld|> is not one of the %d semantic-ID tokens "
                                   "(<|sid_0|> .. <|sid_%d|>); is the data from another `semid ids` run?",
                                   path, (long long)s->convs[i].line, k, n, n_sid, n_sid - 1);
            }
    return 0;
}

/* Appends text encoded, labelled (its own ids) or not. */
static void put(const sd_tokenizer *tok, sd_tok_cache *cache, const char *s, bool labelled, sd_ids *ids,
                sd_ids *labels) {
    size_t n0 = ids->n;
    sd_tok_encode(tok, cache, s, strlen(s), ids);
    SD_GROW(labels->v, labels->cap, ids->n);
    for (size_t i = n0; i < ids->n; i++) labels->v[i] = labelled ? ids->v[i] : SD_QWEN3_IGNORE;
    labels->n = ids->n;
}

/* Labels, in ids[from, to), the codes and <|sid_end|> of every SID that continues a list: one
 * whose <|sid_start|> follows the previous SID's <|sid_end|> with only ", " between. */
static void label_lists(const sd_tokenizer *tok, const sd_ids *ids, sd_ids *labels, size_t from, size_t to) {
    int32_t start = sd_tok_token_to_id(tok, "<|sid_start|>"), end = sd_tok_token_to_id(tok, "<|sid_end|>");
    if (start < 0 || end < 0) return;
    size_t last_end = (size_t)-1; /* position of the latest <|sid_end|> */
    for (size_t i = from; i < to; i++) {
        if (ids->v[i] == end) { last_end = i; continue; }
        if (ids->v[i] != start || last_end == (size_t)-1 || i - last_end > 3) continue;
        char sep[8];
        size_t sl = 0;
        bool ok = true;
        for (size_t j = last_end + 1; j < i && ok; j++) {
            size_t bl;
            const char *b = sd_tok_token_bytes(tok, ids->v[j], &bl);
            if (!b || sl + bl >= sizeof sep) ok = false;
            else memcpy(sep + sl, b, bl), sl += bl;
        }
        if (!ok || sl != 2 || memcmp(sep, ", ", 2)) continue;
        for (size_t j = i + 1; j < to; j++) {
            labels->v[j] = ids->v[j];
            if (ids->v[j] == end) break;
        }
    }
}

int sd_chat_encode(const sd_tokenizer *tok, sd_tok_cache *cache, const sd_chat_msg *msgs, int n, sd_ids *ids,
                   sd_ids *labels, sd_err *err) {
    return sd_chat_encode_lists(tok, cache, msgs, n, false, ids, labels, err);
}

int sd_chat_encode_lists(const sd_tokenizer *tok, sd_tok_cache *cache, const sd_chat_msg *msgs, int n, bool lists,
                         sd_ids *ids, sd_ids *labels, sd_err *err) {
    ids->n = labels->n = 0;
    if (sd_tok_token_to_id(tok, "<|im_start|>") < 0 || sd_tok_token_to_id(tok, "<|im_end|>") < 0)
        return sd_errf(err, SD_ESTATE, "the tokenizer has no <|im_start|> / <|im_end|> tokens (not a chat model)");
    int last_user = -1;
    for (int i = 0; i < n; i++) if (!strcmp(msgs[i].role, "user")) last_user = i;
    /* The pieces are cut where the template has a special token or a newline, which the
     * pre-tokenizer splits at anyway, so encoding piece by piece gives the ids of the whole. */
    for (int i = 0; i < n; i++) {
        bool asst = !strcmp(msgs[i].role, "assistant");
        put(tok, cache, "<|im_start|>", false, ids, labels);
        size_t hn = strlen(msgs[i].role) + 2;
        char *head = sd_xmalloc(hn);
        snprintf(head, hn, "%s\n", msgs[i].role);
        put(tok, cache, head, false, ids, labels);
        free(head);
        if (asst && i > last_user) put(tok, cache, "<think>\n\n</think>\n\n", false, ids, labels);
        size_t c0 = ids->n;
        if (msgs[i].content[0]) put(tok, cache, msgs[i].content, asst, ids, labels);
        if (lists && !strcmp(msgs[i].role, "user")) label_lists(tok, ids, labels, c0, ids->n);
        put(tok, cache, "<|im_end|>", asst, ids, labels);
        put(tok, cache, "\n", false, ids, labels);
    }
    return 0;
}
