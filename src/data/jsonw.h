/* Fast JSON string output (escaping), used where cJSON's tree building would be too slow
 * (a million catalogue lines). Invalid UTF-8 bytes are written as U+FFFD so the output is
 * always valid JSON. */
#ifndef SD_JSONW_H
#define SD_JSONW_H
#include <stdio.h>
void sd_json_write_str(FILE *f, const char *s);
#endif
