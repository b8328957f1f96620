/* A conversation kept across turns, for `semid chat`: the messages so far (each as the model
 * saw or wrote it) and a purchase-history list that the next request carries, on top of the chat
 * engine (lm/chat_engine.h). No I/O: replies come out through callbacks.
 *
 * A turn sends the whole conversation (the engine adds the system message) and generates one
 * reply with the trie mask (every SID a real item, none twice in a reply). The assistant turn is
 * kept as the raw text the model wrote ("SID Title" lines), so the next turn's prompt is what
 * fine-tuning trained on (lmdata's multiturn task). When the prompt plus max_new_tokens would not
 * fit the model's context, the oldest user/assistant pairs are dropped (and counted).
 *
 * Requests: the model was trained with "<|rec|>" at the end of each recommendation request.
 * sd_chat_session_user_text makes a request of a line (rec = true) by appending " <|rec|>" when
 * it lacks one; a request (a message holding <|rec|>) is prefixed with the purchase history in the
 * lmdata wording, "I bought SID, SID. TEXT <|rec|>", when items were added since the conversation
 * last carried them; an empty request with such a history becomes lmdata's next-item question. */
#ifndef SD_CHAT_SESSION_H
#define SD_CHAT_SESSION_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "lm/chat_engine.h"
#include "lm/generate.h"

typedef struct sd_chat_turn {
    char *role;       /* "user" / "assistant" */
    char *raw;        /* what the model saw / wrote (SIDs as token strings) */
    char *display;    /* the line as typed / the reply as shown (items by title) */
} sd_chat_turn;

typedef struct sd_chat_session {
    sd_chat_engine *e;              /* borrowed */
    sd_chat_turn *turns;
    int n_turns, cap_turns;
    int32_t *hist;                  /* purchase-history list, in the order added */
    int n_hist, cap_hist;
    int n_hist_sent;                /* hist[0..n_hist_sent) went out with a request already */
    int n_dropped;                  /* turns dropped to fit the context, since the last reset */
} sd_chat_session;

void sd_chat_session_init(sd_chat_session *s, sd_chat_engine *e);
void sd_chat_session_free(sd_chat_session *s);
/* Forgets the conversation and the history list. */
void sd_chat_session_reset(sd_chat_session *s);
/* Appends item to the history list; 1 (and nothing added) when it is there already. */
int sd_chat_session_add(sd_chat_session *s, int32_t item);

/* The user message for a line (malloc'd), as described above; with the history prefix when
 * the message is a request and the list has items not yet sent. NULL for an empty line without
 * such a history (nothing to ask). */
char *sd_chat_session_user_text(const sd_chat_session *s, const char *line, bool rec);

typedef struct sd_chat_reply_cb {
    sd_chat_piece_fn piece;                       /* display text as it comes */
    void (*item)(void *ctx, int32_t item);        /* right after an item's title was shown */
    void *ctx;
} sd_chat_reply_cb;

typedef struct sd_chat_reply {
    char *text;                     /* display text (malloc'd) */
    int32_t *items;                 /* items named, in order, distinct (malloc'd) */
    int n_items;
    int n_tokens;
    bool hit_length;                /* ended at max_new_tokens, not at an end token */
    int dropped;                    /* old turns dropped this time to fit the context */
} sd_chat_reply;

void sd_chat_reply_free(sd_chat_reply *r);

/* One turn: user_msg (from sd_chat_session_user_text) with the display form `typed`, then the
 * reply, generated with g's sampling settings and max_new_tokens (its mask, stop ids and
 * callbacks are set here). On success both turns are kept; on error nothing changes. */
int sd_chat_session_turn(sd_chat_session *s, const char *user_msg, const char *typed, const sd_gen_cfg *g,
                         const sd_chat_reply_cb *cb, sd_chat_reply *out, sd_err *err);

/* Up to max attribute values worth showing beside an item's title (genre-like and platform-like
 * keys first, then the item's other attributes), leaving out values the title already contains.
 * Returns the count; keys and values point into the catalogue. */
int sd_chat_item_facets(const sd_catalog *cat, int32_t item, int max, const char **keys, const char **vals);

#endif
