/* MovieLens loader. The first byte picks the release ('0' ml-100k: u.data, u.item; '1' ml-1m:
 * ratings.dat, movies.dat, tags.dat; '2' ml-latest: ratings.csv, movies.csv, tags.csv); the
 * rest is the ratings file, then the movies file and the tags file after form feeds (a missing
 * part is a missing file). */
#include "fuzz_loader.h"

static const char *const NAMES[3][3] = {
    {"u.data", "u.item", NULL},
    {"ratings.dat", "movies.dat", "tags.dat"},
    {"ratings.csv", "movies.csv", "tags.csv"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    int v = data[0] % 3;
    const uint8_t *part[3];
    size_t len[3];
    int k = fz_split(data + 1, n - 1, part, len, 3);
    char path[512];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (NAMES[i][j]) fz_remove(NAMES[i][j]);
    for (int j = 0; j < k && j < 3; j++)
        if (NAMES[v][j]) fz_write(NAMES[v][j], part[j], len[j], path, sizeof path);
    sd_prep_opts o = fz_opts(n);
    o.dir = fz_dir();
    fz_run_loader(sd_load_movielens, &o);
    return 0;
}
