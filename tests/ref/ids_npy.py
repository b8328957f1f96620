"""Reference .npy files written by numpy itself, for the embedding-file reader tests."""
import os
import sys

import numpy as np

out = sys.argv[1]
x = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) * 0.25
np.save(os.path.join(out, "ids_f4.npy"), x)
np.save(os.path.join(out, "ids_f2.npy"), x.astype(np.float16))
np.save(os.path.join(out, "ids_f8.npy"), x.astype(np.float64))
np.save(os.path.join(out, "ids_fortran.npy"), np.asfortranarray(np.ones((3, 4), dtype=np.float32)))
np.save(os.path.join(out, "ids_3d.npy"), np.zeros((2, 2, 2), dtype=np.float32))
