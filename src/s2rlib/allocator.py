"""Keep freed memory in the process for reuse (glibc), instead of handing it back after every step.

A 512-wide ensemble of 60 members has 63 MB weight matrices. glibc serves every allocation above its
mmap threshold (at most 32 MB) with a fresh ``mmap`` and returns it with ``munmap`` when freed, so
each gradient, Adam temporary and activation of that size is page-faulted in again on every step:
on the 2-core machine that was half the time of a fine-tuning step (``benchmarks/bench_step.py``
measures it side by side). :func:`keep_freed_memory` turns that off for this process with
``mallopt``: large blocks come from the heap and freed ones stay there for the next step. The
numbers computed are unchanged; only where the memory comes from. Elsewhere than glibc Linux it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
_DEFAULT_TRIM_THRESHOLD = 128 * 1024


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def keep_freed_memory(on: bool = True) -> bool:
    """Serve large blocks from the heap and keep freed memory (``on``), or restore glibc's defaults.

    Returns whether the setting took effect (False where the C library is not glibc).
    """
    libc = _libc()
    if libc is None:
        return False
    mmap_max, trim = (0, 2**31 - 1) if on else (_DEFAULT_MMAP_MAX, _DEFAULT_TRIM_THRESHOLD)
    return bool(libc.mallopt(_M_MMAP_MAX, mmap_max)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim))
