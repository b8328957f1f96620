/* The record format of semid's language-model training data (WORK/lmdata/{train,valid,reserved}.jsonl), written in
 * this one place and read by fine-tuning with a reader of its own.
 *
 * One JSON object per line, the chat format Hugging Face TRL, LLaMA-Factory ("sharegpt" with
 * role/content tags) and OpenAI fine-tuning read:
 *   {"task": "next_item", "messages": [{"role": "system", "content": "..."},
 *                                      {"role": "user", "content": "..."},
 *                                      {"role": "assistant", "content": "..."}]}
 * Rules every line keeps (sd_lm_record_parse checks them):
 *   - "task" is a task name (lm/lmdata_tasks.h), "messages" has 2..SD_LM_MAX_MESSAGES entries;
 *   - roles are "system" (at most one, first), "user" and "assistant", alternating from the
 *     first user message, with the assistant last: every assistant turn is a training target;
 *   - items are written as their SID token strings "<|sid_start|><|sid_N|>...<|sid_end|>"
 *     (ids/sid_vocab.h); "<|rec|>" in a user turn asks for a recommendation;
 *   - content is valid UTF-8 (invalid bytes are written as U+FFFD). */
#ifndef SD_LM_LMDATA_H
#define SD_LM_LMDATA_H
#include <stddef.h>
#include <stdio.h>
#include "base/err.h"

#define SD_LM_MAX_MESSAGES 16

typedef enum { SD_LM_SYSTEM, SD_LM_USER, SD_LM_ASSISTANT } sd_lm_role;

typedef struct sd_lm_message {
    sd_lm_role role;
    char *content;
} sd_lm_message;

typedef struct sd_lm_record {
    const char *task;
    int n_messages;
    sd_lm_message messages[SD_LM_MAX_MESSAGES];
} sd_lm_record;

const char *sd_lm_role_name(sd_lm_role r);
/* Writes r as one line (with "\n"). Returns 0, or SD_EIO when the stream has failed. */
int sd_lm_record_write(FILE *f, const sd_lm_record *r);
/* Parses one line into out (task and contents malloc'd; free with sd_lm_record_free) and checks
 * the rules above; the message names `where` (e.g. "train.jsonl:12") and the field. */
int sd_lm_record_parse(const char *line, const char *where, sd_lm_record *out, sd_err *err);
void sd_lm_record_free(sd_lm_record *r);

#endif
