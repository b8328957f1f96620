/* Items as JSON: the catalogue fields, the semantic ID, attributes as an object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "serve/serve_internal.h"

/* ---- JSON of items ---- */

static cJSON *attrs_json(const sd_catalog *cat, const sd_item *it) {
    cJSON *o = cJSON_CreateObject();
    const sd_kv *a = sd_item_attrs(cat, it);
    for (uint32_t i = 0; i < it->n_attrs; i++) {
        cJSON *prev = cJSON_GetObjectItemCaseSensitive(o, a[i].key);
        if (!prev) cJSON_AddStringToObject(o, a[i].key, a[i].value);
        else if (cJSON_IsArray(prev)) cJSON_AddItemToArray(prev, cJSON_CreateString(a[i].value));
        else { /* a repeated key (multi-valued): the values become a list */
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, cJSON_CreateString(prev->valuestring));
            cJSON_AddItemToArray(arr, cJSON_CreateString(a[i].value));
            cJSON_ReplaceItemInObjectCaseSensitive(o, a[i].key, arr);
        }
    }
    return o;
}

cJSON *sd_srv_item_json(sd_server *s, int32_t id, bool full) {
    const sd_catalog *cat = s->cat;
    const sd_item *it = &cat->items[id];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ext_id", it->ext_id);
    cJSON_AddStringToObject(o, "title", it->title);
    if (full) cJSON_AddStringToObject(o, "description", it->description);
    cJSON_AddStringToObject(o, "sid", s->eng.rec.sid_str[id]);
    cJSON_AddItemToObject(o, "attrs", attrs_json(cat, it));
    if (full) {
        cJSON *c = cJSON_AddArrayToObject(o, "categories");
        for (uint32_t i = 0; i < it->n_categories; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(sd_item_categories(cat, it)[i]));
        cJSON *f = cJSON_AddArrayToObject(o, "features");
        for (uint32_t i = 0; i < it->n_features; i++)
            cJSON_AddItemToArray(f, cJSON_CreateString(sd_item_features(cat, it)[i]));
    }
    return o;
}

cJSON *sd_srv_named_json(sd_server *s, const sd_chat_named *it, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = sd_srv_item_json(s, it[i].item, false);
        if (isfinite(it[i].logprob)) cJSON_AddNumberToObject(o, "score", it[i].logprob);
        else cJSON_AddNullToObject(o, "score");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}
