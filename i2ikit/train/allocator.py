"""Keep freed CPU memory in the process while training on the CPU.

glibc's malloc serves every block above its mmap threshold (128 KiB to 32 MiB, adapting) with a fresh
``mmap`` and gives it back to the kernel on ``free``. A training iteration frees and re-allocates the same
large activations and weight gradients every time, so each iteration pays a page fault per 4 KiB page of
them: DeepI2I at 128 px took 3.5 M minor page faults and 7-9 s of kernel time per 13 s iteration on a 2-core
CPU. Serving large blocks from the heap and never trimming it removes that (DeepI2I 0.19 -> 0.28 img/s, FUNIT
at official widths 5.4 -> 4.8 s per iteration) at the cost of the process keeping its peak memory (about 10%
higher, from fragmentation). Only how memory is obtained changes, never a number computed with it.
"""
from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory", "DISABLE_ENV"]

DISABLE_ENV = "I2IKIT_SYSTEM_MALLOC"  # set to 1 to leave glibc's allocator as it is
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to allocate large blocks from its heap (``M_MMAP_MAX`` 0) and not to return freed
    heap memory to the kernel below 2 GiB of free space at its top (``M_TRIM_THRESHOLD``). Once per process;
    returns whether it applied (False off Linux/glibc, or with ``I2IKIT_SYSTEM_MALLOC=1``)."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get(DISABLE_ENV, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return _done
