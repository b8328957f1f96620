"""The OpenBLAS core (kernel set) the PyTorch baselines run on. Debian's torch calls BLAS through
libblas.so.3, which is OpenBLAS's own thin wrapper over libopenblas.so.0: the same library and the
same kernels as semid, chosen from the same OPENBLAS_CORETYPE that semid's start-up passes down."""
import ctypes


def openblas_core():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def print_core():
    print("TORCH_BLAS_CORE %s" % openblas_core(), flush=True)
