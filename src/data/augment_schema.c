/* The augment schema and the validation of LLM answers (data/augment_schema.h). */
#define _GNU_SOURCE /* memmem */
#include "data/augment_schema.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/mem.h"
#include "base/clean.h"

/* The closed sets: the synthetic store's names first (what lmdata's phrasings were written for),
 * then what Amazon's Video Games catalogue adds. */
static const char *const product_types[] = {"game", "console", "accessory", "software", "merchandise", "movie",
                                            "other", NULL};
static const char *const platforms[] = {
    "PlayStation 5", "PlayStation 4", "PlayStation 3", "PlayStation 2", "PlayStation", "PS Vita", "PSP",
    "Xbox Series X", "Xbox One", "Xbox 360", "Xbox", "Nintendo Switch", "Wii U", "Wii", "Nintendo 3DS",
    "Nintendo DS", "GameCube", "Nintendo 64", "Game Boy Advance", "Game Boy", "PC", "Mac", "Meta Quest", NULL};
static const char *const genres[] = {"RPG", "Shooter", "Racing", "Sports", "Platformer", "Puzzle", "Strategy",
                                     "Fighting", "Simulation", "Horror", "Adventure", "Action", "Music", "Party",
                                     NULL};
static const char *const multiplayer[] = {"no", "yes", "online", NULL};

const sd_aug_field_def sd_aug_fields[SD_AUG_N_FIELDS] = {
    [SD_AUG_PRODUCT_TYPE] = {"product_type", product_types, false, false},
    [SD_AUG_PLATFORM] = {"platform", platforms, false, true},
    [SD_AUG_GENRE] = {"genre", genres, true, false},
    [SD_AUG_FRANCHISE] = {"franchise", NULL, false, true},
    [SD_AUG_MULTIPLAYER] = {"multiplayer", multiplayer, false, true},
};

const char *const sd_aug_reason_name[SD_AUG_N_REASONS] = {
    [SD_AUG_OK] = "ok",
    [SD_AUG_R_ENVELOPE] = "not a chat completion (no choices[0].message.content)",
    [SD_AUG_R_BAD_JSON] = "content is not a JSON object",
    [SD_AUG_R_MISSING] = "a field is missing",
    [SD_AUG_R_TYPE] = "a field has the wrong type",
    [SD_AUG_R_VALUE] = "a value outside the schema",
};

const char *sd_aug_canonical(sd_aug_field f, const char *value) {
    const char *const *l = sd_aug_fields[f].allowed;
    if (!l) return value;
    for (; *l; l++) if (!strcasecmp(*l, value)) return *l;
    return NULL;
}

/* A model that ignores response_format often fences its JSON, and a Qwen3 one may think aloud
 * first ("<think>...</think>"); nothing else around the object is forgiven. */
static void strip_fence(const char **s, size_t *len) {
    const char *p = *s, *e = p + *len;
    while (p < e && strchr(" \t\r\n", *p)) p++;
    if (e - p >= 7 && !strncmp(p, "<think>", 7)) {
        const char *q = memmem(p, (size_t)(e - p), "</think>", 8);
        if (q) p = q + 8;
        while (p < e && strchr(" \t\r\n", *p)) p++;
    }
    while (e > p && strchr(" \t\r\n", e[-1])) e--;
    if (e - p >= 6 && !strncmp(p, "```", 3) && !strncmp(e - 3, "```", 3)) {
        p += 3, e -= 3;
        if (e - p >= 4 && !strncasecmp(p, "json", 4)) p += 4;
    }
    *s = p, *len = (size_t)(e - p);
}

static sd_aug_reason one_value(sd_aug_field f, const cJSON *v, const char *where, const char **out, char **owned,
                               char *why, size_t cap) {
    const sd_aug_field_def *d = &sd_aug_fields[f];
    if (cJSON_IsNull(v) && d->nullable) { *out = NULL; return SD_AUG_OK; }
    if (!cJSON_IsString(v)) { snprintf(why, cap, "%s is not a string", where); return SD_AUG_R_TYPE; }
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (!d->allowed) {
        /* open text: one short line of valid UTF-8, or it is not a name */
        if (!n || n > SD_AUG_MAX_FRANCHISE || !sd_utf8_valid(s, n) || strpbrk(s, "\n\r\t")) {
            snprintf(why, cap, "%s is not a short name", where);
            return SD_AUG_R_VALUE;
        }
        *owned = sd_xstrdup(s);
        *out = *owned;
        return SD_AUG_OK;
    }
    const char *c = sd_aug_canonical(f, s);
    if (!c) { snprintf(why, cap, "%s \"%.40s\" is not allowed", where, s); return SD_AUG_R_VALUE; }
    *out = c;
    return SD_AUG_OK;
}

sd_aug_reason sd_aug_validate(const char *content, size_t len, sd_aug_values *out, char **owned, char *why,
                              size_t cap) {
    memset(out, 0, sizeof *out);
    *owned = NULL;
    why[0] = 0;
    strip_fence(&content, &len);
    cJSON *j = cJSON_ParseWithLength(content, len);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(why, cap, "%s", j ? "not an object" : "does not parse");
        cJSON_Delete(j);
        return SD_AUG_R_BAD_JSON;
    }
    sd_aug_reason r = SD_AUG_OK;
    for (int f = 0; f < SD_AUG_N_FIELDS && r == SD_AUG_OK; f++) {
        const sd_aug_field_def *d = &sd_aug_fields[f];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, d->key);
        if (!v) { snprintf(why, cap, "\"%s\" missing", d->key); r = SD_AUG_R_MISSING; break; }
        if (!d->list) { r = one_value((sd_aug_field)f, v, d->key, &out->v[f], owned, why, cap); continue; }
        if (!cJSON_IsArray(v)) { snprintf(why, cap, "\"%s\" is not a list", d->key); r = SD_AUG_R_TYPE; break; }
        if (cJSON_GetArraySize(v) > SD_AUG_MAX_GENRES) {
            snprintf(why, cap, "\"%s\" has more than %d values", d->key, SD_AUG_MAX_GENRES);
            r = SD_AUG_R_VALUE;
            break;
        }
        const cJSON *e;
        int k = 0;
        cJSON_ArrayForEach(e, v) {
            char where[48];
            snprintf(where, sizeof where, "%s[%d]", d->key, k);
            const char *g = NULL;
            if (cJSON_IsNull(e)) { snprintf(why, cap, "%s is null", where); r = SD_AUG_R_TYPE; break; }
            if ((r = one_value((sd_aug_field)f, e, where, &g, owned, why, cap)) != SD_AUG_OK) break;
            bool dup = false;
            for (int i = 0; i < out->n_genres; i++) dup |= out->genres[i] == g;
            if (!dup) out->genres[out->n_genres++] = g;
            k++;
        }
        out->v[f] = out->n_genres ? out->genres[0] : NULL;
    }
    cJSON_Delete(j);
    if (r != SD_AUG_OK) {
        free(*owned);
        *owned = NULL;
        memset(out, 0, sizeof *out);
    }
    return r;
}

char *sd_aug_system_prompt(void) {
    size_t cap = 4096, n = 0;
    char *s = sd_xmalloc(cap);
#define PUT(...) do { int w_ = snprintf(s + n, cap - n, __VA_ARGS__); if (w_ > 0) n += (size_t)w_ < cap - n ? (size_t)w_ : cap - n - 1; } while (0)
    PUT("You label products of a store catalogue. Answer with one JSON object and nothing else, with exactly these "
        "fields:\n");
    for (int f = 0; f < SD_AUG_N_FIELDS; f++) {
        const sd_aug_field_def *d = &sd_aug_fields[f];
        PUT("- \"%s\": ", d->key);
        if (d->list) PUT("a list of 0 to %d of ", SD_AUG_MAX_GENRES);
        if (d->allowed) {
            PUT("%s", d->list ? "these values: " : "one of ");
            for (const char *const *a = d->allowed; *a; a++) PUT("%s\"%s\"", a == d->allowed ? "" : ", ", *a);
        } else {
            PUT("the series or brand universe the product belongs to (a short name, at most %d characters)",
                SD_AUG_MAX_FRANCHISE);
        }
        if (d->nullable) PUT(", or null when it does not apply or is unknown");
        PUT("\n");
    }
    PUT("\"multiplayer\" is \"online\" when the game can be played with others over the internet, \"yes\" for local "
        "play together only, \"no\" for single-player only. Use only the values listed.");
#undef PUT
    return s;
}
