/* config.json <-> sd_qwen3_config. */
#include <stdio.h>
#include <string.h>
#include "base/utf8.h"
#include "io/json_util.h"
#include "lm/qwen3.h"

sd_qwen3_config sd_qwen3_config_default(void) {
    sd_qwen3_config c;
    memset(&c, 0, sizeof c);
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.tie_word_embeddings = true;
    c.max_position_embeddings = 40960;
    c.bos_token_id = -1;
    snprintf(c.architectures, sizeof c.architectures, "Qwen3ForCausalLM");
    return c;
}

int sd_qwen3_config_check(const sd_qwen3_config *c, const char *where, sd_err *err) {
    const char *w = where ? where : "config";
    struct { const char *key; int v; } sizes[] = {
        {"hidden_size", c->hidden_size}, {"num_hidden_layers", c->num_hidden_layers},
        {"num_attention_heads", c->num_attention_heads}, {"num_key_value_heads", c->num_key_value_heads},
        {"head_dim", c->head_dim}, {"intermediate_size", c->intermediate_size}, {"vocab_size", c->vocab_size},
        {"max_position_embeddings", c->max_position_embeddings}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].v <= 0) return sd_errf(err, SD_EFORMAT, "%s: \"%s\" is %d, must be positive", w, sizes[i].key, sizes[i].v);
    if (c->num_attention_heads % c->num_key_value_heads)
        return sd_errf(err, SD_EFORMAT, "%s: \"num_key_value_heads\" %d does not divide \"num_attention_heads\" %d", w,
                       c->num_key_value_heads, c->num_attention_heads);
    if (c->head_dim % 2) return sd_errf(err, SD_EFORMAT, "%s: \"head_dim\" %d must be even (rotary embedding)", w, c->head_dim);
    /* Bounds that keep every [rows, cols] product in int range for the ops. */
    if ((int64_t)c->num_attention_heads * c->head_dim > (1 << 20) || c->hidden_size > (1 << 20) ||
        c->intermediate_size > (1 << 22) || c->vocab_size > (1 << 24) || c->num_hidden_layers > 4096)
        return sd_errf(err, SD_ERANGE, "%s: sizes too large (hidden %d, heads %d x %d, ffn %d, vocab %d, layers %d)", w,
                       c->hidden_size, c->num_attention_heads, c->head_dim, c->intermediate_size, c->vocab_size,
                       c->num_hidden_layers);
    if (!(c->rms_norm_eps > 0) || c->rms_norm_eps > 1)
        return sd_errf(err, SD_EFORMAT, "%s: \"rms_norm_eps\" %g must be in (0, 1]", w, c->rms_norm_eps);
    if (!(c->rope_theta > 0) || c->rope_theta > 1e12)
        return sd_errf(err, SD_EFORMAT, "%s: \"rope_theta\" %g must be positive", w, c->rope_theta);
    if (c->bos_token_id < -1 || c->bos_token_id >= c->vocab_size)
        return sd_errf(err, SD_ERANGE, "%s: \"bos_token_id\" %d out of range [0, %d)", w, c->bos_token_id, c->vocab_size);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] < 0 || c->eos_token_ids[i] >= c->vocab_size)
            return sd_errf(err, SD_ERANGE, "%s: \"eos_token_id\" %d out of range [0, %d)", w, c->eos_token_ids[i],
                           c->vocab_size);
    return 0;
}

/* An id key: absent or null -> none; an int; for eos also a list of ints. */
static int get_ids(const cJSON *obj, const char *key, int *ids, int *n, int max, int vocab, const char *w,
                   sd_err *err) {
    *n = 0;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) return 0;
    int cnt = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;
    if (cJSON_IsArray(j) && max == 1) return sd_errf(err, SD_EFORMAT, "%s: \"%s\": expected an integer, found an array", w, key);
    if (cnt > max) return sd_errf(err, SD_ERANGE, "%s: \"%s\": more than %d ids", w, key, max);
    for (int i = 0; i < cnt; i++) {
        const cJSON *e = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, i) : j;
        int64_t v;
        char what[64];
        snprintf(what, sizeof what, cJSON_IsArray(j) ? "%s[%d]" : "%s", key, i);
        int rc = sd_json_as_i64(e, &v, w, what, err);
        if (rc) return rc;
        if (v < 0 || v >= vocab)
            return sd_errf(err, SD_ERANGE, "%s: \"%s\" %lld out of range [0, %d)", w, what, (long long)v, vocab);
        ids[(*n)++] = (int)v;
    }
    return 0;
}

int sd_qwen3_config_parse(sd_qwen3_config *c, const cJSON *j, const char *where, sd_err *err) {
    const char *w = where ? where : "config.json";
    *c = sd_qwen3_config_default();
    if (!cJSON_IsObject(j)) return sd_errf(err, SD_EFORMAT, "%s: expected a JSON object", w);
    int rc = 0;
    const char *mt = NULL;
    if ((rc = sd_json_opt_string(j, "model_type", &mt, NULL, w, err))) return rc;
    if (mt && strcmp(mt, "qwen3"))
        return sd_errf(err, SD_EFORMAT, "%s: \"model_type\" is \"%s\", expected \"qwen3\"", w,
                       sd_quote_bytes((char[SD_QUOTE_CAP]){0}, SD_QUOTE_CAP, mt, strlen(mt)));
    if ((rc = sd_json_get_int(j, "hidden_size", &c->hidden_size, w, err)) ||
        (rc = sd_json_get_int(j, "num_hidden_layers", &c->num_hidden_layers, w, err)) ||
        (rc = sd_json_get_int(j, "num_attention_heads", &c->num_attention_heads, w, err)) ||
        (rc = sd_json_opt_int(j, "num_key_value_heads", &c->num_key_value_heads, c->num_attention_heads, w, err)) ||
        (rc = sd_json_get_int(j, "intermediate_size", &c->intermediate_size, w, err)) ||
        (rc = sd_json_get_int(j, "vocab_size", &c->vocab_size, w, err)) ||
        (rc = sd_json_opt_int(j, "max_position_embeddings", &c->max_position_embeddings, 40960, w, err)) ||
        (rc = sd_json_opt_double(j, "rms_norm_eps", &c->rms_norm_eps, 1e-6, w, err)) ||
        (rc = sd_json_opt_double(j, "rope_theta", &c->rope_theta, 1000000.0, w, err)) ||
        (rc = sd_json_opt_bool(j, "tie_word_embeddings", &c->tie_word_embeddings, false, w, err)))
        return rc;
    if (c->num_attention_heads <= 0)
        return sd_errf(err, SD_EFORMAT, "%s: \"num_attention_heads\" is %d, must be positive", w, c->num_attention_heads);
    if ((rc = sd_json_opt_int(j, "head_dim", &c->head_dim, c->hidden_size / c->num_attention_heads, w, err))) return rc;
    /* Features of the Hugging Face class this model does not implement. */
    bool flag = false;
    if ((rc = sd_json_opt_bool(j, "attention_bias", &flag, false, w, err))) return rc;
    if (flag) return sd_errf(err, SD_EFORMAT, "%s: \"attention_bias\" true is not supported", w);
    if ((rc = sd_json_opt_bool(j, "use_sliding_window", &flag, false, w, err))) return rc;
    if (flag) return sd_errf(err, SD_EFORMAT, "%s: \"use_sliding_window\" true is not supported", w);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) return sd_errf(err, SD_EFORMAT, "%s: \"rope_scaling\" is not supported (expected null)", w);
    const char *act = NULL;
    if ((rc = sd_json_opt_string(j, "hidden_act", &act, "silu", w, err))) return rc;
    if (strcmp(act, "silu"))
        return sd_errf(err, SD_EFORMAT, "%s: \"hidden_act\" \"%s\" is not supported (expected silu)", w,
                       sd_quote_bytes((char[SD_QUOTE_CAP]){0}, SD_QUOTE_CAP, act, strlen(act)));
    const char *dt = NULL, *dt_key = "torch_dtype";
    if ((rc = sd_json_opt_string(j, "torch_dtype", &dt, "", w, err))) return rc;
    if (!dt[0]) { /* transformers >= 4.56 */
        dt_key = "dtype";
        if ((rc = sd_json_opt_string(j, "dtype", &dt, "", w, err))) return rc;
    }
    /* the stored weights' dtype is chosen from it (extend, save): an unknown name is refused
     * rather than silently read as float32 */
    if (dt[0] && strcmp(dt, "float32") && strcmp(dt, "bfloat16") && strcmp(dt, "float16")) {
        char q[SD_QUOTE_CAP];
        return sd_errf(err, SD_EFORMAT, "%s: \"%s\" \"%s\" is not supported (expected float32, bfloat16 or float16)", w,
                       dt_key, sd_quote_bytes(q, sizeof q, dt, strlen(dt)));
    }
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", dt);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    if (arch && !cJSON_IsNull(arch)) {
        const cJSON *a0 = cJSON_GetArrayItem(arch, 0);
        if (!cJSON_IsArray(arch) || (a0 && !cJSON_IsString(a0)))
            return sd_errf(err, SD_EFORMAT, "%s: \"architectures\": expected an array of strings", w);
        if (a0) snprintf(c->architectures, sizeof c->architectures, "%s", a0->valuestring);
    }
    if (c->vocab_size <= 0) return sd_errf(err, SD_EFORMAT, "%s: \"vocab_size\" is %d, must be positive", w, c->vocab_size);
    int n = 0;
    if ((rc = get_ids(j, "bos_token_id", &c->bos_token_id, &n, 1, c->vocab_size, w, err))) return rc;
    if (!n) c->bos_token_id = -1;
    if ((rc = get_ids(j, "eos_token_id", c->eos_token_ids, &c->n_eos, SD_QWEN3_MAX_EOS, c->vocab_size, w, err)))
        return rc;
    return sd_qwen3_config_check(c, w, err);
}

int sd_qwen3_config_load(sd_qwen3_config *c, const char *path, sd_err *err) {
    cJSON *j;
    int rc = sd_json_read_file(path, &j, err);
    if (rc) return rc;
    rc = sd_qwen3_config_parse(c, j, path, err);
    cJSON_Delete(j);
    return rc;
}

static void set(cJSON *obj, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}
static void set_default(cJSON *obj, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_Delete(v);
    else cJSON_AddItemToObject(obj, key, v);
}

void sd_qwen3_config_to_json(const sd_qwen3_config *c, cJSON *o) {
    const char *arch[1] = {c->architectures[0] ? c->architectures : "Qwen3ForCausalLM"};
    set(o, "architectures", cJSON_CreateStringArray(arch, 1));
    set_default(o, "attention_bias", cJSON_CreateFalse());
    set_default(o, "attention_dropout", cJSON_CreateNumber(0.0));
    set(o, "bos_token_id", c->bos_token_id >= 0 ? cJSON_CreateNumber(c->bos_token_id) : cJSON_CreateNull());
    if (c->n_eos == 1) set(o, "eos_token_id", cJSON_CreateNumber(c->eos_token_ids[0]));
    else if (c->n_eos > 1) set(o, "eos_token_id", cJSON_CreateIntArray(c->eos_token_ids, c->n_eos));
    else set(o, "eos_token_id", cJSON_CreateNull());
    set(o, "head_dim", cJSON_CreateNumber(c->head_dim));
    set_default(o, "hidden_act", cJSON_CreateString("silu"));
    set(o, "hidden_size", cJSON_CreateNumber(c->hidden_size));
    set_default(o, "initializer_range", cJSON_CreateNumber(0.02));
    set(o, "intermediate_size", cJSON_CreateNumber(c->intermediate_size));
    set(o, "max_position_embeddings", cJSON_CreateNumber(c->max_position_embeddings));
    set_default(o, "max_window_layers", cJSON_CreateNumber(c->num_hidden_layers));
    set(o, "model_type", cJSON_CreateString("qwen3"));
    set(o, "num_attention_heads", cJSON_CreateNumber(c->num_attention_heads));
    set(o, "num_hidden_layers", cJSON_CreateNumber(c->num_hidden_layers));
    set(o, "num_key_value_heads", cJSON_CreateNumber(c->num_key_value_heads));
    set(o, "rms_norm_eps", cJSON_CreateNumber(c->rms_norm_eps));
    set_default(o, "rope_scaling", cJSON_CreateNull());
    set(o, "rope_theta", cJSON_CreateNumber(c->rope_theta));
    set_default(o, "sliding_window", cJSON_CreateNull());
    set(o, "tie_word_embeddings", cJSON_CreateBool(c->tie_word_embeddings));
    if (c->torch_dtype[0]) set(o, "torch_dtype", cJSON_CreateString(c->torch_dtype));
    set_default(o, "transformers_version", cJSON_CreateString("4.51.0"));
    set_default(o, "use_cache", cJSON_CreateTrue());
    set_default(o, "use_sliding_window", cJSON_CreateFalse());
    set(o, "vocab_size", cJSON_CreateNumber(c->vocab_size));
}
