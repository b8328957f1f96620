/* semid sasrec WORK [--sid]: trains SASRec (or SID-SASRec) on WORK's training split, keeps the
 * epoch with the best validation NDCG@10, reports test figures with the shared evaluator and
 * writes WORK/sasrec/ (or WORK/sasrec_sid/): model.safetensors + config.json, atomically.
 * Training checkpoints go beside the output folder, OUT.ckpt.safetensors (by default
 * WORK/sasrec.ckpt.safetensors, WORK/sasrec_sid.ckpt.safetensors)
 * and are kept after a finished run, so `--resume` of a finished run re-reports it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "cmd/model_registry.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/workdir.h"
#include "eval/evaluate.h"
#include "nn/dist.h"
#include "rec/sasrec.h"
#include "rec/sasrec_sid.h"

/* Test figures under full ranking and 100 sampled negatives, printed and returned as JSON. */
static int report_test(const sd_scorer *sc, const sd_work *w, uint64_t seed, cJSON *out, sd_err *err) {
    sd_protocol protos[2] = {SD_PROTO_FULL, SD_PROTO_SAMPLED100};
    printf("| model | protocol | users | HR@10 | NDCG@10 | MRR |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2; i++) {
        sd_eval_opts eo = sd_eval_defaults();
        eo.protocol = protos[i];
        eo.seed = seed;
        sd_metrics mt;
        int rc = sd_evaluate(sc, &w->seq, &w->split, &eo, &mt, NULL, err);
        if (rc) return rc;
        printf("| %s | %s | %lld | %.4f | %.4f | %.4f |\n", sc->name, sd_protocol_name(protos[i]),
               (long long)mt.n_users, mt.hit[1], mt.ndcg[1], mt.mrr);
        cJSON *o = cJSON_AddObjectToObject(out, sd_protocol_name(protos[i]));
        cJSON_AddNumberToObject(o, "users", (double)mt.n_users);
        cJSON_AddNumberToObject(o, "hit@10", mt.hit[1]);
        cJSON_AddNumberToObject(o, "ndcg@10", mt.ndcg[1]);
        cJSON_AddNumberToObject(o, "mrr", mt.mrr);
    }
    return 0;
}

/* The validation curve beside the model (DIR/train_log.csv: epoch, the epoch's mean training loss,
 * validation NDCG@10 and HR@10), for `semid report`; a resumed run logs from its resume on. */
static int write_valid_log(const sd_fit_report *rep, const char *dir, sd_err *err) {
    size_t cap = 64 + (size_t)rep->n_valid_log * 80, n = 0;
    char *csv = sd_xmalloc(cap);
    n += (size_t)snprintf(csv, cap, "epoch,loss,valid_ndcg@10,valid_hit@10\n");
    for (int i = 0; i < rep->n_valid_log; i++) {
        const sd_fit_log_row *r = &rep->valid_log[i];
        n += (size_t)snprintf(csv + n, cap - n, "%d,%.6f,%.6f,%.6f\n", r->epoch, r->loss, r->ndcg10, r->hit10);
    }
    char *path = sd_path_join(dir, "train_log.csv");
    int rc = sd_write_file_atomic(path, csv, n, err);
    free(path);
    free(csv);
    return rc;
}

/* The checkpoint sits beside the output folder and is written under its lock, so runs into other
 * --out folders never share one (WORK/sasrec -> WORK/sasrec.ckpt.safetensors). malloc'd. */
static char *ckpt_path_for(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *p = sd_xmalloc(n + sizeof ".ckpt.safetensors");
    memcpy(p, dir, n);
    memcpy(p + n, ".ckpt.safetensors", sizeof ".ckpt.safetensors");
    return p;
}

static int run(int argc, char **argv) {
    sd_sasrec_cfg c = sd_sasrec_defaults();
    sd_train_opts t = sd_sasrec_train_defaults();
    const char *loss = "bce", *block = "pmixer", *out_dir = NULL, *sid_mode = "prefix", *sids_prefix = NULL;
    bool sid = false, cosine = false, resume = false, no_ckpt = false, force = false;
    int ckpt_every = 1, stop_after = 0;
    double lr = t.adam.lr, b1 = t.adam.beta1, b2 = t.adam.beta2, wd = t.adam.weight_decay;
    float dropout = c.dropout, clip = t.clip;
    int warmup = (int)t.warmup;
    sd_opt opts[] = {
        {.name = "dim", .type = SD_OPT_INT, .ptr = &c.dim, .metavar = "D", .help = "hidden size (default 50)"},
        {.name = "blocks", .type = SD_OPT_INT, .ptr = &c.blocks, .metavar = "N",
         .help = "transformer blocks (default 2)"},
        {.name = "heads", .type = SD_OPT_INT, .ptr = &c.heads, .metavar = "N",
         .help = "attention heads, dividing --dim (default 1)"},
        {.name = "maxlen", .type = SD_OPT_INT, .ptr = &c.maxlen, .metavar = "N",
         .help = "longest context in items (default 50)"},
        {.name = "dropout", .type = SD_OPT_FLOAT, .ptr = &dropout, .metavar = "P",
         .help = "dropout rate (default 0.5)"},
        {.name = "block", .type = SD_OPT_STR, .ptr = &block, .metavar = "B",
         .help = "pmixer (FFN residual from its LayerNorm'd input, padding keys attended, "
                 "attention dropout: learns as the paper's code) or standard pre-LN "
                 "(default pmixer)"},
        {.name = "loss", .type = SD_OPT_STR, .ptr = &loss, .metavar = "L",
         .help = "bce (one sampled negative per position, the paper) or softmax (default bce)"},
        {.name = "lr", .type = SD_OPT_DOUBLE, .ptr = &lr, .metavar = "X", .help = "learning rate (default 0.001)"},
        {.name = "beta1", .type = SD_OPT_DOUBLE, .ptr = &b1, .metavar = "X", .help = "Adam beta1 (default 0.9)"},
        {.name = "beta2", .type = SD_OPT_DOUBLE, .ptr = &b2, .metavar = "X", .help = "Adam beta2 (default 0.98)"},
        {.name = "weight-decay", .type = SD_OPT_DOUBLE, .ptr = &wd, .metavar = "X",
         .help = "AdamW decoupled weight decay on matrices (default 0)"},
        {.name = "warmup", .type = SD_OPT_INT, .ptr = &warmup, .metavar = "STEPS",
         .help = "linear learning-rate warmup (default 0)"},
        {.name = "cosine", .type = SD_OPT_FLAG, .ptr = &cosine, .help = "cosine learning-rate decay to 0 over the run"},
        {.name = "clip", .type = SD_OPT_FLOAT, .ptr = &clip, .metavar = "X",
         .help = "clip the global gradient norm (default 0 = off)"},
        {.name = "batch", .type = SD_OPT_INT, .ptr = &t.batch, .metavar = "N", .help = "users per step (default 128)"},
        {.name = "epochs", .type = SD_OPT_INT, .ptr = &t.epochs, .metavar = "N",
         .help = "passes over the training users (default 200)"},
        {.name = "eval-every", .type = SD_OPT_INT, .ptr = &t.eval_every_epochs, .metavar = "K",
         .help = "validate every K epochs (default 20)"},
        {.name = "patience", .type = SD_OPT_INT, .ptr = &t.patience, .metavar = "N",
         .help = "stop after N validations without improvement (default 0 = never)"},
        {.name = "sid", .type = SD_OPT_FLAG, .ptr = &sid,
         .help = "SID-SASRec on WORK/sids.tsv (writes WORK/sasrec_sid/)"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids_prefix, .metavar = "PREFIX",
         .help = "with --sid: train on WORK/PREFIXsids.tsv (and PREFIXsid_vocab.json, PREFIXids_set.json), the set "
                 "`semid ids --out-prefix PREFIX` wrote; recorded in config.json, so `semid eval` reads the same "
                 "set (default: WORK/sids.tsv)"},
        {.name = "sid-mode", .type = SD_OPT_STR, .ptr = &sid_mode, .metavar = "M",
         .help = "with --sid: prefix (item = sum of its prefix embeddings c0, c0c1, ...: shared by similar "
                 "items, the deepest one the item's own; default), sum (item = sum of its code embeddings) or "
                 "tokens (one token per code, per-level heads over the code trie)"},
        {.name = "out", .type = SD_OPT_STR, .ptr = &out_dir, .metavar = "DIR",
         .help = "output folder (default WORK/sasrec or WORK/sasrec_sid)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace the output folder even if it is a non-empty folder semid did not write"},
        {.name = "ckpt-every", .type = SD_OPT_INT, .ptr = &ckpt_every, .metavar = "N",
         .help = "write the training checkpoint every N epochs (and after the "
                 "last) (default 1)"},
        {.name = "no-ckpt", .type = SD_OPT_FLAG, .ptr = &no_ckpt, .help = "write no training checkpoint"},
        {.name = "resume", .type = SD_OPT_FLAG, .ptr = &resume,
         .help = "continue from the training checkpoint; all options (and --threads, "
                 "for bit-identical results) must be those of the interrupted run"},
        {.name = "stop-after", .type = SD_OPT_INT, .ptr = &stop_after, .metavar = "N",
         .help = "stop after epoch N as if interrupted: checkpoint written, no "
                 "model, no test report (default 0 = run all epochs)"},
        {0},
    };
    sd_usage u = {.usage = "semid sasrec WORK [options]",
                  .about = "Trains SASRec (Kang & McAuley 2018) on WORK's training split, validates every "
                           "--eval-every\n"
                           "epochs (full ranking, NDCG@10), keeps the best epoch and reports test figures. With "
                           "--sid,\n"
                           "the semantic-ID variant over WORK/sids.tsv (--sids PREFIX: WORK/PREFIXsids.tsv).\n"
                           "Checkpoints: after every --ckpt-every epochs the whole training state (parameters, AdamW\n"
                           "moments, step, epoch, best epoch and its parameters, the options and a fingerprint of the\n"
                           "data) goes atomically beside the output folder: WORK/sasrec.ckpt.safetensors (with --sid\n"
                           "WORK/sasrec_sid.ckpt.safetensors, with --out DIR DIR.ckpt.safetensors); --resume\n"
                           "continues from it bit-identically. The\n"
                           "checkpoint is kept after a finished run (a later run without --resume overwrites it).",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos;
    int npos;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *work = pos[0];
    t.adam.lr = lr; t.adam.beta1 = b1; t.adam.beta2 = b2; t.adam.weight_decay = wd; c.dropout = dropout; t.clip = clip;
    t.warmup = warmup; t.schedule = cosine ? SD_LR_COSINE : SD_LR_CONSTANT; t.seed = sd_seed;
    t.progress = sd_quiet ? NULL : "sasrec";
    sd_sid_mode mode = SD_SID_TOKENS;
    if (sd_rec_loss_parse(loss, &c.loss))
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: unknown --loss '%s' (choose bce or softmax)", loss);
    else if (sd_seqenc_block_parse(block, &c.block))
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: unknown --block '%s' (choose pmixer or standard)", block);
    else if (sd_sid_mode_parse(sid_mode, &mode))
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: unknown --sid-mode '%s' (choose prefix, sum or tokens)", sid_mode);
    else if ((rc = sd_sasrec_cfg_check(&c, &err)) || (rc = sd_sasrec_train_check(&t, &err)))
        sd_err_prefix(&err, "sasrec: ");
    else if (sids_prefix && !sid)
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: --sids %s needs --sid (it names the semantic IDs SID-SASRec trains on)",
                     sids_prefix);
    else if (ckpt_every <= 0)
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: --ckpt-every must be > 0 (got %d)", ckpt_every);
    else if (stop_after < 0)
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: --stop-after must be >= 0 (got %d)", stop_after);
    else if (no_ckpt && (resume || stop_after))
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: --no-ckpt cannot be combined with --resume or --stop-after");
    else if (out_dir && sd_path_within(pos[0], out_dir))
        rc = sd_errf(&err, SD_EUSAGE, "sasrec: --out %s is the work directory %s or holds it; replacing it would "
                     "delete the work directory (leave --out out for WORK/%s)", out_dir, pos[0],
                     sid ? "sasrec_sid" : "sasrec");
    if (rc) { free(pos); return sd_cmd_error(&err); }

    /* WORK stays as it is while this trains (shared lock: prep/synth wait, other stages run) */
    sd_lock lk = {.fd = -1}, lk_work = {.fd = -1};
    sd_work w;
    if ((rc = sd_lock_output_shared(&lk_work, work, &err)) || (rc = sd_work_load(&w, work, &err))) {
        sd_unlock(&lk_work);
        free(pos);
        return sd_cmd_error(&err);
    }
    char *dir = out_dir ? sd_xstrdup(out_dir) : sd_work_path(&w, sid ? "sasrec_sid" : "sasrec");
    char *tmp = NULL, *ckpt = ckpt_path_for(dir);
    sd_rec_ckpt_opts ck = {.path = no_ckpt ? NULL : ckpt, .every = ckpt_every, .stop_after = stop_after,
                           .resume = resume};
    sd_scorer sc = {0};
    cJSON *extra = cJSON_CreateObject();
    sd_fit_report rep;
    /* one writer per output folder (and its checkpoint); a folder that may not be replaced is
     * refused now, not after the training */
    unsigned out_flags = force ? SD_OUT_FORCE : 0;
    if ((rc = sd_out_dir_check(dir, out_flags, &err)) || (sd_dist_rank() == 0 && (rc = sd_lock_output(&lk, dir, &err))))
        goto done;
    double t0 = sd_now();
    if (sid) {
        sd_sasrec_sid *m = sd_xcalloc(1, sizeof *m);
        char *sids = NULL;
        if (!(rc = sd_sids_path(&w, sids_prefix ? sids_prefix : "", "sasrec: --sids", SD_EUSAGE, &sids, &err)))
            rc = sd_sasrec_sid_init(m, &c, t.seed, mode, sids, w.cat, &err);
        free(sids);
        if (rc) { free(m); goto done; }
        /* which set of semantic IDs this model is tied to: `semid eval` reads it back */
        cJSON_AddStringToObject(extra, "sids_prefix", sids_prefix ? sids_prefix : "");
        sd_sasrec_sid_scorer(m, true, &sc);
        if ((rc = sd_sasrec_sid_fit_ckpt(m, &t, &w.seq, &w.split, &ck, &rep, &err))) goto done;
    } else {
        sd_sasrec *m = sd_xcalloc(1, sizeof *m);
        if ((rc = sd_sasrec_init(m, &c, t.seed, w.seq.n_items, &err))) { free(m); goto done; }
        sd_sasrec_scorer(m, true, &sc);
        if ((rc = sd_sasrec_fit_ckpt(m, &t, &w.seq, &w.split, &ck, &rep, &err))) goto done;
    }
    double train_s = sd_now() - t0;
    if (sd_dist_rank() > 0) goto done; /* MPI: rank 0 reports and writes */
    if (rep.interrupted) {
        if (!sd_quiet) sd_info("%s: stopped after epoch %d; continue with --resume (%s)", sc.name, rep.epochs_run, ckpt);
        goto done;
    }
    if (!sd_quiet)
        sd_info("%s: best epoch %d of %d, valid NDCG@10 %.4f; %.2f s per epoch (training only), %.1f s in all",
                sc.name, rep.best_epoch, rep.epochs_run, rep.best_valid.ndcg[1], rep.train_seconds / rep.epochs_run,
                train_s);
    cJSON_AddNumberToObject(extra, "best_epoch", rep.best_epoch);
    cJSON_AddNumberToObject(extra, "epochs_run", rep.epochs_run);
    cJSON_AddNumberToObject(extra, "seconds_per_epoch", rep.train_seconds / rep.epochs_run);
    cJSON_AddNumberToObject(extra, "valid_ndcg@10", rep.best_valid.ndcg[1]);
    cJSON_AddNumberToObject(extra, "valid_hit@10", rep.best_valid.hit[1]);
    if ((rc = report_test(&sc, &w, sd_seed, cJSON_AddObjectToObject(extra, "test"), &err))) goto done;
    if ((rc = sd_dir_begin_flags(dir, &tmp, out_flags, &err))) goto done;
    char *extra_s = cJSON_PrintUnformatted(extra);
    rc = sid ? sd_sasrec_sid_save(sd_sasrec_sid_of(&sc), &t, tmp, extra_s, &err)
             : sd_sasrec_save(sd_sasrec_of(&sc), &t, tmp, extra_s, &err);
    free(extra_s);
    if (!rc) rc = write_valid_log(&rep, tmp, &err);
    if (!rc) rc = sd_dir_commit(tmp, dir, &err);
    else sd_dir_abort(tmp);
    if (!rc && !sd_quiet) sd_info("wrote %s", dir);
done:
    sd_unlock(&lk);
    sd_unlock(&lk_work);
    cJSON_Delete(extra);
    sd_scorer_free(&sc);
    free(tmp);
    free(ckpt);
    free(dir);
    sd_work_free(&w);
    free(pos);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(sasrec, "sasrec", "train SASRec / SID-SASRec baselines (WORK/sasrec, WORK/sasrec_sid)", run)
