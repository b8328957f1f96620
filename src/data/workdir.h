/* The work directory every stage reads and writes:
 *   items.jsonl     the catalogue, human readable (data/catalog.h)
 *   sequences.bin   per-user sequences, CSR, mmap-able (data/sequences.h)
 *   split.bin       per-user train/valid/test positions (data/split.h)
 *   meta.json       counts, source format, split kind, seed
 * Later stages add their own files (emb.npy, sids.tsv, ...). */
#ifndef SD_WORKDIR_H
#define SD_WORKDIR_H
#include "data/catalog.h"
#include "data/sequences.h"
#include "data/split.h"

typedef struct sd_work {
    char *dir;
    sd_catalog *cat;
    sd_sequences seq;
    sd_split split;
    char *format;     /* source format from meta.json */
} sd_work;

/* Writes a complete new work directory atomically (replacing dir if it exists). The split is
 * computed here from kind and seed. extra_meta (may be NULL) is a JSON object string merged in. */
int sd_work_create(const char *dir, const sd_catalog *cat, const sd_sequences *seq, sd_split_kind split,
                   uint64_t seed, const char *format, const char *extra_meta, sd_err *err);
/* The same with out_flags for sd_dir_begin_flags (SD_OUT_FORCE: --force) and the split's options
 * (data/split.h: min_eval_len, cold items; NULL: none). dir may be replaced only when it is absent,
 * empty or semid's own (base/file.h); the caller holds its lock. */
int sd_work_create_flags(const char *dir, const sd_catalog *cat, const sd_sequences *seq, sd_split_kind split,
                         uint64_t seed, const sd_split_opts *so, const char *format, const char *extra_meta,
                         unsigned out_flags, sd_err *err);
int sd_work_load(sd_work *w, const char *dir, sd_err *err);
void sd_work_free(sd_work *w);
/* malloc'd path of a file in the work directory. */
char *sd_work_path(const sd_work *w, const char *name);

#endif
