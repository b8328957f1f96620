/* Hugging Face folders: load and save a Qwen3 model with its tokenizer files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/finite.h"
#include "base/mem.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "lm/qwen3.h"
#include "nn/checkpoint.h"

#define PREFIX "model."

/* View name -> tensor name: Qwen3-Embedding folders (saved from Qwen3Model) drop "model.". */
static const char *map_name(const char *view, char *buf, size_t cap, void *ctx) {
    const sd_qwen3 *m = ctx;
    (void)buf; (void)cap;
    if (m->no_prefix && !strncmp(view, PREFIX, strlen(PREFIX))) return view + strlen(PREFIX);
    return view;
}

static int read_json_opt(const char *dir, const char *name, cJSON **out, sd_err *err) {
    *out = NULL;
    char *path = sd_path_join(dir, name);
    int rc = sd_exists(path) ? sd_json_read_file(path, out, err) : 0;
    if (!rc && *out && !cJSON_IsObject(*out)) {
        rc = sd_errf(err, SD_EFORMAT, "%s: expected a JSON object", path);
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(path);
    return rc;
}

/* Every tensor in the file must be a parameter (a tied model's lm_head.weight copy aside). */
static int check_extra(const sd_qwen3 *m, const sd_st *st, sd_err *err) {
    char name[1024];
    for (int i = 0; i < sd_st_count(st); i++) {
        const sd_st_tensor *t = sd_st_get(st, i);
        if (m->cfg.tie_word_embeddings && !strcmp(t->name, "lm_head.weight")) continue;
        snprintf(name, sizeof name, "%s%s", m->no_prefix ? PREFIX : "", t->name);
        if (sd_params_index(&m->p, name) < 0) {
            if (!strcmp(t->name, "lm_head.weight"))
                return sd_errf(err, SD_EFORMAT, "%s: tensor \"lm_head.weight\" present but config says "
                               "tie_word_embeddings true", t->file);
            return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" is not a parameter of this Qwen3 config "
                           "(%d layers)", t->file, t->name, m->cfg.num_hidden_layers);
        }
    }
    return 0;
}

/* "[3, 7]" for flat index i of a tensor of this shape. */
static void index_str(char *buf, size_t cap, size_t i, int ndim, const int64_t *shape) {
    size_t idx[SD_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] > 0 ? i % (size_t)shape[d] : 0;
        i = shape[d] > 0 ? i / (size_t)shape[d] : i;
    }
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++) o += (size_t)snprintf(buf + o, cap - o, d ? ", %zu" : "%zu", idx[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* A NaN or Inf weight would let generate run and extend spread it into the new rows, both
 * exiting 0; one parallel pass over the whole buffer (its padding is zero) finds the first. */
static int check_finite(const sd_qwen3 *m, const sd_st *st, const char *dir, sd_err *err) {
    size_t bad = sd_first_nonfinite(m->p.data, m->p.n);
    if (bad == m->p.n) return 0;
    for (int v = 0; v < m->p.n_views; v++) {
        const sd_view *w = &m->p.views[v];
        if (bad < w->offset || bad >= w->offset + w->numel) continue;
        char at[128], buf[8];
        index_str(at, sizeof at, bad - w->offset, w->ndim, w->shape);
        const char *tname = map_name(w->name, buf, sizeof buf, (void *)m);
        const sd_st_tensor *t = sd_st_find(st, tname);
        float x = m->p.data[bad];
        return sd_errf(err, SD_EFORMAT, "%s: tensor \"%s\" holds %s at %s (weights must be finite)",
                       t ? t->file : dir, tname, isnan(x) ? "NaN" : x > 0 ? "+Inf" : "-Inf", at);
    }
    return sd_errf(err, SD_EFORMAT, "%s: a weight is not finite (float %zu of the parameter buffer)", dir, bad);
}

int sd_qwen3_load(sd_qwen3 *m, const char *dir, sd_err *err) {
    memset(m, 0, sizeof *m);
    char *cfg_path = sd_path_join(dir, "config.json");
    cJSON *cj = NULL;
    sd_qwen3_config cfg;
    sd_st *st = NULL;
    int rc = sd_is_dir(dir) ? 0 : sd_errf(err, SD_EIO, "%s: not a model folder", dir);
    if (!rc) rc = sd_json_read_file(cfg_path, &cj, err);
    if (!rc) rc = sd_qwen3_config_parse(&cfg, cj, cfg_path, err);
    if (!rc) rc = sd_qwen3_init(m, &cfg, err);
    if (rc) goto fail;
    m->config_json = cj;
    cj = NULL;
    if ((rc = sd_st_open(&st, dir, err))) goto fail;
    if (sd_st_find(st, "model.embed_tokens.weight")) m->no_prefix = false;
    else if (sd_st_find(st, "embed_tokens.weight")) m->no_prefix = true;
    else {
        rc = sd_errf(err, SD_EFORMAT, "%s: tensor \"model.embed_tokens.weight\" missing (nor \"embed_tokens.weight\")",
                     sd_st_count(st) ? sd_st_get(st, 0)->file : dir);
        goto fail;
    }
    if ((rc = check_extra(m, st, err))) goto fail;
    sd_weights_opts wo = {.map = map_name, .ctx = m, .allow_unused = true};
    if ((rc = sd_weights_load_st(st, &m->p, &wo, err))) goto fail;
    if ((rc = check_finite(m, st, dir, err))) goto fail;
    sd_st_close(st);
    st = NULL;

    char *tok_path = sd_path_join(dir, "tokenizer.json");
    if (sd_exists(tok_path)) {
        rc = sd_tok_load(&m->tok, tok_path, err);
        if (!rc && sd_tok_vocab_size(m->tok) > m->cfg.vocab_size)
            rc = sd_errf(err, SD_EFORMAT, "%s: %d tokens do not fit in %s \"vocab_size\" %d", tok_path,
                         sd_tok_vocab_size(m->tok), cfg_path, m->cfg.vocab_size);
    }
    free(tok_path);
    if (rc) goto fail;
    if ((rc = read_json_opt(dir, "tokenizer_config.json", &m->tokenizer_config, err))) goto fail;
    if ((rc = read_json_opt(dir, "generation_config.json", &m->generation_config, err))) goto fail;
    free(cfg_path);
    return 0;
fail:
    if (st) sd_st_close(st);
    cJSON_Delete(cj);
    free(cfg_path);
    sd_qwen3_free(m);
    return rc;
}

/* ---- save ---- */

/* Qwen3's ChatML with the empty think block when thinking is off (tools not supported); a
 * loaded model keeps its own template. */
static const char *const DEFAULT_CHAT_TEMPLATE =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}";

static void jset(cJSON *obj, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}
static void jdefault(cJSON *obj, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_Delete(v);
    else cJSON_AddItemToObject(obj, key, v);
}

static cJSON *token_or_null(const sd_tokenizer *t, int id) {
    const char *s = t && id >= 0 ? sd_tok_id_to_token(t, id) : NULL;
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *tokenizer_config(const sd_qwen3 *m, const char *chat_template) {
    cJSON *o = m->tokenizer_config ? cJSON_Duplicate(m->tokenizer_config, 1) : cJSON_CreateObject();
    const sd_tokenizer *t = m->tok;
    cJSON *dec = cJSON_CreateObject();
    cJSON *extra = cJSON_CreateArray();
    int32_t eos = m->cfg.n_eos ? m->cfg.eos_token_ids[0] : -1;
    int32_t pad = sd_tok_token_to_id(t, "<|endoftext|>");
    for (int32_t i = 0; i < sd_tok_added_count(t); i++) {
        sd_added_token a;
        int32_t id = sd_tok_added_at(t, i, &a);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "content", a.content);
        cJSON_AddBoolToObject(e, "lstrip", a.lstrip);
        cJSON_AddBoolToObject(e, "normalized", a.normalized);
        cJSON_AddBoolToObject(e, "rstrip", a.rstrip);
        cJSON_AddBoolToObject(e, "single_word", a.single_word);
        cJSON_AddBoolToObject(e, "special", a.special);
        char key[16];
        snprintf(key, sizeof key, "%d", id);
        cJSON_AddItemToObject(dec, key, e);
        if (a.special && id != eos && id != pad) cJSON_AddItemToArray(extra, cJSON_CreateString(a.content));
    }
    jset(o, "added_tokens_decoder", dec);
    jdefault(o, "additional_special_tokens", extra);
    jdefault(o, "add_bos_token", cJSON_CreateFalse());
    jdefault(o, "add_prefix_space", cJSON_CreateFalse());
    jdefault(o, "bos_token", cJSON_CreateNull());
    const char *tmpl = chat_template;
    if (!tmpl) {
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(o, "chat_template");
        tmpl = cJSON_IsString(old) ? NULL : DEFAULT_CHAT_TEMPLATE;
    }
    if (tmpl) jset(o, "chat_template", cJSON_CreateString(tmpl));
    jdefault(o, "clean_up_tokenization_spaces", cJSON_CreateFalse());
    jdefault(o, "eos_token", token_or_null(t, eos));
    jdefault(o, "errors", cJSON_CreateString("replace"));
    jdefault(o, "model_max_length", cJSON_CreateNumber(m->cfg.max_position_embeddings));
    jdefault(o, "pad_token", token_or_null(t, pad));
    jdefault(o, "split_special_tokens", cJSON_CreateFalse());
    jdefault(o, "tokenizer_class", cJSON_CreateString("Qwen2Tokenizer"));
    jdefault(o, "unk_token", cJSON_CreateNull());
    return o;
}

static cJSON *generation_config(const sd_qwen3 *m) {
    if (m->generation_config) return cJSON_Duplicate(m->generation_config, 1);
    cJSON *o = cJSON_CreateObject();
    const sd_qwen3_config *c = &m->cfg;
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", c->bos_token_id);
    if (c->n_eos == 1) cJSON_AddNumberToObject(o, "eos_token_id", c->eos_token_ids[0]);
    else if (c->n_eos > 1) cJSON_AddItemToObject(o, "eos_token_id", cJSON_CreateIntArray(c->eos_token_ids, c->n_eos));
    int32_t pad = m->tok ? sd_tok_token_to_id(m->tok, "<|endoftext|>") : -1;
    if (pad >= 0) cJSON_AddNumberToObject(o, "pad_token_id", pad);
    /* Qwen3's recommended sampling (thinking mode) */
    cJSON_AddBoolToObject(o, "do_sample", true);
    cJSON_AddNumberToObject(o, "temperature", 0.6);
    cJSON_AddNumberToObject(o, "top_k", 20);
    cJSON_AddNumberToObject(o, "top_p", 0.95);
    cJSON_AddStringToObject(o, "transformers_version", "4.51.0");
    return o;
}

static const char *dtype_torch_name(sd_dtype t) {
    return t == SD_DT_BF16 ? "bfloat16" : t == SD_DT_F16 ? "float16" : "float32";
}

static int write_json(const char *dir, const char *name, cJSON *j, sd_err *err) {
    char *path = sd_path_join(dir, name);
    int rc = sd_json_write_file(path, j, true, err);
    free(path);
    cJSON_Delete(j);
    return rc;
}

int sd_qwen3_save(const sd_qwen3 *m, const char *dir, const sd_qwen3_save_opts *opts, sd_err *err) {
    sd_dtype as = opts && opts->store_as ? opts->store_as : SD_DT_F32;
    if (as != SD_DT_F32 && as != SD_DT_BF16 && as != SD_DT_F16)
        return sd_errf(err, SD_EUSAGE, "%s: weights can be stored as F32, BF16 or F16, not %s", dir, sd_dtype_name(as));
    size_t shard = opts && opts->max_shard_bytes ? opts->max_shard_bytes : (size_t)5000000000ull;
    char *tmp = NULL;
    int rc = sd_dir_begin_flags(dir, &tmp, opts ? opts->out_flags : 0, err);
    if (rc) return rc;

    sd_qwen3_config c = m->cfg;
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", dtype_torch_name(as));
    cJSON *cj = m->config_json ? cJSON_Duplicate(m->config_json, 1) : cJSON_CreateObject();
    sd_qwen3_config_to_json(&c, cj);
    rc = write_json(tmp, "config.json", cj, err);

    if (!rc) {
        sd_st_writer *w = sd_st_writer_new();
        sd_st_writer_meta(w, "format", "pt");
        sd_weights_opts wo = {.map = map_name, .ctx = (void *)m, .store_as = as};
        rc = sd_weights_add(w, &m->p, &wo, err);
        if (!rc) rc = sd_st_writer_write_sharded(w, tmp, "model", shard, err);
        sd_st_writer_free(w);
    }
    if (!rc && m->tok) {
        char *path = sd_path_join(tmp, "tokenizer.json");
        rc = sd_tok_save(m->tok, path, err);
        free(path);
        if (!rc) rc = write_json(tmp, "tokenizer_config.json",
                                 tokenizer_config(m, opts ? opts->chat_template : NULL), err);
    }
    if (!rc) rc = write_json(tmp, "generation_config.json", generation_config(m), err);
    if (!rc) rc = sd_dir_commit(tmp, dir, err);
    else sd_dir_abort(tmp);
    free(tmp);
    return rc;
}
