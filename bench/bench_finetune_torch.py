"""PyTorch baseline for bench/bench_finetune.c: the same Qwen3 model (tied embeddings, RMSNorm,
q/k/v/o without bias, per-head q/k RMSNorm, rotate-half RoPE, grouped-query causal attention,
SwiGLU MLP; as tests/ref/qwen3_ref.py) and the same training step: zero grad, forward, mean
cross-entropy over the labelled positions (the last 32 of every 64, as the C bench; the head runs
on the labelled rows only, as semid's chunked head does, rather than on all B*T rows),
backward, clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-4, weight decay 0.01, foreach).
Tries 1 and 2 threads; prints `TORCH_STEP_MS <ms> THREADS <n>` for each and
`TORCH_BEST_TOKENS <tokens/s> THREADS <n>` for the faster.
Usage: bench_finetune_torch.py C L H KV HD F V B T STEPS"""
import math
import sys
import time

import torch
import torch.nn.functional as F

from openblas_core import print_core

print_core()

C, L, H, KV, HD, FF, V, B, T, STEPS = map(int, sys.argv[1:11])
EPS, THETA = 1e-6, 1e6


class RMSNorm(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope_tables():
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
    freqs = torch.arange(T).float()[:, None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[None, None], emb.sin()[None, None]  # [1, 1, T, HD]


def rope(x, cos, sin):
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(C), RMSNorm(C)
        self.q_proj = torch.nn.Linear(C, H * HD, bias=False)
        self.k_proj = torch.nn.Linear(C, KV * HD, bias=False)
        self.v_proj = torch.nn.Linear(C, KV * HD, bias=False)
        self.o_proj = torch.nn.Linear(H * HD, C, bias=False)
        self.q_norm, self.k_norm = RMSNorm(HD), RMSNorm(HD)
        self.gate_proj = torch.nn.Linear(C, FF, bias=False)
        self.up_proj = torch.nn.Linear(C, FF, bias=False)
        self.down_proj = torch.nn.Linear(FF, C, bias=False)

    def forward(self, x, cos, sin, mask):
        h = self.input_layernorm(x)
        q = self.q_norm(self.q_proj(h).view(B, T, H, HD)).transpose(1, 2)
        k = self.k_norm(self.k_proj(h).view(B, T, KV, HD)).transpose(1, 2)
        v = self.v_proj(h).view(B, T, KV, HD).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
        a = torch.softmax(s.masked_fill(mask, float("-inf")), -1) @ v
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, H * HD))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Qwen3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        self.norm = RMSNorm(C)
        cos, sin = rope_tables()
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", ~torch.tril(torch.ones(T, T, dtype=torch.bool)))
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def loss(self, ids, targets):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        h = self.norm(x).reshape(B * T, C)
        lab = targets.reshape(-1) != -100
        logits = h[lab] @ self.embed_tokens.weight.t()  # tied lm_head, labelled rows only
        return F.cross_entropy(logits, targets.reshape(-1)[lab])


def batch():
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, V, (B, T), generator=g)
    tg = torch.full((B, T), -100, dtype=torch.int64)
    t = torch.arange(T)
    lab = (t % 64 >= 32) & (t + 1 < T)
    tg[:, lab] = torch.roll(ids, -1, 1)[:, lab]
    return ids, tg


def bench(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Qwen3()
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, foreach=True)
    ids, tg = batch()
    times = []
    for it in range(STEPS + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it:
            times.append(time.perf_counter() - t0)
    ms = min(times) * 1000
    print("TORCH_STEP_MS %.1f THREADS %d" % (ms, threads), flush=True)
    return ms


best = min((bench(n), n) for n in (1, 2))
print("TORCH_BEST_TOKENS %.1f THREADS %d" % (B * T / (best[0] / 1000), best[1]))
