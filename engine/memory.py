"""Freed tensor memory stays in the process for the next batch instead of going back to the OS.

Training allocates the same large buffers every batch. By default glibc serves large blocks with
fresh mmaps and returns freed heap tops to the OS, so every batch pays for page faults on new zeroed
pages: on a 2-core VM an epoch of `small` textures took 1.57 s, 4.8 s of it in the kernel over 5
epochs, and 1.01 s once freed memory is kept (`python bench/freed_memory.py`, docs/benchmarks.md).
The process keeps its peak heap instead, which training reaches anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, and this much free heap top is kept.
KEEP_BYTES = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Ask the C allocator to keep freed blocks for reuse (once per process); False where it is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES))
