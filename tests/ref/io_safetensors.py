"""safetensors references, written byte by byte (the `safetensors` package is not installed), with
PyTorch doing the float conversions the C code must match.

  io_safetensors.py OUTDIR          write OUTDIR/io_st_conv.safetensors and OUTDIR/io_st_sharded/
  io_safetensors.py --check FILE    validate a file the C writer produced (HF rules) and check its
                                    BF16/F16 tensors against torch's conversion of the F32 source
  io_safetensors.py --check-index INDEX   the same for every shard of a sharded set + the index
"""
import json
import os
import struct
import sys

import numpy as np

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}


def st_write(path, tensors, meta=None):
    """tensors: list of (name, dtype, shape, bytes), written in that order."""
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    off = 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, data in tensors:
            f.write(data)


def st_read(path):
    """Strict reader following the Hugging Face validation rules."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    assert n <= 100_000_000 and 8 + n <= len(b), "bad header length"
    assert n % 8 == 0, "header not padded to 8 bytes"
    assert b[8:9] == b"{", "header must start with {"
    header = json.loads(b[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values()), "metadata values must be strings"
    items = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    pos, out = 0, {}
    for name, info in items:
        begin, end = info["data_offsets"]
        numel = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        assert begin == pos, f"{name}: offsets not contiguous"
        assert end - begin == numel * SIZES[info["dtype"]], f"{name}: size mismatch"
        assert begin % SIZES[info["dtype"]] == 0, f"{name}: not aligned"
        out[name] = (info["dtype"], info["shape"], b[8 + n + begin:8 + n + end])
        pos = end
    assert 8 + n + pos == len(b), "data region not fully covered"
    return out, meta


def to_torch(dt, shape, data):
    import torch
    if dt == "BF16":
        return torch.from_numpy(np.frombuffer(data, "<i2").copy()).view(torch.bfloat16).reshape(shape)
    npdt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}[dt]
    return torch.from_numpy(np.frombuffer(data, npdt).copy()).reshape(shape)


def source_values():
    """F32 inputs that exercise rounding: specials, F16/BF16 limits and exact halfway cases,
    subnormals of both formats, random values over a wide exponent range, random bit patterns."""
    rng = np.random.default_rng(1234)
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 65504.0, 65519.996, 65520.0,
                        65536.0, -65520.0, 2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0000001,
                        3 * 2.0 ** -26, 2.0 ** -26, 6.1e-5, 1 / 3, np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, 1e-45, 3.3895314e38, 3.4e38], dtype=np.float32)
    # halfway patterns: BF16 (low 16 bits 0x8000) and F16 (low 13 bits 0x1000), even and odd
    base = rng.integers(0x30000000, 0x47000000, 200, dtype=np.uint32)
    halves = np.concatenate([(base & 0xFFFF0000) | 0x8000, (base & 0xFFFF0000) | 0x18000,
                             (base & 0xFFFFE000) | 0x1000, (base & 0xFFFFC000) | 0x3000]).astype(np.uint32)
    wide = (rng.standard_normal(20000) * np.exp2(rng.integers(-30, 20, 20000))).astype(np.float32)
    bits = rng.integers(0, 2 ** 32, 20000, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([special, halves.view(np.float32), wide, bits.view(np.float32)])


def generate(out):
    import torch
    src = source_values()
    t = torch.from_numpy(src.copy())
    bf = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    hf = t.to(torch.float16).numpy().tobytes()
    all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    f16_all = torch.from_numpy(all16.view(np.float16).copy()).float().numpy()
    bf16_all = torch.from_numpy(all16.view(np.int16).copy()).view(torch.bfloat16).float().numpy()
    tensors = [
        ("src", "F32", [len(src)], src.tobytes()),
        ("src_bf16", "BF16", [len(src)], bf),
        ("src_f16", "F16", [len(src)], hf),
        ("all_f16", "F16", [256, 256], all16.tobytes()),
        ("all_f16_as_f32", "F32", [256, 256], f16_all.tobytes()),
        ("all_bf16", "BF16", [65536], all16.tobytes()),
        ("all_bf16_as_f32", "F32", [65536], bf16_all.tobytes()),
        ("ids", "I64", [3], np.array([3, -1, 2 ** 40], dtype="<i8").tobytes()),
        ("mask", "U8", [2, 2], bytes([0, 1, 1, 0])),
        ("scalar", "F32", [], np.array([2.5], dtype="<f4").tobytes()),
        ("empty", "F32", [0, 4], b""),
    ]
    st_write(os.path.join(out, "io_st_conv.safetensors"), tensors, {"format": "pt", "note": "reference"})

    shard_dir = os.path.join(out, "io_st_sharded")
    os.makedirs(shard_dir, exist_ok=True)
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = (np.arange(6, dtype=np.float32) - 2.5).reshape(6)
    c = np.array([[1.5, -2.0]], dtype=np.float32)
    bfc = torch.from_numpy(c.copy()).to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    st_write(os.path.join(shard_dir, "model-00001-of-00002.safetensors"),
             [("layer.a", "F32", [3, 4], a.tobytes()), ("layer.b", "F32", [6], b.tobytes())], {"format": "pt"})
    st_write(os.path.join(shard_dir, "model-00002-of-00002.safetensors"),
             [("head.c", "BF16", [1, 2], bfc)], {"format": "pt"})
    index = {"metadata": {"total_size": 48 + 24 + 4},
             "weight_map": {"layer.a": "model-00001-of-00002.safetensors",
                            "layer.b": "model-00001-of-00002.safetensors",
                            "head.c": "model-00002-of-00002.safetensors"}}
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def check_file(path):
    """Files from the C test: 'ramp' [4,5] = i*0.5-3; for every F32 tensor X with X.bf16 / X.f16
    companions, the companions equal torch's conversion bit for bit (NaN: any NaN)."""
    import torch
    tensors, meta = st_read(path)
    n_checked = 0
    for name, (dt, shape, data) in tensors.items():
        if name == "ramp":
            want = (np.arange(20, dtype=np.float32) * 0.5 - 3).reshape(4, 5)
            got = to_torch(dt, shape, data).float().numpy()
            assert np.array_equal(got, want), "ramp differs"
            n_checked += 1
        if name == "ids":
            assert to_torch(dt, shape, data).tolist() == [7, -2, 2 ** 40], "ids differ"
            n_checked += 1
        for suffix, tdt in ((".bf16", torch.bfloat16), (".f16", torch.float16)):
            if not name.endswith(suffix):
                continue
            sdt, sshape, sdata = tensors[name[:-len(suffix)]]
            assert sdt == "F32" and sshape == shape
            want = to_torch(sdt, sshape, sdata).to(tdt)
            got = to_torch(dt, shape, data)
            both_nan = torch.isnan(want.float()) & torch.isnan(got.float())
            same = (want.view(torch.int16) == got.view(torch.int16)) | both_nan
            assert bool(same.all()), f"{name}: {int((~same).sum())} values differ from torch"
            n_checked += 1
    return n_checked, meta


def main():
    if sys.argv[1] == "--check":
        n, meta = check_file(sys.argv[2])
        print(f"OK {n} checked, metadata {json.dumps(meta, sort_keys=True)}")
    elif sys.argv[1] == "--check-index":
        index = json.load(open(sys.argv[2]))
        folder = os.path.dirname(sys.argv[2])
        total, names = 0, {}
        for shard in sorted(set(index["weight_map"].values())):
            tensors, _ = st_read(os.path.join(folder, shard))
            for name, (dt, shape, data) in tensors.items():
                names[name] = shard
                total += len(data)
            check_file(os.path.join(folder, shard))
        assert names == index["weight_map"], "weight_map does not match the shards"
        assert index["metadata"]["total_size"] == total, "total_size"
        print(f"OK {len(names)} tensors in {len(set(names.values()))} shards")
    else:
        generate(sys.argv[1])


if __name__ == "__main__":
    main()
