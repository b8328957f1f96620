#include "ids_fixture.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "base/rng.h"

static const char *PLATFORMS[] = {"PlayStation 5", "Xbox Series X", "Nintendo Switch", "PC"};
static const char *GENRES[] = {"RPG", "Racing", "Shooter", "Puzzle", "Sports"};
static const char *GENRE_WORDS[][4] = {
    {"dragon", "quest", "fantasy", "sword"}, {"kart", "speed", "turbo", "rally"},
    {"sniper", "battle", "squad", "warfare"}, {"blocks", "tiles", "brain", "match"},
    {"soccer", "league", "football", "tennis"}};
static const char *FILLER[] = {"edition", "deluxe", "collection", "bundle", "remastered", "classic", "ultimate", "gold"};

sd_catalog *ids_fixture_catalog(int n, unsigned seed) {
    sd_catalog *c = sd_catalog_new();
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int p = (int)sd_rng_below(&r, 4), g = (int)sd_rng_below(&r, 5);
        char id[32], title[256], desc[512];
        snprintf(id, sizeof id, "B%06d", i);
        snprintf(title, sizeof title, "%s %s %s %d (%s)", GENRE_WORDS[g][sd_rng_below(&r, 4)],
                 GENRE_WORDS[g][sd_rng_below(&r, 4)], FILLER[sd_rng_below(&r, 8)], i, PLATFORMS[p]);
        snprintf(desc, sizeof desc, "A %s game for %s with %s and %s.", GENRES[g], PLATFORMS[p],
                 GENRE_WORDS[g][sd_rng_below(&r, 4)], FILLER[sd_rng_below(&r, 8)]);
        const char *feats[] = {GENRE_WORDS[g][i % 4]};
        const char *cats[] = {"Video Games", PLATFORMS[p]};
        sd_kv attrs[] = {{"platform", PLATFORMS[p]}, {"genre", GENRES[g]}};
        sd_item_in in = {id, title, desc, feats, 1, cats, 2, attrs, 2};
        cr_assert_eq(sd_catalog_add(c, &in, NULL), i);
    }
    return c;
}

void ids_make_work(const char *dir, int n, unsigned seed) {
    sd_catalog *c = ids_fixture_catalog(n, seed);
    sd_seqbuilder *b = sd_seqbuilder_new();
    int users = n / 2 + 10;
    for (int u = 0; u < users; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        for (int k = 0; k < 5; k++) {
            int item = (u * 7 + k * 13) % n;
            if (item % 7 > u % 7) item = (item / 7) * 7 % n; /* skew toward multiples of 7 */
            sd_seqbuilder_add(b, name, strlen(name), item, k);
        }
    }
    sd_seq_opts o = {.seed = 1, .min_len = 0, .max_len = 0};
    sd_sequences s;
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_work_create(dir, c, &s, SD_SPLIT_LOO, 1, "test", NULL, &err), 0, "%s", err.msg);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
}
