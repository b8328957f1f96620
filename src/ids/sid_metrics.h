/* Quality figures of a semantic-ID assignment (written to WORK/ids_report.json). */
#ifndef SD_SID_METRICS_H
#define SD_SID_METRICS_H
#include <stdint.h>
#include "data/catalog.h"

typedef struct sd_level_stats {
    int32_t used;        /* codes given to at least one item */
    double perplexity;   /* exp(entropy of the code distribution); K when uniform */
    int64_t largest;     /* items on the most used code */
} sd_level_stats;

/* Statistics of column `level` of codes [n, width]. */
void sd_level_stats_of(const int32_t *codes, int64_t n, int width, int level, int32_t K, sd_level_stats *out);

/* Mean squared error per entry between emb and recon [n, d]. */
double sd_recon_mse(const float *emb, const float *recon, int64_t n, int64_t d);

/* Purity of a clustering against labels: share of labelled items whose cluster's majority label
 * is theirs. labels [n] in 0..n_labels-1 or -1 (unlabelled, ignored). random_purity: the mean
 * purity over `trials` seeded random relabellings that keep every cluster's size (a baseline:
 * larger clusters alone give some purity). Returns the labelled item count. */
int64_t sd_purity(const int32_t *cluster, int64_t n, int32_t K, const int32_t *labels, int32_t n_labels, uint64_t seed,
                  int trials, double *purity, double *random_purity);

/* Labels from an item attribute (first value; items without it get -1). *n_labels gets the
 * number of distinct values. labels [cat->n_items]. */
void sd_attr_labels(const sd_catalog *cat, const char *key, int32_t *labels, int32_t *n_labels);

/* Do similar items share prefixes? For up to max_queries items (a seeded sample; all if fewer),
 * their nearest other item by squared Euclidean distance between embeddings [n, d]:
 * share1 = share of queries whose neighbour has the same first code, share2 the same first two
 * codes (codes [n, width]); chance1 = the share two random items have for the first code
 * (sum of squared code frequencies), chance2 likewise for two codes. Returns the queries used. */
typedef struct sd_neighbour_stats {
    int64_t queries;
    double share1, share2, chance1, chance2;
} sd_neighbour_stats;
void sd_neighbour_share(const float *emb, int64_t n, int64_t d, const int32_t *codes, int width, int64_t max_queries,
                        uint64_t seed, sd_neighbour_stats *out);

#endif
