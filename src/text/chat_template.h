/* Qwen3 chat template: messages -> the prompt string the model was trained on.
 *
 *   <|im_start|>system\n...<|im_end|>\n<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n
 *
 * As in Qwen3's template, an assistant message before the last user message loses its
 * <think>...</think> block (only the answer stays in the history). The generation prompt is
 * "<|im_start|>assistant\n", followed by an empty "<think>\n\n</think>\n\n" when thinking is off,
 * which tells the model to answer directly. */
#ifndef SD_CHAT_TEMPLATE_H
#define SD_CHAT_TEMPLATE_H
#include <stdbool.h>
#include <stddef.h>

typedef struct sd_chat_msg {
    const char *role;     /* "system", "user", "assistant" (any string is passed through) */
    const char *content;
} sd_chat_msg;

/* malloc'd NUL-terminated prompt. */
char *sd_chat_render(const sd_chat_msg *msgs, size_t n, bool add_generation_prompt, bool enable_thinking);

#endif
