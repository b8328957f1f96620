/* The page's files are embedded with the assembler's .incbin, so no generator tool (xxd may be absent)
 * and no generated source is needed; the Makefile names the files as prerequisites of static.o because
 * gcc's -MMD does not see .incbin. Paths are relative to the repository root, where make runs. */
#include "serve/static.h"
#include <string.h>

#define SD_INCBIN(sym, file)                                                                       \
    ".pushsection .rodata\n"                                                                       \
    ".balign 16\n"                                                                                 \
    ".globl " #sym "\n"                                                                            \
    ".hidden " #sym "\n"                                                                           \
    #sym ":\n"                                                                                     \
    ".incbin \"" file "\"\n"                                                                       \
    ".globl " #sym "_end\n"                                                                        \
    ".hidden " #sym "_end\n"                                                                       \
    #sym "_end:\n"                                                                                 \
    ".byte 0\n"                                                                                    \
    ".popsection\n"

__asm__(SD_INCBIN(sd_static_index_html, "src/serve/static/index.html")
        SD_INCBIN(sd_static_app_js, "src/serve/static/app.js")
        SD_INCBIN(sd_static_style_css, "src/serve/static/style.css"));

extern const unsigned char sd_static_index_html[], sd_static_index_html_end[];
extern const unsigned char sd_static_app_js[], sd_static_app_js_end[];
extern const unsigned char sd_static_style_css[], sd_static_style_css_end[];

typedef struct {
    const char *path;
    const unsigned char *start, *end;
    const char *mime;
} sd_static_file;

bool sd_static_find(const char *path, const unsigned char **data, size_t *len, const char **mime) {
    const sd_static_file files[] = {
        {"/", sd_static_index_html, sd_static_index_html_end, "text/html; charset=utf-8"},
        {"/index.html", sd_static_index_html, sd_static_index_html_end, "text/html; charset=utf-8"},
        {"/static/app.js", sd_static_app_js, sd_static_app_js_end, "text/javascript; charset=utf-8"},
        {"/static/style.css", sd_static_style_css, sd_static_style_css_end, "text/css; charset=utf-8"},
    };
    if (!path) return false;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(path, files[i].path)) continue;
        if (data) *data = files[i].start;
        if (len) *len = (size_t)(files[i].end - files[i].start);
        if (mime) *mime = files[i].mime;
        return true;
    }
    return false;
}
