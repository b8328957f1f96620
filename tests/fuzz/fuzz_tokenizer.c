/* tokenizer.json: sd_tok_load_mem on the raw input; an accepted tokenizer must survive use
 * (vocabulary lookups, encoding text with its added tokens, decoding) and a save/load round
 * trip (what semid writes it must read back). */
#include "fuzz_common.h"
#include "text/tokenizer.h"

static void use(const sd_tokenizer *t, const uint8_t *data, size_t n) {
    int32_t V = sd_tok_vocab_size(t);
    for (int32_t id = 0; id < V && id < 4096; id++) {
        const char *s = sd_tok_id_to_token(t, id);
        size_t len;
        sd_tok_token_bytes(t, id, &len);
        if (s && sd_tok_token_to_id(t, s) < 0) abort(); /* a token's string must map to an id */
        sd_tok_is_special(t, id);
    }
    for (int32_t i = 0; i < sd_tok_added_count(t); i++) {
        sd_added_token a;
        if (sd_tok_added_at(t, i, &a) < 0) abort();
    }
    static const char text[] = "Hello world! <|endoftext|> it's 123 \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "de\n\t  x\xe4\xb8\xad";
    sd_ids ids = {0};
    sd_tok_cache *cache = sd_tok_cache_new();
    sd_tok_encode(t, cache, text, sizeof text - 1, &ids);
    sd_tok_encode(t, cache, (const char *)data, n < 256 ? n : 256, &ids); /* the input as text too */
    size_t len;
    free(sd_tok_decode(t, ids.v, ids.n, false, &len));
    free(sd_tok_decode(t, ids.v, ids.n, true, &len));
    sd_tok_cache_free(cache);
    sd_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    fz_dir();
    sd_tokenizer *t;
    sd_err err;
    if (sd_tok_load_mem(&t, (const char *)data, n, "tokenizer.json", &err)) return 0;
    use(t, data, n);
    char path[512];
    snprintf(path, sizeof path, "%s/saved.json", fz_dir());
    if (sd_tok_save(t, path, &err) == 0) {
        sd_tokenizer *t2;
        if (sd_tok_load(&t2, path, &err)) {
            fprintf(stderr, "saved tokenizer does not load back: %s\n", err.msg);
            abort();
        }
        if (sd_tok_vocab_size(t2) != sd_tok_vocab_size(t)) abort();
        sd_tok_free(t2);
    }
    sd_tok_free(t);
    return 0;
}
