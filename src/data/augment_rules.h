/* What `semid augment` derives without asking anyone: platform from a title's suffix ("Halo 4 -
 * Xbox 360", "(PS4)", "for Nintendo Switch"), from categories and from the Amazon details
 * (Platform, Genre, Series); product type from categories (and "movie" for MovieLens); genre
 * from categories and details; multiplayer from the feature bullets. Every rule is one row of
 * a table in augment_rules.c; values are always spelled as the schema (data/augment_schema.h). */
#ifndef SD_AUGMENT_RULES_H
#define SD_AUGMENT_RULES_H
#include "data/augment_schema.h"
#include "data/catalog.h"

/* Fills out (values from static tables or the catalogue's strings) and, per filled field, the
 * name of the rule that gave it ("title suffix", "category", "details.Platform", ...). format is
 * the work directory's source format ("amazon2023", "movielens", ...; may be NULL). */
void sd_aug_rules_apply(const sd_catalog *c, int32_t id, const char *format, sd_aug_values *out,
                        const char *rule[SD_AUG_N_FIELDS]);

/* The platform named by a text, by whole-word alias ("PS4", "Xbox Series X|S"), or NULL. */
const char *sd_aug_platform_in(const char *text);
/* The platform a title ends with (after " - ", in the last brackets, after " for "), or NULL. */
const char *sd_aug_platform_from_title(const char *title);
/* The schema genre a label names ("Role-Playing", "First-Person Shooter"), or NULL. */
const char *sd_aug_genre_in(const char *text);

#endif
