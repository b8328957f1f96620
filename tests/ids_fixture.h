/* Small work directories for the semantic-ID tests, built with the data-model API: items with
 * platform and genre attributes whose text carries those signals, and users whose histories
 * make popularity uneven (item i is bought by more users the smaller i % 7 is). */
#ifndef SD_IDS_FIXTURE_H
#define SD_IDS_FIXTURE_H
#include "data/workdir.h"

/* Creates dir (replacing it) with n items; returns 0 or fails the test. */
void ids_make_work(const char *dir, int n, unsigned seed);
/* The catalogue ids_make_work writes (caller frees). */
sd_catalog *ids_fixture_catalog(int n, unsigned seed);

#endif
