#!/usr/bin/python3
"""GGUF seeds for tests/fuzz/fuzz_gguf.c, written independently of semid's writer (called by
make_seeds.sh with the output folder): a tiny model in llama.cpp's qwen3 layout with a byte-level
tokenizer (f32, f16 and q8_0 tensors, tied and untied), and a small file using every value type."""
import os, struct, sys
import numpy as np

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q",
       I64: "<q", F64: "<d"}
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    if t == STR:
        return s(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
    return struct.pack(FMT[t], v)


def q8_0(x):
    blocks = x.reshape(-1, 32).astype(np.float32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d)
    q = np.sign(blocks * inv) * np.floor(np.abs(blocks * inv) + np.float32(0.5))
    return np.concatenate([d.astype("<f2").view(np.uint8), q.astype(np.int8).view(np.uint8)], axis=1).tobytes()


def gguf(path, kvs, tensors):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + struct.pack("<I", t) + value(t, v)
    data, infos = b"", b""
    for name, arr, ty in tensors:
        raw = arr.astype("<f4").tobytes() if ty == GGML_F32 else arr.astype("<f2").tobytes() if ty == GGML_F16 else q8_0(arr)
        ne = list(reversed(arr.shape))
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<IQ", ty, len(data))
        data += raw + b"\0" * (-len(raw) % 32)
    out += infos
    out += b"\0" * (-len(out) % 32)
    open(path, "wb").write(out + data)


def byte_chars():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def model(path, tied, mat_type, seed):
    bc = byte_chars()
    toks = [bc[b] for b in range(256)]
    merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("i", "n")]
    toks += [a + b for a, b in merges]
    types = [1] * len(toks)
    for t, ty in (("<|endoftext|>", 3), ("<|im_end|>", 3), ("<|sid_0|>", 3), ("<think>", 4)):
        toks.append(t); types.append(ty)
    V, C, F, H, hd = len(toks) + 2, 32, 32, 1, 32  # two unused rows
    toks += [f"[PAD{V - 2}]", f"[PAD{V - 1}]"]; types += [5, 5]
    r = np.random.RandomState(seed)
    w = lambda *sh: (r.randn(*sh) * 0.1).astype(np.float32)
    ts = [("token_embd.weight", w(V, C), GGML_F16)]
    for n, sh in (("attn_norm", (C,)), ("attn_q", (H * hd, C)), ("attn_k", (hd, C)), ("attn_v", (hd, C)),
                  ("attn_output", (C, H * hd)), ("attn_q_norm", (hd,)), ("attn_k_norm", (hd,)), ("ffn_norm", (C,)),
                  ("ffn_gate", (F, C)), ("ffn_up", (F, C)), ("ffn_down", (C, F))):
        ts.append((f"blk.0.{n}.weight", np.ones(sh, np.float32) if len(sh) == 1 else w(*sh),
                   GGML_F32 if len(sh) == 1 else mat_type))
    ts.append(("output_norm.weight", np.ones(C, np.float32), GGML_F32))
    if not tied:
        ts.append(("output.weight", w(V, C), mat_type))
    kvs = [("general.architecture", STR, "qwen3"), ("general.name", STR, "seed"), ("general.alignment", U32, 32),
           ("qwen3.block_count", U32, 1), ("qwen3.context_length", U32, 64), ("qwen3.embedding_length", U32, C),
           ("qwen3.feed_forward_length", U32, F), ("qwen3.attention.head_count", U32, H),
           ("qwen3.attention.head_count_kv", U32, 1), ("qwen3.rope.freq_base", F32, 1e6),
           ("qwen3.attention.layer_norm_rms_epsilon", F32, 1e-6), ("qwen3.attention.key_length", U32, hd),
           ("qwen3.attention.value_length", U32, hd), ("general.file_type", U32, 7 if mat_type == GGML_Q8_0 else 1),
           ("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.pre", STR, "qwen2"),
           ("tokenizer.ggml.tokens", ARR, (STR, toks)), ("tokenizer.ggml.token_type", ARR, (I32, types)),
           ("tokenizer.ggml.merges", ARR, (STR, [a + " " + b for a, b in merges])),
           ("tokenizer.ggml.eos_token_id", U32, toks.index("<|im_end|>")),
           ("tokenizer.ggml.padding_token_id", U32, toks.index("<|endoftext|>")),
           ("tokenizer.ggml.add_bos_token", BOOL, False),
           ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}")]
    gguf(path, kvs, ts)


def every_type(path):
    kvs = [("u8", U8, 1), ("i8", I8, -1), ("u16", U16, 2), ("i16", I16, -2), ("u32", U32, 3), ("i32", I32, -3),
           ("f32", F32, 0.5), ("bool", BOOL, True), ("str", STR, "caf\u00e9"), ("u64", U64, 2**40), ("i64", I64, -2**40),
           ("f64", F64, 0.25), ("arr.i16", ARR, (I16, [1, -2, 3])), ("arr.str", ARR, (STR, ["a", "", "bc"])),
           ("arr.empty", ARR, (F32, [])), ("general.alignment", U32, 64)]
    t = np.arange(64, dtype=np.float32).reshape(2, 32)
    out = b"GGUF" + struct.pack("<IQQ", 3, 2, len(kvs))
    for k, ty, v in kvs:
        out += s(k) + struct.pack("<I", ty) + value(ty, v)
    out += s("a") + struct.pack("<IQQIQ", 2, 32, 2, GGML_F32, 0)
    out += s("b") + struct.pack("<IQQIQ", 2, 32, 2, GGML_Q8_0, 256)
    out += b"\0" * (-len(out) % 64)
    open(path, "wb").write(out + t.tobytes() + b"\0" * 0 + q8_0(t))


if __name__ == "__main__":
    C = sys.argv[1]
    os.makedirs(C, exist_ok=True)
    model(f"{C}/qwen3_tied_q8_0", True, GGML_Q8_0, 1)
    model(f"{C}/qwen3_untied_f16", False, GGML_F16, 2)
    every_type(f"{C}/every_type")
