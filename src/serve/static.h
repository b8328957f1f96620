/* The web page of `semid serve` (src/serve/static/), compiled into the binary so the server needs no
 * files beside it. */
#ifndef SD_SERVE_STATIC_H
#define SD_SERVE_STATIC_H
#include <stdbool.h>
#include <stddef.h>

/* The embedded file for a request path without its query string: "/" (and "/index.html") is the page,
 * "/static/app.js" and "/static/style.css" its script and style. Fills the bytes (not NUL-terminated),
 * their length and the Content-Type; false for any other path (then nothing is written). */
bool sd_static_find(const char *path, const unsigned char **data, size_t *len, const char **mime);

#endif
