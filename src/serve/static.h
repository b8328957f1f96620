/* Files of the web page, compiled into the binary: GET / and /static/... are served from here. */
#ifndef SD_SERVE_STATIC_H
#define SD_SERVE_STATIC_H
#include <stdbool.h>
#include <stddef.h>

/* path as requested ("/" or "/static/app.js"): its bytes and MIME type, or false. */
bool sd_static_find(const char *path, const unsigned char **data, size_t *len, const char **mime);

#endif
