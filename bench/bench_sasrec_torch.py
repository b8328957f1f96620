"""PyTorch baseline for bench/bench_sasrec.c: pmixer's SASRec.pytorch model (its norm_first layout:
q = LN1(x), x = x + attn(q, q, q) with a causal mask only (padding keys attend too), then
x = LN2(x) + FFN(LN2(x)) (the Conv1d point-wise FFN adds its own, normalised, input); LayerNorm
eps 1e-8; emb/attention/FFN dropout, timeline mask, positions 1..T of the padded window) with its
WarpSampler's sampling (one random negative per position, not in the user's training items),
BCEWithLogits on positive and negative logits, Adam lr 1e-3 betas (0.9, 0.98), batch 128,
maxlen 50, d 50, 2 blocks, 1 head, dropout 0.5, xavier-normal init.

Per epoch as pmixer: n_users // batch steps of randomly drawn users. Tries 1 and 2 threads on a
few steps and trains with the faster. Prints per-epoch time (sampling included; pmixer samples
in background processes, so also the model-only step time) and test figures with full ranking
(history excluded, pessimistic ties, as semid's evaluator).
Usage: bench_sasrec_torch.py DATA EPOCHS"""
import sys
import time

import numpy as np
import torch

from openblas_core import print_core

print_core()

B, T, C, L, H, P, LR = 128, 50, 50, 2, 1, 0.5, 1e-3


def load(path):
    with open(path) as f:
        n_users, n_items = map(int, f.readline().split())
        users = []
        for line in f:
            v = list(map(int, line.split()))
            users.append((v[0], v[1], np.array(v[2:], dtype=np.int64) + 1))  # items 1..n
    return n_users, n_items, users


class FFN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(C, C, kernel_size=1)
        self.dropout1 = torch.nn.Dropout(P)
        self.conv2 = torch.nn.Conv1d(C, C, kernel_size=1)
        self.dropout2 = torch.nn.Dropout(P)

    def forward(self, x):
        y = self.dropout2(self.conv2(torch.relu(self.dropout1(self.conv1(x.transpose(-1, -2))))))
        return y.transpose(-1, -2) + x


class SASRec(torch.nn.Module):
    def __init__(self, n_items):
        super().__init__()
        self.item_emb = torch.nn.Embedding(n_items + 1, C, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(T + 1, C, padding_idx=0)
        self.emb_dropout = torch.nn.Dropout(P)
        self.attn_ln = torch.nn.ModuleList([torch.nn.LayerNorm(C, eps=1e-8) for _ in range(L)])
        self.attn = torch.nn.ModuleList([torch.nn.MultiheadAttention(C, H, P) for _ in range(L)])
        self.ffn_ln = torch.nn.ModuleList([torch.nn.LayerNorm(C, eps=1e-8) for _ in range(L)])
        self.ffn = torch.nn.ModuleList([FFN() for _ in range(L)])
        self.last_ln = torch.nn.LayerNorm(C, eps=1e-8)
        self.register_buffer("mask", ~torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def feats(self, seqs):
        x = self.item_emb(seqs) * C ** 0.5
        poss = torch.arange(1, T + 1).repeat(seqs.shape[0], 1) * (seqs != 0)
        x = self.emb_dropout(x + self.pos_emb(poss))
        keep = (seqs != 0).unsqueeze(-1)
        x = x * keep
        for i in range(L):
            x = x.transpose(0, 1)
            q = self.attn_ln[i](x)
            a, _ = self.attn[i](q, q, q, attn_mask=self.mask, need_weights=False)
            x = (x + a).transpose(0, 1)
            x = self.ffn[i](self.ffn_ln[i](x)) * keep
        return self.last_ln(x)

    def forward(self, seqs, pos, neg):
        f = self.feats(seqs)
        return (f * self.item_emb(pos)).sum(-1), (f * self.item_emb(neg)).sum(-1)


def sample(users, train_users, n_items, rng):
    seq = np.zeros((B, T), dtype=np.int64)
    pos = np.zeros((B, T), dtype=np.int64)
    neg = np.zeros((B, T), dtype=np.int64)
    for b, u in enumerate(rng.choice(train_users, B)):
        tl, _, items = users[u]
        tr = items[:tl]
        k = min(tl - 1, T)
        seq[b, T - k:] = tr[tl - 1 - k:tl - 1]
        pos[b, T - k:] = tr[tl - k:tl]
        seen = set(tr.tolist())
        for t in range(T - k, T):
            x = rng.integers(1, n_items + 1)
            while x in seen:
                x = rng.integers(1, n_items + 1)
            neg[b, t] = x
    return torch.from_numpy(seq), torch.from_numpy(pos), torch.from_numpy(neg)


def step(model, opt, bce, batch):
    seq, pos, neg = batch
    pl, nl = model(seq, pos, neg)
    idx = pos != 0
    loss = bce(pl[idx], torch.ones_like(pl[idx])) + bce(nl[idx], torch.zeros_like(nl[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss)


def main():
    n_users, n_items, users = load(sys.argv[1])
    epochs = int(sys.argv[2])
    train_users = np.array([u for u in range(n_users) if users[u][0] >= 2])
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = SASRec(n_items)
    for _, p in model.named_parameters():
        try:
            torch.nn.init.xavier_normal_(p.data)
        except ValueError:
            pass
    model.pos_emb.weight.data[0] = 0
    model.item_emb.weight.data[0] = 0
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.98))
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    best = None
    for th in (1, 2):
        torch.set_num_threads(th)
        batches = [sample(users, train_users, n_items, rng) for _ in range(6)]
        step(model, opt, bce, batches[0])
        t0 = time.perf_counter()
        for bt in batches[1:]:
            step(model, opt, bce, bt)
        ms = (time.perf_counter() - t0) / 5 * 1000
        print("torch %d thread(s): %.1f ms/step" % (th, ms))
        if best is None or ms < best[1]:
            best = (th, ms)
    torch.set_num_threads(best[0])
    steps = len(train_users) // B
    t_epoch, t_model = 0.0, 0.0
    c_model = 0.0
    for ep in range(epochs):
        t0 = time.perf_counter()
        tm, total = 0.0, 0.0
        for _ in range(steps):
            bt = sample(users, train_users, n_items, rng)
            t1, c1 = time.perf_counter(), time.process_time()
            total += step(model, opt, bce, bt)
            tm += time.perf_counter() - t1
            c_model += time.process_time() - c1
        t_epoch += time.perf_counter() - t0
        t_model += tm
        print("torch epoch %d: %.2f s (model %.2f s), loss %.4f" % (ep + 1, time.perf_counter() - t0, tm, total / steps))
    model.eval()
    ranks = []
    t0 = time.perf_counter()
    with torch.no_grad():
        E = model.item_emb.weight[1:]
        test_users = [u for u in range(n_users) if users[u][1] >= 0]
        for i in range(0, len(test_users), 256):
            us = test_users[i:i + 256]
            seq = np.zeros((len(us), T), dtype=np.int64)
            for b, u in enumerate(us):
                ctx = users[u][2][:users[u][1]][-T:]
                seq[b, T - len(ctx):] = ctx
            s = model.feats(torch.from_numpy(seq))[:, -1] @ E.t()
            for b, u in enumerate(us):
                tp, items = users[u][1], users[u][2]
                tgt = items[tp] - 1
                st = s[b, tgt].item()
                row = s[b].clone()
                row[torch.from_numpy(items[:tp] - 1)] = float("-inf")
                row[tgt] = float("-inf")
                ranks.append(1 + int((row >= st).sum()))
    ranks = np.array(ranks)
    ndcg = np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0).mean()
    print("torch evaluation: %.2f s; test NDCG@10 %.4f HR@10 %.4f" % (time.perf_counter() - t0, ndcg, (ranks <= 10).mean()))
    print("torch model steps: %.2f s CPU per epoch" % (c_model / epochs))
    print("TORCH_EPOCH_S %.3f TORCH_MODEL_EPOCH_S %.3f THREADS %d STEPS %d" % (t_epoch / epochs, t_model / epochs, best[0], steps))


main()
