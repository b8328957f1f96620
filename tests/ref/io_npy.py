"""Reference .npy files written by numpy, and a checker for files the C writer produced.

  io_npy.py OUTDIR                  write OUTDIR/io_npy/*.npy
  io_npy.py --check FILE            np.load a C-written file and compare it with the expected
                                    values (named by the file: ramp, ids or half)
"""
import os
import sys

import numpy as np


def ramp(n=12):
    return np.arange(n, dtype=np.float32) * 0.25 - 1


HALF = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, np.inf, -np.inf, 6.1e-5, 5.96e-8, 1e-3], dtype=np.float16)


def generate(out):
    d = os.path.join(out, "io_npy")
    os.makedirs(d, exist_ok=True)
    save = lambda name, a: np.save(os.path.join(d, name), a, allow_pickle=False)
    save("f32", ramp().reshape(3, 4))
    save("f16", HALF)
    save("f16_as_f32", HALF.astype(np.float32))
    save("f64", np.arange(5, dtype=np.float64) / 3)
    save("i32", np.array([1, -2, 3, 2 ** 31 - 1], dtype=np.int32))
    save("i64", np.array([0, -1, 2 ** 40], dtype=np.int64))
    save("u8", np.array([[0, 255, 7]], dtype=np.uint8))
    save("bool", np.array([True, False, True]))
    save("be_f4", ramp().reshape(3, 4).astype(">f4"))
    save("be_i8", np.array([5, -6], dtype=">i8"))
    save("fortran", np.asfortranarray(ramp().reshape(3, 4)))
    save("scalar", np.array(3.5, dtype=np.float32))
    save("empty", np.zeros((0, 5), dtype=np.float32))
    save("structured", np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
    save("complex", np.zeros(2, dtype=np.complex64))
    for v in ((2, 0), (3, 0)):
        with open(os.path.join(d, f"v{v[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, ramp().reshape(3, 4), version=v)
    # what the C writer must reproduce byte for byte
    save("w_2d", ramp().reshape(3, 4))
    save("w_1d", ramp(7))
    save("w_0d", np.array(3.5, dtype=np.float32))
    save("w_big", np.zeros((123456789012, 0), dtype=np.float32))
    save("w_i64", np.array([0, -1, 2 ** 40], dtype=np.int64))
    save("w_f16", HALF)
    save("w_u8_3d", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def check(path):
    a = np.load(path, allow_pickle=False)
    name = os.path.basename(path)
    if name.startswith("ramp"):
        want = ramp(a.size).reshape(a.shape)
    elif name.startswith("ids"):
        want = np.array([0, -1, 2 ** 40], dtype=np.int64)
    elif name.startswith("half"):
        want = HALF
    else:
        raise SystemExit(f"unknown check {name}")
    assert a.dtype == want.dtype, (a.dtype, want.dtype)
    assert a.shape == want.shape and np.array_equal(a, want), "values differ"
    print(f"OK {name} {a.dtype} {a.shape}")


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        generate(sys.argv[1])
