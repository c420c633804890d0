"""Keep freed host memory in the process during CPU training (glibc malloc settings).

glibc serves every allocation above 32 MB with a fresh mmap and unmaps it when freed, so each
large tensor of a PPO update (a 32k-sample minibatch of per-asset head activations is ~130 MB)
page-faults its memory in again: on a 2-core CPU the v7_transformer preset spent more time in
the kernel than in the network (4,498 env steps/s, 205 s of system time in 416 s of CPU).
With mmap off and a high trim threshold, freed blocks stay in the heap and are reused: 7,173
env steps/s and 7 s of system time (`python -m ploutos.bench train --models transformer`).
The price is that the process keeps its peak memory until it exits, as PyTorch's caching
allocators do on GPUs and as the jemalloc/tcmalloc advice of PyTorch's CPU tuning guide does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# The largest value mallopt accepts (an int): free memory above 2 GB at the top of the heap
# is still given back.
TRIM_THRESHOLD_BYTES = 2**31 - 1


def keep_freed_memory() -> bool:
    """Apply the settings above for the rest of the process; False where they do not apply
    (not Linux, or a C library without mallopt, such as musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
