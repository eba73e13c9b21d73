"""glibc's allocator, told to keep the memory a layer stream frees for its next chunk.

Reading a layer allocates and frees a few chunks of a quarter MiB each, thousands of
times a gigabyte (inflated data, hashed on another thread while the next one is made).
glibc's default thresholds adapt to such sizes by giving freed memory back to the
kernel whenever the top of the heap is free, and every next chunk then faults its pages
in again: on a 4 GB pull, 300,000 page faults and about 0.8 CPU-second of the kernel's
time. Fixed thresholds (which also stop their adapting) keep that memory in the
process: 25,000 faults, the same peak memory. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import sys

#: mallopt's parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: free memory at the heap's top kept rather than given back
TRIM_THRESHOLD = 32 * 1024 * 1024
#: allocations this large and larger are mapped on their own: larger than any copy a
#: file is spooled to in memory (``tempfiles``: 16 MiB), which the heap serves again and
#: again (a lower threshold had every such copy fault its pages in: 55,000 faults on the
#: largest corpus image's cold scan became 93,000; with this one, 47,000)
MMAP_THRESHOLD = 16 * 1024 * 1024

_done = False


def keep_freed_memory() -> None:
    """Set the thresholds, once per process (a forked worker inherits them)."""
    global _done
    if _done:
        return
    _done = True
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc, or no symbol of that name
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
