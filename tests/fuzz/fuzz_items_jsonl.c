/* WORK/items.jsonl (the catalogue semid writes) through sd_catalog_read_jsonl; every accepted
 * item's strings are then read. */
#include "fuzz_common.h"
#include "data/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("items.jsonl", data, n, path, sizeof path);
    sd_catalog *c;
    sd_err err;
    if (sd_catalog_read_jsonl(&c, path, &err)) return 0;
    size_t sum = 0;
    for (int32_t i = 0; i < c->n_items; i++) {
        const sd_item *it = &c->items[i];
        sum += strlen(it->ext_id) + strlen(it->title) + strlen(it->description);
        for (uint32_t k = 0; k < it->n_features; k++) sum += strlen(sd_item_features(c, it)[k]);
        for (uint32_t k = 0; k < it->n_categories; k++) sum += strlen(sd_item_categories(c, it)[k]);
        for (uint32_t k = 0; k < it->n_attrs; k++) sum += strlen(sd_item_attrs(c, it)[k].key) + strlen(sd_item_attrs(c, it)[k].value);
        if (sd_catalog_find(c, it->ext_id) != i) abort();
    }
    sd_catalog_free(c);
    return sum == 42 ? 0 : 0;
}
