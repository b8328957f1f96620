#include "rec/seqbatch.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"

struct sd_seqbatcher {
    const sd_sequences *seq;
    const sd_split *sp;
    int maxlen, batch;
    bool negatives;
    uint64_t seed;
    int32_t *users, n_users, cursor;
    sd_rng rng;          /* negatives of the current epoch */
    uint8_t *mark;       /* n_items, the current user's training items */
    int32_t *len, *item, *target, *neg, *bu;
    int64_t *off;
};

sd_seqbatcher *sd_seqbatcher_new(const sd_sequences *seq, const sd_split *sp, int maxlen, int batch, bool negatives,
                                  uint64_t seed) {
    sd_seqbatcher *b = sd_xcalloc(1, sizeof *b);
    b->seq = seq; b->sp = sp; b->maxlen = maxlen; b->batch = batch; b->negatives = negatives; b->seed = seed;
    b->users = sd_xmalloc(sizeof(int32_t) * (size_t)(seq->n_users ? seq->n_users : 1));
    for (int32_t u = 0; u < seq->n_users; u++)
        if (sp->train_len[u] >= 2) b->users[b->n_users++] = u;
    b->mark = sd_xcalloc((size_t)seq->n_items + 1, 1);
    size_t N = (size_t)batch * maxlen;
    b->len = sd_xmalloc(sizeof(int32_t) * (size_t)batch);
    b->bu = sd_xmalloc(sizeof(int32_t) * (size_t)batch);
    b->off = sd_xmalloc(sizeof(int64_t) * ((size_t)batch + 1));
    b->item = sd_xmalloc(sizeof(int32_t) * N);
    b->target = sd_xmalloc(sizeof(int32_t) * N);
    b->neg = sd_xmalloc(sizeof(int32_t) * N);
    return b;
}

void sd_seqbatcher_free(sd_seqbatcher *b) {
    if (!b) return;
    free(b->users); free(b->mark); free(b->len); free(b->bu); free(b->off);
    free(b->item); free(b->target); free(b->neg);
    free(b);
}

int32_t sd_seqbatcher_users(const sd_seqbatcher *b) { return b->n_users; }

void sd_seqbatcher_epoch(sd_seqbatcher *b, int epoch) {
    /* A fresh permutation of the ascending user list, so the order depends on (seed, epoch) only. */
    int32_t k = 0;
    for (int32_t u = 0; u < b->seq->n_users; u++)
        if (b->sp->train_len[u] >= 2) b->users[k++] = u;
    sd_rng r;
    sd_rng_stream(&r, b->seed, 0x5EB0000000ull + (uint64_t)epoch);
    sd_rng_shuffle_i32(&r, b->users, (size_t)b->n_users);
    sd_rng_stream(&b->rng, b->seed, 0x5EB1000000ull + (uint64_t)epoch);
    b->cursor = 0;
}

bool sd_seqbatcher_next(sd_seqbatcher *b, sd_seqbatch *out) {
    if (b->cursor >= b->n_users) return false;
    int B = b->n_users - b->cursor < b->batch ? b->n_users - b->cursor : b->batch;
    int32_t n_items = b->seq->n_items;
    int64_t N = 0;
    b->off[0] = 0;
    for (int i = 0; i < B; i++) {
        int32_t u = b->users[b->cursor + i];
        const int32_t *items = sd_seq_items(b->seq, u);
        int32_t tl = b->sp->train_len[u];
        int32_t L = tl - 1 < b->maxlen ? tl - 1 : b->maxlen, s = tl - 1 - L;
        for (int32_t t = 0; t < L; t++) {
            b->item[N + t] = items[s + t];
            b->target[N + t] = items[s + t + 1];
        }
        if (b->negatives) {
            int32_t distinct = 0;
            for (int32_t t = 0; t < tl; t++) distinct += !b->mark[items[t]], b->mark[items[t]] = 1;
            bool any = distinct >= n_items;
            for (int32_t t = 0; t < L; t++) {
                int32_t x;
                do x = (int32_t)sd_rng_below(&b->rng, (uint64_t)n_items);
                while (!any && b->mark[x]);
                b->neg[N + t] = x;
            }
            for (int32_t t = 0; t < tl; t++) b->mark[items[t]] = 0;
        }
        b->len[i] = L;
        b->bu[i] = u;
        N += L;
        b->off[i + 1] = N;
    }
    b->cursor += B;
    *out = (sd_seqbatch){.B = B, .N = (int)N, .len = b->len, .off = b->off, .item = b->item, .target = b->target,
                         .neg = b->negatives ? b->neg : NULL, .users = b->bu};
    return true;
}

int sd_seqbatch_shard(const sd_seqbatch *b, int T, sd_seqbatch *shards, int64_t *off_store) {
    int n = 0, s0 = 0;
    float whole = b->scale > 0 ? b->scale : 1.0f;
    for (int t = 0; t < T && s0 < b->B; t++) {
        /* sequences up to the one that crosses (t + 1) / T of the positions */
        int64_t cut = (int64_t)((double)b->N * (t + 1) / T);
        int s1 = s0 + 1;
        while (s1 < b->B && b->off[s1] < cut) s1++;
        if (t == T - 1) s1 = b->B;
        int64_t base = b->off[s0], *off = off_store;
        off_store += s1 - s0 + 1;
        for (int i = s0; i <= s1; i++) off[i - s0] = b->off[i] - base;
        int N = (int)(b->off[s1] - base);
        if (N > 0)
            shards[n++] = (sd_seqbatch){.B = s1 - s0, .N = N, .len = b->len + s0, .off = off, .item = b->item + base,
                                        .target = b->target + base, .neg = b->neg ? b->neg + base : NULL,
                                        .users = b->users ? b->users + s0 : NULL,
                                        .scale = whole * (float)N / (float)(b->N ? b->N : 1)};
        s0 = s1;
    }
    return n;
}
