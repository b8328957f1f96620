/* Writer and checking reader of the LM training record (lm/lmdata.h). */
#include "lm/lmdata.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "data/jsonw.h"

static const char *const role_names[] = {"system", "user", "assistant"};

const char *sd_lm_role_name(sd_lm_role r) { return r <= SD_LM_ASSISTANT ? role_names[r] : "?"; }

int sd_lm_record_write(FILE *f, const sd_lm_record *r) {
    fputs("{\"task\":", f);
    sd_json_write_str(f, r->task);
    fputs(",\"messages\":[", f);
    for (int i = 0; i < r->n_messages; i++) {
        fprintf(f, "%s{\"role\":\"%s\",\"content\":", i ? "," : "", sd_lm_role_name(r->messages[i].role));
        sd_json_write_str(f, r->messages[i].content);
        fputc('}', f);
    }
    fputs("]}\n", f);
    return ferror(f) ? SD_EIO : 0;
}

void sd_lm_record_free(sd_lm_record *r) {
    free((char *)r->task);
    for (int i = 0; i < r->n_messages; i++) free(r->messages[i].content);
    memset(r, 0, sizeof *r);
}

static int bad(sd_lm_record *out, sd_err *err, const char *where, const char *what) {
    sd_lm_record_free(out);
    return sd_errf(err, SD_EFORMAT, "%s: %s", where, what);
}

int sd_lm_record_parse(const char *line, const char *where, sd_lm_record *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_Parse(line);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return sd_errf(err, SD_EFORMAT, "%s: not a JSON object", where);
    }
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    int rc = 0;
    if (!cJSON_IsString(task) || !task->valuestring[0]) rc = bad(out, err, where, "\"task\" missing or not a string");
    else if (!cJSON_IsArray(msgs)) rc = bad(out, err, where, "\"messages\" missing or not an array");
    else if (cJSON_GetArraySize(msgs) < 2 || cJSON_GetArraySize(msgs) > SD_LM_MAX_MESSAGES)
        rc = bad(out, err, where, "\"messages\" must hold 2..16 messages");
    if (rc) { cJSON_Delete(j); return rc; }
    out->task = sd_xstrdup(task->valuestring);
    const cJSON *m;
    int first_turn = 0; /* index of the first user message: 1 after a system message */
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        int r = -1;
        for (int k = 0; k < 3 && cJSON_IsString(role); k++)
            if (!strcmp(role->valuestring, role_names[k])) r = k;
        if (r < 0) { rc = bad(out, err, where, "\"messages\": \"role\" must be system, user or assistant"); break; }
        if (!cJSON_IsString(content)) { rc = bad(out, err, where, "\"messages\": \"content\" missing or not a string"); break; }
        int i = out->n_messages;
        /* system only first; then user, assistant, user, ... */
        if (r == SD_LM_SYSTEM && i == 0) first_turn = 1;
        bool ok = r == SD_LM_SYSTEM ? i == 0 : (r == SD_LM_USER) == ((i - first_turn) % 2 == 0);
        if (!ok) { rc = bad(out, err, where, "\"messages\": roles must be [system,] user, assistant, user, ..."); break; }
        out->messages[i].role = (sd_lm_role)r;
        out->messages[i].content = sd_xstrdup(content->valuestring);
        out->n_messages++;
    }
    if (!rc && out->messages[out->n_messages - 1].role != SD_LM_ASSISTANT)
        rc = bad(out, err, where, "\"messages\": the last message must be the assistant's");
    cJSON_Delete(j);
    return rc;
}
