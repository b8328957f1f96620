#include "data/workdir.h"
#include "base/version.h"
#include "base/file.h"
#include "base/mem.h"
#include "io/json_util.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static char *meta_json(const sd_catalog *cat, const sd_sequences *seq, const sd_split *sp, const char *format,
                       const char *extra, sd_err *err) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "semid", SEMID_VERSION);
    cJSON_AddStringToObject(m, "format", format ? format : "unknown");
    cJSON_AddNumberToObject(m, "items", cat->n_items);
    cJSON_AddNumberToObject(m, "users", seq->n_users);
    cJSON_AddNumberToObject(m, "interactions", (double)seq->n_inter);
    cJSON_AddStringToObject(m, "split", sd_split_name(sp->kind));
    cJSON_AddNumberToObject(m, "seed", (double)sp->seed);
    if (sp->min_eval_len > 0) cJSON_AddNumberToObject(m, "min_eval_len", sp->min_eval_len);
    if (sp->cold_item) {
        int32_t users = 0;
        for (int32_t u = 0; u < sp->n_users; u++) users += sp->cold_target[u];
        cJSON *c = cJSON_AddObjectToObject(m, "cold_items");
        cJSON_AddNumberToObject(c, "share", sp->cold_share);
        cJSON_AddNumberToObject(c, "items", sp->n_cold);
        cJSON_AddNumberToObject(c, "test_users", users);
    }
    if (extra) {
        cJSON *e = cJSON_Parse(extra);
        if (!e || !cJSON_IsObject(e)) {
            cJSON_Delete(e);
            cJSON_Delete(m);
            sd_errf(err, SD_EFORMAT, "internal: extra metadata is not a JSON object");
            return NULL;
        }
        cJSON *it = e->child;
        while (it) {
            cJSON *next = it->next;
            cJSON_DetachItemViaPointer(e, it);
            cJSON_AddItemToObject(m, it->string, it);
            it = next;
        }
        cJSON_Delete(e);
    }
    char *s = cJSON_Print(m);
    cJSON_Delete(m);
    return s;
}

int sd_work_create(const char *dir, const sd_catalog *cat, const sd_sequences *seq, sd_split_kind kind,
                   uint64_t seed, const char *format, const char *extra_meta, sd_err *err) {
    return sd_work_create_flags(dir, cat, seq, kind, seed, NULL, format, extra_meta, 0, err);
}

int sd_work_create_flags(const char *dir, const sd_catalog *cat, const sd_sequences *seq, sd_split_kind kind,
                         uint64_t seed, const sd_split_opts *so, const char *format, const char *extra_meta,
                         unsigned out_flags, sd_err *err) {
    if (seq->n_items != cat->n_items)
        return sd_errf(err, SD_ESTATE, "internal: sequences over %d items, catalogue has %d", seq->n_items, cat->n_items);
    sd_split sp;
    int rc = sd_split_make(&sp, seq, kind, seed, err);
    if (rc) return rc;
    if (so) {
        sd_split_min_eval_len(&sp, seq, so->min_eval_len);
        sd_split_cold_items(&sp, seq, so->cold_share, seed);
    }
    char *tmp = NULL;
    rc = sd_dir_begin_flags(dir, &tmp, out_flags, err);
    if (rc) { sd_split_free(&sp); return rc; }
    char *p_items = sd_path_join(tmp, "items.jsonl"), *p_seq = sd_path_join(tmp, "sequences.bin");
    char *p_split = sd_path_join(tmp, "split.bin"), *p_meta = sd_path_join(tmp, "meta.json");
    char *meta = NULL;
    rc = sd_catalog_write_jsonl(cat, p_items, err);
    if (!rc) rc = sd_sequences_write(seq, p_seq, err);
    if (!rc) rc = sd_split_write(&sp, p_split, err);
    if (!rc && !(meta = meta_json(cat, seq, &sp, format, extra_meta, err))) rc = SD_EFORMAT;
    if (!rc) rc = sd_write_file_atomic(p_meta, meta, strlen(meta), err);
    if (!rc) rc = sd_dir_commit(tmp, dir, err);
    if (rc) sd_dir_abort(tmp);
    free(meta);
    free(p_items); free(p_seq); free(p_split); free(p_meta); free(tmp);
    sd_split_free(&sp);
    return rc;
}

static int check_split(const sd_split *sp, const sd_sequences *s, const char *path, sd_err *err) {
    for (int32_t u = 0; u < s->n_users; u++) {
        int32_t n = sd_seq_len(s, u);
        if (sp->train_len[u] < 0 || sp->train_len[u] > n || sp->valid_pos[u] < -1 || sp->valid_pos[u] >= n ||
            sp->test_pos[u] < -1 || sp->test_pos[u] >= n)
            return sd_errf(err, SD_EFORMAT, "%s: user %d: positions out of range for a sequence of %d", path, u, n);
    }
    if (sp->cold_item && sp->n_items != s->n_items)
        return sd_errf(err, SD_EFORMAT, "%s: cold items marked over %d items, the sequences have %d", path, sp->n_items,
                       s->n_items);
    return 0;
}

/* meta.json is optional (a hand-made work directory may lack it), but one that is there must be a
 * JSON object whose counts, where given, are those of the binaries: a corrupt or stale one is an
 * error rather than silently ignored. */
static int read_meta(sd_work *w, const char *path, sd_err *err) {
    if (!sd_exists(path)) { w->format = sd_xstrdup("unknown"); return 0; }
    cJSON *m;
    int rc = sd_json_read_file(path, &m, err);
    if (rc) return rc;
    if (!cJSON_IsObject(m)) rc = sd_errf(err, SD_EFORMAT, "%s: expected a JSON object, found %s", path, sd_json_type_name(m));
    const char *format = "unknown";
    if (!rc) rc = sd_json_opt_string(m, "format", &format, "unknown", path, err);
    struct { const char *key; int64_t have; } counts[] = {
        {"items", w->cat->n_items}, {"users", w->seq.n_users}, {"interactions", w->seq.n_inter}};
    for (size_t i = 0; i < sizeof counts / sizeof *counts && !rc; i++) {
        int64_t v = counts[i].have;
        rc = sd_json_opt_i64(m, counts[i].key, &v, counts[i].have, path, err);
        if (!rc && v != counts[i].have)
            rc = sd_errf(err, SD_EFORMAT, "%s: \"%s\" is %lld but the work directory holds %lld (meta.json from another "
                         "run?)", path, counts[i].key, (long long)v, (long long)counts[i].have);
    }
    if (!rc) w->format = sd_xstrdup(format);
    cJSON_Delete(m);
    return rc;
}

int sd_work_load(sd_work *w, const char *dir, sd_err *err) {
    memset(w, 0, sizeof *w);
    if (!sd_is_dir(dir)) return sd_errf(err, SD_EIO, "%s: not a work directory (run `semid synth` or `semid prep` first)", dir);
    w->dir = sd_xstrdup(dir);
    char *p_items = sd_work_path(w, "items.jsonl"), *p_seq = sd_work_path(w, "sequences.bin");
    char *p_split = sd_work_path(w, "split.bin"), *p_meta = sd_work_path(w, "meta.json");
    int rc = sd_catalog_read_jsonl(&w->cat, p_items, err);
    if (!rc) rc = sd_sequences_read(&w->seq, p_seq, err);
    if (!rc && w->seq.n_items != w->cat->n_items)
        rc = sd_errf(err, SD_EFORMAT, "%s: sequences over %d items but items.jsonl has %d", p_seq, w->seq.n_items, w->cat->n_items);
    if (!rc) rc = sd_split_read(&w->split, p_split, w->seq.n_users, err);
    if (!rc) rc = check_split(&w->split, &w->seq, p_split, err);
    if (!rc) rc = read_meta(w, p_meta, err);
    free(p_items); free(p_seq); free(p_split); free(p_meta);
    if (rc) sd_work_free(w);
    return rc;
}

void sd_work_free(sd_work *w) {
    free(w->dir);
    sd_catalog_free(w->cat);
    sd_sequences_free(&w->seq);
    sd_split_free(&w->split);
    free(w->format);
    memset(w, 0, sizeof *w);
}

char *sd_work_path(const sd_work *w, const char *name) { return sd_path_join(w->dir, name); }
