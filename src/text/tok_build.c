/* A tokenizer from a vocabulary given as arrays (what a GGUF file's tokenizer section holds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text/tok_internal.h"

int sd_tok_build(sd_tokenizer **out, const sd_tok_build_in *in, sd_err *err) {
    *out = NULL;
    const char *where = in->where ? in->where : "tokenizer";
    if (in->n_tokens < 0 || in->n_tokens > SD_TOK_MAX_ID || in->n_merges < 0)
        return sd_errf(err, SD_EFORMAT, "%s: %d tokens (at most %d)", where, in->n_tokens, SD_TOK_MAX_ID);
    sd_tokenizer *t = sd_tok_new();
    sd_tok_reserve(t, (size_t)in->n_tokens + (size_t)in->n_merges);
    t->nfc = in->nfc;
    int rc = 0;
    /* model tokens first (merges refer to them), then the added ones */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int32_t id = 0; id < in->n_tokens && !rc; id++) {
            int ty = in->types[id];
            bool added = ty == SD_TOK_TYPE_CONTROL || ty == SD_TOK_TYPE_USER_DEFINED;
            if (ty == SD_TOK_TYPE_UNUSED || added != (pass == 1)) continue;
            if (ty != SD_TOK_TYPE_NORMAL && !added) {
                rc = sd_errf(err, SD_EFORMAT, "%s: token %d has type %d (normal 1, control 3, user-defined 4 or "
                             "unused 5 expected)", where, id, ty);
                break;
            }
            if (in->lens[id] == 0 || sd_tok_set(t, id, in->tokens[id], in->lens[id], added ? 0 : TOK_MODEL)) {
                rc = sd_errf(err, SD_EFORMAT, "%s: token %d (\"%.*s\") is empty or repeats another token", where, id,
                             (int)(in->lens[id] < 64 ? in->lens[id] : 64), in->tokens[id]);
                break;
            }
            if (added) {
                sd_added_token a = {.content = NULL, .special = ty == SD_TOK_TYPE_CONTROL};
                sd_tok_add_added(t, id, &a);
            }
        }
    }
    for (int32_t i = 0; i < in->n_merges && !rc; i++) {
        const char *m = in->merges[i];
        size_t len = in->merge_lens[i];
        const char *sp = memchr(m, ' ', len);
        int32_t a = sp ? sd_tok_lookup(t, m, (size_t)(sp - m)) : -1;
        int32_t b = sp ? sd_tok_lookup(t, sp + 1, len - (size_t)(sp - m) - 1) : -1;
        if (a < 0 || b < 0 || !(t->flags[a] & TOK_MODEL) || !(t->flags[b] & TOK_MODEL) || sd_tok_add_merge(t, a, b) < 0)
            rc = sd_errf(err, SD_EFORMAT, "%s: merge %d (\"%.*s\") is not two tokens whose concatenation is a token",
                         where, i, (int)(len < 64 ? len : 64), m);
    }
    if (rc) {
        sd_tok_free(t);
        return rc;
    }
    sd_tok_finish(t);
    *out = t;
    return 0;
}
