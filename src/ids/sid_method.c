#include "ids/sid_method.h"
#include <stdlib.h>
#include <string.h>
#include "ids/rqkmeans.h"
#include "ids/rqvae_method.h"

/* Add a method here: name, one-line summary, function. */
static const sd_sid_method METHODS[] = {
    {"rqkmeans", "residual k-means on the embeddings (no training engine needed)", sd_rqkmeans},
    {"rqvae", "RQ-VAE: MLP autoencoder with residual codebooks, trained (semantic-ids-llm)", sd_rqvae_method},
};

const sd_sid_method *sd_sid_method_find(const char *name) {
    for (size_t i = 0; i < sizeof METHODS / sizeof *METHODS; i++)
        if (!strcmp(METHODS[i].name, name)) return &METHODS[i];
    return NULL;
}
int sd_sid_method_count(void) { return (int)(sizeof METHODS / sizeof *METHODS); }
const sd_sid_method *sd_sid_method_at(int i) { return i >= 0 && i < sd_sid_method_count() ? &METHODS[i] : NULL; }

int sd_sid_default_codes(int64_t n) {
    int k = 256;
    while (k > 2 && (int64_t)k * 4 > n) k /= 2;
    return k;
}

void sd_sid_output_free(sd_sid_output *o) {
    free(o->codes);
    free(o->recon);
    free(o->codebooks);
    free(o->details_json);
    memset(o, 0, sizeof *o);
}
