/* Word lists for the synthetic video-game store (data/synth.c). Kept apart from the generator so
 * the vocabulary can grow without touching the sampling logic. All lists are NULL-terminated.
 *
 * Templates use placeholders expanded by the generator:
 *   {T} game title   {S} franchise setting   {A} genre adjective   {N} genre noun phrase
 *   {P} platform     {F} platform feature    {B} brand             {C} colour
 *   {K} part ordinal ("second")              {Q} previous title */
#ifndef SD_SYNTH_VOCAB_H
#define SD_SYNTH_VOCAB_H

enum { SV_RATING_E, SV_RATING_E10, SV_RATING_T, SV_RATING_M, SV_N_RATINGS };
enum { SV_MP_NO, SV_MP_YES, SV_MP_ONLINE, SV_N_MP };

typedef struct sv_genre {
    const char *name;
    const char *const *adjs;      /* franchise-name adjectives ("Neon") */
    const char *const *nouns;     /* franchise-name nouns ("Drift") */
    const char *const *suffixes;  /* optional third franchise word ("Soccer"); may be empty */
    const char *const *things;    /* gameplay noun phrases for {N} ("branching quests") */
    const char *const *describe;  /* adjectives for {A} ("tactical") */
    const char *const *settings;  /* {S} ("a shattered kingdom") */
    const char *const *sentences; /* description sentences */
    const char *const *bullets;   /* feature bullets */
    const char *const *related;   /* genres a second genre is usually drawn from */
    float rating_w[SV_N_RATINGS];
    float mp_w[SV_N_MP];
} sv_genre;

typedef struct sv_platform {
    const char *name;            /* "PlayStation 5" */
    const char *maker;           /* console and first-party controller brand */
    const char *family;          /* "PlayStation", "Xbox", "Nintendo", "PC" */
    int generation;              /* 0 older, 1 current, 2 spans both (Switch, PC) */
    float popularity;            /* share of users whose main platform this is (relative) */
    float game_price;            /* typical new-release price */
    const char *const *consoles; /* console product names; empty for PC */
    const char *const *features; /* {F} phrases */
    const char *const *sentences;/* description sentences about the platform */
    const char *const *bullets;
    const char *const *accessories; /* accessory kinds sold for this platform (names in sv_accessories) */
} sv_platform;

typedef struct sv_accessory {
    const char *kind;            /* "controller" */
    const char *title;           /* title template */
    const char *genre;           /* genre the accessory serves, or NULL */
    float price_lo, price_hi;
    const char *const *sentences;
    const char *const *bullets;
} sv_accessory;

extern const sv_genre sv_genres[];
extern const int sv_n_genres;
extern const sv_platform sv_platforms[];
extern const int sv_n_platforms;
extern const sv_accessory sv_accessories[];
extern const int sv_n_accessories;

extern const char *const sv_syllables[];
extern const char *const sv_subtitle_words[];
extern const char *const sv_subtitle_heads[];
extern const char *const sv_subtitle_tails[];
extern const char *const sv_publishers[];
extern const char *const sv_accessory_brands[];
extern const char *const sv_colours[];
extern const char *const sv_ordinals[];
extern const char *const sv_sequel_sentences[];
extern const char *const sv_first_sentences[];
extern const char *const sv_mp_sentences[SV_N_MP];
extern const char *const sv_mp_bullets[SV_N_MP];
extern const char *const sv_rating_codes[SV_N_RATINGS];
extern const char *const sv_rating_names[SV_N_RATINGS];
extern const char *const sv_console_sentences[];
extern const char *const sv_console_bullets[];

int sv_count(const char *const *list);

#endif
