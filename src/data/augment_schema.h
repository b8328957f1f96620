/* The attributes `semid augment` fills, one fixed schema shared by the rules (data/augment_rules.h)
 * and the LLM answers: the keys lmdata reads for its roles (lm/lmdata_facts.h: product_type,
 * platform = "place", genre = "kind", franchise, multiplayer), with the allowed values where the
 * set is closed. An LLM answer is one JSON object holding every field:
 *   {"product_type": "game", "platform": "Xbox 360" | null, "genre": ["Shooter"],
 *    "franchise": "Halo" | null, "multiplayer": "online" | null}
 * null (or [] for genre) says "does not apply / unknown" and fills nothing. */
#ifndef SD_AUGMENT_SCHEMA_H
#define SD_AUGMENT_SCHEMA_H
#include <stdbool.h>
#include <stddef.h>

/* Bumped when the schema or the prompt changes, so cached answers of another schema are asked again. */
#define SD_AUG_SCHEMA_VERSION 1
#define SD_AUG_MAX_GENRES 2
#define SD_AUG_MAX_FRANCHISE 80

typedef enum { SD_AUG_PRODUCT_TYPE, SD_AUG_PLATFORM, SD_AUG_GENRE, SD_AUG_FRANCHISE, SD_AUG_MULTIPLAYER,
               SD_AUG_N_FIELDS } sd_aug_field;

typedef struct sd_aug_field_def {
    const char *key;              /* attribute key written to items.jsonl */
    const char *const *allowed;   /* NULL-terminated; NULL: open text */
    bool list;                    /* genre: up to SD_AUG_MAX_GENRES values */
    bool nullable;
} sd_aug_field_def;

extern const sd_aug_field_def sd_aug_fields[SD_AUG_N_FIELDS];

/* Why an answer was not used; each is counted and reported, none is ever written. */
typedef enum { SD_AUG_OK, SD_AUG_R_ENVELOPE, SD_AUG_R_BAD_JSON, SD_AUG_R_MISSING, SD_AUG_R_TYPE,
               SD_AUG_R_VALUE, SD_AUG_N_REASONS } sd_aug_reason;
extern const char *const sd_aug_reason_name[SD_AUG_N_REASONS];

/* One item's values; NULL / 0 = not filled. Strings point into the answer's storage or static tables. */
typedef struct sd_aug_values {
    const char *v[SD_AUG_N_FIELDS];              /* first value (genre: first genre) */
    const char *genres[SD_AUG_MAX_GENRES]; int n_genres;
} sd_aug_values;

/* The allowed spelling of value for field (case-insensitive match), or NULL when outside the set.
 * Open fields return value itself. */
const char *sd_aug_canonical(sd_aug_field f, const char *value);

/* Checks the content of an assistant message (an optional ```json fence around it is allowed)
 * against the schema. On success fills out with pointers to static tables or into *owned
 * (malloc'd copy of the franchise, freed by the caller) and returns SD_AUG_OK; otherwise the
 * reason, with a short detail ("genre[0] \"Jazz\"") in why. */
sd_aug_reason sd_aug_validate(const char *content, size_t len, sd_aug_values *out, char **owned, char *why,
                              size_t why_cap);

/* The system prompt naming the schema (built from the tables above), malloc'd. */
char *sd_aug_system_prompt(void);

#endif
