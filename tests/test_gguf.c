/* semid export --gguf: a tiny Qwen3 with the real Qwen3 tokenizer and SID tokens, exported in
 * every dtype and read back (logits exact for f32, within tolerances for f16 / bf16 / q8_0), the
 * metadata llama.cpp reads, the same file read by Hugging Face's @huggingface/gguf parser
 * (tests/js/gguf_read.js), Q8_0 as ggml computes it, bad input to the command and hostile files
 * to the reader. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include "base/file.h"
#include "base/mem.h"
#include "io/dtype.h"
#include "io/gguf.h"
#include "io/json_util.h"
#include "lm/qwen3.h"
#include "test_util.h"

#define QWEN3_ROWS 151936 /* Qwen3's embedding rows: more than its 151,669 tokens */
#define SID_LEVELS 3
#define SID_CODES 32

/* A tiny-preset model (or the given sizes) with the Qwen3 tokenizer extended with SID tokens,
 * saved as a folder in a fresh temp dir; returns the folder in dir. */
static void make_model(char *dir, size_t n, int hidden, int heads, int hd, int ffn, bool tied) {
    sd_test_tmpdir(dir, n);
    strncat(dir, "/lm", n - strlen(dir) - 1);
    char tok_path[1024];
    snprintf(tok_path, sizeof tok_path, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_tokenizer *tok;
    sd_err err;
    cr_assert_eq(sd_tok_load(&tok, tok_path, &err), 0, "%s", err.msg);
    sd_qwen3_config c;
    cr_assert_eq(sd_qwen3_preset(&c, "tiny", QWEN3_ROWS, &err), 0, "%s", err.msg);
    if (hidden) {
        c.hidden_size = hidden, c.num_attention_heads = heads, c.num_key_value_heads = 1, c.head_dim = hd;
        c.intermediate_size = ffn, c.num_hidden_layers = 2;
    }
    c.tie_word_embeddings = tied;
    c.bos_token_id = sd_tok_token_to_id(tok, "<|endoftext|>");
    c.eos_token_ids[0] = sd_tok_token_to_id(tok, "<|im_end|>");
    c.n_eos = 1;
    sd_qwen3 m;
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 5, 0.05f);
    m.tok = tok;
    sd_qwen3_vocab_ext x;
    cr_assert_eq(sd_qwen3_extend_vocab(&m, SID_LEVELS, SID_CODES, 3, 0.01f, &x, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    sd_qwen3_free(&m);
}

static void export_cli(const char *dir, const char *out, const char *dtype) {
    char *o;
    int rc = sd_test_semid(&o, "export %s --gguf %s --dtype %s --quiet", dir, out, dtype);
    cr_assert_eq(rc, 0, "export --dtype %s: %s", dtype, o);
    free(o);
}

static void last_logits(sd_qwen3 *m, const int32_t *ids, int B, int T, float *out) {
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, m, B, T, false, false);
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids};
    sd_err err;
    cr_assert_eq(sd_qwen3_last_logits(m, &s, &b, out, &err), 0, "%s", err.msg);
    sd_qwen3_state_free(&s);
}

static int64_t file_size(const char *p) { return sd_file_size(p); }

/* max |a - b| and max |b| */
static void diff(const float *a, const float *b, size_t n, double *d, double *scale) {
    *d = 0, *scale = 0;
    for (size_t i = 0; i < n; i++) {
        *d = fmax(*d, fabs((double)a[i] - b[i]));
        *scale = fmax(*scale, fabs((double)b[i]));
    }
}

/* The read-back model predicts what the folder does: exactly for f32, within the error of the
 * stored type for the others; its rebuilt tokenizer encodes as the folder's. */
Test(gguf, roundtrip_dtypes, .timeout = 600) {
    char dir[512], out[600];
    make_model(dir, sizeof dir, 0, 0, 0, 0, true);
    sd_qwen3 src;
    sd_err err;
    cr_assert_eq(sd_qwen3_load(&src, dir, &err), 0, "%s", err.msg);
    int32_t sid0 = sd_tok_token_to_id(src.tok, "<|sid_0|>");
    cr_assert_geq(sid0, 151669);
    enum { B = 2, T = 12 };
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = i % 3 == 2 ? sid0 + (i * 7) % (SID_LEVELS * SID_CODES) : (i * 7919) % 151000;
    size_t V = (size_t)src.cfg.vocab_size;
    float *want = sd_xmalloc(B * V * sizeof *want), *got = sd_xmalloc(B * V * sizeof *got);
    last_logits(&src, ids, B, T, want);
    const char *text = "Hello world <|rec|> <|sid_start|><|sid_5|><|sid_40|><|sid_70|><|sid_end|> caf\xc3\xa9 "
                       "\xe4\xb8\x96\xe7\x95\x8c<|im_end|>\n  x";
    sd_ids a = {0}, b = {0};
    sd_tok_encode(src.tok, NULL, text, strlen(text), &a);

    const char *types[] = {"f32", "f16", "bf16", "q8_0"};
    const double tol[] = {0, 4e-3, 3e-2, 6e-2}; /* max |diff| / max |logit| */
    for (int k = 0; k < 4; k++) {
        snprintf(out, sizeof out, "%s/../model-%s.gguf", dir, types[k]);
        export_cli(dir, out, types[k]);
        sd_qwen3 g;
        cr_assert_eq(sd_qwen3_load_gguf(&g, out, &err), 0, "%s", err.msg);
        cr_assert_eq(g.cfg.vocab_size, src.cfg.vocab_size);
        cr_assert(g.cfg.tie_word_embeddings);
        last_logits(&g, ids, B, T, got);
        double d, scale;
        diff(got, want, B * V, &d, &scale);
        cr_log_info("gguf %-4s: %10lld bytes, max |logit diff| %.3g (max |logit| %.3g, relative %.3g)", types[k],
                    (long long)file_size(out), d, scale, d / scale);
        fprintf(stderr, "gguf %-4s: %10lld bytes, max |logit diff| %.3g (max |logit| %.3g, relative %.3g)\n", types[k],
                (long long)file_size(out), d, scale, d / scale);
        if (k == 0) cr_assert_eq(memcmp(got, want, B * V * sizeof *got), 0, "f32 logits are exact (max diff %g)", d);
        else cr_assert_leq(d / scale, tol[k], "%s: relative logit error %g above %g", types[k], d / scale, tol[k]);
        sd_ids_free(&b);
        b = (sd_ids){0};
        sd_tok_encode(g.tok, NULL, text, strlen(text), &b);
        cr_assert_eq(b.n, a.n, "rebuilt tokenizer: %zu ids, folder's %zu", b.n, a.n);
        cr_assert_eq(memcmp(a.v, b.v, a.n * sizeof *a.v), 0, "rebuilt tokenizer encodes as the folder's");
        cr_assert_eq(sd_tok_merge_count(g.tok), sd_tok_merge_count(src.tok));
        sd_qwen3_free(&g);
    }
    sd_ids_free(&a);
    sd_ids_free(&b);
    free(want);
    free(got);
    sd_qwen3_free(&src);
}

static const sd_gguf_kv *kv_of(const sd_gguf *g, const char *key, sd_gguf_vtype type) {
    const sd_gguf_kv *kv = sd_gguf_find(g, key);
    cr_assert(kv, "key %s missing", key);
    cr_assert_eq(kv->type, type, "key %s: type %d, expected %d", key, kv->type, type);
    return kv;
}
static void expect_u32(const sd_gguf *g, const char *key, uint64_t v) {
    cr_assert_eq(kv_of(g, key, SD_GGUF_U32)->v.u, v, "key %s", key);
}
static void expect_str(const sd_gguf *g, const char *key, const char *s) {
    const sd_gguf_kv *kv = kv_of(g, key, SD_GGUF_STRING);
    cr_assert(kv->str.len == strlen(s) && !memcmp(kv->str.s, s, kv->str.len), "key %s: \"%.*s\", expected \"%s\"", key,
              (int)kv->str.len, kv->str.s, s);
}

/* What llama.cpp reads: names, shapes in ne order, types per dtype, hyper-parameters, tokenizer. */
static void check_layout(const char *path, const sd_qwen3 *m, const char *dtype) {
    sd_gguf *g;
    sd_err err;
    cr_assert_eq(sd_gguf_open(&g, path, &err), 0, "%s", err.msg);
    const sd_qwen3_config *c = &m->cfg;
    cr_assert_eq(sd_gguf_version(g), 3);
    expect_str(g, "general.architecture", "qwen3");
    expect_str(g, "general.name", "lm");
    expect_u32(g, "general.alignment", 32);
    expect_u32(g, "qwen3.block_count", (uint64_t)c->num_hidden_layers);
    expect_u32(g, "qwen3.context_length", (uint64_t)c->max_position_embeddings);
    expect_u32(g, "qwen3.embedding_length", (uint64_t)c->hidden_size);
    expect_u32(g, "qwen3.feed_forward_length", (uint64_t)c->intermediate_size);
    expect_u32(g, "qwen3.attention.head_count", (uint64_t)c->num_attention_heads);
    expect_u32(g, "qwen3.attention.head_count_kv", (uint64_t)c->num_key_value_heads);
    expect_u32(g, "qwen3.attention.key_length", (uint64_t)c->head_dim);
    expect_u32(g, "qwen3.attention.value_length", (uint64_t)c->head_dim);
    cr_assert_eq(kv_of(g, "qwen3.rope.freq_base", SD_GGUF_F32)->v.f, (float)c->rope_theta);
    cr_assert_eq(kv_of(g, "qwen3.attention.layer_norm_rms_epsilon", SD_GGUF_F32)->v.f, (float)c->rms_norm_eps);
    int ft = !strcmp(dtype, "f32") ? 0 : !strcmp(dtype, "f16") ? 1 : !strcmp(dtype, "bf16") ? 32 : 7;
    expect_u32(g, "general.file_type", (uint64_t)ft);
    expect_str(g, "tokenizer.ggml.model", "gpt2");
    expect_str(g, "tokenizer.ggml.pre", "qwen2");
    expect_u32(g, "tokenizer.ggml.eos_token_id", (uint64_t)sd_tok_token_to_id(m->tok, "<|im_end|>"));
    expect_u32(g, "tokenizer.ggml.padding_token_id", (uint64_t)sd_tok_token_to_id(m->tok, "<|endoftext|>"));
    expect_u32(g, "tokenizer.ggml.bos_token_id", (uint64_t)sd_tok_token_to_id(m->tok, "<|endoftext|>"));
    cr_assert_eq(kv_of(g, "tokenizer.ggml.add_bos_token", SD_GGUF_BOOL)->v.b, false);
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(m->tokenizer_config, "chat_template");
    expect_str(g, "tokenizer.chat_template", tmpl->valuestring);
    const sd_gguf_kv *toks = kv_of(g, "tokenizer.ggml.tokens", SD_GGUF_ARRAY);
    const sd_gguf_kv *tt = kv_of(g, "tokenizer.ggml.token_type", SD_GGUF_ARRAY);
    const sd_gguf_kv *mg = kv_of(g, "tokenizer.ggml.merges", SD_GGUF_ARRAY);
    cr_assert_eq(toks->arr_type, SD_GGUF_STRING);
    cr_assert_eq(tt->arr_type, SD_GGUF_I32);
    cr_assert_eq(toks->arr_n, (uint64_t)c->vocab_size);
    cr_assert_eq(tt->arr_n, (uint64_t)c->vocab_size);
    cr_assert_eq(mg->arr_n, (uint64_t)sd_tok_merge_count(m->tok));
    int count[6] = {0};
    for (int32_t id = 0; id < c->vocab_size; id++) {
        int64_t ty = sd_gguf_arr_int(tt, (uint64_t)id);
        cr_assert(ty >= 1 && ty <= 5);
        count[ty]++;
        const char *s = sd_tok_id_to_token(m->tok, id);
        char pad[32];
        if (!s) snprintf(pad, sizeof pad, "[PAD%d]", id), s = pad;
        cr_assert(toks->arr_str[id].len == strlen(s) && !memcmp(toks->arr_str[id].s, s, strlen(s)), "token %d", id);
        if (!strncmp(s, "<|sid_", 6) || !strcmp(s, "<|rec|>") || !strcmp(s, "<|im_end|>"))
            cr_assert_eq(ty, 3, "%s is a control token", s);
        if (!strcmp(s, "<think>")) cr_assert_eq(ty, 4, "<think> (added, not special) is user-defined");
        if (id >= sd_tok_vocab_size(m->tok)) cr_assert_eq(ty, 5, "row %d past the tokenizer is unused", id);
    }
    cr_assert_geq(count[3], SID_LEVELS * SID_CODES + 3 + 10);
    cr_assert_eq(count[5], c->vocab_size - sd_tok_vocab_size(m->tok));
    int32_t ma, mb;
    cr_assert_eq(sd_tok_merge_at(m->tok, 0, &ma, &mb), 0);
    char m0[256];
    snprintf(m0, sizeof m0, "%s %s", sd_tok_id_to_token(m->tok, ma), sd_tok_id_to_token(m->tok, mb));
    cr_assert(mg->arr_str[0].len == strlen(m0) && !memcmp(mg->arr_str[0].s, m0, strlen(m0)), "first merge \"%s\"", m0);
    /* tensors */
    int L = c->num_hidden_layers;
    cr_assert_eq(sd_gguf_tensor_count(g), 2 + 11 * L + (c->tie_word_embeddings ? 0 : 1));
    cr_assert_null(sd_gguf_find_tensor(g, "output.weight"));
    const sd_gguf_tensor *e = sd_gguf_find_tensor(g, "token_embd.weight");
    cr_assert(e && e->n_dims == 2 && e->ne[0] == c->hidden_size && e->ne[1] == c->vocab_size);
    const sd_gguf_tensor *q = sd_gguf_find_tensor(g, "blk.0.attn_q.weight");
    cr_assert(q && q->ne[0] == c->hidden_size && q->ne[1] == c->num_attention_heads * c->head_dim);
    const sd_gguf_tensor *dn = sd_gguf_find_tensor(g, "blk.1.ffn_down.weight");
    cr_assert(dn && dn->ne[0] == c->intermediate_size && dn->ne[1] == c->hidden_size);
    const sd_gguf_tensor *qn = sd_gguf_find_tensor(g, "blk.3.attn_q_norm.weight");
    cr_assert(qn && qn->n_dims == 1 && qn->ne[0] == c->head_dim);
    int mat = !strcmp(dtype, "f32") ? SD_GGML_F32 : !strcmp(dtype, "f16") ? SD_GGML_F16
              : !strcmp(dtype, "bf16") ? SD_GGML_BF16 : SD_GGML_Q8_0;
    uint64_t running = 0; /* ggml: each offset is the padded sum of the ones before, the file ends padded */
    for (int i = 0; i < sd_gguf_tensor_count(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        cr_assert_eq(t->offset, running, "%s", t->name);
        running += (t->nbytes + 31) / 32 * 32;
        cr_assert_eq(t->type, t->n_dims == 1 ? SD_GGML_F32 : mat, "%s: %s", t->name, sd_ggml_type_name(t->type));
        cr_assert_eq(t->offset % 32, 0);
        cr_assert_eq((sd_gguf_data_offset(g) + t->offset) % 32, 0);
    }
    cr_assert_eq((uint64_t)sd_file_size(path), sd_gguf_data_offset(g) + running);
    sd_gguf_close(g);
}

Test(gguf, llama_cpp_layout, .timeout = 600) {
    char dir[512], out[600];
    make_model(dir, sizeof dir, 0, 0, 0, 0, true);
    sd_qwen3 m;
    sd_err err;
    cr_assert_eq(sd_qwen3_load(&m, dir, &err), 0, "%s", err.msg);
    const char *types[] = {"f32", "q8_0"};
    for (int k = 0; k < 2; k++) {
        snprintf(out, sizeof out, "%s/../m.gguf", dir);
        export_cli(dir, out, types[k]);
        check_layout(out, &m, types[k]);
    }
    sd_qwen3_free(&m);
}

/* Rows that are not whole Q8_0 blocks fall back to F16 as llama.cpp's converter does; an untied
 * model gets output.weight. */
Test(gguf, q8_0_fallback_untied, .timeout = 300) {
    char dir[512], out[600];
    make_model(dir, sizeof dir, 40, 2, 16, 64, false);
    snprintf(out, sizeof out, "%s/../m.gguf", dir);
    export_cli(dir, out, "q8_0");
    sd_gguf *g;
    sd_err err;
    cr_assert_eq(sd_gguf_open(&g, out, &err), 0, "%s", err.msg);
    const struct { const char *name; int type; } want[] = {
        {"token_embd.weight", SD_GGML_F16},   {"output.weight", SD_GGML_F16},     {"blk.0.attn_q.weight", SD_GGML_F16},
        {"blk.0.attn_output.weight", SD_GGML_Q8_0}, {"blk.1.ffn_down.weight", SD_GGML_Q8_0},
        {"blk.1.ffn_up.weight", SD_GGML_F16}, {"output_norm.weight", SD_GGML_F32}, {"blk.0.attn_k_norm.weight", SD_GGML_F32},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const sd_gguf_tensor *t = sd_gguf_find_tensor(g, want[i].name);
        cr_assert(t, "%s missing", want[i].name);
        cr_assert_eq(t->type, want[i].type, "%s: %s", want[i].name, sd_ggml_type_name(t->type));
    }
    sd_qwen3 src, back;
    cr_assert_eq(sd_qwen3_load(&src, dir, &err), 0, "%s", err.msg);
    /* every stored value against the folder's: F32 and F16 bit-exact conversions, Q8_0 within half
     * a step of its block (plus the f16 rounding of the scale) */
    for (int i = 0; i < sd_gguf_tensor_count(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        cr_assert_eq(t->type == SD_GGML_Q8_0, t->n_dims == 2 && t->ne[0] % 32 == 0, "%s", t->name);
    }
    const sd_gguf_tensor *qt = sd_gguf_find_tensor(g, "blk.1.ffn_down.weight");
    const sd_gguf_tensor *ht = sd_gguf_find_tensor(g, "blk.1.ffn_up.weight");
    const sd_gguf_tensor *ft = sd_gguf_find_tensor(g, "blk.1.post_attention_layernorm.weight");
    cr_assert_null(ft, "HF names are not used");
    ft = sd_gguf_find_tensor(g, "blk.1.ffn_norm.weight");
    int vq = sd_params_index(&src.p, "model.layers.1.mlp.down_proj.weight");
    int vh = sd_params_index(&src.p, "model.layers.1.mlp.up_proj.weight");
    int vf = sd_params_index(&src.p, "model.layers.1.post_attention_layernorm.weight");
    const float *xq = src.p.data + src.p.views[vq].offset, *xh = src.p.data + src.p.views[vh].offset,
                *xf = src.p.data + src.p.views[vf].offset;
    for (int64_t k = 0; k < ht->numel; k++) {
        uint16_t h;
        memcpy(&h, ht->data + 2 * k, 2);
        cr_assert_eq(h, sd_f32_to_f16(xh[k]), "ffn_up[%lld]", (long long)k);
    }
    cr_assert_eq(memcmp(ft->data, xf, (size_t)ft->numel * 4), 0, "ffn_norm is the F32 values");
    float *dq = sd_xmalloc((size_t)qt->numel * sizeof *dq);
    cr_assert_eq(sd_gguf_tensor_f32(g, qt, dq, (size_t)qt->numel, &err), 0);
    for (int64_t b = 0; b < qt->numel / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xq[b * 32 + j]));
        float d = amax / 127, d16 = sd_f16_to_f32(sd_f32_to_f16(d));
        for (int j = 0; j < 32; j++)
            cr_assert_leq(fabsf(dq[b * 32 + j] - xq[b * 32 + j]), 0.5f * d * 1.0001f + 127 * fabsf(d - d16),
                          "ffn_down[%lld]", (long long)(b * 32 + j));
    }
    free(dq);
    sd_gguf_close(g);
    cr_assert_eq(sd_qwen3_load_gguf(&back, out, &err), 0, "%s", err.msg);
    cr_assert(!back.cfg.tie_word_embeddings);
    int32_t ids[10] = {1, 2, 3, 100, 2000, 30000, 151670, 151700, 9, 10};
    size_t V = (size_t)src.cfg.vocab_size;
    float *a = sd_xmalloc(V * sizeof *a), *b = sd_xmalloc(V * sizeof *b);
    last_logits(&src, ids, 1, 10, a);
    last_logits(&back, ids, 1, 10, b);
    double d, scale;
    diff(b, a, V, &d, &scale);
    cr_assert_leq(d / scale, 1e-2, "relative error %g", d / scale);
    free(a);
    free(b);
    sd_qwen3_free(&src);
    sd_qwen3_free(&back);
}

/* ggml's quantize_row_q8_0_ref on known values: d = max|x| / 127, round half away from zero. */
Test(gguf, q8_0_matches_ggml) {
    float x[64];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) + 0.5f; /* -15.5 .. 15.5 */
    x[0] = 127;                                                  /* d = 1 */
    for (int i = 32; i < 64; i++) x[i] = 0;                      /* d = 0, all q = 0 */
    uint8_t q[68];
    sd_q8_0_quantize(x, 64, q);
    cr_assert_eq(q[0] | q[1] << 8, sd_f32_to_f16(1.0f));
    cr_assert_eq((int8_t)q[2], 127);
    cr_assert_eq((int8_t)q[2 + 1], -15); /* -14.5 -> -15 */
    cr_assert_eq((int8_t)q[2 + 16], 1);                                /* 0.5 -> 1 */
    cr_assert_eq((int8_t)q[2 + 31], 16);                               /* 15.5 -> 16 */
    for (int i = 0; i < 34; i++) cr_assert_eq(q[34 + i], 0);
    float y[64];
    sd_q8_0_dequantize(q, 64, y);
    cr_assert_eq(y[0], 127);
    cr_assert_eq(y[16], 1);
    cr_assert_eq(y[40], 0);
    /* a scale that f16 cannot hold exactly: values use the f32 scale, the file the f16 one */
    for (int i = 0; i < 32; i++) x[i] = 0.001f * (float)(i + 1);
    sd_q8_0_quantize(x, 32, q);
    cr_assert_eq(q[0] | q[1] << 8, sd_f32_to_f16(x[31] / 127.0f));
    cr_assert_eq((int8_t)q[2 + 31], 127);
    cr_assert_eq((int8_t)q[2 + 15], (int8_t)roundf(x[15] * (1.0f / (x[31] / 127.0f))));
}

/* ---- the independent reader ---- */

static const char *js_dir(char *buf, size_t n) {
    snprintf(buf, n, "%s/../js", sd_test_fixtures());
    return buf;
}

Test(gguf, huggingface_gguf_reads_it, .timeout = 600) {
    char js[1024], mod[1200];
    js_dir(js, sizeof js);
    snprintf(mod, sizeof mod, "%s/node_modules/@huggingface/gguf/package.json", js);
    if (!sd_exists(mod)) {
        cr_skip_test("tests/js/node_modules/@huggingface/gguf missing: run scripts/install-deps.sh (npm ci in tests/js)");
        return;
    }
    char dir[512], out[600], json[700], cmd[4096], *o;
    make_model(dir, sizeof dir, 0, 0, 0, 0, true);
    snprintf(out, sizeof out, "%s/../m.gguf", dir);
    snprintf(json, sizeof json, "%s/../m.json", dir);
    export_cli(dir, out, "q8_0");
    snprintf(cmd, sizeof cmd, "node %s/gguf_read.js %s %s", js, out, json);
    cr_assert_eq(sd_test_run(cmd, &o), 0, "%s", o);
    free(o);
    cJSON *j;
    sd_err err;
    cr_assert_eq(sd_json_read_file(json, &j, &err), 0, "%s", err.msg);
    sd_gguf *g;
    cr_assert_eq(sd_gguf_open(&g, out, &err), 0, "%s", err.msg);
    cr_assert_eq(cJSON_GetObjectItem(j, "version")->valueint, 3);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "little_endian")));
    cr_assert_eq((size_t)cJSON_GetObjectItem(j, "tensor_data_offset")->valuedouble, sd_gguf_data_offset(g));
    /* every key-value, with its type and value */
    const cJSON *kv = cJSON_GetObjectItem(j, "kv");
    int n_js = 0;
    for (const cJSON *e = kv->child; e; e = e->next) {
        if (!strcmp(e->string, "version") || !strcmp(e->string, "tensor_count") || !strcmp(e->string, "kv_count"))
            continue; /* header fields the parser lists with the metadata */
        n_js++;
        const sd_gguf_kv *mine = sd_gguf_find(g, e->string);
        cr_assert(mine, "@huggingface/gguf read key %s that semid's reader did not", e->string);
        cr_assert_eq(cJSON_GetObjectItem(e, "type")->valueint, (int)mine->type, "%s: type", e->string);
        const cJSON *v = cJSON_GetObjectItem(e, "value");
        switch (mine->type) {
        case SD_GGUF_STRING:
            cr_assert(cJSON_IsString(v) && strlen(v->valuestring) == mine->str.len &&
                      !memcmp(v->valuestring, mine->str.s, mine->str.len), "%s", e->string);
            break;
        case SD_GGUF_U32: cr_assert_eq((uint64_t)v->valuedouble, mine->v.u, "%s", e->string); break;
        case SD_GGUF_F32: cr_assert_eq((float)v->valuedouble, (float)mine->v.f, "%s", e->string); break;
        case SD_GGUF_BOOL: cr_assert_eq(cJSON_IsTrue(v), mine->v.b, "%s", e->string); break;
        case SD_GGUF_ARRAY: {
            cr_assert_eq(cJSON_GetObjectItem(e, "sub_type")->valueint, (int)mine->arr_type, "%s", e->string);
            cr_assert_eq((uint64_t)cJSON_GetArraySize(v), mine->arr_n, "%s: length", e->string);
            uint64_t i = 0;
            for (const cJSON *x = v->child; x; x = x->next, i++) {
                if (mine->arr_type == SD_GGUF_STRING)
                    cr_assert(strlen(x->valuestring) == mine->arr_str[i].len &&
                              !memcmp(x->valuestring, mine->arr_str[i].s, mine->arr_str[i].len), "%s[%llu]", e->string,
                              (unsigned long long)i);
                else cr_assert_eq((int64_t)x->valuedouble, sd_gguf_arr_int(mine, i), "%s[%llu]", e->string,
                                  (unsigned long long)i);
            }
            break;
        }
        default: cr_assert_fail("%s: unexpected type %d", e->string, mine->type);
        }
    }
    cr_assert_eq(n_js, sd_gguf_kv_count(g), "@huggingface/gguf read %d key-values, semid wrote %d", n_js,
                 sd_gguf_kv_count(g));
    /* the SID tokens, as the independent parser sees them */
    const cJSON *toks = cJSON_GetObjectItem(cJSON_GetObjectItem(kv, "tokenizer.ggml.tokens"), "value");
    const cJSON *types = cJSON_GetObjectItem(cJSON_GetObjectItem(kv, "tokenizer.ggml.token_type"), "value");
    int n_sid = 0;
    const cJSON *ty = types->child;
    for (const cJSON *x = toks->child; x && ty; x = x->next, ty = ty->next) {
        const char *s = x->valuestring;
        if (!strncmp(s, "<|sid_", 6) && strcmp(s, "<|sid_start|>") && strcmp(s, "<|sid_end|>")) {
            n_sid++;
            cr_assert_eq(ty->valueint, 3, "%s is a control token", s);
        }
    }
    cr_assert_eq(n_sid, SID_LEVELS * SID_CODES);
    /* tensor infos */
    const cJSON *ts = cJSON_GetObjectItem(j, "tensors");
    cr_assert_eq(cJSON_GetArraySize(ts), sd_gguf_tensor_count(g));
    int i = 0;
    for (const cJSON *t = ts->child; t; t = t->next, i++) {
        const sd_gguf_tensor *mine = sd_gguf_tensor_at(g, i);
        cr_assert_str_eq(cJSON_GetObjectItem(t, "name")->valuestring, mine->name);
        cr_assert_eq(cJSON_GetObjectItem(t, "dtype")->valueint, mine->type, "%s", mine->name);
        cr_assert_eq((uint64_t)cJSON_GetObjectItem(t, "offset")->valuedouble, mine->offset, "%s", mine->name);
        const cJSON *shape = cJSON_GetObjectItem(t, "shape");
        cr_assert_eq(cJSON_GetArraySize(shape), mine->n_dims, "%s", mine->name);
        for (int d = 0; d < mine->n_dims; d++)
            cr_assert_eq((int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, mine->ne[d], "%s ne[%d]", mine->name, d);
    }
    cr_log_info("@huggingface/gguf %s read %d key-values and %d tensors", cJSON_GetObjectItem(j, "parser")->valuestring,
                n_js, i);
    sd_gguf_close(g);
    cJSON_Delete(j);
}

/* ---- bad input to the command ---- */

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void expect_fail(int want_rc, const char *needle, const char *fmt, const char *a, const char *b) {
    char args[2048], *o;
    snprintf(args, sizeof args, fmt, a, b);
    int rc = sd_test_semid(&o, "%s", args);
    cr_assert_eq(rc, want_rc, "semid %s: exit %d, expected %d: %s", args, rc, want_rc, o);
    cr_assert(strstr(o, needle), "semid %s: \"%s\" not in: %s", args, needle, o);
    free(o);
}

Test(gguf, bad_input, .timeout = 300) {
    char base[512], empty[600], nowt[600], out[600], user[600], model[512];
    sd_test_tmpdir(base, sizeof base);
    snprintf(empty, sizeof empty, "%s/empty", base);
    mkdir(empty, 0755);
    snprintf(out, sizeof out, "%s/out.gguf", base);
    expect_fail(1, "config.json", "export %s --gguf %s", empty, out);
    expect_fail(1, "/nonexistent", "export %s --gguf %s", "/nonexistent/lm", out);
    snprintf(nowt, sizeof nowt, "%s/noweights", base);
    mkdir(nowt, 0755);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", nowt);
    const char *cj = "{\"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                     "\"num_key_value_heads\": 1, \"head_dim\": 8, \"intermediate_size\": 32, \"vocab_size\": 300}";
    sd_err err;
    cr_assert_eq(sd_write_file_atomic(cfg, cj, strlen(cj), &err), 0);
    expect_fail(1, "safetensors", "export %s --gguf %s", nowt, out);
    cr_assert(!sd_exists(out), "nothing written after a failure");

    make_model(model, sizeof model, 32, 2, 16, 64, true);
    expect_fail(2, "--dtype \"q4_k\"", "export %s --gguf %s --dtype q4_k", model, out);
    expect_fail(2, "--gguf", "export %s%s", model, "");
    expect_fail(2, "is a directory, not a regular file", "export %s --gguf %s", model, base);
    expect_fail(2, "", "export %s --gguf %s extra", model, out);
    /* a file the user wrote is kept unless --force */
    snprintf(user, sizeof user, "%s/notes.gguf", base);
    cr_assert_eq(sd_write_file_atomic(user, "my notes", 8, &err), 0);
    expect_fail(2, "not a GGUF file semid wrote", "export %s --gguf %s", model, user);
    char *txt;
    size_t len;
    cr_assert_eq(sd_read_file(user, &txt, &len, &err), 0);
    cr_assert_str_eq(txt, "my notes");
    free(txt);
    char *o;
    cr_assert_eq(sd_test_semid(&o, "export %s --gguf %s --force --quiet", model, user), 0, "%s", o);
    free(o);
    cr_assert(sd_qwen3_gguf_is_semid(user));
    /* semid's own file is replaced */
    cr_assert_eq(sd_test_semid(&o, "export %s --gguf %s --quiet", model, out), 0, "%s", o);
    free(o);
    int64_t s1 = sd_file_size(out);
    cr_assert_eq(sd_test_semid(&o, "export %s --gguf %s --dtype f32", model, out), 0, "%s", o);
    cr_assert(strstr(o, "f32"), "%s", o);
    free(o);
    cr_assert_gt(sd_file_size(out), s1);
    /* a link is refused */
    char link[700];
    snprintf(link, sizeof link, "%s/link.gguf", base);
    cr_assert_eq(symlink(out, link), 0);
    expect_fail(2, "link.gguf", "export %s --gguf %s", model, link);
    /* no temp files left behind: empty, noweights, out.gguf, notes.gguf, link.gguf, lm's parent holds lm */
    cr_assert_eq(count_entries(base), 5, "%d entries", count_entries(base));
}

/* ---- hostile files ---- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;
static void b_put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) b->p = realloc(b->p, b->cap = (b->n + n) * 2 + 64);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u32(buf *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(buf *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }

/* A valid image: 2 key-values (a string, an array of u32) and one F32 tensor [4, 2]. */
static buf valid_image(void) {
    buf b = {0};
    b_put(&b, "GGUF", 4);
    b_u32(&b, 3);
    b_u64(&b, 1);
    b_u64(&b, 2);
    b_str(&b, "general.architecture");
    b_u32(&b, SD_GGUF_STRING);
    b_str(&b, "qwen3");
    b_str(&b, "a.list");
    b_u32(&b, SD_GGUF_ARRAY);
    b_u32(&b, SD_GGUF_U32);
    b_u64(&b, 3);
    b_u32(&b, 1), b_u32(&b, 2), b_u32(&b, 3);
    b_str(&b, "t");
    b_u32(&b, 2);
    b_u64(&b, 4), b_u64(&b, 2);
    b_u32(&b, SD_GGML_F32);
    b_u64(&b, 0);
    while (b.n % 32) b_put(&b, "", 1);
    for (int i = 0; i < 8; i++) {
        float f = (float)i;
        b_put(&b, &f, 4);
    }
    return b;
}

static void expect_bad(const buf *b, const char *needle) {
    sd_gguf *g;
    sd_err err;
    int rc = sd_gguf_open_buffer(&g, b->p, b->n, "h.gguf", &err);
    cr_assert_neq(rc, 0, "accepted (expected \"%s\")", needle);
    cr_assert(strstr(err.msg, needle) && strstr(err.msg, "h.gguf"), "\"%s\" not in: %s", needle, err.msg);
}

/* offset of the first occurrence of a byte pattern */
static size_t find(const buf *b, const void *pat, size_t n) {
    for (size_t i = 0; i + n <= b->n; i++)
        if (!memcmp(b->p + i, pat, n)) return i;
    cr_assert_fail("pattern not found");
    return 0;
}

Test(gguf, hostile_files) {
    buf b = valid_image();
    sd_gguf *g;
    sd_err err;
    cr_assert_eq(sd_gguf_open_buffer(&g, b.p, b.n, "h.gguf", &err), 0, "%s", err.msg);
    const sd_gguf_tensor *t = sd_gguf_find_tensor(g, "t");
    float f[8];
    cr_assert_eq(sd_gguf_tensor_f32(g, t, f, 8, &err), 0);
    cr_assert_eq(f[7], 7);
    const sd_gguf_kv *arr;
    cr_assert_eq(sd_gguf_get_array(g, "a.list", SD_GGUF_I32, &arr, &err), 0);
    cr_assert_eq(sd_gguf_arr_int(arr, 2), 3);
    uint64_t u;
    cr_assert_neq(sd_gguf_get_uint(g, "general.architecture", &u, &err), 0);
    cr_assert(strstr(err.msg, "is a string, expected an integer"), "%s", err.msg);
    cr_assert_neq(sd_gguf_get_uint(g, "missing.key", &u, &err), 0);
    cr_assert(strstr(err.msg, "\"missing.key\" missing"), "%s", err.msg);
    sd_gguf_close(g);

    /* every truncation fails cleanly */
    for (size_t n = 0; n < b.n; n++) {
        int rc = sd_gguf_open_buffer(&g, b.p, n, "h.gguf", &err);
        cr_assert_neq(rc, 0, "truncated at %zu accepted", n);
    }
    buf c;
#define MUTATE(off, type, val, needle)                                      \
    do {                                                                    \
        c = (buf){.p = malloc(b.n), .n = b.n, .cap = b.n};                  \
        memcpy(c.p, b.p, b.n);                                              \
        type v_ = (val);                                                    \
        memcpy(c.p + (off), &v_, sizeof v_);                                \
        expect_bad(&c, needle);                                             \
        free(c.p);                                                          \
    } while (0)
    MUTATE(0, uint8_t, 'X', "not a GGUF file");
    MUTATE(4, uint32_t, 1, "version 1");
    MUTATE(4, uint32_t, 0x03000000, "big-endian");
    MUTATE(8, uint64_t, UINT64_MAX, "tensors cannot fit");
    MUTATE(16, uint64_t, 1ull << 40, "key-values cannot fit");
    MUTATE(24, uint64_t, 0, "name is empty");
    MUTATE(24, uint64_t, UINT64_MAX, "needs 18446744073709551615 bytes");
    size_t ty = 24 + 8 + strlen("general.architecture");
    MUTATE(ty, uint32_t, 13, "unknown value type 13");
    size_t at = find(&b, "a.list", 6) + 6 + 4; /* element type */
    MUTATE(at, uint32_t, SD_GGUF_ARRAY, "arrays of arrays");
    MUTATE(at + 4, uint64_t, 1ull << 61, "key \"a.list\": needs");
    size_t tn = find(&b, "\x01\0\0\0\0\0\0\0t", 9) + 9; /* after the tensor name */
    MUTATE(tn, uint32_t, 5, "5 dimensions");
    MUTATE(tn + 4, uint64_t, 0, "dimension 0 is 0");
    MUTATE(tn + 4, uint64_t, 1ull << 62, "dimension 1 is");
    MUTATE(tn + 20, uint32_t, 8, "row length 4 is not a multiple of Q8_0's block of 32");
    MUTATE(tn + 20, uint32_t, 99, "unknown or unsupported ggml type 99");
    MUTATE(tn + 24, uint64_t, 4, "not a multiple of the alignment");
    MUTATE(tn + 24, uint64_t, 32, "runs past the end");
    MUTATE(tn + 24, uint64_t, UINT64_MAX - 31, "runs past the end");
    /* the key name with a NUL, duplicate keys */
    MUTATE(24 + 8, uint8_t, 0, "holds a NUL byte");
    buf d = {0};
    b_put(&d, "GGUF", 4), b_u32(&d, 3), b_u64(&d, 0), b_u64(&d, 2);
    b_str(&d, "k"), b_u32(&d, SD_GGUF_U8), b_put(&d, "\x01", 1);
    b_str(&d, "k"), b_u32(&d, SD_GGUF_U8), b_put(&d, "\x02", 1);
    expect_bad(&d, "key \"k\" appears twice");
    d.n = 0;
    b_put(&d, "GGUF", 4), b_u32(&d, 3), b_u64(&d, 0), b_u64(&d, 1);
    b_str(&d, "general.alignment"), b_u32(&d, SD_GGUF_U32), b_u32(&d, 48);
    expect_bad(&d, "power of two");
    d.n = 0;
    b_put(&d, "GGUF", 4), b_u32(&d, 3), b_u64(&d, 0), b_u64(&d, 1);
    b_str(&d, "flag"), b_u32(&d, SD_GGUF_BOOL), b_put(&d, "\x07", 1);
    expect_bad(&d, "bool value 7");
    /* two tensors over the same bytes */
    d.n = 0;
    b_put(&d, "GGUF", 4), b_u32(&d, 3), b_u64(&d, 2), b_u64(&d, 0);
    b_str(&d, "a"), b_u32(&d, 1), b_u64(&d, 8), b_u32(&d, SD_GGML_F32), b_u64(&d, 0);
    b_str(&d, "b"), b_u32(&d, 1), b_u64(&d, 8), b_u32(&d, SD_GGML_F32), b_u64(&d, 0);
    while (d.n % 32) b_put(&d, "", 1);
    for (int i = 0; i < 32; i++) b_put(&d, "", 1);
    expect_bad(&d, "overlap");
    d.n = 0;
    b_put(&d, "GGUF", 4), b_u32(&d, 3), b_u64(&d, 2), b_u64(&d, 0);
    b_str(&d, "a"), b_u32(&d, 1), b_u64(&d, 8), b_u32(&d, SD_GGML_F32), b_u64(&d, 0);
    b_str(&d, "a"), b_u32(&d, 1), b_u64(&d, 8), b_u32(&d, SD_GGML_F32), b_u64(&d, 32);
    expect_bad(&d, "tensor \"a\" appears twice");
    free(d.p);

    /* random corruption never crashes (ASan builds check reads too) */
    uint64_t s = 12345;
    int accepted = 0;
    for (int it = 0; it < 4000; it++) {
        c = (buf){.p = malloc(b.n), .n = b.n};
        memcpy(c.p, b.p, b.n);
        for (int k = 0; k < 1 + it % 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            c.p[(s >> 33) % b.n] = (uint8_t)(s >> 20);
        }
        if (!sd_gguf_open_buffer(&g, c.p, c.n, "h.gguf", &err)) {
            accepted++;
            for (int i = 0; i < sd_gguf_tensor_count(g); i++) {
                const sd_gguf_tensor *x = sd_gguf_tensor_at(g, i);
                if (x->numel <= 1024) {
                    float *o = malloc((size_t)x->numel * sizeof *o);
                    sd_gguf_tensor_f32(g, x, o, (size_t)x->numel, &err);
                    free(o);
                }
            }
            sd_gguf_close(g);
        }
        free(c.p);
    }
    cr_log_info("gguf random corruption: %d of 4000 still valid", accepted);
    free(b.p);
}

/* sd_qwen3_load_gguf on files that parse but are not a usable qwen3 model */
Test(gguf, load_rejects_wrong_models, .timeout = 300) {
    char dir[512], out[600], bad[700];
    make_model(dir, sizeof dir, 32, 2, 16, 64, true);
    snprintf(out, sizeof out, "%s/../m.gguf", dir);
    export_cli(dir, out, "f32");
    char *img;
    size_t len;
    sd_err err;
    cr_assert_eq(sd_read_file(out, &img, &len, &err), 0);
    snprintf(bad, sizeof bad, "%s/../bad.gguf", dir);
    struct { const char *from, *to, *needle; } cases[] = {
        {"qwen3\x0c\0\0\0", "llama\x0c\0\0\0", "general.architecture is \"llama\""},
        {"blk.1.ffn_up.weight", "blk.1.ffn_xx.weight", "\"blk.1.ffn_up.weight\" missing"},
        {"token_embd.weight", "token_embd.weighx", "\"token_embd.weight\" missing"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *c = malloc(len);
        memcpy(c, img, len);
        size_t fl = strlen(cases[k].from) + (k == 0 ? 4 : 0);
        char *p = memmem(c, len, cases[k].from, fl);
        cr_assert(p, "case %zu", k);
        memcpy(p, cases[k].to, fl);
        cr_assert_eq(sd_write_file_atomic(bad, c, len, &err), 0);
        free(c);
        sd_qwen3 m;
        cr_assert_neq(sd_qwen3_load_gguf(&m, bad, &err), 0, "case %zu accepted", k);
        cr_assert(strstr(err.msg, cases[k].needle) && strstr(err.msg, "bad.gguf"), "case %zu: %s", k, err.msg);
    }
    /* a NaN weight */
    sd_gguf *g;
    cr_assert_eq(sd_gguf_open(&g, out, &err), 0);
    size_t at = sd_gguf_data_offset(g) + sd_gguf_find_tensor(g, "blk.0.attn_q.weight")->offset + 40;
    sd_gguf_close(g);
    float nan = NAN;
    memcpy(img + at, &nan, 4);
    cr_assert_eq(sd_write_file_atomic(bad, img, len, &err), 0);
    sd_qwen3 m;
    cr_assert_neq(sd_qwen3_load_gguf(&m, bad, &err), 0);
    cr_assert(strstr(err.msg, "not finite"), "%s", err.msg);
    free(img);
}

/* Files written by another writer (tests/fuzz/make_gguf_seeds.py, numpy): every value type, a
 * 64-byte alignment, Q8_0 blocks made by numpy as gguf-py does, and tiny qwen3 models whose
 * tokenizer section rebuilds into a working tokenizer. */
Test(gguf, reads_independent_files, .timeout = 60) {
    char p[1024];
    sd_gguf *g;
    sd_err err;
    snprintf(p, sizeof p, "%s/../fuzz/corpus/gguf/every_type", sd_test_fixtures());
    cr_assert_eq(sd_gguf_open(&g, p, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_gguf_alignment(g), 64);
    cr_assert_eq(sd_gguf_data_offset(g) % 64, 0);
    cr_assert_eq(sd_gguf_find(g, "i8")->v.i, -1);
    cr_assert_eq(sd_gguf_find(g, "i64")->v.i, -(1ll << 40));
    cr_assert_eq(sd_gguf_find(g, "u64")->v.u, 1ull << 40);
    cr_assert_eq(sd_gguf_find(g, "f32")->v.f, 0.5);
    cr_assert_eq(sd_gguf_find(g, "f64")->v.f, 0.25);
    cr_assert(sd_gguf_find(g, "bool")->v.b);
    sd_gguf_str s;
    cr_assert_eq(sd_gguf_get_str(g, "str", &s, &err), 0);
    cr_assert(s.len == 5 && !memcmp(s.s, "caf\xc3\xa9", 5));
    const sd_gguf_kv *a;
    cr_assert_eq(sd_gguf_get_array(g, "arr.i16", SD_GGUF_I32, &a, &err), 0);
    cr_assert_eq(sd_gguf_arr_int(a, 1), -2);
    cr_assert_eq(sd_gguf_get_array(g, "arr.str", SD_GGUF_STRING, &a, &err), 0);
    cr_assert(a->arr_n == 3 && a->arr_str[1].len == 0 && a->arr_str[2].len == 2);
    cr_assert_eq(sd_gguf_get_array(g, "arr.empty", SD_GGUF_F32, &a, &err), 0);
    cr_assert_eq(a->arr_n, 0);
    float x[64], y[64];
    cr_assert_eq(sd_gguf_tensor_f32(g, sd_gguf_find_tensor(g, "a"), x, 64, &err), 0);
    cr_assert_eq(sd_gguf_tensor_f32(g, sd_gguf_find_tensor(g, "b"), y, 64, &err), 0, "%s", err.msg);
    uint8_t q[68];
    sd_q8_0_quantize(x, 64, q);
    cr_assert_eq(memcmp(q, sd_gguf_find_tensor(g, "b")->data, 68), 0, "Q8_0 bytes as numpy / gguf-py make them");
    for (int i = 0; i < 64; i++) cr_assert_leq(fabsf(x[i] - y[i]), 63.0f / 127.0f * 0.5f * 1.01f);
    sd_gguf_close(g);

    const char *models[] = {"qwen3_tied_q8_0", "qwen3_untied_f16"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/../fuzz/corpus/gguf/%s", sd_test_fixtures(), models[k]);
        sd_qwen3 m;
        cr_assert_eq(sd_qwen3_load_gguf(&m, p, &err), 0, "%s", err.msg);
        cr_assert_eq(m.cfg.tie_word_embeddings, k == 0);
        cr_assert_eq(m.cfg.vocab_size, 266);
        sd_ids ids = {0};
        const char *text = "the<|sid_0|> in<think>";
        sd_tok_encode(m.tok, NULL, text, strlen(text), &ids);
        int32_t want[] = {sd_tok_token_to_id(m.tok, "t"), sd_tok_token_to_id(m.tok, "he"),
                          sd_tok_token_to_id(m.tok, "<|sid_0|>"), -1,
                          sd_tok_token_to_id(m.tok, "in"), sd_tok_token_to_id(m.tok, "<think>")};
        want[3] = sd_tok_token_to_id(m.tok, "\xc4\xa0"); /* " " before "in": no "Ġin" merge */
        cr_assert_eq(ids.n, 6, "%zu ids", ids.n);
        cr_assert_eq(memcmp(ids.v, want, sizeof want), 0);
        cr_assert(sd_tok_is_special(m.tok, want[2]) && !sd_tok_is_special(m.tok, want[5]));
        sd_ids_free(&ids);
        sd_qwen3_free(&m);
    }
}
