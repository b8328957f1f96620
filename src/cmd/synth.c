#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/split.h"
#include "data/synth.h"
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv) {
    sd_synth_opts o;
    sd_synth_defaults(&o);
    const char *out = NULL, *split = "loo";
    bool force = false;
    sd_opt opts[] = {
        {.name = "out", .type = SD_OPT_STR, .ptr = &out, .metavar = "WORK",
         .help = "work directory to write (also -o WORK; required)"},
        {.name = "items", .type = SD_OPT_INT, .ptr = &o.n_items, .metavar = "N",
         .help = "catalogue size: games, consoles, accessories (default 3000)"},
        {.name = "users", .type = SD_OPT_INT, .ptr = &o.n_users, .metavar = "N", .help = "users (default 5000)"},
        {.name = "mean-len", .type = SD_OPT_DOUBLE, .ptr = &o.mean_len, .metavar = "X",
         .help = "mean items per user (default 10)"},
        {.name = "min-len", .type = SD_OPT_INT, .ptr = &o.min_len, .metavar = "N",
         .help = "shortest history (default 3)"},
        {.name = "max-len", .type = SD_OPT_INT, .ptr = &o.max_len, .metavar = "N",
         .help = "longest history (default 200)"},
        {.name = "split", .type = SD_OPT_STR, .ptr = &split, .metavar = "KIND",
         .help = "evaluation split: loo, user or time (default loo)"},
        {.name = "cold-items", .type = SD_OPT_DOUBLE, .ptr = &o.cold_items, .metavar = "F",
         .help = "cold-start split: a share F of the items leaves the training data entirely (default 0)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace WORK even if it is a non-empty directory semid did not write"},
        {0},
    };
    sd_usage u = {.usage = "semid synth -o WORK [--items N --users M --seed S --split loo|user|time]",
                  .about = "Writes a synthetic video-game store to WORK: games (invented franchises with numbered\n"
                           "sequels on several platforms), consoles and accessories in items.jsonl, user histories\n"
                           "driven by latent platform and genre preferences in sequences.bin, the split, meta.json,\n"
                           "and the users' latent preferences (ground truth) in synth_users.jsonl.\n"
                           "Same --seed gives the same bytes for any --threads.",
                  .min_pos = 0, .max_pos = 0};
    /* -o is the one short option: map it to --out before the shared parser sees it */
    char **args = sd_xmalloc(((size_t)argc + 1) * sizeof *args);
    for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") ? argv[i] : "--out";
    args[argc] = NULL;
    sd_err err = {0};
    int rc = sd_parse(&u, opts, argc, args, NULL, NULL, &err);
    free(args);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    o.seed = sd_seed;
    sd_split_kind kind;
    if (!out || !out[0]) sd_errf(&err, SD_EUSAGE, "synth: missing -o WORK (see --help)");
    else if (sd_split_parse_kind(split, &kind))
        sd_errf(&err, SD_EUSAGE, "synth: --split must be loo, user or time (got '%s')", split);
    else if (!(o.cold_items >= 0 && o.cold_items < 1))
        sd_errf(&err, SD_EUSAGE, "synth: --cold-items must be a share in [0, 1), got %g", o.cold_items);
    else
        sd_synth_check(&o, &err);
    if (err.code) return sd_cmd_error(&err);
    o.out_flags = force ? SD_OUT_FORCE : 0;
    sd_lock lk = {.fd = -1};
    if (sd_out_dir_check(out, o.out_flags, &err) || sd_lock_output(&lk, out, &err)) {
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }
    double t = sd_now();
    rc = sd_synth_create(out, &o, kind, &err);
    sd_unlock(&lk);
    if (rc) return sd_cmd_error(&err);
    sd_info("synth: wrote %s (%d items, %d users, seed %llu) in %.1fs", out, o.n_items, o.n_users,
            (unsigned long long)o.seed, sd_now() - t);
    return 0;
}
SD_COMMAND(synth, "synth", "write the built-in synthetic video-game store to a work directory", run)
