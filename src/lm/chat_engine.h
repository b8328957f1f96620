/* Conversation with the fine-tuned recommender, shared by `semid chat` and `semid serve`.
 *
 * The engine owns the model folder (lm/llm_rec.h: model, semantic-ID vocabulary bound to its
 * tokens, each item's SID string) and borrows the work directory's catalogue. It does three things
 * and no I/O:
 *
 *  - Prompt: messages -> token ids in the chat template, with the store's system message when the
 *    conversation has none, the assistant's turn opened with thinking off, as fine-tuning trained
 *    (lm/chatdata.h). An assistant message written by the engine comes back from a client as
 *    display text; each line that is exactly an item's catalogue title is turned back into the
 *    "SID Title" line the model wrote, so the model sees its own earlier answer.
 *    SID token strings in any message pass through unchanged.
 *
 *  - Stream (sd_chat_stream): generated tokens -> display text. Inside <|sid_start|>..<|sid_end|>
 *    tokens are held; a complete SID is shown as the item's catalogue title, and the model's own
 *    words after it on that line (its copy of the title, trained as "SID Title") are dropped, so
 *    the text names items only by their true titles. The items named are collected in order,
 *    distinct, with the summed log-probability of their code tokens. Stop strings (OpenAI `stop`)
 *    end the reply before the string; text that could be the start of a stop string is held
 *    back until it cannot, so streamed text never contains one.
 *
 *  - Decoding settings: the trie mask (lm/sid_decode.h) with `distinct` on, so every SID is a real
 *    item and an answer does not name an item twice; after a <|rec|> request the reply begins
 *    with an SID.
 *
 * Not thread-safe: one engine is driven by one thread (the server's model owner). */
#ifndef SD_CHAT_ENGINE_H
#define SD_CHAT_ENGINE_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "lm/llm_rec.h"
#include "lm/sid_decode.h"
#include "lm/utf8_stream.h"
#include "text/chat_template.h"

typedef struct sd_chat_engine {
    sd_llm_rec rec;                 /* model, vocabulary, sid_str */
    const sd_catalog *cat;          /* borrowed */
    int32_t stop_ids[16];
    int n_stop_ids;
    sd_strmap by_title;             /* catalogue title -> item (the first of equal titles) */
} sd_chat_engine;

/* model_dir: a folder `semid finetune` wrote; sids_path: the work directory's sids.tsv whose
 * vocabulary the model speaks; cat: the work directory's catalogue (kept, not copied). */
int sd_chat_engine_open(sd_chat_engine *e, const char *model_dir, const char *sids_path, const sd_catalog *cat,
                        sd_err *err);
void sd_chat_engine_free(sd_chat_engine *e);

/* Prompt token ids for a conversation that ends with a user message (roles system, user,
 * assistant; anything else is refused, naming the message). out is reset first. */
int sd_chat_engine_prompt(const sd_chat_engine *e, const sd_chat_msg *msgs, int n, sd_ids *out, sd_err *err);
/* Display text -> the raw text the model wrote (malloc'd): lines that show an item become
 * "SID Title". */
char *sd_chat_engine_raw_text(const sd_chat_engine *e, const char *display);
/* The trie mask for replies: every SID a real item, none twice in one reply. */
int sd_chat_engine_mask(const sd_chat_engine *e, sd_sid_mask *mk, sd_err *err);
/* Whether the conversation's last user message asks for items (holds <|rec|>): then the reply
 * begins with an SID (set the mask's begin_sid), as lmdata's answers to such requests do. */
bool sd_chat_engine_asks_items(const sd_chat_msg *msgs, int n);

/* ---- one reply's token stream ---- */

typedef void (*sd_chat_piece_fn)(void *ctx, const char *text, size_t n);

typedef struct sd_chat_named {
    int32_t item;
    float logprob;                  /* sum over the SID's code tokens; NAN when not given */
} sd_chat_named;

typedef struct sd_chat_stream {
    const sd_chat_engine *e;
    const char *const *stop;        /* stop strings (borrowed), may be NULL */
    int n_stop;
    size_t hold;                    /* longest stop string - 1: bytes held back */
    char *raw; size_t raw_n, raw_cap;   /* what the model wrote (SID tokens as strings) */
    char *text; size_t text_n, text_cap; /* display text so far */
    size_t emitted;                 /* text[0..emitted) went to the piece callback */
    int32_t sid[SD_SID_MAX_LEVELS + 2];
    int sid_n;                      /* tokens held since <|sid_start|>; -1 outside an SID */
    float sid_lp;
    bool hide_line;                 /* dropping the model's words after an SID up to the newline */
    sd_utf8_stream utf8;
    sd_chat_named *items;
    int n_items, cap_items;
    int n_tokens;                   /* tokens pushed (the stop token included) */
    bool done, stopped_by_string;
    sd_chat_piece_fn piece;
    void *piece_ctx;
} sd_chat_stream;

void sd_chat_stream_init(sd_chat_stream *s, const sd_chat_engine *e, const char *const *stop, int n_stop,
                         sd_chat_piece_fn piece, void *piece_ctx);
void sd_chat_stream_free(sd_chat_stream *s);
/* Feeds one generated token (logprob: its log-probability under the model, or NAN). Returns true
 * when the reply is over: a stop token or a stop string. Tokens after that are ignored. */
bool sd_chat_stream_push(sd_chat_stream *s, int32_t token, float logprob);
/* Ends the reply (length limit or stop): emits what was held back, drops an unfinished SID. */
void sd_chat_stream_finish(sd_chat_stream *s);

#endif
