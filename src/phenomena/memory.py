"""Keep freed heap memory in the process for reuse (glibc's malloc) instead of handing it back to the kernel.

PyTorch's CPU allocator takes every tensor from ``malloc``. With glibc's defaults, a block above the mmap
threshold (128 KiB at first, adjusted upward to at most 32 MiB) is mapped fresh and unmapped when freed, and the
top of the heap is trimmed once 128 KiB there are free. A training loop that allocates and frees the same large
activations every step then pays for fresh zero-filled pages every time: page faults and system time, in some
catalog entries millions of faults per run. :func:`retain_freed_memory` raises the three thresholds, so freed
blocks stay in the heap and the next step reuses them; the process's resident memory then stays near its peak
instead of falling between steps.

It is called where phenomena owns the process: the CLI, and the workers of its process pools. A library import
changes nothing.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1  # free memory at the top of the heap kept before it is returned to the kernel
M_TOP_PAD = -2  # extra memory requested each time the heap grows
M_MMAP_THRESHOLD = -3  # blocks at least this large are mapped on their own (and unmapped when freed)

_KEEP = 2**31 - 1  # the largest value mallopt takes (an int): never trim, never map a block on its own
_PAD = 64 << 20


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; returns whether it took every setting.

    A no-op (False) off Linux and where the C library has no ``mallopt`` or refuses the values.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, _KEEP), (M_TRIM_THRESHOLD, _KEEP), (M_TOP_PAD, _PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
