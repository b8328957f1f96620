"""Reference for src/lm/generate.c and src/lm/embed_qwen3.c: a tiny Qwen3 written in torch from
the published architecture (Qwen3ForCausalLM / Qwen3Model of transformers), run in float64 from
float32 weights, with greedy generation by recomputing the whole forward at every step.

Writes OUTDIR/gen_ref_<name>.bin (nn_refio format) per model:
  cfg_i [hidden, layers, heads, kv_heads, head_dim, ffn, vocab, tied]; cfg_f [eps, theta]
  every weight under its Hugging Face name ("model." prefix unless an embedding model)
  prompt{b} [len]; gen{b} [n] greedy tokens (stop token included); stop [k]; max_new, penalty
  emb{b} [hidden] (embedding model): final-normed hidden state of the last token, L2-normalised;
  emb_dim{b} [dim]: the same truncated to `dim` (MRL) and normalised again.

Greedy generation needs the top logit ahead of the second by a clear margin, else float32 in C
could pick the other token legitimately: each model draws weights until every step's top-2 gap
is >= 1e-3 (float64)."""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_refio  # noqa: E402

torch.set_num_threads(1)


def rope(x, pos, theta):  # x [T, nh, hd]; angles in float32 as transformers computes them
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    ang = (pos.float()[:, None] * inv_freq).double()
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat((-x2, x1), -1) * sin


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Qwen3:
    def __init__(self, cfg, W, prefix):
        self.c, self.W, self.p = cfg, {k: v.double() for k, v in W.items()}, prefix

    def w(self, name):
        return self.W[self.p + name]

    def hidden(self, ids):  # ids [T] -> final-normed hidden [T, C]
        c = self.c
        T, H, KV, hd = len(ids), c["H"], c["KV"], c["hd"]
        pos = torch.arange(T)
        x = self.w("embed_tokens.weight")[torch.tensor(ids)]
        for l in range(c["L"]):
            pre = f"layers.{l}."
            h = rms(x, self.w(pre + "input_layernorm.weight"), c["eps"])
            q = (h @ self.w(pre + "self_attn.q_proj.weight").T).view(T, H, hd)
            k = (h @ self.w(pre + "self_attn.k_proj.weight").T).view(T, KV, hd)
            v = (h @ self.w(pre + "self_attn.v_proj.weight").T).view(T, KV, hd)
            q = rope(rms(q, self.w(pre + "self_attn.q_norm.weight"), c["eps"]), pos, c["theta"])
            k = rope(rms(k, self.w(pre + "self_attn.k_norm.weight"), c["eps"]), pos, c["theta"])
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
            s = s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
            a = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v).reshape(T, H * hd)
            x = x + a @ self.w(pre + "self_attn.o_proj.weight").T
            h = rms(x, self.w(pre + "post_attention_layernorm.weight"), c["eps"])
            g = h @ self.w(pre + "mlp.gate_proj.weight").T
            u = h @ self.w(pre + "mlp.up_proj.weight").T
            x = x + (torch.nn.functional.silu(g) * u) @ self.w(pre + "mlp.down_proj.weight").T
        return rms(x, self.w("norm.weight"), c["eps"])

    def logits(self, ids):
        head = self.W["lm_head.weight"] if not self.c["tied"] else self.w("embed_tokens.weight")
        return self.hidden(ids)[-1] @ head.T


def random_weights(cfg, g, prefix, std):
    C, L, H, KV, hd, F, V = (cfg[k] for k in ("C", "L", "H", "KV", "hd", "F", "V"))
    W = {}

    def mat(name, r, c, s=std):
        W[name] = (torch.randn(r, c, generator=g) * s).float()

    def norm(name, n):
        W[name] = (1.0 + 0.1 * torch.randn(n, generator=g)).float()

    mat(prefix + "embed_tokens.weight", V, C, 1.0)
    for l in range(L):
        p = f"{prefix}layers.{l}."
        norm(p + "input_layernorm.weight", C)
        norm(p + "post_attention_layernorm.weight", C)
        mat(p + "self_attn.q_proj.weight", H * hd, C)
        mat(p + "self_attn.k_proj.weight", KV * hd, C)
        mat(p + "self_attn.v_proj.weight", KV * hd, C)
        mat(p + "self_attn.o_proj.weight", C, H * hd)
        norm(p + "self_attn.q_norm.weight", hd)
        norm(p + "self_attn.k_norm.weight", hd)
        mat(p + "mlp.gate_proj.weight", F, C)
        mat(p + "mlp.up_proj.weight", F, C)
        mat(p + "mlp.down_proj.weight", C, F)
    norm(prefix + "norm.weight", C)
    if not cfg["tied"]:
        mat("lm_head.weight", V, C, 1.0)
    return W


def greedy(model, prompt, max_new, stop, penalty):
    ids, out, gap = list(prompt), [], float("inf")
    for _ in range(max_new):
        lg = model.logits(ids)
        if penalty != 1.0:
            seen = torch.tensor(sorted(set(ids)))
            s = lg[seen]
            lg[seen] = torch.where(s < 0, s * penalty, s / penalty)
        top = torch.topk(lg, 2).values
        gap = min(gap, float(top[0] - top[1]))
        t = int(torch.argmax(lg))
        ids.append(t)
        out.append(t)
        if t in stop:
            break
    return out, gap


def cfg_tensors(cfg):
    return {
        "cfg_i": torch.tensor([cfg[k] for k in ("C", "L", "H", "KV", "hd", "F", "V")] + [int(cfg["tied"])],
                              dtype=torch.int32),
        "cfg_f": torch.tensor([cfg["eps"], cfg["theta"]], dtype=torch.float32),
    }


def gen_model(out, name, cfg, seed, prompts, max_new, penalty, std):
    g = torch.Generator().manual_seed(seed)
    for _ in range(50):
        W = random_weights(cfg, g, "model.", std)
        m = Qwen3(cfg, W, "model.")
        # stop token: the 4th token prompt 0 generates without stops, so one sequence stops early
        free, _ = greedy(m, prompts[0], max_new, set(), penalty)
        stop = [free[3]]
        gens, gaps = zip(*(greedy(m, p, max_new, set(stop), penalty) for p in prompts))
        if min(gaps) >= 1e-3:
            break
    else:
        raise SystemExit(f"gen_ref {name}: no weights with clear greedy margins")
    T = dict(W, **cfg_tensors(cfg))
    for b, (p, gt) in enumerate(zip(prompts, gens)):
        T[f"prompt{b}"] = torch.tensor(p, dtype=torch.int32)
        T[f"gen{b}"] = torch.tensor(gt, dtype=torch.int32)
    T["n_prompts"] = torch.tensor([len(prompts)], dtype=torch.int32)
    T["stop"] = torch.tensor(stop, dtype=torch.int32)
    T["max_new"] = torch.tensor([max_new], dtype=torch.int32)
    T["penalty"] = torch.tensor([penalty], dtype=torch.float32)
    nn_refio.save(os.path.join(out, f"gen_ref_{name}.bin"), T)


def embed_model(out, cfg, seed, texts, dim):
    g = torch.Generator().manual_seed(seed)
    W = random_weights(cfg, g, "", 0.3)  # Qwen3-Embedding: Qwen3Model tensors, no "model." prefix
    m = Qwen3(cfg, W, "")
    T = dict(W, **cfg_tensors(cfg))
    for b, ids in enumerate(texts):
        h = m.hidden(ids)[-1]  # last-token pooling (the inputs end with <|endoftext|>)
        T[f"prompt{b}"] = torch.tensor(ids, dtype=torch.int32)
        T[f"emb{b}"] = (h / h.norm()).float()
        T[f"emb_dim{b}"] = (h[:dim] / h[:dim].norm()).float()
    T["n_prompts"] = torch.tensor([len(texts)], dtype=torch.int32)
    T["dim"] = torch.tensor([dim], dtype=torch.int32)
    nn_refio.save(os.path.join(out, "gen_ref_embed.bin"), T)


def main(out):
    base = dict(C=32, L=2, H=4, KV=2, hd=16, F=48, V=97, eps=1e-6, theta=10000.0, tied=True)
    prompts = [[5, 17, 33, 2, 90], [44], [1, 2, 3, 4, 5, 6, 7, 8, 9], [60, 61, 60, 61]]
    gen_model(out, "tied", base, 11, prompts, 12, 1.0, 0.3)
    gen_model(out, "untied", dict(base, tied=False, L=3, H=2, KV=1, hd=8, F=40), 12, prompts, 10, 1.0, 0.3)
    gen_model(out, "penalty", base, 13, prompts, 12, 1.4, 0.3)
    embed_model(out, dict(base, V=64), 14, [[3, 9, 27, 63], [63], [5, 5, 5, 8, 13, 21, 34, 63]], 12)


if __name__ == "__main__":
    main(sys.argv[1])
