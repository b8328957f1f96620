"""PyTorch references for the single ops of src/nn (tests/test_nn_ops.c).
Inputs are random float32 with odd sizes; expected values are computed in float64 from those
float32 inputs, so the C tolerances measure the C code's float32 error only.
Every case writes inputs, an upstream gradient dy, the output and all input gradients of
L = sum(out * dy)."""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_refio import save  # noqa: E402

OUT = sys.argv[1]
torch.manual_seed(1234)


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


def leaf(t):
    return t.double().clone().requires_grad_(True)


def run(name, inputs, fn, extra=None):
    """inputs: dict name -> float32 tensor (differentiated) or int tensor; fn(**double leaves) -> out."""
    leaves = {k: leaf(v) if v.dtype == torch.float32 else v for k, v in inputs.items()}
    out = fn(**leaves)
    rec = dict(inputs)
    if out.dim() == 0:
        out.backward()
    else:
        dy = rnd(*out.shape)
        rec["dy"] = dy
        (out * dy.double()).sum().backward()
    rec["out"] = out.detach().float()
    for k, v in leaves.items():
        if isinstance(v, torch.Tensor) and v.requires_grad:
            rec["d_" + k] = v.grad.float()
    if extra:
        rec.update(extra)
    save(os.path.join(OUT, "nn_op_%s.bin" % name), rec)


# linear, with and without bias: x [7, 13], W [5, 13]
x, W, b = rnd(7, 13), rnd(5, 13, scale=0.3), rnd(5)
run("linear_bias", {"x": x, "W": W, "b": b}, lambda x, W, b: F.linear(x, W, b))
run("linear_nobias", {"x": x, "W": W}, lambda x, W: F.linear(x, W))

# embedding with padding index 0: table [11, 6], ids [9]
ids = torch.tensor([3, 0, 10, 3, 7, 0, 1, 3, 9], dtype=torch.int32)
run("embedding", {"table": rnd(11, 6), "ids": ids},
    lambda table, ids: F.embedding(ids.long(), table, padding_idx=0))

# layernorm eps 1e-8 (SASRec) over [5, 37]; rmsnorm eps 1e-6 over [6, 29]
run("layernorm", {"x": rnd(5, 37, scale=2) + 0.5, "w": rnd(37), "b": rnd(37)},
    lambda x, w, b: F.layer_norm(x, (37,), w, b, eps=1e-8))
run("rmsnorm", {"x": rnd(6, 29, scale=2), "w": rnd(29)},
    lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w)

# activations over 37 elements (odd: exercises the vector tails)
run("relu", {"x": rnd(37)}, lambda x: F.relu(x))
run("silu", {"x": rnd(37, scale=4)}, lambda x: F.silu(x))
run("swiglu", {"gate": rnd(37, scale=4), "up": rnd(37)}, lambda gate, up: F.silu(gate) * up)


def rope(x, pos, theta):
    # x [B, T, nh, hd]; Hugging Face rotate-half with float32 angles
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[..., None] * inv_freq  # [B, T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().double()[:, :, None, :], emb.sin().double()[:, :, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def attention(q, k, v, B, T, H, KV, hd, causal, key_valid, pos, theta, qn, kn, eps=1e-6):
    q = q.view(B, T, H, hd)
    k = k.view(B, T, KV, hd)
    v = v.view(B, T, KV, hd)
    if qn is not None:
        q = q * torch.rsqrt(q.pow(2).mean(-1, keepdim=True) + eps) * qn
        k = k * torch.rsqrt(k.pow(2).mean(-1, keepdim=True) + eps) * kn
    if theta > 0:
        q, k = rope(q, pos, theta), rope(k, pos, theta)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, heads, T, hd]
    rep = H // KV
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
    if causal:
        allowed = allowed & torch.tril(torch.ones(T, T, dtype=torch.bool))
    if key_valid is not None:
        allowed = allowed & key_valid.bool()[:, None, None, :]
    row_ok = allowed.any(-1, keepdim=True)
    s = s.masked_fill(~allowed, float("-inf"))
    s = torch.where(row_ok, s, torch.zeros_like(s))  # fully masked rows: defined as output 0
    p = torch.softmax(s, dim=-1) * row_ok
    o = p @ v
    return o.transpose(1, 2).reshape(B, T, H * hd)


def attn_case(name, B, T, H, KV, hd, causal, key_valid=None, pos=None, theta=0.0, qk_norm=False):
    inputs = {"q": rnd(B, T, H * hd), "k": rnd(B, T, KV * hd), "v": rnd(B, T, KV * hd)}
    if qk_norm:
        inputs["qn"] = rnd(hd) * 0.5 + 1
        inputs["kn"] = rnd(hd) * 0.5 + 1
    if key_valid is not None:
        inputs["key_valid"] = key_valid.int()
    if pos is None:
        pos = torch.arange(T, dtype=torch.int32).repeat(B, 1)
    inputs["pos"] = pos.int()
    cfg = torch.tensor([B, T, H, KV, hd, int(causal), int(key_valid is not None), int(qk_norm)], dtype=torch.int32)

    def fn(q, k, v, pos, key_valid=None, qn=None, kn=None):
        return attention(q, k, v, B, T, H, KV, hd, causal, key_valid, pos, theta, qn, kn)
    run("attn_" + name, inputs, fn, extra={"cfg": cfg, "theta": torch.tensor([theta])})


attn_case("causal", 2, 5, 3, 3, 4, True)
# left padding: row 1 has 3 padding tokens, positions start at 0 on the first real token; with
# causality its first queries see only padding keys (fully masked rows).
kv = torch.ones(3, 7, dtype=torch.int32)
kv[1, :3] = 0
kv[2, :1] = 0
pos = torch.clamp(torch.cumsum(kv, dim=1) - 1, min=0).int()
attn_case("gqa_rope_qknorm", 3, 7, 4, 2, 6, True, key_valid=kv, pos=pos, theta=10000.0, qk_norm=True)
kv2 = torch.ones(2, 6, dtype=torch.int32)
kv2[0, 4:] = 0
attn_case("bidir_pad_mqa", 2, 6, 2, 1, 8, False, key_valid=kv2)
attn_case("rope_only", 1, 9, 2, 2, 10, True, theta=1000.0)

# cross-entropy: chunked (hidden [13, 9] x W [4500, 9] -> 3 vocab chunks) and over logits
N, C, V = 13, 9, 4500
tg = torch.randint(0, V, (N,), dtype=torch.int32)
tg[[2, 5, 11]] = -100
run("xent_chunked", {"h": rnd(N, C), "W": rnd(V, C, scale=0.5), "targets": tg},
    lambda h, W, targets: F.cross_entropy(h @ W.t(), targets.long(), ignore_index=-100))
# more rows than one block (256) with a small vocabulary
N2, C2, V2 = 301, 7, 37
tg2 = torch.randint(0, V2, (N2,), dtype=torch.int32)
tg2[::7] = -1
run("xent_chunked_rows", {"h": rnd(N2, C2), "W": rnd(V2, C2), "targets": tg2},
    lambda h, W, targets: F.cross_entropy(h @ W.t(), targets.long(), ignore_index=-1))
run("xent_logits", {"logits": rnd(N, 45, scale=3), "targets": torch.randint(0, 45, (N,), dtype=torch.int32)},
    lambda logits, targets: F.cross_entropy(logits, targets.long(), ignore_index=-100))
run("bce", {"x": rnd(23, scale=5), "y": torch.rand(23).float()},
    lambda x, y: F.binary_cross_entropy_with_logits(x, y))
run("mse_mean", {"p": rnd(19), "t": rnd(19)}, lambda p, t: F.mse_loss(p, t))
run("mse_sum", {"p": rnd(19), "t": rnd(19)}, lambda p, t: F.mse_loss(p, t, reduction="sum"))

# longer than the engine's 32-row causal blocks (T 77: three blocks, the last partial); row 1 is
# left-padded past the first block, so whole blocks of its queries see only padding keys
kv3 = torch.ones(2, 77, dtype=torch.int32)
kv3[1, :40] = 0
pos3 = torch.clamp(torch.cumsum(kv3, dim=1) - 1, min=0).int()
attn_case("long_blocks", 2, 77, 4, 2, 8, True, key_valid=kv3, pos=pos3, theta=10000.0, qk_norm=True)
