/* Qwen3 <-> GGUF in llama.cpp's qwen3 layout (what convert_hf_to_gguf.py's Qwen3Model writes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/finite.h"
#include "base/mem.h"
#include "base/version.h"
#include "io/gguf.h"
#include "lm/qwen3.h"

#define ARCH "qwen3"

/* Hugging Face name (after "model.layers.N.") -> llama.cpp name (after "blk.N."). */
static const char *const LAYER_NAMES[][2] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

/* The llama.cpp name of a parameter view, or -1 when it has none. */
static int gguf_name(const char *view, char *out, size_t cap) {
    if (!strcmp(view, "model.embed_tokens.weight")) return snprintf(out, cap, "token_embd.weight"), 0;
    if (!strcmp(view, "model.norm.weight")) return snprintf(out, cap, "output_norm.weight"), 0;
    if (!strcmp(view, "lm_head.weight")) return snprintf(out, cap, "output.weight"), 0;
    int layer, n = 0;
    if (sscanf(view, "model.layers.%d.%n", &layer, &n) != 1 || n == 0) return -1;
    for (size_t i = 0; i < sizeof LAYER_NAMES / sizeof *LAYER_NAMES; i++)
        if (!strcmp(view + n, LAYER_NAMES[i][0])) return snprintf(out, cap, "blk.%d.%s", layer, LAYER_NAMES[i][1]), 0;
    return -1;
}

int sd_qwen3_gguf_type_parse(const char *s, sd_qwen3_gguf_type *out) {
    static const char *const names[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) return *out = (sd_qwen3_gguf_type)i, 0;
    return -1;
}
const char *sd_qwen3_gguf_type_name(sd_qwen3_gguf_type t) {
    return t == SD_QWEN3_GGUF_F16 ? "f16" : t == SD_QWEN3_GGUF_BF16 ? "bf16" : t == SD_QWEN3_GGUF_Q8_0 ? "q8_0" : "f32";
}

static uint32_t file_type(sd_qwen3_gguf_type t) {
    return t == SD_QWEN3_GGUF_F16    ? SD_GGUF_FT_MOSTLY_F16
           : t == SD_QWEN3_GGUF_BF16 ? SD_GGUF_FT_MOSTLY_BF16
           : t == SD_QWEN3_GGUF_Q8_0 ? SD_GGUF_FT_MOSTLY_Q8_0
                                     : SD_GGUF_FT_ALL_F32;
}

/* As convert_hf_to_gguf.py: 1-D tensors (the norms) F32; matrices the asked type, Q8_0 falling
 * back to F16 for rows that are not whole blocks. */
static sd_ggml_type tensor_type(sd_qwen3_gguf_type t, int ndim, int64_t row) {
    if (ndim < 2) return SD_GGML_F32;
    switch (t) {
    case SD_QWEN3_GGUF_F16: return SD_GGML_F16;
    case SD_QWEN3_GGUF_BF16: return SD_GGML_BF16;
    case SD_QWEN3_GGUF_Q8_0: return row % SD_GGUF_QK8_0 == 0 ? SD_GGML_Q8_0 : SD_GGML_F16;
    default: return SD_GGML_F32;
    }
}

/* convert_hf_to_gguf.py's does_token_look_special: added tokens not marked special that are
 * control tokens by their spelling. */
static bool looks_special(const char *s) {
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]")) return true;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>")) return true;
    const char *fw = "\xef\xbd\x9c"; /* U+FF5C fullwidth vertical line (deepseek's <｜...｜>) */
    if (n >= 8 && s[0] == '<' && !strncmp(s + 1, fw, 3) && !strncmp(s + n - 4, fw, 3) && s[n - 1] == '>') return true;
    return n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>';
}

/* The id of an added token whose content is s (SpecialVocab looks only at added tokens). */
static int32_t added_id(const sd_tokenizer *t, const char *s) {
    for (int32_t i = 0; i < sd_tok_added_count(t); i++) {
        sd_added_token a;
        int32_t id = sd_tok_added_at(t, i, &a);
        if (!strcmp(a.content, s)) return id;
    }
    return -1;
}

/* gguf.SpecialVocab: tokenizer_config.json's "<typ>_token" (a string or {"content": ...}) when
 * it is an added token, else config.json's integer "<typ>_token_id"; -1 when neither. */
static int32_t special_id(const sd_qwen3 *m, const char *typ) {
    char key[32];
    snprintf(key, sizeof key, "%s_token", typ);
    const cJSON *e = m->tokenizer_config ? cJSON_GetObjectItemCaseSensitive(m->tokenizer_config, key) : NULL;
    if (cJSON_IsObject(e)) e = cJSON_GetObjectItemCaseSensitive(e, "content");
    int32_t id = cJSON_IsString(e) ? added_id(m->tok, e->valuestring) : -1;
    if (id >= 0) return id;
    snprintf(key, sizeof key, "%s_token_id", typ);
    if (m->config_json) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m->config_json, key);
        double v = cJSON_IsNumber(c) ? c->valuedouble : -1;
        return v >= 0 && v < m->cfg.vocab_size && v == floor(v) ? (int32_t)v : -1;
    }
    /* a model made in memory: its config fields */
    if (!strcmp(typ, "bos")) return m->cfg.bos_token_id;
    if (!strcmp(typ, "eos") && m->cfg.n_eos == 1) return m->cfg.eos_token_ids[0];
    return -1;
}

static void add_tokenizer(sd_gguf_writer *w, const sd_qwen3 *m) {
    const sd_tokenizer *t = m->tok;
    int32_t V = m->cfg.vocab_size;
    uint8_t *added = sd_xcalloc((size_t)V, 1); /* 1 added, 2 added special */
    for (int32_t i = 0; i < sd_tok_added_count(t); i++) {
        sd_added_token a;
        int32_t id = sd_tok_added_at(t, i, &a);
        if (id >= 0 && id < V) added[id] = a.special ? 2 : 1;
    }
    const char **toks = sd_xmalloc((size_t)V * sizeof *toks);
    int32_t *types = sd_xmalloc((size_t)V * sizeof *types);
    char **pads = sd_xcalloc((size_t)V, sizeof *pads);
    for (int32_t id = 0; id < V; id++) {
        const char *s = sd_tok_id_to_token(t, id);
        if (!s) {
            char buf[32];
            snprintf(buf, sizeof buf, "[PAD%d]", id);
            toks[id] = pads[id] = sd_xstrdup(buf);
            types[id] = SD_TOK_TYPE_UNUSED;
            continue;
        }
        toks[id] = s;
        types[id] = !added[id] ? SD_TOK_TYPE_NORMAL
                    : added[id] == 2 || looks_special(s) ? SD_TOK_TYPE_CONTROL
                                                        : SD_TOK_TYPE_USER_DEFINED;
    }
    sd_gguf_add_str(w, "tokenizer.ggml.model", "gpt2");
    sd_gguf_add_str(w, "tokenizer.ggml.pre", "qwen2");
    sd_gguf_add_str_array(w, "tokenizer.ggml.tokens", toks, NULL, (size_t)V);
    sd_gguf_add_i32_array(w, "tokenizer.ggml.token_type", types, (size_t)V);
    int32_t nm = sd_tok_merge_count(t);
    char **merges = sd_xmalloc((size_t)(nm ? nm : 1) * sizeof *merges);
    for (int32_t i = 0; i < nm; i++) {
        int32_t a, b;
        sd_tok_merge_at(t, i, &a, &b);
        const char *sa = sd_tok_id_to_token(t, a), *sb = sd_tok_id_to_token(t, b);
        size_t la = strlen(sa), lb = strlen(sb);
        merges[i] = sd_xmalloc(la + lb + 2);
        memcpy(merges[i], sa, la);
        merges[i][la] = ' ';
        memcpy(merges[i] + la + 1, sb, lb + 1);
    }
    sd_gguf_add_str_array(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL, (size_t)nm);
    for (int32_t i = 0; i < nm; i++) free(merges[i]);
    free(merges);
    static const char *const typs[][2] = {{"bos", "tokenizer.ggml.bos_token_id"},
                                          {"eos", "tokenizer.ggml.eos_token_id"},
                                          {"pad", "tokenizer.ggml.padding_token_id"}};
    for (int i = 0; i < 3; i++) {
        int32_t id = special_id(m, typs[i][0]);
        if (id >= 0 && id < V) sd_gguf_add_u32(w, typs[i][1], (uint32_t)id);
    }
    const cJSON *tc = m->tokenizer_config;
    const cJSON *ab = tc ? cJSON_GetObjectItemCaseSensitive(tc, "add_bos_token") : NULL;
    const cJSON *ae = tc ? cJSON_GetObjectItemCaseSensitive(tc, "add_eos_token") : NULL;
    sd_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", cJSON_IsTrue(ab)); /* Qwen: false */
    if (cJSON_IsBool(ae)) sd_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", cJSON_IsTrue(ae));
    const cJSON *ct = tc ? cJSON_GetObjectItemCaseSensitive(tc, "chat_template") : NULL;
    if (cJSON_IsString(ct)) sd_gguf_add_str(w, "tokenizer.chat_template", ct->valuestring);
    for (int32_t id = 0; id < V; id++) free(pads[id]);
    free(pads);
    free(toks);
    free(types);
    free(added);
}

int sd_qwen3_save_gguf(const sd_qwen3 *m, const char *path, const sd_qwen3_gguf_opts *opts, sd_qwen3_gguf_info *info,
                       sd_err *err) {
    sd_qwen3_gguf_type ty = opts ? opts->type : SD_QWEN3_GGUF_F32;
    if (!m->tok)
        return sd_errf(err, SD_ESTATE, "%s: the model has no tokenizer (tokenizer.json); llama.cpp needs the vocabulary",
                       path);
    const sd_qwen3_config *c = &m->cfg;
    sd_gguf_writer *w = sd_gguf_writer_new();
    sd_gguf_add_str(w, "general.architecture", ARCH);
    sd_gguf_add_str(w, "general.type", "model");
    sd_gguf_add_str(w, "general.name", opts && opts->name && *opts->name ? opts->name : "qwen3");
    sd_gguf_add_u32(w, "general.alignment", SD_GGUF_DEFAULT_ALIGNMENT);
    sd_gguf_add_u32(w, ARCH ".block_count", (uint32_t)c->num_hidden_layers);
    sd_gguf_add_u32(w, ARCH ".context_length", (uint32_t)c->max_position_embeddings);
    sd_gguf_add_u32(w, ARCH ".embedding_length", (uint32_t)c->hidden_size);
    sd_gguf_add_u32(w, ARCH ".feed_forward_length", (uint32_t)c->intermediate_size);
    sd_gguf_add_u32(w, ARCH ".attention.head_count", (uint32_t)c->num_attention_heads);
    sd_gguf_add_u32(w, ARCH ".attention.head_count_kv", (uint32_t)c->num_key_value_heads);
    sd_gguf_add_f32(w, ARCH ".rope.freq_base", (float)c->rope_theta);
    sd_gguf_add_f32(w, ARCH ".attention.layer_norm_rms_epsilon", (float)c->rms_norm_eps);
    sd_gguf_add_u32(w, ARCH ".attention.key_length", (uint32_t)c->head_dim);
    sd_gguf_add_u32(w, ARCH ".attention.value_length", (uint32_t)c->head_dim);
    sd_gguf_add_u32(w, "general.file_type", file_type(ty));
    add_tokenizer(w, m);
    sd_gguf_add_u32(w, "general.quantization_version", 2);
    sd_gguf_add_str(w, "semid.version", SEMID_VERSION); /* marks the file as semid's (may be replaced) */

    sd_qwen3_gguf_info inf = {0};
    int rc = 0;
    for (int v = 0; v < m->p.n_views && !rc; v++) {
        const sd_view *view = &m->p.views[v];
        char name[128];
        if (gguf_name(view->name, name, sizeof name)) {
            rc = sd_errf(err, SD_EUSAGE, "%s: parameter \"%s\" has no llama.cpp name", path, view->name);
            break;
        }
        int64_t ne[SD_GGUF_MAX_DIMS];
        for (int d = 0; d < view->ndim; d++) ne[d] = view->shape[view->ndim - 1 - d];
        sd_ggml_type tt = tensor_type(ty, view->ndim, ne[0]);
        rc = sd_gguf_add_tensor(w, name, view->ndim, ne, tt, m->p.data + view->offset, err);
        inf.n_tensors++;
        if (tt == SD_GGML_F32) inf.n_f32++;
        else if (tt == SD_GGML_F16) inf.n_f16++;
        else if (tt == SD_GGML_BF16) inf.n_bf16++;
        else inf.n_q8_0++;
    }
    inf.bytes = sd_gguf_writer_size(w);
    if (!rc) rc = sd_gguf_writer_write(w, path, err);
    sd_gguf_writer_free(w);
    if (!rc && info) *info = inf;
    return rc;
}

bool sd_qwen3_gguf_is_semid(const char *path) {
    sd_gguf *g;
    sd_err err;
    if (sd_gguf_open(&g, path, &err)) return false;
    const sd_gguf_kv *kv = sd_gguf_find(g, "semid.version");
    bool ok = kv && kv->type == SD_GGUF_STRING;
    sd_gguf_close(g);
    return ok;
}

/* ---- reading ---- */

/* Sizes are capped far above any Qwen3 so that the parameter count cannot overflow. */
static int get_int_max(const sd_gguf *g, const char *key, int max, int *out, sd_err *err) {
    uint64_t v;
    if (sd_gguf_get_uint(g, key, &v, err)) return SD_EFORMAT;
    if (v > (uint64_t)max)
        return sd_errf(err, SD_EFORMAT, "%s: key \"%s\" is %llu (at most %d supported)", sd_gguf_label(g), key,
                       (unsigned long long)v, max);
    *out = (int)v;
    return 0;
}
static int get_int(const sd_gguf *g, const char *key, int *out, sd_err *err) {
    return get_int_max(g, key, 1 << 16, out, err);
}

static int read_config(const sd_gguf *g, sd_qwen3_config *c, bool *tied, sd_err *err) {
    const char *f = sd_gguf_label(g);
    sd_gguf_str arch;
    if (sd_gguf_get_str(g, "general.architecture", &arch, err)) return SD_EFORMAT;
    if (arch.len != strlen(ARCH) || memcmp(arch.s, ARCH, arch.len))
        return sd_errf(err, SD_EFORMAT, "%s: general.architecture is \"%.*s\", expected \"qwen3\"", f,
                       (int)(arch.len < 64 ? arch.len : 64), arch.s);
    *c = sd_qwen3_config_default();
    double theta, eps;
    if (get_int(g, ARCH ".block_count", &c->num_hidden_layers, err) ||
        get_int(g, ARCH ".embedding_length", &c->hidden_size, err) ||
        get_int_max(g, ARCH ".feed_forward_length", 1 << 20, &c->intermediate_size, err) ||
        get_int(g, ARCH ".attention.head_count", &c->num_attention_heads, err) ||
        get_int(g, ARCH ".attention.head_count_kv", &c->num_key_value_heads, err) ||
        get_int_max(g, ARCH ".context_length", 1 << 30, &c->max_position_embeddings, err) ||
        sd_gguf_get_float(g, ARCH ".rope.freq_base", &theta, err) ||
        sd_gguf_get_float(g, ARCH ".attention.layer_norm_rms_epsilon", &eps, err))
        return SD_EFORMAT;
    c->rope_theta = theta;
    c->rms_norm_eps = eps;
    c->head_dim = c->num_attention_heads > 0 ? c->hidden_size / c->num_attention_heads : 0;
    if (sd_gguf_find(g, ARCH ".attention.key_length") && get_int(g, ARCH ".attention.key_length", &c->head_dim, err))
        return SD_EFORMAT;
    int vd = c->head_dim;
    if (sd_gguf_find(g, ARCH ".attention.value_length") && get_int(g, ARCH ".attention.value_length", &vd, err))
        return SD_EFORMAT;
    if (vd != c->head_dim)
        return sd_errf(err, SD_EFORMAT, "%s: value_length %d differs from key_length %d (Qwen3 has one head_dim)", f, vd,
                       c->head_dim);
    const sd_gguf_tensor *e = sd_gguf_find_tensor(g, "token_embd.weight");
    if (!e) return sd_errf(err, SD_EFORMAT, "%s: tensor \"token_embd.weight\" missing", f);
    if (e->n_dims != 2 || e->ne[0] != c->hidden_size || e->ne[1] > (1 << 24))
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"token_embd.weight\" is not [vocab, %d] (ne %lld x %lld)", f,
                       c->hidden_size, (long long)e->ne[0], (long long)e->ne[1]);
    c->vocab_size = (int)e->ne[1];
    *tied = !sd_gguf_find_tensor(g, "output.weight");
    c->tie_word_embeddings = *tied;
    uint64_t id;
    c->bos_token_id = -1;
    if (sd_gguf_find(g, "tokenizer.ggml.bos_token_id")) {
        if (sd_gguf_get_uint(g, "tokenizer.ggml.bos_token_id", &id, err)) return SD_EFORMAT;
        if (id < (uint64_t)c->vocab_size) c->bos_token_id = (int)id;
    }
    if (sd_gguf_find(g, "tokenizer.ggml.eos_token_id")) {
        if (sd_gguf_get_uint(g, "tokenizer.ggml.eos_token_id", &id, err)) return SD_EFORMAT;
        if (id < (uint64_t)c->vocab_size) c->eos_token_ids[c->n_eos++] = (int)id;
    }
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "float32");
    return sd_qwen3_config_check(c, f, err);
}

static int read_tokenizer(const sd_gguf *g, int32_t V, sd_tokenizer **out, sd_err *err) {
    const char *f = sd_gguf_label(g);
    const sd_gguf_kv *toks, *types, *merges = NULL;
    if (sd_gguf_get_array(g, "tokenizer.ggml.tokens", SD_GGUF_STRING, &toks, err) ||
        sd_gguf_get_array(g, "tokenizer.ggml.token_type", SD_GGUF_I32, &types, err))
        return SD_EFORMAT;
    if (sd_gguf_find(g, "tokenizer.ggml.merges") &&
        sd_gguf_get_array(g, "tokenizer.ggml.merges", SD_GGUF_STRING, &merges, err))
        return SD_EFORMAT;
    if (toks->arr_n != (uint64_t)V || types->arr_n != (uint64_t)V)
        return sd_errf(err, SD_EFORMAT, "%s: %llu tokens and %llu token types for %d embedding rows (must be equal)", f,
                       (unsigned long long)toks->arr_n, (unsigned long long)types->arr_n, V);
    if (merges && merges->arr_n > (1u << 24))
        return sd_errf(err, SD_EFORMAT, "%s: %llu merges (too many)", f, (unsigned long long)merges->arr_n);
    int32_t nm = merges ? (int32_t)merges->arr_n : 0;
    const char **ts = sd_xmalloc((size_t)(V ? V : 1) * sizeof *ts);
    size_t *tl = sd_xmalloc((size_t)(V ? V : 1) * sizeof *tl);
    int32_t *ty = sd_xmalloc((size_t)(V ? V : 1) * sizeof *ty);
    const char **ms = sd_xmalloc((size_t)(nm ? nm : 1) * sizeof *ms);
    size_t *ml = sd_xmalloc((size_t)(nm ? nm : 1) * sizeof *ml);
    for (int32_t i = 0; i < V; i++) {
        ts[i] = toks->arr_str[i].s;
        tl[i] = (size_t)toks->arr_str[i].len;
        int64_t t = sd_gguf_arr_int(types, (uint64_t)i);
        ty[i] = t >= 0 && t < 100 ? (int32_t)t : 99;
    }
    for (int32_t i = 0; i < nm; i++) {
        ms[i] = merges->arr_str[i].s;
        ml[i] = (size_t)merges->arr_str[i].len;
    }
    sd_tok_build_in in = {.n_tokens = V, .tokens = ts, .lens = tl, .types = ty, .n_merges = nm, .merges = ms,
                          .merge_lens = ml, .nfc = true, .where = f};
    int rc = sd_tok_build(out, &in, err);
    free(ts); free(tl); free(ty); free(ms); free(ml);
    return rc;
}

int sd_qwen3_load_gguf(sd_qwen3 *m, const char *path, sd_err *err) {
    memset(m, 0, sizeof *m);
    sd_gguf *g;
    int rc = sd_gguf_open(&g, path, err);
    if (rc) return rc;
    sd_qwen3_config c;
    bool tied = true;
    /* the tensors must hold exactly the config's parameters before anything is allocated for
     * them: a hostile header cannot ask for more memory than its data backs */
    if (!(rc = read_config(g, &c, &tied, err))) {
        size_t want = sd_qwen3_config_params(&c), have = 0;
        int want_t = 2 + 11 * c.num_hidden_layers + (tied ? 0 : 1);
        for (int i = 0; i < sd_gguf_tensor_count(g); i++) have += (size_t)sd_gguf_tensor_at(g, i)->numel;
        if (have != want || sd_gguf_tensor_count(g) != want_t)
            rc = sd_errf(err, SD_EFORMAT, "%s: %d tensors of %zu values in all, but the qwen3 hyper-parameters need %d of "
                         "%zu", path, sd_gguf_tensor_count(g), have, want_t, want);
    }
    if (rc || (rc = sd_qwen3_init(m, &c, err))) {
        sd_gguf_close(g);
        return rc;
    }
    char name[128];
    for (int v = 0; v < m->p.n_views && !rc; v++) {
        const sd_view *view = &m->p.views[v];
        if (gguf_name(view->name, name, sizeof name)) continue;
        const sd_gguf_tensor *t = sd_gguf_find_tensor(g, name);
        if (!t) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" missing", path, name);
            break;
        }
        bool same = t->n_dims == view->ndim;
        for (int d = 0; same && d < view->ndim; d++) same = t->ne[d] == view->shape[view->ndim - 1 - d];
        if (!same) {
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" has ne [%lld, %lld, %lld, %lld] (%d dims), expected the "
                         "reverse of [%lld, %lld]", path, name, (long long)t->ne[0], (long long)t->ne[1],
                         (long long)t->ne[2], (long long)t->ne[3], t->n_dims, (long long)view->shape[0],
                         (long long)(view->ndim > 1 ? view->shape[1] : 1));
            break;
        }
        rc = sd_gguf_tensor_f32(g, t, m->p.data + view->offset, view->numel, err);
    }
    /* every tensor must be a parameter */
    for (int i = 0; i < sd_gguf_tensor_count(g) && !rc; i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        bool found = false;
        for (int v = 0; v < m->p.n_views && !found; v++)
            found = !gguf_name(m->p.views[v].name, name, sizeof name) && !strcmp(name, t->name);
        if (!found)
            rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is not a parameter of this qwen3 model (%d layers, %s)",
                         path, t->name, c.num_hidden_layers, tied ? "tied" : "untied");
    }
    if (!rc) {
        size_t bad = sd_first_nonfinite(m->p.data, m->p.n);
        if (bad != m->p.n) rc = sd_errf(err, SD_EFORMAT, "%s: a weight is not finite (weights must be finite)", path);
    }
    if (!rc) rc = read_tokenizer(g, c.vocab_size, &m->tok, err);
    sd_gguf_close(g);
    if (rc) sd_qwen3_free(m);
    return rc;
}
