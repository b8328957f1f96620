/* Residual-quantisation k-means (RQ-KMeans, as in OneRec): level 0 clusters the embeddings,
 * each later level clusters what the earlier levels left unexplained (r <- r - c[code]). No
 * encoder: codebooks live in embedding space, so the reconstruction is the sum of the chosen
 * centroids. */
#ifndef SD_RQKMEANS_H
#define SD_RQKMEANS_H
#include "ids/sid_method.h"

/* emb [n, d] -> out->codes [n, levels], out->codebooks [levels, codes, d], out->recon [n, d].
 * Level l runs sd_kmeans (k-means++ start, balanced when p->balanced) with the seed
 * sd_mix64(p->seed ^ (0x9e3779b97f4a7c15 * (l + 1))), a different seed per level. */
int sd_rqkmeans(const float *emb, int64_t n, int64_t d, const sd_sid_params *p, sd_sid_output *out, sd_err *err);

#endif
