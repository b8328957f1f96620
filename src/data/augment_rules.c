/* The rule tables of `semid augment` (data/augment_rules.h). Each table is read top to bottom and
 * the first row that matches wins, so a specific name ("PlayStation 4") stands above a general
 * one ("PlayStation"). Matching is case-insensitive on whole words: "PS4" matches "(PS4)" and
 * "PS4/PS5" but not "PS44". */
#include "data/augment_rules.h"
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

typedef struct alias { const char *text, *value; bool short_name; } alias;

/* short_name: a word too common to trust outside a title's suffix, a category of its own or a
 * details field ("Switch", "PC", "DS"). */
static const alias platform_aliases[] = {
    {"PlayStation 5", "PlayStation 5", 0}, {"PS5", "PlayStation 5", 0},
    {"PlayStation 4", "PlayStation 4", 0}, {"PS4", "PlayStation 4", 0},
    {"PlayStation 3", "PlayStation 3", 0}, {"PS3", "PlayStation 3", 0},
    {"PlayStation 2", "PlayStation 2", 0}, {"PS2", "PlayStation 2", 0},
    {"PlayStation Vita", "PS Vita", 0}, {"PS Vita", "PS Vita", 0}, {"PSVita", "PS Vita", 0},
    {"PlayStation Portable", "PSP", 0}, {"PSP", "PSP", 0},
    {"PlayStation 1", "PlayStation", 0}, {"PS1", "PlayStation", 0}, {"PSX", "PlayStation", 0},
    {"Xbox Series X", "Xbox Series X", 0}, {"Xbox Series S", "Xbox Series X", 0},
    {"Xbox Series", "Xbox Series X", 0}, {"Xbox One", "Xbox One", 0}, {"Xbox 360", "Xbox 360", 0},
    {"Nintendo Switch", "Nintendo Switch", 0}, {"Switch", "Nintendo Switch", 1},
    {"Wii U", "Wii U", 0}, {"Wii", "Wii", 0},
    {"Nintendo 3DS", "Nintendo 3DS", 0}, {"3DS", "Nintendo 3DS", 0}, {"2DS", "Nintendo 3DS", 0},
    {"Nintendo DS", "Nintendo DS", 0}, {"NDS", "Nintendo DS", 1}, {"DS", "Nintendo DS", 1},
    {"GameCube", "GameCube", 0}, {"Game Cube", "GameCube", 0},
    {"Nintendo 64", "Nintendo 64", 0}, {"N64", "Nintendo 64", 0},
    {"Game Boy Advance", "Game Boy Advance", 0}, {"GBA", "Game Boy Advance", 1}, {"Game Boy", "Game Boy", 0},
    {"PlayStation", "PlayStation", 0}, {"Xbox", "Xbox", 0},
    {"Meta Quest", "Meta Quest", 0}, {"Oculus Quest", "Meta Quest", 0},
    {"PC", "PC", 1}, {"Windows", "PC", 1}, {"Steam", "PC", 1}, {"Mac", "Mac", 1}, {"macOS", "Mac", 1},
    {NULL, NULL, 0},
};

static const alias genre_aliases[] = {
    {"Role-Playing", "RPG", 0}, {"Role Playing", "RPG", 0}, {"RPG", "RPG", 0}, {"JRPG", "RPG", 0},
    {"First-Person Shooter", "Shooter", 0}, {"Shooter", "Shooter", 0}, {"FPS", "Shooter", 0},
    {"Racing", "Racing", 0}, {"Driving", "Racing", 0},
    {"Sports", "Sports", 0}, {"Platformer", "Platformer", 0}, {"Puzzle", "Puzzle", 0},
    {"Strategy", "Strategy", 0}, {"RTS", "Strategy", 0}, {"Fighting", "Fighting", 0},
    {"Simulation", "Simulation", 0}, {"Simulator", "Simulation", 0},
    {"Survival Horror", "Horror", 0}, {"Horror", "Horror", 0},
    {"Adventure", "Adventure", 0}, {"Action", "Action", 0},
    {"Music", "Music", 0}, {"Rhythm", "Music", 0}, {"Party", "Party", 0},
    {NULL, NULL, 0},
};

/* Amazon's category path names the kind of product ("Video Games > Xbox One > Accessories >
 * Controllers"); accessories stand above games because "Games" also heads accessory paths. */
static const alias type_by_category[] = {
    {"Accessories", "accessory", 0}, {"Controllers", "accessory", 0}, {"Headsets", "accessory", 0},
    {"Gamepads", "accessory", 0}, {"Cables", "accessory", 0}, {"Chargers", "accessory", 0},
    {"Batteries", "accessory", 0}, {"Cases", "accessory", 0}, {"Memory Cards", "accessory", 0},
    {"Consoles", "console", 0}, {"Games", "game", 0}, {"Game Downloads", "game", 0},
    {"Software", "software", 0}, {"Merchandise", "merchandise", 0}, {"Collectibles", "merchandise", 0},
    {"Movies", "movie", 0},
    {NULL, NULL, 0},
};

/* A title that names the hardware: "DualSense Wireless Controller", "PlayStation 5 Console". */
static const alias type_by_title[] = {
    {"Controller", "accessory", 0}, {"Headset", "accessory", 0}, {"Charging Station", "accessory", 0},
    {"Charging Dock", "accessory", 0}, {"Memory Card", "accessory", 0}, {"Steering Wheel", "accessory", 0},
    {"Gamepad", "accessory", 0}, {"Joystick", "accessory", 0}, {"Carrying Case", "accessory", 0},
    {"Console", "console", 0},
    {NULL, NULL, 0},
};

/* Feature bullets and descriptions; online play stands above play together. */
static const alias multiplayer_phrases[] = {
    {"online multiplayer", "online", 0}, {"online play", "online", 0}, {"play online", "online", 0},
    {"online co-op", "online", 0}, {"players online", "online", 0}, {"online matches", "online", 0},
    {"multiplayer", "yes", 0}, {"co-op", "yes", 0}, {"cooperative", "yes", 0}, {"split-screen", "yes", 0},
    {"split screen", "yes", 0}, {"2-player", "yes", 0}, {"2 players", "yes", 0}, {"4 players", "yes", 0},
    {"4-player", "yes", 0}, {"single-player only", "no", 0}, {"single player only", "no", 0},
    {NULL, NULL, 0},
};

/* Details fields (Amazon's "details" object) read for each field. */
static const char *const platform_details[] = {"Platform", "platform", "Hardware Platform", NULL};
static const char *const genre_details[] = {"Genre", "genre", "Genres", "genres", NULL};
static const char *const franchise_details[] = {"Series", "series", "Franchise", NULL};

static bool word_at(const char *hay, size_t i, size_t hay_len, const char *w, size_t wl) {
    if (i + wl > hay_len || strncasecmp(hay + i, w, wl)) return false;
    bool left = i == 0 || !isalnum((unsigned char)hay[i - 1]);
    bool right = i + wl == hay_len || !isalnum((unsigned char)hay[i + wl]);
    return left && right;
}

static bool has_word(const char *hay, size_t hay_len, const char *w) {
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= hay_len; i++)
        if (word_at(hay, i, hay_len, w, wl)) return true;
    return false;
}

/* The first row whose text is a whole word of s; short names only when allow_short. */
static const char *lookup(const alias *t, const char *s, size_t len, bool allow_short) {
    for (; t->text; t++)
        if ((allow_short || !t->short_name) && has_word(s, len, t->text)) return t->value;
    return NULL;
}

/* A string that is exactly one of the table's texts (a category "PC"). */
static const char *lookup_exact(const alias *t, const char *s) {
    for (; t->text; t++) if (!strcasecmp(t->text, s)) return t->value;
    return NULL;
}

const char *sd_aug_platform_in(const char *text) {
    return text ? lookup(platform_aliases, text, strlen(text), false) : NULL;
}

const char *sd_aug_genre_in(const char *text) {
    return text ? lookup(genre_aliases, text, strlen(text), true) : NULL;
}

/* The end of a title where shops put the platform: "Halo 4 - Xbox 360", "Halo 3 (Xbox 360)",
 * "[PS4]", "Zelda – Nintendo Switch", "Halo 3 Limited Edition for Xbox 360". */
const char *sd_aug_platform_from_title(const char *title) {
    if (!title) return NULL;
    size_t n = strlen(title);
    while (n && isspace((unsigned char)title[n - 1])) n--;
    if (!n) return NULL;
    const char *v;
    if (title[n - 1] == ')' || title[n - 1] == ']') {
        char open = title[n - 1] == ')' ? '(' : '[';
        for (size_t i = n - 1; i-- > 0;)
            if (title[i] == open) {
                if ((v = lookup(platform_aliases, title + i + 1, n - i - 2, true))) return v;
                break;
            }
    }
    static const char *const seps[] = {" - ", " \xe2\x80\x93 ", " \xe2\x80\x94 ", " -- ", " for ", " For ", NULL};
    size_t best = 0;
    for (const char *const *s = seps; *s; s++) {
        size_t sl = strlen(*s);
        for (size_t i = 0; i + sl <= n; i++)
            if (!strncmp(title + i, *s, sl) && i + sl > best) best = i + sl;
    }
    return best ? lookup(platform_aliases, title + best, n - best, true) : NULL;
}

static const char *detail(const sd_catalog *c, const sd_item *it, const char *const *keys, const char **which) {
    const sd_kv *a = sd_item_attrs(c, it);
    for (const char *const *k = keys; *k; k++)
        for (uint32_t i = 0; i < it->n_attrs; i++)
            if (!strcmp(a[i].key, *k) && a[i].value[0]) { *which = *k; return a[i].value; }
    return NULL;
}

static void fill(sd_aug_values *out, const char *rule[], sd_aug_field f, const char *v, const char *why) {
    if (!v || out->v[f]) return;
    out->v[f] = v;
    rule[f] = why;
}

static void add_genres(sd_aug_values *out, const char *s, const char *const rule_name, const char *rule[]) {
    size_t len = strlen(s);
    for (const alias *t = genre_aliases; t->text && out->n_genres < SD_AUG_MAX_GENRES; t++) {
        if (!has_word(s, len, t->text)) continue;
        bool dup = false;
        for (int g = 0; g < out->n_genres; g++) dup |= !strcmp(out->genres[g], t->value);
        if (!dup) out->genres[out->n_genres++] = t->value;
    }
    if (out->n_genres && !out->v[SD_AUG_GENRE]) fill(out, rule, SD_AUG_GENRE, out->genres[0], rule_name);
}

void sd_aug_rules_apply(const sd_catalog *c, int32_t id, const char *format, sd_aug_values *out,
                        const char *rule[SD_AUG_N_FIELDS]) {
    memset(out, 0, sizeof *out);
    for (int f = 0; f < SD_AUG_N_FIELDS; f++) rule[f] = NULL;
    const sd_item *it = &c->items[id];
    const char *const *cats = sd_item_categories(c, it);
    const char *which = NULL, *d;

    /* platform: details name it outright; a title's suffix is the shop's own label; categories last */
    if ((d = detail(c, it, platform_details, &which))) {
        const char *v = lookup_exact(platform_aliases, d);
        fill(out, rule, SD_AUG_PLATFORM, v ? v : lookup(platform_aliases, d, strlen(d), true),
             which == platform_details[0] ? "details.Platform" : "details.platform");
    }
    fill(out, rule, SD_AUG_PLATFORM, sd_aug_platform_from_title(it->title), "title suffix");
    for (uint32_t k = it->n_categories; k-- > 0 && !out->v[SD_AUG_PLATFORM];) {
        const char *v = lookup_exact(platform_aliases, cats[k]);
        fill(out, rule, SD_AUG_PLATFORM, v ? v : sd_aug_platform_in(cats[k]), "category");
    }
    fill(out, rule, SD_AUG_PLATFORM, sd_aug_platform_in(it->title), "title");

    /* product type: the category path, then hardware words in the title */
    if (format && !strcmp(format, "movielens")) fill(out, rule, SD_AUG_PRODUCT_TYPE, "movie", "format movielens");
    for (const alias *t = type_by_category; t->text && !out->v[SD_AUG_PRODUCT_TYPE]; t++)
        for (uint32_t k = 0; k < it->n_categories; k++)
            if (!strcasecmp(cats[k], t->text)) { fill(out, rule, SD_AUG_PRODUCT_TYPE, t->value, "category"); break; }
    fill(out, rule, SD_AUG_PRODUCT_TYPE, lookup(type_by_title, it->title, strlen(it->title), true), "title word");

    /* genre: details, then (for games) categories */
    if ((d = detail(c, it, genre_details, &which))) add_genres(out, d, "details.Genre", rule);
    const char *type = out->v[SD_AUG_PRODUCT_TYPE];
    if (!type || !strcmp(type, "game"))
        for (uint32_t k = 0; k < it->n_categories && !out->n_genres; k++) add_genres(out, cats[k], "category", rule);

    if ((d = detail(c, it, franchise_details, &which)) && strlen(d) <= SD_AUG_MAX_FRANCHISE && !strpbrk(d, "\n\r\t"))
        fill(out, rule, SD_AUG_FRANCHISE, d, "details.Series");

    /* multiplayer: only a game is played together */
    if (!type || !strcmp(type, "game")) {
        const char *const *fs = sd_item_features(c, it);
        for (uint32_t k = 0; k < it->n_features && !out->v[SD_AUG_MULTIPLAYER]; k++)
            fill(out, rule, SD_AUG_MULTIPLAYER, lookup(multiplayer_phrases, fs[k], strlen(fs[k]), true), "features");
        fill(out, rule, SD_AUG_MULTIPLAYER,
             lookup(multiplayer_phrases, it->description, strlen(it->description), true), "description");
    }
}
