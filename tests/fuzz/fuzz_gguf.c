/* GGUF: sd_gguf_open_buffer on the raw input, then every typed lookup on every key, every array
 * element, the conversion of every (small) tensor, and, for inputs that parse, the input as a
 * file through sd_qwen3_load_gguf (config from the metadata, tensor shapes, dequantisation and
 * the tokenizer rebuilt from tokens / types / merges). */
#include "fuzz_common.h"
#include "io/gguf.h"
#include "lm/qwen3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    sd_quiet = true;
    sd_gguf *g;
    sd_err err;
    if (sd_gguf_open_buffer(&g, data, n, "fuzz.gguf", &err)) return 0;
    for (int i = 0; i < sd_gguf_kv_count(g); i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        if (sd_gguf_find(g, kv->key) != kv) abort(); /* keys are unique: lookup must agree */
        uint64_t u;
        double f;
        bool b;
        sd_gguf_str s;
        const sd_gguf_kv *a;
        sd_gguf_get_uint(g, kv->key, &u, &err);
        sd_gguf_get_float(g, kv->key, &f, &err);
        sd_gguf_get_bool(g, kv->key, &b, &err);
        sd_gguf_get_str(g, kv->key, &s, &err);
        if (!sd_gguf_get_array(g, kv->key, SD_GGUF_I32, &a, &err)) {
            int64_t sum = 0;
            for (uint64_t k = 0; k < a->arr_n; k++) sum += sd_gguf_arr_int(a, k);
            (void)sum;
        }
        if (!sd_gguf_get_array(g, kv->key, SD_GGUF_STRING, &a, &err)) {
            volatile uint8_t x = 0;
            for (uint64_t k = 0; k < a->arr_n; k++)
                if (a->arr_str[k].len) x ^= (uint8_t)a->arr_str[k].s[a->arr_str[k].len - 1];
            (void)x;
        }
    }
    for (int i = 0; i < sd_gguf_tensor_count(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        if (sd_gguf_find_tensor(g, t->name) != t) abort();
        if (t->numel > (1 << 16)) continue;
        float *o = malloc((size_t)t->numel * sizeof *o);
        sd_gguf_tensor_f32(g, t, o, (size_t)t->numel, &err);
        free(o);
    }
    sd_gguf_close(g);
    char path[512];
    fz_write("m.gguf", data, n, path, sizeof path);
    sd_qwen3 m;
    if (!sd_qwen3_load_gguf(&m, path, &err)) sd_qwen3_free(&m);
    return 0;
}
