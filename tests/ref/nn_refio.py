"""Writer for the tensor files the nn C tests read (tests/nn_ref.c). Imported by tests/ref/nn_*.py;
running it directly (as run_all.sh does with every script) does nothing.

Format, little-endian: b"SDT1", u32 count, then per tensor: u16 name length, name (UTF-8),
u8 dtype (0 float32, 1 int32), u8 ndim, ndim x i64 dims, raw data (row-major)."""
import struct
import sys

import numpy as np


def save(path, tensors):
    with open(path, "wb") as f:
        f.write(b"SDT1")
        f.write(struct.pack("<I", len(tensors)))
        for name, t in tensors.items():
            if hasattr(t, "detach"):
                t = t.detach().cpu().numpy()
            a = np.asarray(t)
            if a.dtype.kind in "iub":
                a, code = np.ascontiguousarray(a, dtype="<i4"), 1
            else:
                a, code = np.ascontiguousarray(a, dtype="<f4"), 0
            nb = name.encode()
            f.write(struct.pack("<H", len(nb)) + nb + struct.pack("<BB", code, a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.tobytes())


if __name__ == "__main__":
    sys.exit(0)
