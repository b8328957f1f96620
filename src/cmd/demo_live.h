/* The demo's conversation and server stages (see demo_live.c). */
#ifndef SD_CMD_DEMO_LIVE_H
#define SD_CMD_DEMO_LIVE_H
#include "base/err.h"
/* Writes the three-turn script of semantic-ids-llm's README, on this store's titles, to path. */
int sd_demo_chat_script(const char *work, const char *path, sd_err *err);
/* Starts `self serve WORK --port 0`, asks /v1/chat/completions, /v1/recommend and /healthz once each
 * (printing the answers), stops it with SIGTERM and checks it exits 0. */
int sd_demo_serve(const char *work, const char *self, int threads, sd_err *err);
#endif
