/* semid chat end to end: a small store, a tiny model trained on the conversation tasks (lmdata
 * multiturn, bundle, steer), then the three-turn script through piped stdin — recommend items like
 * a title, steer them to another platform, name a bundle — with every named item checked against
 * the catalogue; the slash commands (/items, /add, /history, /rec, /reset, /quit); bad input
 * refused with clear messages. An untrained model fails the platform and bundle checks (see
 * the README's `semid chat` section for the measured rates). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "data/catalog.h"
#include "ids/sid_vocab.h"
#include "lm/qwen3.h"
#include "test_util.h"

static char g_tmp[256], g_work[300];

static void setup_work(bool train) {
    /* the tasks the script needs: multi-turn recommend / steer / bundle, steering, bundle names;
     * title2sid gives the validation file its share */
    sd_test_lm_work(g_work, sizeof g_work, 200, 800, train ? "--tasks multiturn,bundle,steer,title2sid" : NULL,
                    "--steps 400 --eval-every 0 --no-ckpt --threads 2");
    snprintf(g_tmp, sizeof g_tmp, "%.*s", (int)(strlen(g_work) - 2), g_work); /* WORK's parent */
}

static sd_catalog *catalog(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/items.jsonl", g_work);
    sd_catalog *c;
    sd_err err = {0};
    cr_assert_eq(sd_catalog_read_jsonl(&c, p, &err), 0, "%s", err.msg);
    return c;
}

static char *write_script(const char *name, const char *text) {
    char *p = sd_xmalloc(400);
    snprintf(p, 400, "%s/%s", g_tmp, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* stdout of `semid chat WORK ARGS < script` (stderr into g_tmp/err.txt), and the exit status. */
static int chat(char **out, const char *args, const char *script) {
    char *sp = write_script("script.txt", script);
    char cmd[2048];
    /* the group keeps semid's stderr in the file (sd_test_run adds 2>&1 after it) */
    snprintf(cmd, sizeof cmd, "{ OMP_WAIT_POLICY=passive %s chat %s %s < %s 2>%s/err.txt; }", sd_test_bin(), g_work, args,
             sp, g_tmp);
    int rc = sd_test_run(cmd, out);
    free(sp);
    return rc;
}

static char *read_err(void) {
    char p[400], *o = NULL;
    snprintf(p, sizeof p, "cat %s/err.txt", g_tmp);
    sd_test_run(p, &o);
    return o;
}

/* The answer blocks of piped output: each input line's answer ends with one empty line (an
 * answer with nothing to say is that line alone). Splits a copy (kept in a static buffer until
 * the next call), so out stays whole for messages. */
static int blocks(const char *text, char **b, int max) {
    static char *out;
    free(out);
    out = sd_xstrdup(text);
    int n = 0;
    char *start = out, *p = out;
    while (*p && n < max) {
        char *nl = strchr(p, '\n');
        if (!nl) break;
        if (nl == p) { /* an empty line ends the block */
            b[n++] = start;
            *(p > start ? p - 1 : p) = 0;
            start = p = nl + 1;
            continue;
        }
        p = nl + 1;
    }
    return n;
}

typedef struct named { int32_t items[32]; int n; int lines; } named;

/* The items of a reply printed with --show-ids ("Title (facets)  [EXT SID]" lines): each must be
 * a catalogue item shown by its own title and its own semantic ID. */
static named items_of(const sd_catalog *c, const sd_sid_vocab *v, const char *block) {
    named r = {.n = 0};
    char *copy = sd_xstrdup(block), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        r.lines++;
        char *ids = strstr(line, "  [");
        if (!ids) continue;
        char ext[128], sid[512];
        cr_assert_eq(sscanf(ids + 3, "%127s %511[^]]", ext, sid), 2, "bad item line: %s", line);
        int32_t id = sd_catalog_find(c, ext);
        cr_assert(id >= 0, "the reply names %s, not an item of the catalogue: %s", ext, line);
        cr_assert(!strncmp(line, c->items[id].title, strlen(c->items[id].title)), "item %s shown as \"%s\"", ext, line);
        char *want = sd_sid_vocab_item_string(v, id);
        cr_assert_str_eq(sid, want, "item %s", ext);
        free(want);
        for (int i = 0; i < r.n; i++) cr_assert_neq(r.items[i], id, "a reply names %s twice", ext);
        if (r.n < 32) r.items[r.n++] = id;
    }
    free(copy);
    return r;
}

/* The item script k starts from and the platform it steers to: the first game of the k-th genre
 * (in catalogue order), and another platform with the most items of that genre. */
static void pick(const sd_catalog *c, int k, int32_t *anchor, const char **plat) {
    const char *seen[8];
    int n_seen = 0;
    *anchor = -1;
    for (int32_t i = 0; i < c->n_items && *anchor < 0; i++) {
        const char *g = sd_item_attr(c, i, "genre");
        if (!g || !sd_item_attr(c, i, "platform")) continue;
        bool old = false;
        for (int j = 0; j < n_seen && !old; j++) old = !strcmp(seen[j], g);
        if (old) continue;
        if (n_seen == k) *anchor = i;
        else if (n_seen < 8) seen[n_seen++] = g;
    }
    cr_assert(*anchor >= 0, "the store has %d genres", n_seen);
    const char *g = sd_item_attr(c, *anchor, "genre"), *p0 = sd_item_attr(c, *anchor, "platform");
    int best = 0;
    *plat = NULL;
    for (int32_t i = 0; i < c->n_items; i++) {
        const char *p = sd_item_attr(c, i, "platform"), *gi = sd_item_attr(c, i, "genre");
        if (!p || !gi || strcmp(gi, g) || !strcmp(p, p0)) continue;
        int n = 0;
        for (int32_t j = 0; j < c->n_items; j++) {
            const char *pj = sd_item_attr(c, j, "platform"), *gj = sd_item_attr(c, j, "genre");
            n += pj && gj && !strcmp(pj, p) && !strcmp(gj, g);
        }
        if (n > best) best = n, *plat = p;
    }
    cr_assert(*plat, "a platform for %s", g);
}

static bool has_platform(const sd_catalog *c, int32_t item, const char *plat) {
    const char *p = sd_item_attr(c, item, "platform");
    return p && !strcmp(p, plat);
}

Test(chat_cli, three_turns_and_commands, .timeout = 300) {
    setup_work(true);
    sd_catalog *c = catalog();
    sd_sid_vocab v;
    sd_err err = {0};
    char sp[400];
    snprintf(sp, sizeof sp, "%s/sids.tsv", g_work);
    cr_assert_eq(sd_sid_vocab_open(&v, sp, c, &err), 0, "%s", err.msg);
    /* the three-turn script from three starting games (of three genres): every reply is well formed
     * and names only real items; the steering and the bundle name, the model's skill, must hold
     * in at least two of the three */
    enum { RUNS = 3 };
    int32_t anchor = -1, first_t2 = -1;
    const char *plat = NULL;
    char script[2048], *out = NULL, *b[16], report[4096] = "";
    int good = 0;
    for (int k = 0; k < RUNS; k++) {
        int32_t a;
        const char *p;
        pick(c, k, &a, &p);
        snprintf(script, sizeof script,
                 "I'm looking for games similar to %s. <|rec|>\n"
                 "How about something similar but for %s? <|rec|>\n"
                 "Suggest a bundle name for these\n",
                 c->items[a].title, p);
        cr_assert_eq(chat(&out, "--show-ids", script), 0, "%s", out);
        char *e = read_err();
        cr_assert(!strstr(e, "error"), "%s", e);
        free(e);
        cr_assert(!strstr(out, "you>") && !strstr(out, "model:"), "no prompts when stdin is a pipe:\n%s", out);
        cr_assert_eq(blocks(out, b, 16), 3, "one answer per line:\n%s", out);
        named t1 = items_of(c, &v, b[0]), t2 = items_of(c, &v, b[1]), t3 = items_of(c, &v, b[2]);
        cr_assert_geq(t1.n, 1, "turn 1 names items:\n%s", b[0]);
        cr_assert_geq(t2.n, 1, "turn 2 names items:\n%s", b[1]);
        cr_assert(t3.n == 0 && t3.lines == 1 && !strstr(b[2], "<|"), "turn 3 answers in words, one line:\n%s", b[2]);
        int on = 0;
        for (int i = 0; i < t2.n; i++) on += has_platform(c, t2.items[i], p);
        /* steered: a list (two items or more), most of it for the platform asked */
        bool steered = t2.n >= 2 && 2 * on > t2.n;
        /* a bundle name has the shape of lmdata's: "Ultimate Racing Bundle for PC", "Best of PC" */
        const char *words[] = {"Bundle", "Collection", "Pack", "Essentials", "Best of", "All of"};
        bool named_bundle = false;
        for (size_t i = 0; i < sizeof words / sizeof *words; i++) named_bundle |= strstr(b[2], words[i]) != NULL;
        good += steered && named_bundle;
        size_t rl = strlen(report);
        snprintf(report + rl, sizeof report - rl, "\n--- %s -> %s: %d of %d items for it%s; turn 3 \"%s\"%s\n%s",
                 c->items[a].title, p, on, t2.n, steered ? "" : " (not steered)", b[2],
                 named_bundle ? "" : " (not a bundle name)", b[1]);
        if (k == 0) anchor = a, plat = p, first_t2 = t2.items[0];
        free(out);
    }
    cr_assert_geq(good, RUNS - 1, "the three-turn script worked in %d of %d conversations:%s", good, RUNS, report);

    /* without --show-ids: titles only, no SID in sight */
    snprintf(script, sizeof script,
             "I'm looking for games similar to %s. <|rec|>\n"
             "How about something similar but for %s? <|rec|>\n"
             "Suggest a bundle name for these\n",
             c->items[anchor].title, plat);
    cr_assert_eq(chat(&out, "", script), 0, "%s", out);
    cr_assert(!strstr(out, "<|sid") && !strstr(out, "  ["), "%s", out);
    cr_assert_eq(blocks(out, b, 16), 3, "%s", out);
    cr_assert(!strncmp(b[1], c->items[first_t2].title, strlen(c->items[first_t2].title)), "%s", b[1]);
    free(out);

    /* the commands: find, add by number and by id, a request carrying the history, reset, quit */
    char word[64];
    sscanf(c->items[anchor].title, "%63s", word);
    int32_t other = -1; /* an item /items WORD does not list */
    for (int32_t i = 0; i < c->n_items && other < 0; i++)
        if (!strstr(c->items[i].title, word)) other = i;
    snprintf(script, sizeof script,
             "/help\n/items %s\n/add 1\n/add %s\n/add %s\n/history\n/rec Similar, but for %s.\n/history\n"
             "/reset\n/history\n/quit\n/items %s\n",
             word, c->items[other].ext_id, c->items[other].ext_id, plat, word);
    cr_assert_eq(chat(&out, "--show-ids", script), 0, "%s", out);
    int nb = blocks(out, b, 16);
    cr_assert_eq(nb, 10, "one block per line up to /quit, nothing after it:\n%s", out);
    cr_assert(strstr(b[0], "/items") && strstr(b[0], "/add"), "%s", b[0]);
    cr_assert(!strncmp(b[1], "1. ", 3) && strstr(b[1], word), "/items lists matches by number:\n%s", b[1]);
    cr_assert(strstr(b[2], "added to the purchase history (1 item)"), "%s", b[2]);
    cr_assert(strstr(b[3], "(2 items)") && strstr(b[3], c->items[other].title), "%s", b[3]);
    cr_assert(strstr(b[4], "already in the purchase history"), "%s", b[4]);
    cr_assert(strstr(b[5], "purchase history (2 items, 2 not yet sent)") && strstr(b[5], c->items[other].title),
              "%s", b[5]);
    named r = items_of(c, &v, b[6]);
    cr_assert_geq(r.n, 1, "/rec answers with items:\n%s", b[6]);
    cr_assert(strstr(b[7], "with the purchase history, 2 items") && strstr(b[7], "0 not yet sent"), "%s", b[7]);
    cr_assert(strstr(b[8], "cleared"), "%s", b[8]);
    cr_assert(strstr(b[9], "(no conversation yet)") && strstr(b[9], "purchase history: (empty)"), "%s", b[9]);
    free(out);

    /* bad lines: said on stderr, the session goes on, exit status 2 at the end */
    cr_assert_eq(chat(&out, "", "/add 99\n/bogus\n/items\n/add B_NO_SUCH\n/rec\n/history\n"), 2, "%s", out);
    cr_assert_eq(blocks(out, b, 16), 6, "%s", out);
    cr_assert(strstr(b[5], "(no conversation yet)"), "%s", b[5]);
    char *e = read_err();
    cr_assert(strstr(e, "/add 99: no /items list yet"), "%s", e);
    cr_assert(strstr(e, "unknown command /bogus"), "%s", e);
    cr_assert(strstr(e, "/items needs words"), "%s", e);
    cr_assert(strstr(e, "no item with the external id \"B_NO_SUCH\""), "%s", e);
    cr_assert(strstr(e, "/rec with nothing to ask"), "%s", e);
    free(e);
    free(out);
    sd_sid_vocab_free(&v);
    sd_catalog_free(c);
}

Test(chat_cli, bad_input, .timeout = 120) {
    char *out = NULL;
    cr_assert_eq(sd_test_semid(&out, "chat"), 2, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "chat /nonexistent/w < /dev/null"), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/w"), "%s", out);
    free(out);
    setup_work(false);
    /* no model yet */
    cr_assert_eq(sd_test_semid(&out, "chat %s < /dev/null", g_work), 1, "%s", out);
    cr_assert(strstr(out, "semid finetune"), "names the command that trains one: %s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "chat %s --max-new-tokens 0 < /dev/null", g_work), 2, "%s", out);
    cr_assert(strstr(out, "--max-new-tokens"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "chat %s --temperature -1 < /dev/null", g_work), 2, "%s", out);
    free(out);
    /* a model without the semantic-ID tokens: a random tiny Qwen3 over a plain BPE tokenizer */
    char tok[400], dir[400];
    snprintf(tok, sizeof tok, "%s/tok.json", g_tmp);
    snprintf(dir, sizeof dir, "%s/plain", g_tmp);
    cr_assert_eq(sd_test_semid(&out,
                               "tokenizer train --corpus %s/tokenizer_corpus.txt --vocab-size 300 -o %s "
                               "--special '<|im_start|>' --special '<|im_end|>' --special '<|endoftext|>' --quiet",
                               sd_test_fixtures(), tok), 0, "%s", out);
    free(out);
    sd_tokenizer *t;
    sd_err err = {0};
    cr_assert_eq(sd_tok_load(&t, tok, &err), 0, "%s", err.msg);
    sd_qwen3_config cfg = sd_qwen3_config_default();
    cfg.hidden_size = 16, cfg.num_hidden_layers = 1, cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1;
    cfg.head_dim = 8, cfg.intermediate_size = 32, cfg.vocab_size = sd_tok_vocab_size(t);
    sd_qwen3 m;
    cr_assert_eq(sd_qwen3_init(&m, &cfg, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 1, 0.5f);
    m.tok = t;
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    sd_qwen3_free(&m);
    cr_assert_eq(sd_test_semid(&out, "chat %s --model %s < /dev/null", g_work, dir), 1, "%s", out);
    cr_assert(strstr(out, "<|sid_start|>") || strstr(out, "SID"), "says the SID tokens are missing: %s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "chat %s --model %s/none < /dev/null", g_work, g_tmp), 1, "%s", out);
    cr_assert(strstr(out, "/none") && strstr(out, "--model"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "chat %s --sids ../x < /dev/null", g_work), 2, "%s", out);
    cr_assert(strstr(out, "--sids"), "%s", out);
    free(out);
}
