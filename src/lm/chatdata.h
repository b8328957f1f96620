/* Chat fine-tuning data: JSONL with one conversation a line, the format of TRL, LLaMA-Factory
 * and OpenAI fine-tuning (and what `semid lmdata` writes):
 *
 *   {"task": "...", "messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 *
 * and its tokenisation in the Qwen3 ChatML template with labels on what the assistant says only.
 * Every message is "<|im_start|>ROLE\n" CONTENT "<|im_end|>\n"; an assistant message after the
 * last user message also opens with the empty "<think>\n\n</think>\n\n" block, as Qwen3's template
 * writes it and as `semid generate --chat` prompts (thinking off), so training and generation
 * see the same text. Labelled: the assistant's content and its closing <|im_end|>; everything
 * else (system and user turns, role headers, the think block, the "\n" after <|im_end|>) is
 * SD_QWEN3_IGNORE, as the masked loss of TRL's assistant_only_loss. */
#ifndef SD_CHATDATA_H
#define SD_CHATDATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

typedef struct sd_chat_conv {
    char *task;          /* "" when absent */
    sd_chat_msg *msgs;   /* role / content strings owned by the set */
    int n_msgs;
    int64_t line;        /* 1-based line in the file */
} sd_chat_conv;

typedef struct sd_chat_set {
    sd_chat_conv *convs;
    size_t n, cap;
    int64_t blank_lines;
} sd_chat_set;

/* Reads a JSONL file (plain or gzip). Blank lines are skipped; anything else that is not an
 * object with a non-empty "messages" array of {role, content} strings, roles system / user /
 * assistant, at least one assistant message, is an error naming file:line and the field
 * ("train.jsonl:12: messages[1].content: expected a string"). On error *out is empty. */
int sd_chat_read_jsonl(sd_chat_set *out, const char *path, sd_err *err);
void sd_chat_set_free(sd_chat_set *s);
/* Keeps at most max conversations, evenly spaced through the set (i * n / max for i < max), so a
 * file written task by task keeps every task in proportion; a validation loss over all of a large
 * valid.jsonl would cost more than the training steps between two validations. */
void sd_chat_set_keep_spaced(sd_chat_set *s, size_t max);

/* Every "<|sid_N|>" in the contents must be one of the n_sid tokens <|sid_0|> .. <|sid_{n_sid-1}|>
 * of the semantic IDs the model is given (a higher N would be learnt as plain text): else an error
 * naming path:line and the message, which usually means data made from another `semid ids` run. */
int sd_chat_check_sid_tokens(const sd_chat_set *s, const char *path, int32_t n_sid, sd_err *err);

/* Token ids of one conversation and, per token, its label: the token id itself where the
 * assistant says it, SD_QWEN3_IGNORE elsewhere (ids and labels are reset, same length). The
 * model's next-token targets are labels shifted by one: targets[t] = labels[t + 1]. Needs the
 * tokenizer to hold <|im_start|> and <|im_end|> (SD_ESTATE otherwise). */
int sd_chat_encode(const sd_tokenizer *tok, sd_tok_cache *cache, const sd_chat_msg *msgs, int n, sd_ids *ids,
                   sd_ids *labels, sd_err *err);
/* The same, and with lists also every SID in a user's message that continues a list of SIDs
 * ("<SID>, <SID>, ...": the 2nd item on) is labelled, its codes and <|sid_end|>: a history then
 * teaches the next item at every position, as SASRec's loss does, for the price of the output
 * layer on those tokens. */
int sd_chat_encode_lists(const sd_tokenizer *tok, sd_tok_cache *cache, const sd_chat_msg *msgs, int n, bool lists,
                         sd_ids *ids, sd_ids *labels, sd_err *err);

#endif
