#include "data/synth.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/strmap.h"
#include "data/synth_vocab.h"
#include "data/workdir.h"
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Tunables. Probabilities are per step of a user's history.                                  */

#define ITEM_ZIPF 0.9          /* popularity ~ rank^-s over a random global ranking */
#define LEN_SIGMA 0.8          /* lognormal spread of sequence lengths */
#define P_CONSOLE_FIRST 0.35   /* a console owner's first purchase is the console */
#define P_NEXT_PART 0.5        /* after part k, buy part k+1 next (when it exists) */
#define P_ACCESSORY_AFTER 0.6  /* after a console, an accessory for it */
#define P_NOISE 0.04           /* a uniformly random item */
#define P_LATE_CONSOLE 0.02    /* a console bought later in the history */
#define P_ACCESSORY 0.04       /* an accessory at any time */
#define P_OFF_PLATFORM 0.06    /* a game for a platform outside the user's preferences */
#define P_OFF_GENRE 0.12       /* a game outside the user's genres */
#define P_START_SERIES 0.6     /* a sampled sequel is swapped for the earliest part not yet owned */
#define GAP_DAYS 21.0          /* mean days between purchases */
#define QUICK_GAP_DAYS 1.5     /* mean days from a console to its accessories */
#define T_FIRST 1420070400LL   /* 2015-01-01 */
#define T_NEXTGEN 1605139200LL /* 2020-11-12, current-generation consoles */
#define T_LAST 1703980800LL    /* 2023-12-31 */

enum { T_GAME, T_CONSOLE, T_ACCESSORY };
#define NO_GENRE 255

/* Relative share of franchises per genre (index-aligned with sv_genres). */
static const float genre_weight[] = {1.2f, 1.2f, 0.7f, 0.8f, 0.8f, 0.6f, 0.6f, 0.5f, 0.7f, 0.6f, 1.0f, 1.3f};
_Static_assert(sizeof genre_weight / sizeof genre_weight[0] == 12, "one weight per genre");

/* ------------------------------------------------------------------------------------------ */
/* The world: item specs (no strings yet) and the sampling structures over final item ids.    */

typedef struct spec {
    uint8_t type, platform, genre1, genre2, variant, rating, mp;
    int16_t part;        /* 1-based part in its franchise (games) */
    int32_t franchise;   /* games and bundles; -1 otherwise */
    float price;
} spec;

typedef struct franchise {
    const char *name;
    uint8_t genre1, genre2, publisher, setting, rating, mp;
    int16_t n_parts;
    int64_t items_off;   /* into world.fr_items: this franchise's items by (part, platform) */
    int32_t n_items;
} franchise;

typedef struct pool { int64_t off; int32_t n; } pool;

typedef struct world {
    uint64_t seed;
    int32_t n_items;
    spec *specs;          /* by final item id */
    franchise *frs;
    int32_t n_frs;
    int32_t *fr_items;    /* final ids */
    sd_pool *names;
    /* game pools per (platform, genre), game pools per platform, accessories and consoles per
     * platform; each a slice of pool_items with a pool-local cumulative popularity */
    pool *pg, *pp, *pa, *pc;
    int32_t *pool_items;
    double *pool_cum;
    int64_t pool_len;
    /* lognormal location giving the requested mean length after clamping */
    double len_mu;
} world;

int sd_synth_n_platforms(void) { return sv_n_platforms; }
const char *sd_synth_platform_name(int p) { return p >= 0 && p < sv_n_platforms ? sv_platforms[p].name : NULL; }
int sd_synth_n_genres(void) { return sv_n_genres; }
const char *sd_synth_genre_name(int g) { return g >= 0 && g < sv_n_genres ? sv_genres[g].name : NULL; }
int sd_synth_platform_index(const char *name) {
    for (int p = 0; p < sv_n_platforms; p++)
        if (!strcmp(sv_platforms[p].name, name)) return p;
    return -1;
}
int sd_synth_genre_index(const char *name) {
    for (int g = 0; g < sv_n_genres; g++)
        if (!strcmp(sv_genres[g].name, name)) return g;
    return -1;
}

void sd_synth_defaults(sd_synth_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_items = 3000;
    o->n_users = 5000;
    o->mean_len = 10;
    o->min_len = 3;
    o->max_len = 200;
    o->seed = 42;
}

/* Histories are capped at a quarter of the catalogue so that distinct items are always easy to find. */
static int32_t max_len(const sd_synth_opts *o) { return o->max_len < o->n_items / 4 ? o->max_len : o->n_items / 4; }

int sd_synth_check(const sd_synth_opts *o, sd_err *err) {
    if (o->n_items < 100) return sd_errf(err, SD_EUSAGE, "--items must be at least 100 (got %d)", o->n_items);
    if (o->n_users < 1) return sd_errf(err, SD_EUSAGE, "--users must be at least 1 (got %d)", o->n_users);
    if (o->min_len < 1) return sd_errf(err, SD_EUSAGE, "--min-len must be at least 1 (got %d)", o->min_len);
    if (o->max_len < o->min_len)
        return sd_errf(err, SD_EUSAGE, "--max-len (%d) must be at least --min-len (%d)", o->max_len, o->min_len);
    if (o->min_len > o->n_items / 4)
        return sd_errf(err, SD_EUSAGE, "--min-len (%d) must be at most a quarter of --items (%d)", o->min_len, o->n_items);
    if (!(o->mean_len >= o->min_len && o->mean_len <= max_len(o)))
        return sd_errf(err, SD_EUSAGE, "--mean-len (%g) must lie between --min-len (%d) and the longest history (%d)",
                       o->mean_len, o->min_len, max_len(o));
    if ((double)o->n_users * o->mean_len > 2e9)
        return sd_errf(err, SD_EUSAGE, "--users x --mean-len is too large (over 2e9 interactions)");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Small sampling helpers.                                                                     */

static int pick(sd_rng *r, const char *const *list) { return (int)sd_rng_below(r, (uint64_t)sv_count(list)); }
static const char *pick_s(sd_rng *r, const char *const *list) { return list[pick(r, list)]; }

static int pick_w(sd_rng *r, const float *w, int n) {
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i];
    double x = sd_rng_double(r) * tot;
    for (int i = 0; i < n; i++) {
        x -= w[i];
        if (x < 0) return i;
    }
    return n - 1;
}

/* Gamma(a, 1) by Marsaglia and Tsang; a < 1 via the a + 1 boost. */
static double gamma_draw(sd_rng *r, double a) {
    double boost = 1;
    if (a < 1) {
        boost = pow(sd_rng_double(r) + 1e-300, 1.0 / a);
        a += 1;
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = sd_rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = sd_rng_double(r);
        if (u < 1 - 0.0331 * x * x * x * x || log(u + 1e-300) < 0.5 * x * x + d * (1 - v + log(v)))
            return boost * d * v;
    }
}

static double exp_draw(sd_rng *r, double mean) { return -mean * log(1 - sd_rng_double(r)); }

/* Index in [0, n) drawn proportionally to the pool's popularity (cum is pool-local, inclusive). */
static int32_t pool_draw(const world *w, pool p, sd_rng *r) {
    if (p.n <= 0) return -1;
    const double *cum = w->pool_cum + p.off;
    double x = sd_rng_double(r) * cum[p.n - 1];
    int32_t lo = 0, hi = p.n - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (cum[mid] > x) hi = mid; else lo = mid + 1;
    }
    return w->pool_items[p.off + lo];
}

/* ASIN-like ids: an invertible affine map of the index modulo 36^digits, written in base 36, so
 * ids are unique and look scattered. The multiplier (near the golden section of the modulus) is
 * made coprime with 36, which makes the map a bijection. */
static void base36_id(char *out, char lead, uint64_t i, int digits, uint64_t salt) {
    uint64_t mod = 1;
    for (int k = 0; k < digits; k++) mod *= 36;
    uint64_t mul = (uint64_t)((double)mod * 0.6180339887498949);
    while (mul % 2 == 0 || mul % 3 == 0) mul++;
    uint64_t v = (uint64_t)(((__uint128_t)i * mul + salt) % mod);
    out[0] = lead;
    out[1] = '0';
    for (int k = digits + 1; k >= 2; k--) {
        out[k] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[v % 36];
        v /= 36;
    }
    out[digits + 2] = 0;
}
static void item_ext_id(char out[16], int32_t i) { base36_id(out, 'B', (uint64_t)i, 8, 0x5EEDULL); }
static void user_ext_id(char out[16], int32_t u) { base36_id(out, 'A', (uint64_t)u, 12, 0xC0FFEEULL); }

/* ------------------------------------------------------------------------------------------ */
/* Franchises and item specs.                                                                  */

static void syllable_word(sd_rng *r, char *out, size_t cap) {
    int n = 2 + (int)sd_rng_below(r, 2);
    size_t len = 0;
    out[0] = 0;
    for (int k = 0; k < n; k++) len += snprintf(out + len, cap - len, "%s", pick_s(r, sv_syllables));
    out[0] = (char)(out[0] - 'a' + 'A');
}

static const char *franchise_name(sd_rng *r, int g, sd_strmap *used, sd_pool *pool) {
    const sv_genre *G = &sv_genres[g];
    char name[128], word[32];
    for (int attempt = 0;; attempt++) {
        double x = sd_rng_double(r);
        if (attempt < 8 && x < 0.55) {
            snprintf(name, sizeof name, "%s %s", pick_s(r, G->adjs), pick_s(r, G->nouns));
        } else if (x < 0.8) {
            syllable_word(r, word, sizeof word);
            snprintf(name, sizeof name, "%s %s", word, pick_s(r, G->nouns));
        } else {
            syllable_word(r, word, sizeof word);
            snprintf(name, sizeof name, "%s of %s", pick_s(r, G->nouns), word);
        }
        if (sv_count(G->suffixes) && sd_rng_double(r) < 0.8) {
            size_t l = strlen(name);
            snprintf(name + l, sizeof name - l, " %s", pick_s(r, G->suffixes));
        }
        if (sd_strmap_get(used, name, strlen(name)) < 0) break;
    }
    char *s = sd_pool_strdup(pool, name);
    sd_strmap_put(used, s, strlen(s), 0);
    return s;
}

/* Platforms a part of a franchise can come out on: its family (exclusives) and generation. */
static int part_platforms(sd_rng *r, const char *family, int gen, uint8_t *out) {
    uint8_t cand[16];
    int n = 0;
    for (int p = 0; p < sv_n_platforms; p++) {
        const sv_platform *P = &sv_platforms[p];
        if (family && strcmp(P->family, family)) continue;
        if (P->generation != 2 && P->generation != gen) continue;
        cand[n++] = (uint8_t)p;
    }
    for (int i = n; i > 1; i--) {
        int j = (int)sd_rng_below(r, (uint64_t)i);
        uint8_t t = cand[i - 1]; cand[i - 1] = cand[j]; cand[j] = t;
    }
    int m = family ? n : 1 + (int)sd_rng_below(r, (uint64_t)(n < 4 ? n : 4));
    if (m > n) m = n;
    memcpy(out, cand, (size_t)m);
    /* stable platform order inside a part, so titles list in the same order whatever the draw */
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) { uint8_t t = out[j]; out[j] = out[j - 1]; out[j - 1] = t; }
    return m;
}

static float round_price(double x) {
    double p = floor(x) + 0.99;
    if (p < 4.99) p = 4.99;
    return (float)p;
}

/* Builds specs in generation order (franchise by franchise), then shuffles them into final
 * ids so that ids carry no hint of franchise or platform. */
static void build_specs(world *w, sd_rng *r) {
    int32_t N = w->n_items;
    int n_console_platforms = 0;
    for (int p = 0; p < sv_n_platforms; p++) n_console_platforms += sv_count(sv_platforms[p].consoles) > 0;
    int32_t n_console = N / 200 > n_console_platforms ? N / 200 : n_console_platforms;
    int32_t n_acc = (int32_t)(0.12 * N);
    int32_t n_games = N - n_console - n_acc;

    spec *gen = sd_xcalloc((size_t)N, sizeof *gen);
    int32_t cap_frs = 1024;
    w->frs = sd_xmalloc(cap_frs * sizeof *w->frs);
    w->n_frs = 0;
    w->names = sd_pool_new();
    sd_strmap used;
    sd_strmap_init(&used, (size_t)n_games / 2 + 16);
    static const char *const families[] = {"PlayStation", "Xbox", "Nintendo", "PC"};

    int32_t n = 0;
    while (n < n_games) {
        SD_GROW(w->frs, cap_frs, w->n_frs + 1);
        franchise *f = &w->frs[w->n_frs];
        memset(f, 0, sizeof *f);
        int g = pick_w(r, genre_weight, sv_n_genres);
        f->genre1 = (uint8_t)g;
        f->genre2 = NO_GENRE;
        if (sd_rng_double(r) < 0.45) {
            const char *rel = pick_s(r, sv_genres[g].related);
            f->genre2 = (uint8_t)sd_synth_genre_index(rel);
        }
        f->name = franchise_name(r, g, &used, w->names);
        f->publisher = (uint8_t)pick(r, sv_publishers);
        f->setting = (uint8_t)pick(r, sv_genres[g].settings);
        f->rating = (uint8_t)pick_w(r, sv_genres[g].rating_w, SV_N_RATINGS);
        f->mp = (uint8_t)pick_w(r, sv_genres[g].mp_w, SV_N_MP);
        int parts = 1;
        while (parts < 8 && sd_rng_double(r) < 0.55) parts++;
        const char *family = sd_rng_double(r) < 0.25 ? families[sd_rng_below(r, 4)] : NULL;
        int gen0 = sd_rng_double(r) < 0.6 ? 0 : 1;
        int newgen_from = gen0 ? 1 : 1 + (int)sd_rng_below(r, (uint64_t)parts + 1);
        f->items_off = n;
        for (int k = 1; k <= parts && n < n_games; k++) {
            uint8_t plats[16];
            int m = part_platforms(r, family, k >= newgen_from ? 1 : 0, plats);
            for (int i = 0; i < m && n < n_games; i++) {
                spec *s = &gen[n++];
                s->type = T_GAME;
                s->platform = plats[i];
                s->genre1 = f->genre1;
                s->genre2 = f->genre2;
                s->part = (int16_t)k;
                s->franchise = w->n_frs;
                s->rating = f->rating;
                s->mp = f->mp;
                static const double discount[] = {1.0, 1.0, 0.85, 0.7, 0.5, 0.35};
                s->price = round_price(sv_platforms[plats[i]].game_price * discount[sd_rng_below(r, 6)]);
            }
            f->n_parts = (int16_t)k;
        }
        f->n_items = (int32_t)(n - f->items_off);
        w->n_frs++;
    }
    sd_strmap_free(&used);

    int32_t pc = 0;
    for (int32_t i = 0; i < n_console; i++) {
        int p;
        do p = (int)(pc++ % sv_n_platforms); while (!sv_count(sv_platforms[p].consoles));
        spec *s = &gen[n++];
        s->type = T_CONSOLE;
        s->platform = (uint8_t)p;
        s->genre1 = s->genre2 = NO_GENRE;
        s->variant = (uint8_t)(i / n_console_platforms < 250 ? i / n_console_platforms : 250);
        s->franchise = -1;
        int nv = sv_count(sv_platforms[p].consoles);
        if (s->variant >= nv) {
            /* a bundle with a game of this platform */
            for (int tries = 0; tries < 64; tries++) {
                const spec *g = &gen[sd_rng_below(r, (uint64_t)n_games)];
                if (g->platform == p) { s->franchise = g->franchise; break; }
            }
        }
        double base = sv_platforms[p].generation == 1 ? 499.99 : 299.99;
        s->price = round_price(base - 50.0 * (s->variant % nv) + (s->franchise >= 0 ? 50 : 0));
    }
    float plat_w[16];
    for (int p = 0; p < sv_n_platforms; p++) plat_w[p] = sv_platforms[p].popularity;
    while (n < N) {
        spec *s = &gen[n++];
        int p = pick_w(r, plat_w, sv_n_platforms);
        const char *kind = pick_s(r, sv_platforms[p].accessories);
        /* controllers and headsets sell most; list order is rough popularity */
        if (sd_rng_double(r) < 0.4) kind = sv_platforms[p].accessories[sd_rng_below(r, 2)];
        int a = 0;
        while (strcmp(sv_accessories[a].kind, kind)) a++;
        s->type = T_ACCESSORY;
        s->platform = (uint8_t)p;
        s->variant = (uint8_t)a;
        s->genre1 = sv_accessories[a].genre ? (uint8_t)sd_synth_genre_index(sv_accessories[a].genre) : NO_GENRE;
        s->genre2 = NO_GENRE;
        s->franchise = -1;
        const sv_accessory *A = &sv_accessories[a];
        s->price = round_price(A->price_lo + sd_rng_double(r) * (A->price_hi - A->price_lo));
    }

    /* final ids: a seeded permutation */
    int32_t *perm = sd_xmalloc((size_t)N * sizeof *perm);
    for (int32_t i = 0; i < N; i++) perm[i] = i;
    sd_rng_shuffle_i32(r, perm, (size_t)N);  /* perm[gen index] = final id */
    w->specs = sd_xmalloc((size_t)N * sizeof *w->specs);
    for (int32_t i = 0; i < N; i++) w->specs[perm[i]] = gen[i];
    w->fr_items = sd_xmalloc((size_t)(n_games ? n_games : 1) * sizeof *w->fr_items);
    for (int32_t i = 0; i < n_games; i++) w->fr_items[i] = perm[i];
    free(perm);
    free(gen);
}

/* ------------------------------------------------------------------------------------------ */
/* Popularity and pools.                                                                       */

static void build_pools(world *w, sd_rng *r) {
    int32_t N = w->n_items;
    int P = sv_n_platforms, G = sv_n_genres;
    /* popularity: Zipf over a random ranking; first parts and consoles sell more */
    int32_t *rank = sd_xmalloc((size_t)N * sizeof *rank);
    for (int32_t i = 0; i < N; i++) rank[i] = i;
    sd_rng_shuffle_i32(r, rank, (size_t)N);
    double *pop = sd_xmalloc((size_t)N * sizeof *pop);
    for (int32_t i = 0; i < N; i++) {
        const spec *s = &w->specs[i];
        pop[i] = pow(rank[i] + 1.0, -ITEM_ZIPF);
        if (s->type == T_GAME && s->part == 1) pop[i] *= 1.5;
        if (s->type == T_CONSOLE) pop[i] *= 3.0;
    }
    free(rank);

    int n_pools = P * G + 3 * P;
    int64_t *count = sd_xcalloc((size_t)n_pools + 1, sizeof *count);
    /* pool index: genre pools [0, P*G), platform games [P*G, P*G+P), accessories, consoles */
#define POOL_G(p, g) ((p) * G + (g))
#define POOL_P(p) (P * G + (p))
#define POOL_A(p) (P * G + P + (p))
#define POOL_C(p) (P * G + 2 * P + (p))
    for (int pass = 0; pass < 2; pass++) {
        int64_t *fill = NULL;
        if (pass == 1) {
            int64_t tot = 0;
            for (int k = 0; k < n_pools; k++) { int64_t c = count[k]; count[k] = tot; tot += c; }
            count[n_pools] = tot;
            w->pool_len = tot;
            w->pool_items = sd_xmalloc((size_t)(tot ? tot : 1) * sizeof *w->pool_items);
            w->pool_cum = sd_xmalloc((size_t)(tot ? tot : 1) * sizeof *w->pool_cum);
            fill = sd_xmalloc((size_t)n_pools * sizeof *fill);
            memcpy(fill, count, (size_t)n_pools * sizeof *fill);
        }
        for (int32_t i = 0; i < N; i++) {
            const spec *s = &w->specs[i];
            int ks[3], nk = 0;
            if (s->type == T_GAME) {
                ks[nk++] = POOL_P(s->platform);
                ks[nk++] = POOL_G(s->platform, s->genre1);
                if (s->genre2 != NO_GENRE && s->genre2 != s->genre1) ks[nk++] = POOL_G(s->platform, s->genre2);
            } else {
                ks[nk++] = s->type == T_ACCESSORY ? POOL_A(s->platform) : POOL_C(s->platform);
            }
            for (int k = 0; k < nk; k++) {
                if (pass == 0) { count[ks[k]]++; continue; }
                int64_t at = fill[ks[k]]++;
                w->pool_items[at] = i;
                w->pool_cum[at] = pop[i];
            }
        }
        free(fill);
    }
    pool *all = sd_xmalloc((size_t)n_pools * sizeof *all);
    for (int k = 0; k < n_pools; k++) {
        all[k].off = count[k];
        all[k].n = (int32_t)(count[k + 1] - count[k]);
        double acc = 0;
        for (int32_t j = 0; j < all[k].n; j++) { acc += w->pool_cum[all[k].off + j]; w->pool_cum[all[k].off + j] = acc; }
    }
    w->pg = all;
    w->pp = all + POOL_P(0);
    w->pa = all + POOL_A(0);
    w->pc = all + POOL_C(0);
    free(count);
    free(pop);
}

/* Mean of clamp(round(exp(mu + sigma z)), lo, hi) for z ~ N(0,1), by quadrature on a grid. */
static double clamped_mean(double mu, double lo, double hi) {
    double sum = 0, wsum = 0;
    for (int k = -400; k <= 400; k++) {
        double z = k / 80.0, wt = exp(-0.5 * z * z);
        double v = floor(exp(mu + LEN_SIGMA * z) + 0.5);
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        sum += wt * v;
        wsum += wt;
    }
    return sum / wsum;
}

static double solve_len_mu(const sd_synth_opts *o) {
    double a = -5, b = log((double)max_len(o)) + 5;
    for (int it = 0; it < 80; it++) {
        double m = 0.5 * (a + b);
        if (clamped_mean(m, o->min_len, max_len(o)) < o->mean_len) a = m; else b = m;
    }
    return 0.5 * (a + b);
}

static void world_free(world *w) {
    free(w->specs);
    free(w->frs);
    free(w->fr_items);
    free(w->pg);
    free(w->pool_items);
    free(w->pool_cum);
    if (w->names) sd_pool_free(w->names);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------------------------------------ */
/* Users.                                                                                      */

/* Per-user streams: preferences, length and history draw from separate streams, so the
 * preferences can be recomputed alone (sd_synth_user_prefs) without generating histories. */
enum { STREAM_PREFS = 1, STREAM_LEN = 2, STREAM_HIST = 3, STREAM_TEXT = 4 };
static uint64_t user_stream(int32_t u, int kind) { return ((uint64_t)u << 3) | (uint64_t)kind; }

void sd_synth_user_prefs(const sd_synth_opts *o, int32_t user, sd_synth_user *out) {
    sd_rng r;
    sd_rng_stream(&r, o->seed, user_stream(user, STREAM_PREFS));
    memset(out, 0, sizeof *out);
    float plat_w[16];
    for (int p = 0; p < sv_n_platforms; p++) plat_w[p] = sv_platforms[p].popularity;
    int main_p = pick_w(&r, plat_w, sv_n_platforms);
    out->platforms[0] = main_p;
    out->platform_w[0] = 1;
    out->n_platforms = 1;
    if (sd_rng_double(&r) < 0.3) {
        /* half of the two-platform users own both generations of one family */
        int second = -1;
        if (sd_rng_double(&r) < 0.5)
            for (int p = 0; p < sv_n_platforms; p++)
                if (p != main_p && !strcmp(sv_platforms[p].family, sv_platforms[main_p].family)) second = p;
        if (second < 0) {
            plat_w[main_p] = 0;
            second = pick_w(&r, plat_w, sv_n_platforms);
        }
        float w0 = (float)(0.6 + 0.3 * sd_rng_double(&r));
        out->platforms[1] = second;
        out->platform_w[0] = w0;
        out->platform_w[1] = 1 - w0;
        out->n_platforms = 2;
    }
    /* Dirichlet over genres with a small concentration (most users love a few genres); the
     * three largest shares are kept and renormalised */
    double gw[32];
    for (int g = 0; g < sv_n_genres; g++) gw[g] = gamma_draw(&r, 0.35 * genre_weight[g]) + 1e-12;
    for (int k = 0; k < 3; k++) {
        int best = -1;
        for (int g = 0; g < sv_n_genres; g++)
            if (gw[g] >= 0 && (best < 0 || gw[g] > gw[best])) best = g;
        out->genres[k] = best;
        out->genre_w[k] = (float)gw[best];
        gw[best] = -1;
    }
    out->n_genres = 3;
    float tot = out->genre_w[0] + out->genre_w[1] + out->genre_w[2];
    for (int k = 0; k < 3; k++) out->genre_w[k] /= tot;
    /* drop negligible genres so the ground truth lists only real preferences */
    while (out->n_genres > 1 && out->genre_w[out->n_genres - 1] < 0.05f) out->n_genres--;
    tot = 0;
    for (int k = 0; k < out->n_genres; k++) tot += out->genre_w[k];
    for (int k = 0; k < out->n_genres; k++) out->genre_w[k] /= tot;
}

static int32_t user_length(const world *w, const sd_synth_opts *o, int32_t u) {
    sd_rng r;
    sd_rng_stream(&r, o->seed, user_stream(u, STREAM_LEN));
    double v = floor(exp(w->len_mu + LEN_SIGMA * sd_rng_normal(&r)) + 0.5);
    if (v < o->min_len) v = o->min_len;
    if (v > max_len(o)) v = max_len(o);
    return (int32_t)v;
}

static int owned(const int32_t *items, int32_t n, int32_t it) {
    for (int32_t i = 0; i < n; i++)
        if (items[i] == it) return 1;
    return 0;
}

static int prefers_platform(const sd_synth_user *pr, int p) {
    for (int k = 0; k < pr->n_platforms; k++)
        if (pr->platforms[k] == p) return 1;
    return 0;
}

/* Part k+1 of the franchise of `last`: on last's platform when the user plays there, else on
 * another preferred platform, else (a franchise followed off-platform) on last's platform. */
static int32_t next_part(const world *w, int32_t last, const sd_synth_user *pr) {
    const spec *s = &w->specs[last];
    const franchise *f = &w->frs[s->franchise];
    if (s->part >= f->n_parts) return -1;
    int32_t same = -1, preferred = -1;
    for (int32_t j = 0; j < f->n_items; j++) {
        int32_t it = w->fr_items[f->items_off + j];
        const spec *t = &w->specs[it];
        if (t->part != s->part + 1) continue;
        if (t->platform == s->platform) same = it;
        else if (preferred < 0 && prefers_platform(pr, t->platform)) preferred = it;
    }
    if (same >= 0 && prefers_platform(pr, s->platform)) return same;
    return preferred >= 0 ? preferred : same;
}

/* Earliest part of it's franchise on it's platform that the user lacks (it itself if none). */
static int32_t earliest_part(const world *w, int32_t it, const int32_t *items, int32_t n) {
    const spec *s = &w->specs[it];
    const franchise *f = &w->frs[s->franchise];
    for (int32_t j = 0; j < f->n_items; j++) {
        int32_t c = w->fr_items[f->items_off + j];
        const spec *t = &w->specs[c];
        if (t->part >= s->part) break;
        if (t->platform == s->platform && !owned(items, n, c)) return c;
    }
    return it;
}

static int draw_platform(const sd_synth_user *pr, sd_rng *r) {
    if (sd_rng_double(r) < P_OFF_PLATFORM) return (int)sd_rng_below(r, (uint64_t)sv_n_platforms);
    return pr->platforms[pick_w(r, pr->platform_w, pr->n_platforms)];
}

static int32_t draw_game(const world *w, const sd_synth_user *pr, sd_rng *r, const int32_t *items, int32_t n) {
    int p = draw_platform(pr, r);
    int g = sd_rng_double(r) < P_OFF_GENRE ? (int)sd_rng_below(r, (uint64_t)sv_n_genres)
                                           : pr->genres[pick_w(r, pr->genre_w, pr->n_genres)];
    int32_t it = pool_draw(w, w->pg[p * sv_n_genres + g], r);
    if (it < 0) it = pool_draw(w, w->pp[p], r);
    if (it >= 0 && w->specs[it].part > 1 && sd_rng_double(r) < P_START_SERIES) it = earliest_part(w, it, items, n);
    return it;
}

/* Fills one user's history: L distinct items with increasing timestamps. */
static void gen_user(const world *w, const sd_synth_opts *o, int32_t u, int32_t L, int32_t *items, int64_t *times) {
    sd_synth_user pr;
    sd_synth_user_prefs(o, u, &pr);
    sd_rng r;
    sd_rng_stream(&r, o->seed, user_stream(u, STREAM_HIST));
    double gaps_small[256];
    double *gaps = L <= 256 ? gaps_small : sd_xmalloc((size_t)L * sizeof *gaps);
    int pend_p = -1, pend_left = 0;
    for (int32_t n = 0; n < L; n++) {
        int32_t it = -1;
        int quick = 0;
        int32_t last = n ? items[n - 1] : -1;
        int main_p = pr.platforms[0];
        if (n == 0 && w->pc[main_p].n > 0 && sd_rng_double(&r) < P_CONSOLE_FIRST) {
            it = pool_draw(w, w->pc[main_p], &r);
            pend_p = main_p;
            pend_left = 1 + (int)sd_rng_below(&r, 3);
        } else if (last >= 0 && w->specs[last].type == T_GAME && sd_rng_double(&r) < P_NEXT_PART) {
            it = next_part(w, last, &pr);
        }
        if (it < 0 && pend_left > 0 && sd_rng_double(&r) < P_ACCESSORY_AFTER) {
            it = pool_draw(w, w->pa[pend_p], &r);
            pend_left--;
            quick = 1;
        }
        if (it < 0) {
            double x = sd_rng_double(&r);
            if (x < P_NOISE) {
                it = (int32_t)sd_rng_below(&r, (uint64_t)w->n_items);
            } else if (x < P_NOISE + P_LATE_CONSOLE) {
                int p = pr.platforms[pick_w(&r, pr.platform_w, pr.n_platforms)];
                it = pool_draw(w, w->pc[p], &r);
                if (it >= 0) { pend_p = p; pend_left = 1 + (int)sd_rng_below(&r, 2); }
            } else if (x < P_NOISE + P_LATE_CONSOLE + P_ACCESSORY) {
                it = pool_draw(w, w->pa[draw_platform(&pr, &r)], &r);
            } else {
                it = draw_game(w, &pr, &r, items, n);
            }
        }
        for (int tries = 0; (it < 0 || owned(items, n, it)) && tries < 16; tries++) it = draw_game(w, &pr, &r, items, n);
        while (it < 0 || owned(items, n, it)) it = (int32_t)sd_rng_below(&r, (uint64_t)w->n_items);
        items[n] = it;
        gaps[n] = n == 0 ? 0 : exp_draw(&r, (quick ? QUICK_GAP_DAYS : GAP_DAYS) * 86400.0);
    }
    /* timestamps: the gaps, squeezed if needed into the user's window; current-generation
     * owners start after the new consoles came out */
    int64_t t0 = sv_platforms[pr.platforms[0]].generation == 1 ? T_NEXTGEN : T_FIRST;
    double span = 0;
    for (int32_t n = 1; n < L; n++) span += gaps[n];
    double room = (double)(T_LAST - t0) - L;
    double scale = span > room ? room / span : 1;
    double start = (double)t0 + sd_rng_double(&r) * (room - span * scale);
    int64_t t = (int64_t)start;
    for (int32_t n = 0; n < L; n++) {
        if (n) t += 1 + (int64_t)(gaps[n] * scale);
        times[n] = t;
    }
    if (gaps != gaps_small) free(gaps);
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering item text.                                                                        */

typedef struct tctx {
    sd_rng *r;
    const sv_genre *g;
    const sv_platform *p;
    const char *T, *S, *B, *C, *K, *Q;
} tctx;

/* "a" before a consonant sound, "an" before a vowel, whatever phrase a placeholder drew. */
static size_t fix_article(char *dst, size_t pos, const char *next) {
    int vowel = next[0] && strchr("aeiouAEIOU", next[0]) != NULL;
    int before_ok = pos == 2 || (pos > 2 && dst[pos - 3] == ' ');
    int is_a = pos >= 2 && before_ok && (dst[pos - 2] | 32) == 'a' && dst[pos - 1] == ' ';
    int is_an = pos >= 4 && dst[pos - 4] == ' ' && (dst[pos - 3] | 32) == 'a' && dst[pos - 2] == 'n' && dst[pos - 1] == ' ';
    if (vowel && is_a) { dst[pos - 1] = 'n'; dst[pos] = ' '; return pos + 1; }
    if (!vowel && is_an) { dst[pos - 2] = ' '; return pos - 1; }
    return pos;
}

/* Appends template t to dst[pos..cap) expanding placeholders; returns the new length. Each {N},
 * {A} and {F} draws a fresh phrase. Output is truncated (never overflowed) at cap - 1. */
static size_t expand(char *dst, size_t cap, size_t pos, const char *t, const tctx *c) {
    for (; *t && pos + 1 < cap; t++) {
        const char *ins = NULL;
        if (t[0] == '{' && t[1] && t[2] == '}') {
            switch (t[1]) {
            case 'T': ins = c->T; break;
            case 'S': ins = c->S; break;
            case 'B': ins = c->B; break;
            case 'C': ins = c->C; break;
            case 'K': ins = c->K; break;
            case 'Q': ins = c->Q; break;
            case 'P': ins = c->p ? c->p->name : ""; break;
            case 'N': ins = c->g ? pick_s(c->r, c->g->things) : ""; break;
            case 'A': ins = c->g ? pick_s(c->r, c->g->describe) : ""; break;
            case 'F': ins = c->p ? pick_s(c->r, c->p->features) : ""; break;
            }
        }
        if (ins) {
            if (pos + 2 < cap) pos = fix_article(dst, pos, ins);
            size_t l = strlen(ins);
            if (l > cap - 1 - pos) l = cap - 1 - pos;
            memcpy(dst + pos, ins, l);
            pos += l;
            t += 2;
        } else {
            dst[pos++] = *t;
        }
    }
    dst[pos] = 0;
    return pos;
}

static size_t sentence(char *dst, size_t cap, size_t pos, const char *t, const tctx *c) {
    if (pos && pos + 2 < cap) { dst[pos++] = ' '; dst[pos] = 0; }
    return expand(dst, cap, pos, t, c);
}

/* Up to k distinct entries of list, in a random order. */
static int pick_distinct(sd_rng *r, const char *const *list, int k, int *out) {
    int n = sv_count(list), m = 0;
    if (k > n) k = n;
    while (m < k) {
        int j = (int)sd_rng_below(r, (uint64_t)n), dup = 0;
        for (int i = 0; i < m; i++) dup |= out[i] == j;
        if (!dup) out[m++] = j;
    }
    return m;
}

/* "Neon Drift", "Neon Drift 2: Overclocked", "Neon Drift: Rise of the Fallen". */
static void game_title(const world *w, int32_t fr, int part, char *out, size_t cap) {
    const franchise *f = &w->frs[fr];
    if (part <= 1) { snprintf(out, cap, "%s", f->name); return; }
    uint64_t h = sd_mix64(w->seed ^ sd_mix64(((uint64_t)fr << 8) | (uint64_t)part));
    char sub[96];
    if (h % 3 == 0)
        snprintf(sub, sizeof sub, "%s of %s", sv_subtitle_heads[(h >> 8) % sv_count(sv_subtitle_heads)],
                 sv_subtitle_tails[(h >> 20) % sv_count(sv_subtitle_tails)]);
    else
        snprintf(sub, sizeof sub, "%s", sv_subtitle_words[(h >> 8) % sv_count(sv_subtitle_words)]);
    int style = (int)((h >> 40) % 10);
    if (part <= 3 && style < 4) snprintf(out, cap, "%s %d", f->name, part);
    else if (part <= 5 && style < 8) snprintf(out, cap, "%s %d: %s", f->name, part, sub);
    else snprintf(out, cap, "%s: %s", f->name, sub);
}

typedef struct rendered {
    char title[256], desc[4096], feat[8][256], price[16], part[8];
    const char *feats[8], *cats[4];
    sd_kv attrs[16];
    int n_feats, n_cats, n_attrs;
} rendered;

static void add_attr(rendered *o, const char *k, const char *v) { o->attrs[o->n_attrs++] = (sd_kv){k, v}; }
static void add_bullet(rendered *o, const char *t, const tctx *c) {
    expand(o->feat[o->n_feats], sizeof o->feat[0], 0, t, c);
    o->feats[o->n_feats] = o->feat[o->n_feats];
    o->n_feats++;
}

static const char *const mp_values[SV_N_MP] = {"no", "yes", "online"};

static void render_game(const world *w, const spec *s, sd_rng *r, rendered *o) {
    const franchise *f = &w->frs[s->franchise];
    const sv_genre *G = &sv_genres[s->genre1];
    const sv_platform *P = &sv_platforms[s->platform];
    char base[192], prev[192];
    game_title(w, s->franchise, s->part, base, sizeof base);
    if (s->part > 1) game_title(w, s->franchise, s->part - 1, prev, sizeof prev); else prev[0] = 0;
    snprintf(o->title, sizeof o->title, "%s - %s", base, P->name);
    tctx c = {r, G, P, base, G->settings[f->setting], sv_publishers[f->publisher], "", sv_ordinals[(s->part - 1) % 10], prev};
    int idx[4];
    size_t pos = 0;
    int k = pick_distinct(r, G->sentences, 3, idx);
    for (int i = 0; i < k; i++) pos = sentence(o->desc, sizeof o->desc, pos, G->sentences[idx[i]], &c);
    if (s->genre2 != NO_GENRE) {
        tctx c2 = c;
        c2.g = &sv_genres[s->genre2];
        c2.S = pick_s(r, c2.g->settings);
        pos = sentence(o->desc, sizeof o->desc, pos, pick_s(r, c2.g->sentences), &c2);
    }
    if (s->part > 1) pos = sentence(o->desc, sizeof o->desc, pos, pick_s(r, sv_sequel_sentences), &c);
    else if (sd_rng_double(r) < 0.5) pos = sentence(o->desc, sizeof o->desc, pos, pick_s(r, sv_first_sentences), &c);
    pos = sentence(o->desc, sizeof o->desc, pos, sv_mp_sentences[s->mp], &c);
    k = pick_distinct(r, P->sentences, 1 + (int)sd_rng_below(r, 2), idx);
    for (int i = 0; i < k; i++) pos = sentence(o->desc, sizeof o->desc, pos, P->sentences[idx[i]], &c);

    k = pick_distinct(r, G->bullets, 2, idx);
    for (int i = 0; i < k; i++) add_bullet(o, G->bullets[idx[i]], &c);
    if (s->genre2 != NO_GENRE) {
        tctx c2 = c;
        c2.g = &sv_genres[s->genre2];
        c2.S = pick_s(r, c2.g->settings);
        add_bullet(o, pick_s(r, c2.g->bullets), &c2);
    }
    add_bullet(o, pick_s(r, P->bullets), &c);
    add_bullet(o, sv_mp_bullets[s->mp], &c);
    snprintf(o->feat[o->n_feats], sizeof o->feat[0], "ESRB rating: %s", sv_rating_names[s->rating]);
    o->feats[o->n_feats] = o->feat[o->n_feats];
    o->n_feats++;

    o->cats[o->n_cats++] = "Video Games";
    o->cats[o->n_cats++] = P->name;
    o->cats[o->n_cats++] = "Games";
    snprintf(o->part, sizeof o->part, "%d", s->part);
    add_attr(o, "product_type", "game");
    add_attr(o, "platform", P->name);
    add_attr(o, "genre", G->name);
    if (s->genre2 != NO_GENRE) add_attr(o, "genre", sv_genres[s->genre2].name);
    add_attr(o, "franchise", f->name);
    add_attr(o, "franchise_part", o->part);
    add_attr(o, "multiplayer", mp_values[s->mp]);
    add_attr(o, "brand", sv_publishers[f->publisher]);
    add_attr(o, "rating", sv_rating_codes[s->rating]);
}

static void render_console(const world *w, const spec *s, sd_rng *r, rendered *o) {
    const sv_platform *P = &sv_platforms[s->platform];
    int nv = sv_count(P->consoles);
    const char *name = P->consoles[s->variant % nv];
    char bundle[192] = "";
    if (s->franchise >= 0) {
        game_title(w, s->franchise, 1, bundle, sizeof bundle);
        snprintf(o->title, sizeof o->title, "%s - %s Bundle", name, bundle);
    } else {
        snprintf(o->title, sizeof o->title, "%s", name);
    }
    tctx c = {r, NULL, P, name, "", P->maker, "", "", ""};
    size_t pos = 0;
    int idx[4];
    int k = pick_distinct(r, sv_console_sentences, 3, idx);
    for (int i = 0; i < k; i++) pos = sentence(o->desc, sizeof o->desc, pos, sv_console_sentences[idx[i]], &c);
    if (bundle[0]) {
        char b[256];
        snprintf(b, sizeof b, "Bundle includes a full download of %s.", bundle);
        pos = sentence(o->desc, sizeof o->desc, pos, b, &c);
    }
    k = pick_distinct(r, P->sentences, 2, idx);
    for (int i = 0; i < k; i++) pos = sentence(o->desc, sizeof o->desc, pos, P->sentences[idx[i]], &c);
    k = pick_distinct(r, sv_console_bullets, 3, idx);
    for (int i = 0; i < k; i++) add_bullet(o, sv_console_bullets[idx[i]], &c);
    add_bullet(o, pick_s(r, P->bullets), &c);
    o->cats[o->n_cats++] = "Video Games";
    o->cats[o->n_cats++] = P->name;
    o->cats[o->n_cats++] = "Consoles";
    add_attr(o, "product_type", "console");
    add_attr(o, "platform", P->name);
    add_attr(o, "brand", P->maker);
    if (s->franchise >= 0) add_attr(o, "franchise", w->frs[s->franchise].name);
}

static void render_accessory(const spec *s, sd_rng *r, rendered *o) {
    const sv_platform *P = &sv_platforms[s->platform];
    const sv_accessory *A = &sv_accessories[s->variant];
    int first_party = !strcmp(A->kind, "controller") || !strcmp(A->kind, "remote") || !strcmp(A->kind, "camera") ||
                      !strcmp(A->kind, "joycon");
    const char *brand = first_party && strcmp(P->family, "PC") ? P->maker : pick_s(r, sv_accessory_brands);
    tctx c = {r, NULL, P, "", "", brand, pick_s(r, sv_colours), "", ""};
    expand(o->title, sizeof o->title, 0, A->title, &c);
    c.T = o->title;
    size_t pos = 0;
    int idx[4];
    int k = pick_distinct(r, A->sentences, 2 + (int)sd_rng_below(r, 2), idx);
    for (int i = 0; i < k; i++) pos = sentence(o->desc, sizeof o->desc, pos, A->sentences[idx[i]], &c);
    pos = sentence(o->desc, sizeof o->desc, pos, pick_s(r, P->sentences), &c);
    k = pick_distinct(r, A->bullets, 3 + (int)sd_rng_below(r, 2), idx);
    for (int i = 0; i < k; i++) add_bullet(o, A->bullets[idx[i]], &c);
    o->cats[o->n_cats++] = "Video Games";
    o->cats[o->n_cats++] = P->name;
    o->cats[o->n_cats++] = "Accessories";
    add_attr(o, "product_type", "accessory");
    add_attr(o, "platform", P->name);
    add_attr(o, "accessory_type", A->kind);
    if (A->genre) add_attr(o, "genre", A->genre);
    add_attr(o, "brand", brand);
}

static int render_catalog(const world *w, sd_catalog **out, sd_err *err) {
    sd_catalog *cat = sd_catalog_new();
    rendered *o = sd_xmalloc(sizeof *o);
    sd_progress pg;
    sd_progress_start(&pg, "synth items", w->n_items, "items");
    for (int32_t i = 0; i < w->n_items; i++) {
        const spec *s = &w->specs[i];
        sd_rng r;
        sd_rng_stream(&r, w->seed, ((uint64_t)i << 3) | STREAM_TEXT | (1ULL << 62));
        memset(o, 0, offsetof(rendered, feat));
        o->n_feats = o->n_cats = o->n_attrs = 0;
        if (s->type == T_GAME) render_game(w, s, &r, o);
        else if (s->type == T_CONSOLE) render_console(w, s, &r, o);
        else render_accessory(s, &r, o);
        snprintf(o->price, sizeof o->price, "%.2f", s->price);
        add_attr(o, "price", o->price);
        char id[16];
        item_ext_id(id, i);
        sd_item_in in = {id, o->title, o->desc, o->feats, (uint32_t)o->n_feats, o->cats, (uint32_t)o->n_cats,
                         o->attrs, (uint32_t)o->n_attrs};
        int32_t got = sd_catalog_add(cat, &in, err);
        if (got != i) {
            free(o);
            sd_catalog_free(cat);
            return got < 0 ? got : sd_errf(err, SD_ESTATE, "internal: item %d added as %d", i, got);
        }
        if ((i & 4095) == 0) sd_progress_set(&pg, i);
    }
    sd_progress_set(&pg, w->n_items);
    sd_progress_finish(&pg);
    free(o);
    *out = cat;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void build_world(world *w, const sd_synth_opts *o) {
    memset(w, 0, sizeof *w);
    w->seed = o->seed;
    w->n_items = o->n_items;
    sd_rng r;
    sd_rng_stream(&r, o->seed, 0x17E115ULL | (1ULL << 63));
    build_specs(w, &r);
    build_pools(w, &r);
    w->len_mu = solve_len_mu(o);
}

static int generate_sequences(const world *w, const sd_synth_opts *o, sd_sequences *seq) {
    int32_t U = o->n_users;
    int64_t *offsets = sd_xmalloc(((size_t)U + 1) * sizeof *offsets);
    offsets[0] = 0;
#pragma omp parallel for schedule(static)
    for (int32_t u = 0; u < U; u++) offsets[u + 1] = user_length(w, o, u);
    for (int32_t u = 0; u < U; u++) offsets[u + 1] += offsets[u];
    int64_t total = offsets[U];
    int32_t *items = sd_xmalloc((size_t)(total ? total : 1) * sizeof *items);
    int64_t *times = sd_xmalloc((size_t)(total ? total : 1) * sizeof *times);
    sd_progress pg;
    sd_progress_start(&pg, "synth histories", total, "inter");
    const int32_t block = 16384;
    for (int32_t b0 = 0; b0 < U; b0 += block) {
        int32_t b1 = b0 + block < U ? b0 + block : U;
#pragma omp parallel for schedule(dynamic, 256)
        for (int32_t u = b0; u < b1; u++)
            gen_user(w, o, u, (int32_t)(offsets[u + 1] - offsets[u]), items + offsets[u], times + offsets[u]);
        sd_progress_set(&pg, offsets[b1]);
    }
    sd_progress_finish(&pg);
    sd_pool *pool = sd_pool_new();
    const char **ids = sd_xmalloc(((size_t)U ? (size_t)U : 1) * sizeof *ids);
    for (int32_t u = 0; u < U; u++) {
        char id[16];
        user_ext_id(id, u);
        ids[u] = sd_pool_strdup(pool, id);
    }
    memset(seq, 0, sizeof *seq);
    seq->n_users = U;
    seq->n_items = w->n_items;
    seq->n_inter = total;
    seq->offsets = offsets;
    seq->items = items;
    seq->times = times;
    seq->user_ids = ids;
    seq->pool = pool;
    seq->owned[0] = offsets; seq->owned[1] = items; seq->owned[2] = times; seq->owned[3] = (void *)ids;
    return 0;
}

int sd_synth_generate(const sd_synth_opts *o, sd_catalog **cat, sd_sequences *seq, sd_err *err) {
    *cat = NULL;
    memset(seq, 0, sizeof *seq);
    int rc = sd_synth_check(o, err);
    if (rc) return rc;
    world w;
    build_world(&w, o);
    rc = render_catalog(&w, cat, err);
    if (!rc) rc = generate_sequences(&w, o, seq);
    world_free(&w);
    if (rc) { sd_catalog_free(*cat); *cat = NULL; sd_sequences_free(seq); }
    return rc;
}

int sd_synth_write_users(const sd_synth_opts *o, const sd_sequences *seq, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    for (int32_t u = 0; u < seq->n_users; u++) {
        sd_synth_user pr;
        sd_synth_user_prefs(o, u, &pr);
        fprintf(a.f, "{\"user\":%d,\"user_id\":\"%s\",\"platforms\":[", u, seq->user_ids[u]);
        for (int k = 0; k < pr.n_platforms; k++)
            fprintf(a.f, "%s{\"name\":\"%s\",\"weight\":%.4f}", k ? "," : "", sv_platforms[pr.platforms[k]].name,
                    pr.platform_w[k]);
        fputs("],\"genres\":[", a.f);
        for (int k = 0; k < pr.n_genres; k++)
            fprintf(a.f, "%s{\"name\":\"%s\",\"weight\":%.4f}", k ? "," : "", sv_genres[pr.genres[k]].name,
                    pr.genre_w[k]);
        fputs("]}\n", a.f);
    }
    return sd_atomic_commit(&a, err);
}

char *sd_synth_meta(const sd_synth_opts *o) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"synth\":{\"version\":%d,\"items\":%d,\"users\":%d,\"mean_len\":%g,\"min_len\":%d,\"max_len\":%d,"
             "\"seed\":%llu,\"users_file\":\"synth_users.jsonl\"}}",
             SD_SYNTH_VERSION, o->n_items, o->n_users, o->mean_len, o->min_len, o->max_len,
             (unsigned long long)o->seed);
    return sd_xstrdup(buf);
}

int sd_synth_create(const char *dir, const sd_synth_opts *o, sd_split_kind split, sd_err *err) {
    sd_catalog *cat;
    sd_sequences seq;
    int rc = sd_synth_generate(o, &cat, &seq, err);
    if (rc) return rc;
    char *meta = sd_synth_meta(o);
    sd_split_opts so = {.cold_share = o->cold_items};
    rc = sd_work_create_flags(dir, cat, &seq, split, o->seed, &so, "synth", meta, o->out_flags, err);
    if (!rc) {
        char *p = sd_path_join(dir, "synth_users.jsonl");
        rc = sd_synth_write_users(o, &seq, p, err);
        free(p);
    }
    free(meta);
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    return rc;
}
