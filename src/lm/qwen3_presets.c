/* Size presets of the Qwen3 architecture for models built from scratch (`semid finetune` without
 * --base) and for benchmarks. The small ones are what 2 cores train in minutes on a store's own
 * language; "qwen3-0.6b" is Qwen3-0.6B's shape (random weights), for sizing what a user with real
 * weights should expect. Each preset is one row: change a size here and every user follows. */
#include <stdio.h>
#include <string.h>
#include "lm/qwen3.h"

typedef struct preset {
    const char *name;
    int hidden, layers, heads, kv_heads, head_dim, ffn;
    bool tied;
} preset;

static const preset PRESETS[] = {
    {"tiny", 128, 4, 4, 2, 32, 384, true},
    {"small", 256, 6, 8, 4, 32, 768, true},
    {"base", 512, 8, 8, 4, 64, 1536, true},
    {"qwen3-0.6b", 1024, 28, 16, 8, 128, 3072, true},
};

const char *sd_qwen3_preset_names(void) { return "tiny, small, base, qwen3-0.6b"; }

int sd_qwen3_preset(sd_qwen3_config *c, const char *name, int32_t vocab_size, sd_err *err) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++) {
        const preset *p = &PRESETS[i];
        if (strcmp(p->name, name)) continue;
        *c = sd_qwen3_config_default();
        c->hidden_size = p->hidden;
        c->num_hidden_layers = p->layers;
        c->num_attention_heads = p->heads;
        c->num_key_value_heads = p->kv_heads;
        c->head_dim = p->head_dim;
        c->intermediate_size = p->ffn;
        c->tie_word_embeddings = p->tied;
        c->vocab_size = vocab_size;
        c->max_position_embeddings = 4096;
        snprintf(c->torch_dtype, sizeof c->torch_dtype, "float32");
        return sd_qwen3_config_check(c, name, err);
    }
    return sd_errf(err, SD_EUSAGE, "unknown model size \"%s\" (choose one of %s)", name, sd_qwen3_preset_names());
}

size_t sd_qwen3_config_params(const sd_qwen3_config *c) {
    size_t C = (size_t)c->hidden_size, qd = (size_t)c->num_attention_heads * c->head_dim,
           kd = (size_t)c->num_key_value_heads * c->head_dim, F = (size_t)c->intermediate_size;
    size_t layer = 2 * C + 2 * (size_t)c->head_dim + C * qd + 2 * C * kd + qd * C + 3 * C * F;
    size_t embed = (size_t)c->vocab_size * C;
    return embed * (c->tie_word_embeddings ? 1 : 2) + (size_t)c->num_hidden_layers * layer + C;
}
