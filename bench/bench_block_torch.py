"""PyTorch baseline for bench/bench_block.c: one pre-LN transformer block (LayerNorm, causal
multi-head attention with biases, ReLU MLP, residuals) forward + backward at B=16, T=256, d=512,
8 heads, ffn 2048. Tries 1 and 2 threads and prints the faster as `TORCH_MS <ms> THREADS <n>`."""
import math
import sys
import time

import torch
import torch.nn.functional as F

from openblas_core import print_core

print_core()

B, T, C, H, FF = 16, 256, 512, 8, 2048
ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
hd = C // H


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(C, eps=1e-8), torch.nn.LayerNorm(C, eps=1e-8)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(C, C) for _ in range(4))
        self.up, self.down = torch.nn.Linear(C, FF), torch.nn.Linear(FF, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        h = self.ln1(x)
        q = self.q(h).view(B, T, H, hd).transpose(1, 2)
        k = self.k(h).view(B, T, H, hd).transpose(1, 2)
        v = self.v(h).view(B, T, H, hd).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~self.mask, float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.o(a)
        return x + self.down(F.relu(self.up(self.ln2(x))))


def bench(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    blk = Block()
    x = torch.randn(B, T, C, requires_grad=True)
    dy = torch.randn(B, T, C)
    times = []
    for it in range(ITERS + 1):
        t0 = time.perf_counter()
        y = blk(x)
        y.backward(dy)
        if it:
            times.append(time.perf_counter() - t0)
        blk.zero_grad()
        x.grad = None
    return min(times) * 1000


best = min((bench(n), n) for n in (1, 2))
print("TORCH_MS %.1f THREADS %d" % best)
