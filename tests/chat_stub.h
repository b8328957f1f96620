/* A scripted OpenAI-compatible chat-completions server on 127.0.0.1 (ephemeral port, libmicrohttpd,
 * a thread per connection) for the tests of clients such as `semid augment`. It answers
 * POST /v1/chat/completions by markers in the request body:
 *   [bad-json] content that does not parse     [missing] no "franchise"
 *   [type]     "genre" a string, not a list    [value]   platform "Dreamcast"
 *   [envelope] a body without choices          [flaky]   HTTP 500 twice, then a good answer
 *   [429]      HTTP 429 once, then good         [slow]    sleeps 1.5 s, then a good answer
 *   [fenced]   a good answer in a ```json fence with a <think> block before it
 * anything else: {"product_type":"game","platform":"PC","genre":["Action","RPG"],
 *                 "franchise":"Stub Saga","multiplayer":"online"}.
 * Other paths answer 404. Every loop in it is bounded. */
#ifndef SD_TEST_CHAT_STUB_H
#define SD_TEST_CHAT_STUB_H

typedef struct chat_stub chat_stub;

chat_stub *chat_stub_start(void);
int chat_stub_port(const chat_stub *s);
/* After n good answers every request is answered 401 (an interrupted run). -1: never. */
void chat_stub_fail_after(chat_stub *s, int n);
int chat_stub_requests(chat_stub *s);                       /* requests to the completions path */
int chat_stub_requests_with(chat_stub *s, const char *marker); /* of those, bodies holding marker */
/* The last Authorization header seen (copied into buf; "" when none). */
void chat_stub_last_auth(chat_stub *s, char *buf, int cap);
void chat_stub_stop(chat_stub *s);

#endif
