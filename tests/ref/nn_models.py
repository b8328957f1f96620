"""PyTorch references for two-layer models composed from the src/nn ops
(tests/test_nn_models.c): a SASRec-shaped pre-LN transformer with tied-embedding scoring and a
Qwen3-shaped stack (RMSNorm, q/k norm, RoPE, GQA, SwiGLU). Both in float32, as training runs.
Writes the initial parameters, inputs, loss, every parameter gradient, and the losses and
gradient norms of 10 AdamW steps with linear warmup + cosine decay and clipping."""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_refio import save  # noqa: E402

OUT = sys.argv[1]
torch.manual_seed(99)
torch.set_num_threads(1)


def rope(x, pos, theta):
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, :, None, :], emb.sin()[:, :, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def attention(q, k, v, cfg, key_valid, pos, qn=None, kn=None):
    B, T = q.shape[:2]
    H, KV, hd = cfg["H"], cfg["KV"], cfg["hd"]
    q, k, v = q.view(B, T, H, hd), k.view(B, T, KV, hd), v.view(B, T, KV, hd)
    if qn is not None:
        q, k = rms(q, qn, cfg["eps"]), rms(k, kn, cfg["eps"])
    if cfg["theta"] > 0:
        q, k = rope(q, pos, cfg["theta"]), rope(k, pos, cfg["theta"])
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & key_valid.bool()[:, None, None, :]
    row_ok = allowed.any(-1, keepdim=True)
    s = torch.where(row_ok, s.masked_fill(~allowed, float("-inf")), torch.zeros_like(s))
    p = torch.softmax(s, -1) * row_ok
    return (p @ v).transpose(1, 2).reshape(B, T, H * hd)


def declare_block(P, pre, cfg, g):
    C, qd, kd, Fh = cfg["C"], cfg["H"] * cfg["hd"], cfg["KV"] * cfg["hd"], cfg["F"]

    def mat(r, c):
        return torch.randn(r, c, generator=g) * (1.0 / math.sqrt(c))

    def vec(n, base=0.0, scale=0.1):
        return base + torch.randn(n, generator=g) * scale
    P[pre + "input_layernorm.weight"] = vec(C, 1.0)
    if not cfg["rms"]:
        P[pre + "input_layernorm.bias"] = vec(C)
    for name, rows in (("q", qd), ("k", kd), ("v", kd)):
        P[pre + "self_attn.%s_proj.weight" % name] = mat(rows, C)
        if cfg["bias"]:
            P[pre + "self_attn.%s_proj.bias" % name] = vec(rows)
    P[pre + "self_attn.o_proj.weight"] = mat(C, qd)
    if cfg["bias"]:
        P[pre + "self_attn.o_proj.bias"] = vec(C)
    if cfg["qk_norm"]:
        P[pre + "self_attn.q_norm.weight"] = vec(cfg["hd"], 1.0)
        P[pre + "self_attn.k_norm.weight"] = vec(cfg["hd"], 1.0)
    P[pre + "post_attention_layernorm.weight"] = vec(C, 1.0)
    if not cfg["rms"]:
        P[pre + "post_attention_layernorm.bias"] = vec(C)
    if cfg["swiglu"]:
        P[pre + "mlp.gate_proj.weight"] = mat(Fh, C)
    P[pre + "mlp.up_proj.weight"] = mat(Fh, C)
    if cfg["bias"]:
        P[pre + "mlp.up_proj.bias"] = vec(Fh)
    P[pre + "mlp.down_proj.weight"] = mat(C, Fh)
    if cfg["bias"]:
        P[pre + "mlp.down_proj.bias"] = vec(C)


def block(P, pre, cfg, x, key_valid, pos):
    def norm(x, name):
        if cfg["rms"]:
            return rms(x, P[pre + name + ".weight"], cfg["eps"])
        return F.layer_norm(x, (cfg["C"],), P[pre + name + ".weight"], P[pre + name + ".bias"], cfg["eps"])

    def lin(x, name):
        return F.linear(x, P[pre + name + ".weight"], P.get(pre + name + ".bias"))
    h1 = norm(x, "input_layernorm")
    a = attention(lin(h1, "self_attn.q_proj"), lin(h1, "self_attn.k_proj"), lin(h1, "self_attn.v_proj"), cfg,
                  key_valid, pos, P.get(pre + "self_attn.q_norm.weight"), P.get(pre + "self_attn.k_norm.weight"))
    h = x + lin(a, "self_attn.o_proj")
    h2 = norm(h, "post_attention_layernorm")
    if cfg["swiglu"]:
        m = F.silu(lin(h2, "mlp.gate_proj")) * lin(h2, "mlp.up_proj")
    else:
        m = F.relu(lin(h2, "mlp.up_proj"))
    return h + lin(m, "mlp.down_proj")


def model_loss(P, cfg, ids, key_valid, pos, targets):
    B, T = ids.shape
    x = F.embedding(ids.long(), P["embed.weight"], padding_idx=cfg["pad"] if cfg["pad"] >= 0 else None)
    if "pos_embed.weight" in P:
        x = x + P["pos_embed.weight"][None, :T]
    for layer in range(2):
        x = block(P, "layers.%d." % layer, cfg, x, key_valid, pos)
    if cfg["rms"]:
        x = rms(x, P["norm.weight"], cfg["eps"])
    else:
        x = F.layer_norm(x, (cfg["C"],), P["norm.weight"], P["norm.bias"], cfg["eps"])
    W = P["lm_head.weight"] if "lm_head.weight" in P else P["embed.weight"]
    return F.cross_entropy(x.reshape(B * T, -1) @ W.t(), targets.long().reshape(-1), ignore_index=-100)


def lr_at(step, warmup, total, lr_max, lr_min):
    if step < warmup:
        return lr_max * (step + 1) / warmup
    if step >= total:
        return lr_min
    prog = (step - warmup) / (total - warmup)
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + math.cos(math.pi * prog))


def run(name, cfg, V, B, T, left_pad):
    g = torch.Generator().manual_seed(7)
    P = {"embed.weight": torch.randn(V, cfg["C"], generator=g) * 0.5}
    if cfg["pad"] >= 0:
        P["embed.weight"][cfg["pad"]] = 0
    if not cfg["rms"]:
        P["pos_embed.weight"] = torch.randn(T, cfg["C"], generator=g) * 0.3
    for layer in range(2):
        declare_block(P, "layers.%d." % layer, cfg, g)
    P["norm.weight"] = 1 + torch.randn(cfg["C"], generator=g) * 0.1
    if not cfg["rms"]:
        P["norm.bias"] = torch.randn(cfg["C"], generator=g) * 0.1
    if not cfg["tied"]:
        P["lm_head.weight"] = torch.randn(V, cfg["C"], generator=g) * (1.0 / math.sqrt(cfg["C"]))
    order = list(P.keys())
    ids = torch.randint(1, V, (B, T), generator=g, dtype=torch.int32)
    key_valid = torch.ones(B, T, dtype=torch.int32)
    for b, npad in enumerate(left_pad):
        ids[b, :npad] = max(cfg["pad"], 0)
        key_valid[b, :npad] = 0
    pos = torch.clamp(torch.cumsum(key_valid, 1) - 1, min=0).int()
    targets = torch.randint(1, V, (B, T), generator=g, dtype=torch.int32)
    targets[key_valid == 0] = -100
    targets[0, -2] = -100
    rec = {"ids": ids, "key_valid": key_valid, "pos": pos, "targets": targets}
    for k in order:
        rec["param." + k] = P[k].clone()
    params = {k: P[k].clone().requires_grad_(True) for k in order}
    loss = model_loss(params, cfg, ids, key_valid, pos, targets)
    loss.backward()
    rec["loss"] = loss.detach().reshape(1)
    for k in order:
        rec["grad." + k] = params[k].grad.clone()
    # 10 AdamW steps: weight decay on matrices only, warmup 3, cosine to step 10, clip at 0.5
    decay = [params[k] for k in order if params[k].dim() == 2]
    no_decay = [params[k] for k in order if params[k].dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    losses, norms = [], []
    for step in range(10):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, 3, 10, 1e-2, 1e-3)
        opt.zero_grad()
        loss = model_loss(params, cfg, ids, key_valid, pos, targets)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_([params[k] for k in order], 0.5)))
        opt.step()
        losses.append(float(loss))
    rec["adamw.losses"] = torch.tensor(losses)
    rec["adamw.grad_norms"] = torch.tensor(norms)
    for k in order:
        rec["final." + k] = params[k].detach()
    save(os.path.join(OUT, "nn_model_%s.bin" % name), rec)


sasrec = dict(C=16, H=2, KV=2, hd=8, F=32, rms=False, eps=1e-8, bias=True, qk_norm=False, theta=0.0,
              swiglu=False, pad=0, tied=True)
run("sasrec", sasrec, V=41, B=3, T=9, left_pad=[0, 4, 8])
qwen = dict(C=24, H=4, KV=2, hd=8, F=40, rms=True, eps=1e-6, bias=False, qk_norm=True, theta=10000.0,
            swiglu=True, pad=-1, tied=False)
run("qwen3", qwen, V=53, B=2, T=11, left_pad=[0, 3])
