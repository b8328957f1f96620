/* The files one `semid ids` run writes (sids.tsv, sids.bin, sid_vocab.json, ids_report.json,
 * ids_codebooks.npy, rqvae.safetensors) are one set. They are renamed into WORK one after
 * another, so a run killed between renames would leave new and old files side by side. The record
 * PREFIXids_set.json, renamed into place last, lists every file of the set with its size and
 * CRC-32 and a generation id (a hash of those), and every reader of sids.tsv / sids.bin /
 * sid_vocab.json checks the set against it:
 *   {"semid": "0.1.0", "generation": "1a2b3c4d5e6f7081",
 *    "files": {"sids.tsv": {"bytes": 1234, "crc32": "89abcdef"}, ...}}
 * Without a record (files made by hand or by an older semid) there is nothing to check. */
#ifndef SD_SID_SET_H
#define SD_SID_SET_H
#include "base/err.h"

typedef struct sd_sid_set_file {
    const char *name;   /* final file name in the directory, prefix included */
    const char *staged; /* where it is now (its contents are what the record describes) */
} sd_sid_set_file;

/* Writes dir/PREFIXids_set.json describing files (read from their staged paths) atomically. */
int sd_sid_set_write(const char *dir, const char *prefix, const sd_sid_set_file *files, int n, sd_err *err);
/* path is a sids.tsv, sids.bin or sid_vocab.json (any prefix): when its directory holds the
 * record of its set, every file the record lists must be there with the recorded size and CRC-32;
 * otherwise the error names the files that differ and the record. Other paths are not checked. */
int sd_sid_set_check(const char *path, sd_err *err);
/* malloc'd record path for a sids.tsv / sids.bin / sid_vocab.json path, or NULL for other names. */
char *sd_sid_set_record_path(const char *path);

#endif
