/* Qwen3 config.json: sd_json_parse (the line:column parser every JSON file goes through) and
 * sd_qwen3_config_parse, then writing the parsed config back into the object. */
#include "fuzz_common.h"
#include "io/json_util.h"
#include "lm/qwen3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    sd_quiet = true;
    cJSON *j;
    sd_err err;
    if (sd_json_parse((const char *)data, n, "config.json", &j, &err)) return 0;
    sd_qwen3_config c;
    if (sd_qwen3_config_parse(&c, j, "config.json", &err) == 0 && cJSON_IsObject(j)) {
        sd_qwen3_config_to_json(&c, j);
        char *s = cJSON_PrintUnformatted(j);
        free(s);
    }
    cJSON_Delete(j);
    return 0;
}
