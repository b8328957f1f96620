/* The synthetic store: determinism, structure, and that the histories carry the signals the
 * later stages are meant to learn (platform and genre preferences, franchise order, consoles
 * before accessories). Thresholds are set well away from both the measured values and from what
 * a signal-free generator would give; each comment states both. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "data/synth.h"
#include "data/workdir.h"
#include "test_util.h"

/* One medium world shared by the statistical tests (generated once per process). */
static sd_catalog *g_cat;
static sd_sequences g_seq;
static sd_synth_opts g_opts;
static int *g_plat, *g_type, *g_part, *g_fr; /* per item: platform, 0 game 1 console 2 accessory, part, franchise */
static uint32_t *g_genres;                     /* per item: bit mask of genres */

static int attr_index(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (v && !strcmp(v, names[i])) return i;
    return -1;
}

static void world_setup(void) {
    if (g_cat) return;
    sd_synth_defaults(&g_opts);
    g_opts.seed = 1234;
    sd_err err = {0};
    cr_assert_eq(sd_synth_generate(&g_opts, &g_cat, &g_seq, &err), 0, "%s", err.msg);
    int N = g_cat->n_items;
    g_plat = calloc(N, sizeof *g_plat); g_type = calloc(N, sizeof *g_type);
    g_part = calloc(N, sizeof *g_part); g_fr = calloc(N, sizeof *g_fr);
    g_genres = calloc(N, sizeof *g_genres);
    static const char *const types[] = {"game", "console", "accessory"};
    sd_strmap frs;
    sd_strmap_init(&frs, 1024);
    int n_fr = 0;
    for (int i = 0; i < N; i++) {
        g_plat[i] = sd_synth_platform_index(sd_item_attr(g_cat, i, "platform"));
        g_type[i] = attr_index(sd_item_attr(g_cat, i, "product_type"), types, 3);
        const char *part = sd_item_attr(g_cat, i, "franchise_part");
        g_part[i] = part ? atoi(part) : 0;
        const char *fr = g_type[i] == 0 ? sd_item_attr(g_cat, i, "franchise") : NULL;
        g_fr[i] = -1;
        if (fr) {
            int32_t got = sd_strmap_put(&frs, fr, strlen(fr), n_fr);
            g_fr[i] = got >= 0 ? got : n_fr++;
        }
        const sd_item *it = &g_cat->items[i];
        for (uint32_t k = 0; k < it->n_attrs; k++)
            if (!strcmp(sd_item_attrs(g_cat, it)[k].key, "genre"))
                g_genres[i] |= 1u << sd_synth_genre_index(sd_item_attrs(g_cat, it)[k].value);
    }
    sd_strmap_free(&frs);
}

static void world_teardown(void) {}

static int files_equal(const char *a, const char *b) {
    char *da, *db;
    size_t la, lb;
    if (sd_read_file(a, &da, &la, NULL) || sd_read_file(b, &db, &lb, NULL)) return -1;
    int eq = la == lb && memcmp(da, db, la) == 0;
    free(da); free(db);
    return eq;
}

static const char *const work_files[] = {"items.jsonl", "sequences.bin", "split.bin", "meta.json", "synth_users.jsonl"};

Test(synth, deterministic_across_threads_and_seeds) {
    char dir[256], cmd[1024];
    sd_test_tmpdir(dir, sizeof dir);
    const char *runs[][2] = {{"t1", "--seed 7 --threads 1"}, {"t2", "--seed 7 --threads 2"}, {"s8", "--seed 8 --threads 2"}};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "%s synth -o %s/%s --items 600 --users 900 --quiet %s", sd_test_bin(), dir, runs[k][0], runs[k][1]);
        char *out;
        cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
        free(out);
    }
    for (int f = 0; f < 5; f++) {
        char a[512], b[512], c[512];
        snprintf(a, sizeof a, "%s/t1/%s", dir, work_files[f]);
        snprintf(b, sizeof b, "%s/t2/%s", dir, work_files[f]);
        snprintf(c, sizeof c, "%s/s8/%s", dir, work_files[f]);
        cr_assert_eq(files_equal(a, b), 1, "%s differs between --threads 1 and 2", work_files[f]);
        if (f != 3) cr_assert_eq(files_equal(a, c), 0, "%s is the same for seeds 7 and 8", work_files[f]);
    }
    /* the library gives the same as the command */
    sd_synth_opts o;
    sd_synth_defaults(&o);
    o.n_items = 600; o.n_users = 900; o.seed = 7;
    char w[512], a[512], b[512];
    snprintf(w, sizeof w, "%s/api", dir);
    sd_err err = {0};
    cr_assert_eq(sd_synth_create(w, &o, SD_SPLIT_LOO, &err), 0, "%s", err.msg);
    snprintf(a, sizeof a, "%s/api/sequences.bin", dir);
    snprintf(b, sizeof b, "%s/t1/sequences.bin", dir);
    cr_assert_eq(files_equal(a, b), 1);
}

Test(synth, usage_errors) {
    char dir[256], cmd[1024];
    sd_test_tmpdir(dir, sizeof dir);
    const char *bad[][2] = {{"-o %s/w --items 0", "--items"}, {"-o %s/w --users -1", "--users"},
                            {"--items 500", "-o WORK"}, {"-o %s/w --split random", "--split"},
                            {"-o %s/w --bogus", "bogus"}, {"-o %s/w --items ten", "--items"},
                            {"-o %s/w --min-len 150 --items 400", "--min-len"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char args[512];
        snprintf(args, sizeof args, bad[k][0], dir);
        snprintf(cmd, sizeof cmd, "%s synth %s", sd_test_bin(), args);
        char *out;
        cr_assert_eq(sd_test_run(cmd, &out), 2, "'%s' should be a usage error: %s", args, out);
        cr_assert(strstr(out, bad[k][1]), "'%s': message should name %s: %s", args, bad[k][1], out);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s/w", dir);
    cr_assert(!sd_exists(cmd), "a failed run must not leave a work directory");
    char *out;
    snprintf(cmd, sizeof cmd, "%s synth --help", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 0);
    cr_assert(strstr(out, "--items") && strstr(out, "--split"), "%s", out);
    free(out);
    sd_synth_opts o;
    sd_synth_defaults(&o);
    o.n_items = 0;
    sd_err err = {0};
    sd_catalog *cat;
    sd_sequences seq;
    cr_assert_eq(sd_synth_generate(&o, &cat, &seq, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "--items"), "%s", err.msg);
}

Test(synth, work_directory_round_trip) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *w = sd_path_join(dir, "work");
    sd_synth_opts o;
    sd_synth_defaults(&o);
    o.n_items = 400; o.n_users = 300; o.seed = 3;
    sd_err err = {0};
    for (int kind = 0; kind < 3; kind++) {
        cr_assert_eq(sd_synth_create(w, &o, kind, &err), 0, "%s", err.msg);
        sd_work wk;
        cr_assert_eq(sd_work_load(&wk, w, &err), 0, "%s", err.msg);
        cr_assert_eq(wk.cat->n_items, 400);
        cr_assert_eq(wk.seq.n_users, 300);
        cr_assert_str_eq(wk.format, "synth");
        cr_assert_eq(wk.split.kind, kind);
        sd_work_free(&wk);
    }
    char *meta_p = sd_path_join(w, "meta.json"), *meta;
    size_t len;
    cr_assert_eq(sd_read_file(meta_p, &meta, &len, NULL), 0);
    cJSON *m = cJSON_Parse(meta);
    const cJSON *s = cJSON_GetObjectItem(m, "synth");
    cr_assert(cJSON_IsObject(s), "meta.json lacks \"synth\": %s", meta);
    cr_assert_eq(cJSON_GetObjectItem(s, "version")->valueint, SD_SYNTH_VERSION);
    cr_assert_eq(cJSON_GetObjectItem(s, "items")->valueint, 400);
    cr_assert_eq(cJSON_GetObjectItem(s, "users")->valueint, 300);
    cr_assert_eq(cJSON_GetObjectItem(s, "seed")->valueint, 3);
    cJSON_Delete(m);
    free(meta); free(meta_p);
    /* ground truth: one valid line per user, matching the API */
    char *up = sd_path_join(w, "synth_users.jsonl");
    sd_lines *lr;
    cr_assert_eq(sd_lines_open(&lr, up, &err), 0, "%s", err.msg);
    char *line;
    int n = 0;
    while (sd_lines_next(lr, &line, &len, &err) == 1) {
        cJSON *j = cJSON_Parse(line);
        cr_assert(j, "synth_users.jsonl:%d: not JSON", n + 1);
        cr_assert_eq(cJSON_GetObjectItem(j, "user")->valueint, n);
        sd_synth_user pr;
        sd_synth_user_prefs(&o, n, &pr);
        const cJSON *ps = cJSON_GetObjectItem(j, "platforms"), *gs = cJSON_GetObjectItem(j, "genres");
        cr_assert_eq(cJSON_GetArraySize(ps), pr.n_platforms);
        cr_assert_eq(cJSON_GetArraySize(gs), pr.n_genres);
        double wsum = 0;
        for (int k = 0; k < pr.n_genres; k++) {
            const cJSON *g = cJSON_GetArrayItem(gs, k);
            cr_assert_eq(sd_synth_genre_index(cJSON_GetObjectItem(g, "name")->valuestring), pr.genres[k]);
            wsum += cJSON_GetObjectItem(g, "weight")->valuedouble;
        }
        cr_assert(fabs(wsum - 1) < 1e-3, "genre weights sum to %g", wsum); /* 4-decimal rounding */
        cr_assert_eq(sd_synth_platform_index(cJSON_GetObjectItem(cJSON_GetArrayItem(ps, 0), "name")->valuestring),
                     pr.platforms[0]);
        cJSON_Delete(j);
        n++;
    }
    sd_lines_close(lr);
    cr_assert_eq(n, 300);
    free(up); free(w);
}

Test(synth, structure, .init = world_setup, .fini = world_teardown) {
    int counts[3] = {0};
    for (int i = 0; i < g_cat->n_items; i++) {
        const sd_item *it = &g_cat->items[i];
        cr_assert(it->title[0] && strlen(it->description) > 80, "item %d: title or description missing", i);
        cr_assert(g_plat[i] >= 0, "item %d: no valid platform attribute", i);
        cr_assert(g_type[i] >= 0, "item %d: no product_type", i);
        cr_assert(it->n_features >= 3 && it->n_categories == 3, "item %d: features/categories", i);
        cr_assert(sd_item_attr(g_cat, i, "price") && sd_item_attr(g_cat, i, "brand"), "item %d", i);
        counts[g_type[i]]++;
        if (g_type[i] == 0) {
            cr_assert(g_genres[i] && g_fr[i] >= 0 && g_part[i] >= 1, "game %d lacks genre/franchise/part", i);
            cr_assert(sd_item_attr(g_cat, i, "rating") && sd_item_attr(g_cat, i, "multiplayer"));
            cr_assert(strstr(it->title, sd_item_attr(g_cat, i, "platform")), "game title names its platform: %s", it->title);
        }
    }
    /* roughly 87% games, 12% accessories, 0.5% consoles */
    cr_assert(counts[0] > 0.8 * g_cat->n_items && counts[1] >= 5 && counts[2] > 0.08 * g_cat->n_items,
              "games %d consoles %d accessories %d", counts[0], counts[1], counts[2]);
    cr_assert_eq(g_seq.n_users, g_opts.n_users);
    double mean = (double)g_seq.n_inter / g_seq.n_users;
    cr_assert(fabs(mean - g_opts.mean_len) < 0.05 * g_opts.mean_len, "mean length %g, asked %g", mean, g_opts.mean_len);
    int32_t *seen = calloc(g_cat->n_items, sizeof *seen);
    for (int u = 0; u < g_seq.n_users; u++) {
        int n = sd_seq_len(&g_seq, u);
        cr_assert(n >= g_opts.min_len && n <= g_opts.max_len, "user %d: length %d", u, n);
        const int32_t *it = sd_seq_items(&g_seq, u);
        const int64_t *t = g_seq.times + g_seq.offsets[u];
        for (int k = 0; k < n; k++) {
            cr_assert(seen[it[k]] != u + 1, "user %d buys item %d twice", u, it[k]);
            seen[it[k]] = u + 1;
            cr_assert(t[k] >= 1420070400LL && t[k] <= 1704067199LL, "user %d: time %lld outside 2015-2023", u, (long long)t[k]);
            if (k) cr_assert(t[k] > t[k - 1], "user %d: times not increasing", u);
        }
    }
    free(seen);
}

Test(synth, sequels_follow_earlier_parts, .init = world_setup, .fini = world_teardown) {
    /* For every user holding parts k and k+1 of a franchise: is k first? Without franchise order
     * this is 0.5; the generator gives about 0.9. */
    long ordered = 0, pairs = 0;
    for (int u = 0; u < g_seq.n_users; u++) {
        int n = sd_seq_len(&g_seq, u);
        const int32_t *it = sd_seq_items(&g_seq, u);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                if (a == b || g_fr[it[a]] < 0 || g_fr[it[a]] != g_fr[it[b]]) continue;
                if (g_part[it[b]] != g_part[it[a]] + 1) continue;
                pairs++;
                ordered += a < b;
            }
    }
    cr_assert(pairs > 500, "only %ld sequel pairs", pairs);
    double r = (double)ordered / pairs;
    cr_log_info("part k before k+1 in %.3f of %ld pairs", r, pairs);
    cr_assert(r > 0.75, "part k before part k+1 in %.3f of %ld pairs", r, pairs);
}

Test(synth, accessories_after_consoles, .init = world_setup, .fini = world_teardown) {
    /* (console, accessory) pairs of one platform in one history: console first? Chance 0.5. */
    long first = 0, pairs = 0;
    for (int u = 0; u < g_seq.n_users; u++) {
        int n = sd_seq_len(&g_seq, u);
        const int32_t *it = sd_seq_items(&g_seq, u);
        for (int a = 0; a < n; a++) {
            if (g_type[it[a]] != 1) continue;
            for (int b = 0; b < n; b++)
                if (g_type[it[b]] == 2 && g_plat[it[b]] == g_plat[it[a]]) { pairs++; first += a < b; }
        }
    }
    cr_assert(pairs > 200, "only %ld console/accessory pairs", pairs);
    double r = (double)first / pairs;
    cr_log_info("console before accessory in %.3f of %ld pairs", r, pairs);
    cr_assert(r > 0.7, "console before accessory in %.3f of %ld pairs", r, pairs);
}

Test(synth, platform_and_genre_preferences_show, .init = world_setup, .fini = world_teardown) {
    int P = sd_synth_n_platforms(), G = sd_synth_n_genres();
    double *base_p = calloc(P, sizeof *base_p), *base_g = calloc(G, sizeof *base_g);
    for (int64_t i = 0; i < g_seq.n_inter; i++) {
        base_p[g_plat[g_seq.items[i]]]++;
        for (int g = 0; g < G; g++) base_g[g] += (g_genres[g_seq.items[i]] >> g) & 1;
    }
    double share_p = 0, rate_p = 0, share_g = 0, rate_g = 0;
    for (int u = 0; u < g_seq.n_users; u++) {
        sd_synth_user pr;
        sd_synth_user_prefs(&g_opts, u, &pr);
        int n = sd_seq_len(&g_seq, u), on_p = 0, on_g = 0;
        const int32_t *it = sd_seq_items(&g_seq, u);
        for (int k = 0; k < n; k++) {
            on_p += g_plat[it[k]] == pr.platforms[0];
            on_g += (g_genres[it[k]] >> pr.genres[0]) & 1;
        }
        share_p += (double)on_p / n;
        rate_p += base_p[pr.platforms[0]] / g_seq.n_inter;
        share_g += (double)on_g / n;
        rate_g += base_g[pr.genres[0]] / g_seq.n_inter;
    }
    cr_log_info("top-platform share %.3f vs base %.3f; top-genre share %.3f vs base %.3f", share_p / g_seq.n_users,
                rate_p / g_seq.n_users, share_g / g_seq.n_users, rate_g / g_seq.n_users);
    /* measured: platform 0.8 vs base 0.2; genre about 0.55 vs 0.15. A generator without
     * preferences gives share == base rate. */
    cr_assert(share_p > 2.5 * rate_p, "top-platform share %.3f vs base rate %.3f", share_p / g_seq.n_users,
              rate_p / g_seq.n_users);
    cr_assert(share_g > 2.0 * rate_g, "top-genre share %.3f vs base rate %.3f", share_g / g_seq.n_users,
              rate_g / g_seq.n_users);
    free(base_p); free(base_g);
}

/* Hit rate at 10 on each user's last item of two recommenders that see only the earlier items:
 * global popularity, and "same platform and genre as the last item, by popularity". The second
 * must clearly win, which shows the histories carry sequential signal a model can learn. */
Test(synth, last_item_heuristic_beats_popularity, .init = world_setup, .fini = world_teardown) {
    int N = g_cat->n_items;
    double *pop = calloc(N, sizeof *pop);
    for (int u = 0; u < g_seq.n_users; u++) {
        int n = sd_seq_len(&g_seq, u);
        for (int k = 0; k < n - 1; k++) pop[sd_seq_items(&g_seq, u)[k]]++;
    }
    /* items by decreasing popularity (ties by id), once */
    int *order = malloc(N * sizeof *order);
    for (int i = 0; i < N; i++) order[i] = i;
    for (int i = 1; i < N; i++)
        for (int j = i; j > 0 && pop[order[j - 1]] < pop[order[j]]; j--) { int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t; }
    long hit_pop = 0, hit_h = 0;
    for (int u = 0; u < g_seq.n_users; u++) {
        int n = sd_seq_len(&g_seq, u);
        const int32_t *it = sd_seq_items(&g_seq, u);
        int32_t target = it[n - 1], last = it[n - 2];
        int got = 0;
        for (int r = 0; r < N && got < 10; r++) {
            int c = order[r], dup = 0;
            for (int k = 0; k < n - 1; k++) dup |= it[k] == c;
            if (dup) continue;
            got++;
            if (c == target) { hit_pop++; break; }
        }
        got = 0;
        for (int r = 0; r < N && got < 10; r++) {
            int c = order[r], dup = 0;
            if (g_plat[c] != g_plat[last]) continue;
            if (g_genres[last] && !(g_genres[c] & g_genres[last])) continue;
            for (int k = 0; k < n - 1; k++) dup |= it[k] == c;
            if (dup) continue;
            got++;
            if (c == target) { hit_h++; break; }
        }
    }
    double hr_pop = (double)hit_pop / g_seq.n_users, hr_h = (double)hit_h / g_seq.n_users;
    cr_log_info("HR@10 popularity %.4f, same platform+genre %.4f", hr_pop, hr_h);
    cr_assert(hr_h > 2 * hr_pop && hr_h > hr_pop + 0.05, "HR@10 popularity %.4f vs heuristic %.4f", hr_pop, hr_h);
    free(pop); free(order);
}

/* Descriptions share more words within a genre (and within a platform) than across, so a
 * TF-IDF embedding can cluster them. Mean Jaccard overlap of word sets over random pairs. */
static double jaccard(const char *a, const char *b) {
    char wa[256][24], wb[256][24];
    int na = 0, nb = 0;
    const char *ss[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        char (*w)[24] = s ? wb : wa;
        int *n = s ? &nb : &na;
        const char *p = ss[s];
        while (*p && *n < 256) {
            while (*p && !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')) p++;
            int l = 0;
            char tmp[24];
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) { if (l < 23) tmp[l++] = *p | 32; p++; }
            if (l < 4) continue; /* skip short function words */
            tmp[l] = 0;
            int dup = 0;
            for (int k = 0; k < *n; k++) dup |= !strcmp(w[k], tmp);
            if (!dup) strcpy(w[(*n)++], tmp);
        }
    }
    int inter = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) inter += !strcmp(wa[i], wb[j]);
    return na + nb - inter ? (double)inter / (na + nb - inter) : 0;
}

Test(synth, descriptions_cluster_by_genre_and_platform, .init = world_setup, .fini = world_teardown) {
    double same_g = 0, diff_g = 0, same_p = 0, diff_p = 0;
    int n_sg = 0, n_dg = 0, n_sp = 0, n_dp = 0;
    uint64_t x = 99;
    for (int t = 0; t < 20000; t++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int a = (int)((x >> 33) % g_cat->n_items);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int b = (int)((x >> 33) % g_cat->n_items);
        if (a == b || g_type[a] || g_type[b] || g_fr[a] == g_fr[b]) continue;
        double j = jaccard(g_cat->items[a].description, g_cat->items[b].description);
        int sg = (g_genres[a] & g_genres[b]) != 0, dg = !sg;
        if (sg) { same_g += j; n_sg++; }
        if (dg) { diff_g += j; n_dg++; }
        if (g_plat[a] == g_plat[b]) { same_p += j; n_sp++; } else { diff_p += j; n_dp++; }
    }
    same_g /= n_sg; diff_g /= n_dg; same_p /= n_sp; diff_p /= n_dp;
    cr_log_info("jaccard genre %.3f/%.3f platform %.3f/%.3f", same_g, diff_g, same_p, diff_p);
    /* measured roughly 2x for genre and 1.5x for platform; unrelated text would give 1x */
    cr_assert(same_g > 1.5 * diff_g, "same-genre overlap %.3f vs %.3f", same_g, diff_g);
    cr_assert(same_p > 1.2 * diff_p, "same-platform overlap %.3f vs %.3f", same_p, diff_p);
}
