/* Constrained decoding over the SID trie (lm/sid_decode.h) on a random Qwen3: beam scores equal
 * the log-probabilities a plain full forward gives (no cache), a beam as wide as the catalogue
 * returns every item in the exact order, narrower beams return distinct real items, exclusions
 * hold, batches do not change results, and masked generation only ever writes real items while
 * unmasked sampling of the same model does not. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "lm/generate.h"
#include "lm/sid_decode.h"

enum { V = 64, START = 37, END = 38, REC = 39, FIRST = 40, NL = 3, K = 4, NI = 20 };

static void tiny_model(sd_qwen3 *m) {
    sd_qwen3_config c;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_preset(&c, "tiny", V, &err), 0, "%s", err.msg);
    c.hidden_size = 32, c.num_hidden_layers = 2, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 16, c.intermediate_size = 64;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(m, 11, 0.6f); /* peaked distributions: beams must choose */
}

/* NI items with distinct random 3-code sequences over K codes, bound at FIRST. */
static void vocab(sd_sid_vocab *v, sd_sid_table *t) {
    t->n_items = NI, t->levels = 2, t->n_codes = NL, t->K = K;
    t->codes = sd_xmalloc(sizeof(int32_t) * NI * NL);
    sd_rng r;
    sd_rng_seed(&r, 3);
    for (int i = 0; i < NI; i++) {
        bool dup;
        do {
            for (int l = 0; l < NL; l++) t->codes[i * NL + l] = (int32_t)(sd_rng_u64(&r) % K);
            dup = false;
            for (int j = 0; j < i && !dup; j++) dup = !memcmp(t->codes + j * NL, t->codes + i * NL, sizeof(int32_t) * NL);
        } while (dup);
    }
    sd_err err = {0};
    cr_assert_eq(sd_sid_vocab_from_table(v, t, &err), 0, "%s", err.msg);
    sd_sid_vocab_bind(v, FIRST, START, END, REC);
}

/* log p(item's codes | prompt, <|sid_start|>) by full forwards without a cache, in double. */
static double brute_score(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *prompt, int len, int32_t item) {
    int32_t toks[NL + 2], seq[64];
    cr_assert_eq(sd_sid_vocab_item_tokens(v, item, toks), NL + 2);
    memcpy(seq, prompt, sizeof(int32_t) * len);
    int n = len;
    seq[n++] = START;
    double s = 0;
    float lg[V];
    for (int l = 0; l < NL; l++) {
        sd_qwen3_state st;
        sd_qwen3_state_init(&st, m, 1, n, false, false);
        sd_qwen3_batch b = {.B = 1, .T = n, .ids = seq};
        sd_err err = {0};
        cr_assert_eq(sd_qwen3_last_logits(m, &st, &b, lg, &err), 0, "%s", err.msg);
        sd_qwen3_state_free(&st);
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
        for (int i = 0; i < V; i++) z += exp(lg[i] - mx);
        s += lg[toks[1 + l]] - mx - log(z);
        seq[n++] = toks[1 + l];
    }
    return s;
}

static const int32_t P0[] = {5, 9, 2, 30, 17, 3, REC}, P1[] = {12, 1, REC}, P2[] = {8, 8, 21, 33, 4, 6, 7, 19, 2, REC};

Test(sid_decode, beam_scores_are_exact_and_complete) {
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_sid_table t;
    tiny_model(&m);
    vocab(&v, &t);
    const int32_t *prompts[] = {P0};
    int lens[] = {7};
    double want[NI];
    for (int i = 0; i < NI; i++) want[i] = brute_score(&m, &v, P0, 7, i);
    /* teacher-forced scores of every item */
    int32_t all[NI];
    float got[NI];
    for (int i = 0; i < NI; i++) all[i] = i;
    sd_err err = {0};
    cr_assert_eq(sd_sid_score_items(&m, &v, P0, 7, true, all, NI, got, &err), 0, "%s", err.msg);
    for (int i = 0; i < NI; i++) cr_assert(fabs(got[i] - want[i]) < 1e-3, "item %d: %g vs %g", i, got[i], want[i]);
    /* a subset in any order, with repeats (the sampled protocols pad with them) */
    const int32_t some[] = {5, 3, 5, 17, 0, 3, 19};
    float gs[7];
    cr_assert_eq(sd_sid_score_items(&m, &v, P0, 7, true, some, 7, gs, &err), 0, "%s", err.msg);
    for (int i = 0; i < 7; i++) cr_assert(fabs(gs[i] - want[some[i]]) < 1e-3, "candidate %d", i);
    /* a beam as wide as the catalogue: every item, best first, with its exact score */
    sd_sid_beam_cfg cfg;
    sd_sid_beam_cfg_default(&cfg);
    cfg.width = NI, cfg.k = NI;
    sd_sid_beam_out o;
    cr_assert_eq(sd_sid_beam_search(&m, &v, prompts, lens, 1, NULL, NULL, &cfg, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(o.n[0], NI);
    bool seen[NI] = {0};
    for (int j = 0; j < NI; j++) {
        int32_t it = o.items[j];
        cr_assert(it >= 0 && it < NI && !seen[it], "rank %d: item %d", j, it);
        seen[it] = true;
        cr_assert(fabs(o.scores[j] - want[it]) < 1e-3, "rank %d item %d: %g vs %g", j, it, o.scores[j], want[it]);
        if (j) cr_assert(o.scores[j] <= o.scores[j - 1]);
    }
    int best = o.items[0];
    sd_sid_beam_out_free(&o);
    /* narrow beams: k distinct real items; excluding the best item removes it */
    cfg.width = 5, cfg.k = 3;
    const int32_t ex[] = {best};
    const int32_t *exl[] = {ex};
    int nex[] = {1};
    cr_assert_eq(sd_sid_beam_search(&m, &v, prompts, lens, 1, exl, nex, &cfg, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(o.n[0], 3);
    for (int j = 0; j < 3; j++) {
        cr_assert_neq(o.items[j], best, "an excluded item came back");
        cr_assert(fabs(o.scores[j] - want[o.items[j]]) < 1e-3);
        for (int i = 0; i < j; i++) cr_assert_neq(o.items[i], o.items[j]);
    }
    sd_sid_beam_out_free(&o);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
    sd_qwen3_free(&m);
}

Test(sid_decode, batches_do_not_change_results) {
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_sid_table t;
    tiny_model(&m);
    vocab(&v, &t);
    const int32_t *prompts[] = {P0, P1, P2};
    int lens[] = {7, 3, 10};
    sd_sid_beam_cfg cfg;
    sd_sid_beam_cfg_default(&cfg);
    cfg.width = 6, cfg.k = 4;
    sd_err err = {0};
    sd_sid_beam_out all, one;
    cr_assert_eq(sd_sid_beam_search(&m, &v, prompts, lens, 3, NULL, NULL, &cfg, &all, &err), 0, "%s", err.msg);
    for (int p = 0; p < 3; p++) {
        cr_assert_eq(sd_sid_beam_search(&m, &v, prompts + p, lens + p, 1, NULL, NULL, &cfg, &one, &err), 0, "%s", err.msg);
        cr_assert_eq(one.n[0], all.n[p]);
        for (int j = 0; j < one.n[0]; j++) {
            cr_assert_eq(one.items[j], all.items[p * 4 + j], "prompt %d rank %d", p, j);
            cr_assert(fabs(one.scores[j] - all.scores[p * 4 + j]) < 1e-4);
        }
        sd_sid_beam_out_free(&one);
    }
    /* one user per batch gives the same as all three together */
    cfg.users_per_batch = 1;
    cr_assert_eq(sd_sid_beam_search(&m, &v, prompts, lens, 3, NULL, NULL, &cfg, &one, &err), 0, "%s", err.msg);
    for (int i = 0; i < 12; i++) cr_assert_eq(one.items[i], all.items[i]);
    sd_sid_beam_out_free(&one);
    sd_sid_beam_out_free(&all);
    /* bad settings are refused */
    cfg.width = 2, cfg.k = 3;
    cr_assert_neq(sd_sid_beam_search(&m, &v, prompts, lens, 3, NULL, NULL, &cfg, &one, &err), 0);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
    sd_qwen3_free(&m);
}

/* Counts SIDs in generated text and the malformed ones: a code token outside an SID, an SID whose
 * codes name no item, an <|sid_end|> with no open SID. */
static void check_sids(const sd_sid_vocab *v, const int32_t *g, int n, bool open_at_start, int *sids, int *bad) {
    int in = open_at_start ? 0 : -1;
    int32_t codes[NL + 1];
    for (int i = 0; i < n; i++) {
        int32_t x = g[i];
        bool code = x >= FIRST && x < FIRST + NL * K;
        if (x == START) { if (in >= 0) (*bad)++; in = 0; }
        else if (code) { if (in < 0 || in >= NL) (*bad)++; else codes[in++] = x; }
        else if (x == END) {
            if (in != NL || sd_sid_vocab_tokens_item(v, codes, NL) < 0) (*bad)++;
            else (*sids)++;
            in = -1;
        } else if (in >= 0) { (*bad)++; in = -1; }
    }
}

Test(sid_decode, masked_generation_names_only_real_items) {
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_sid_table t;
    tiny_model(&m);
    vocab(&v, &t);
    enum { B = 8 };
    int32_t pr[B][4];
    const int32_t *prompts[B];
    int lens[B];
    uint8_t open[B];
    for (int b = 0; b < B; b++) {
        pr[b][0] = b + 1, pr[b][1] = 2 * b + 3, pr[b][2] = REC, pr[b][3] = START;
        prompts[b] = pr[b];
        lens[b] = b % 2 ? 4 : 3; /* odd prompts open an SID */
        open[b] = b % 2;
    }
    int totals[2][2] = {{0}};
    for (int masked = 0; masked < 2; masked++) {
        sd_gen_cfg g;
        sd_gen_cfg_default(&g);
        g.max_new_tokens = 60;
        g.sample.temperature = 1.0f;
        g.sample.seed = 5;
        sd_sid_mask mk;
        sd_err err = {0};
        cr_assert_eq(sd_sid_mask_init(&mk, &v, &err), 0, "%s", err.msg);
        mk.open = open;
        if (masked) g.sample.mask = sd_sid_mask_apply, g.sample.mask_ctx = &mk;
        sd_gen_out o;
        cr_assert_eq(sd_generate(&m, prompts, lens, B, &g, &o, &err), 0, "%s", err.msg);
        for (int b = 0; b < B; b++) check_sids(&v, o.tokens[b], o.n[b], open[b], &totals[masked][0], &totals[masked][1]);
        sd_gen_out_free(&o);
        sd_sid_mask_free(&mk);
    }
    cr_assert_eq(totals[1][1], 0, "masked generation wrote %d malformed SIDs", totals[1][1]);
    cr_assert_geq(totals[1][0], 4, "the open prompts must each have produced an SID (got %d)", totals[1][0]);
    cr_assert_gt(totals[0][1], 0, "unmasked sampling of a random model should write some invalid SID tokens");
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
    sd_qwen3_free(&m);
}

/* With `distinct`, the last code cannot complete an item the generated tokens already named:
 * a named item's leaf is masked, its siblings stay, and a second SID of the same prefix
 * names another item. Without it the leaf is allowed. */
Test(sid_decode, distinct_mask_refuses_a_named_item) {
    sd_sid_vocab v;
    sd_sid_table t;
    vocab(&v, &t);
    sd_sid_mask mk;
    sd_err err = {0};
    cr_assert_eq(sd_sid_mask_init(&mk, &v, &err), 0, "%s", err.msg);
    /* an item whose 2-code prefix has at least two leaves, so something is left to choose */
    int32_t item = -1, sibling = -1;
    for (int i = 0; i < NI && item < 0; i++)
        for (int j = 0; j < NI; j++)
            if (j != i && !memcmp(t.codes + i * NL, t.codes + j * NL, sizeof(int32_t) * (NL - 1))) {
                item = i, sibling = j;
                break;
            }
    cr_assert_geq(item, 0, "the fixture needs two items sharing a prefix");
    int32_t toks[NL + 2], gen[2 * NL + 3];
    cr_assert_eq(sd_sid_vocab_item_tokens(&v, item, toks), NL + 2);
    memcpy(gen, toks, sizeof toks);     /* item named once */
    memcpy(gen + NL + 2, toks, sizeof(int32_t) * NL); /* <|sid_start|> + its first NL-1 codes */
    int n = NL + 2 + NL;
    int32_t sib[NL + 2];
    sd_sid_vocab_item_tokens(&v, sibling, sib);
    for (int distinct = 0; distinct < 2; distinct++) {
        mk.distinct = distinct;
        float lg[V];
        for (int i = 0; i < V; i++) lg[i] = 0;
        sd_sid_mask_apply(&mk, 0, gen, n, lg, V);
        cr_assert(isfinite(lg[sib[NL]]), "the sibling's leaf stays allowed");
        if (distinct) cr_assert(isinf(lg[toks[NL]]), "the named item's leaf is masked");
        else cr_assert(isfinite(lg[toks[NL]]), "without distinct the named item's leaf is allowed");
    }
    sd_sid_mask_free(&mk);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
}

/* begin_sid: the first generated token can only be <|sid_start|>; later tokens are free again. */
Test(sid_decode, begin_sid_opens_the_reply_with_an_item) {
    sd_sid_vocab v;
    sd_sid_table t;
    vocab(&v, &t);
    sd_sid_mask mk;
    sd_err err = {0};
    cr_assert_eq(sd_sid_mask_init(&mk, &v, &err), 0, "%s", err.msg);
    mk.begin_sid = true;
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = (float)i;
    sd_sid_mask_apply(&mk, 0, NULL, 0, lg, V);
    for (int i = 0; i < V; i++)
        cr_assert(i == START ? isfinite(lg[i]) : isinf(lg[i]), "token %d after an empty reply", i);
    int32_t text[1] = {5};
    for (int i = 0; i < V; i++) lg[i] = (float)i;
    sd_sid_mask_apply(&mk, 0, text, 1, lg, V);
    cr_assert(isfinite(lg[5]) && isfinite(lg[START]), "after the first token the text is free");
    sd_sid_mask_free(&mk);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
}
