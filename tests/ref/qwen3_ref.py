"""PyTorch reference for the Qwen3 model (src/lm/qwen3.c, tests/test_lm_qwen3.c), written from the
published architecture (no transformers):

  x = embed_tokens[ids]; per layer: h = x + o_proj(attn(rmsnorm(x))), where attention projects
  q, k, v without bias, RMS-normalises each q and k head over head_dim, applies rotary embedding
  (rotate-half, inv_freq = theta^(-2i/hd), angle = position * inv_freq) and attends causally over
  the valid keys with grouped-query heads; x = h + down(silu(gate(rmsnorm(h))) * up(rmsnorm(h)));
  final rmsnorm; logits = h @ lm_head^T (embed_tokens when tied).

Creates three tiny Hugging Face folders under OUT/qwen3/ (config.json, safetensors written by hand,
a minimal byte-level tokenizer.json) and, for each, OUT/qwen3_<name>.bin with the batch, the loss
over labelled positions, every gradient, last-position logits and final hidden states:
  A: untied, F32, one file, GQA 4:2, head_dim 12 (H*hd = 48 != hidden 32), spare vocab rows
  B: tied, BF16, one file, H 2 / KV 1, head_dim 16 (32 != hidden 24)
  C: tied, F32, three shards + index, no "model." prefix (Qwen3-Embedding layout), MHA
The batch has a full row, a left-padded row (positions start at 0 at the first real token) and a
right-padded row. Computation in float32 (BF16 weights widened exactly)."""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_refio import save  # noqa: E402

OUT = sys.argv[1]
torch.set_num_threads(1)

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    """256 byte tokens, 4 merges (ids 256..259), added tokens 260..262: 263 ids."""
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("a", "b")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    added = []
    for i, tok in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]):
        added.append({"id": 260 + i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Isolated", "invert": False}, bl]},
        "post_processor": bl, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [list(m) for m in merges]},
    }


def st_bytes(tensors, dtype):
    """safetensors image of {name: float32 tensor} stored as F32 or BF16, in the given order."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if dtype == "BF16":
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        else:
            raw = t.float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, theta):
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, :, None, :], emb.sin()[:, :, None, :]
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def forward(P, cfg, ids, pos, key_valid):
    B, T = ids.shape
    C, H, KV, hd, eps, theta = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
                                cfg["head_dim"], cfg["rms_norm_eps"], cfg["rope_theta"])
    x = P["model.embed_tokens.weight"][ids.long()]
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & key_valid.bool()[:, None, None, :]
    row_ok = allowed.any(-1, keepdim=True)
    for layer in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % layer
        h1 = rms(x, P[pre + "input_layernorm.weight"], eps)
        q = (h1 @ P[pre + "self_attn.q_proj.weight"].t()).view(B, T, H, hd)
        k = (h1 @ P[pre + "self_attn.k_proj.weight"].t()).view(B, T, KV, hd)
        v = (h1 @ P[pre + "self_attn.v_proj.weight"].t()).view(B, T, KV, hd)
        q = rope(rms(q, P[pre + "self_attn.q_norm.weight"], eps), pos, theta).transpose(1, 2)
        k = rope(rms(k, P[pre + "self_attn.k_norm.weight"], eps), pos, theta).transpose(1, 2)
        v = v.transpose(1, 2)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        # a query with no valid key (left padding) outputs 0, as the engine does (PyTorch: NaN)
        s = torch.where(row_ok, s.masked_fill(~allowed, float("-inf")), torch.zeros_like(s))
        a = (torch.softmax(s, -1) * row_ok) @ v
        x = x + a.transpose(1, 2).reshape(B, T, H * hd) @ P[pre + "self_attn.o_proj.weight"].t()
        h2 = rms(x, P[pre + "post_attention_layernorm.weight"], eps)
        m = F.silu(h2 @ P[pre + "mlp.gate_proj.weight"].t()) * (h2 @ P[pre + "mlp.up_proj.weight"].t())
        x = x + m @ P[pre + "mlp.down_proj.weight"].t()
    return rms(x, P["model.norm.weight"], eps)


def make_params(cfg, g, bf16):
    C, V, Fh = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    qd, kd, hd = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"], cfg["head_dim"]

    def mat(r, c):
        return torch.randn(r, c, generator=g) * (1.0 / math.sqrt(c))

    def vec(n):
        return 1.0 + torch.randn(n, generator=g) * 0.1
    P = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * 0.5}
    for layer in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % layer
        P[pre + "input_layernorm.weight"] = vec(C)
        P[pre + "self_attn.q_proj.weight"] = mat(qd, C)
        P[pre + "self_attn.k_proj.weight"] = mat(kd, C)
        P[pre + "self_attn.v_proj.weight"] = mat(kd, C)
        P[pre + "self_attn.o_proj.weight"] = mat(C, qd)
        P[pre + "self_attn.q_norm.weight"] = vec(hd)
        P[pre + "self_attn.k_norm.weight"] = vec(hd)
        P[pre + "post_attention_layernorm.weight"] = vec(C)
        P[pre + "mlp.gate_proj.weight"] = mat(Fh, C)
        P[pre + "mlp.up_proj.weight"] = mat(Fh, C)
        P[pre + "mlp.down_proj.weight"] = mat(C, Fh)
    P["model.norm.weight"] = vec(C)
    if not cfg["tie_word_embeddings"]:
        P["lm_head.weight"] = mat(V, C)
    if bf16:
        P = {k: v.to(torch.bfloat16).float() for k, v in P.items()}
    return P


def case(name, cfg, dtype, shards, prefix, seed):
    g = torch.Generator().manual_seed(seed)
    P = make_params(cfg, g, dtype == "BF16")
    folder = os.path.join(OUT, "qwen3", name)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    full = dict(cfg, model_type="qwen3", architectures=["Qwen3ForCausalLM"], hidden_act="silu",
                attention_bias=False, rope_scaling=None, use_sliding_window=False,
                torch_dtype="bfloat16" if dtype == "BF16" else "float32", bos_token_id=None,
                eos_token_id=262, max_position_embeddings=128)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(full, f, indent=2)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    stored = {(k if prefix else k[len("model."):] if k.startswith("model.") else k): v for k, v in P.items()}
    if shards == 1:
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(st_bytes(stored, dtype))
    else:
        names = list(stored.keys())
        per = (len(names) + shards - 1) // shards
        wmap = {}
        for s in range(shards):
            fname = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = {n: stored[n] for n in names[s * per:(s + 1) * per]}
            with open(os.path.join(folder, fname), "wb") as f:
                f.write(st_bytes(part, dtype))
            wmap.update({n: fname for n in part})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": sum(v.numel() * 4 for v in stored.values())}, "weight_map": wmap}, f)

    B, T, V = 3, 7, cfg["vocab_size"]
    ids = torch.randint(0, 263, (B, T), generator=g, dtype=torch.int32)
    key_valid = torch.ones(B, T, dtype=torch.int32)
    pos = torch.arange(T, dtype=torch.int32).repeat(B, 1)
    key_valid[1, :3] = 0            # left padding: 3 pads, positions 0.. from the first real token
    pos[1] = torch.clamp(torch.arange(T) - 3, min=0)
    ids[1, :3] = 260
    key_valid[2, 5:] = 0            # right padding
    ids[2, 5:] = 260
    targets = torch.full((B, T), -100, dtype=torch.int32)
    for b in range(B):
        for t in range(T - 1):
            if key_valid[b, t] and key_valid[b, t + 1]:
                targets[b, t] = ids[b, t + 1]
    targets[0, 2] = -100            # an unlabelled position inside a row
    targets[0, T - 1] = V - 1       # a target among the spare rows

    Pg = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    hid = forward(Pg, cfg, ids, pos, key_valid)
    W = Pg["lm_head.weight"] if "lm_head.weight" in Pg else Pg["model.embed_tokens.weight"]
    loss = F.cross_entropy((hid @ W.t()).reshape(B * T, -1), targets.long().reshape(-1), ignore_index=-100)
    loss.backward()
    last = [T - 1 - int(torch.nonzero(key_valid[b].flip(0))[0]) for b in range(B)]
    last_logits = torch.stack([hid[b, last[b]] for b in range(B)]) @ W.t()
    out = {"ids": ids, "pos": pos, "key_valid": key_valid, "targets": targets, "loss": loss.reshape(1),
           "hidden": hid.detach(), "last_logits": last_logits.detach()}
    for k, v in P.items():
        out["param." + k] = v
        out["grad." + k] = Pg[k].grad
    save(os.path.join(OUT, "qwen3_%s.bin" % name), out)


BASE = {"rms_norm_eps": 1e-6, "rope_theta": 10000.0, "num_hidden_layers": 2}
case("A", dict(BASE, hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
               intermediate_size=40, vocab_size=300, tie_word_embeddings=False), "F32", 1, True, 11)
case("B", dict(BASE, hidden_size=24, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
               intermediate_size=36, vocab_size=280, tie_word_embeddings=True), "BF16", 1, True, 12)
case("C", dict(BASE, hidden_size=32, num_attention_heads=4, num_key_value_heads=4, head_dim=8,
               intermediate_size=48, vocab_size=264, tie_word_embeddings=True), "F32", 3, False, 13)
