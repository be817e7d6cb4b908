"""``retain_freed_memory``: after it, a large block comes from the heap instead of a mapping of its own, and
freeing it keeps its memory in the process; checked with glibc's own accounting (``mallinfo2``) in a fresh
interpreter, so this test process keeps its defaults."""

import subprocess
import sys

import pytest

PROBE = r"""
import ctypes
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_void_p,)
SIZE = 64 << 20
def cycle():
    # mapped blocks while a 64 MiB block is held, and free heap bytes once it is freed
    base = libc.mallinfo2().hblks
    p = libc.malloc(SIZE)
    mapped = libc.mallinfo2().hblks - base
    libc.free(p)
    return mapped, libc.mallinfo2().fordblks >= SIZE
before = cycle()
from phenomena.memory import retain_freed_memory
took = retain_freed_memory()
print(before, took, cycle())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_stays_in_the_heap_for_reuse():
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2  # noqa: B018 (glibc >= 2.33)
    except AttributeError:
        pytest.skip("not glibc >= 2.33")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(1, False) True (0, True)"
