/* A minimal page until the web page's files are compiled in: it says what the server offers. */
#include "serve/static.h"
#include <string.h>

static const char index_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>semid</title></head>\n"
    "<body><h1>semid serve</h1>\n<p>OpenAI-compatible API: <code>POST /v1/chat/completions</code>, "
    "<code>GET /v1/models</code>, <code>POST /v1/recommend</code>, <code>GET /v1/items?q=</code>, "
    "<code>GET /v1/items/{ext_id}</code>, <code>GET /healthz</code>, <code>GET /metrics</code>, "
    "<code>GET /report</code>.</p>\n</body></html>\n";

bool sd_static_find(const char *path, const unsigned char **data, size_t *len, const char **mime) {
    if (strcmp(path, "/") && strcmp(path, "/index.html")) return false;
    *data = (const unsigned char *)index_html;
    *len = sizeof index_html - 1;
    *mime = "text/html; charset=utf-8";
    return true;
}
