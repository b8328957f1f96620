/* Generic loader: items JSONL, then (after a form feed) interactions as CSV with a header or
 * as JSONL. */
#include "fuzz_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const uint8_t *part[2];
    size_t len[2];
    if (fz_split(data, n, part, len, 2) < 2) return 0;
    char items[512], inter[512];
    fz_write("items.jsonl", part[0], len[0], items, sizeof items);
    fz_write("inter", part[1], len[1], inter, sizeof inter);
    sd_prep_opts o = fz_opts(n);
    o.items_path = items;
    o.inter_path = inter;
    fz_run_loader(sd_load_generic, &o);
    return 0;
}
