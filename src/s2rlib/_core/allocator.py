"""Keep freed memory in the process for reuse (glibc), instead of handing it back after every step.

A 512-wide ensemble of 60 members has 63 MB weight matrices. glibc serves every allocation above its
mmap threshold (at most 32 MB) with a fresh ``mmap`` and returns it with ``munmap`` when freed, so
each gradient, Adam temporary and activation of that size is page-faulted in again on every step:
on the 2-core machine that was half the time of a fine-tuning step (``benchmarks/bench_step.py``
measures it side by side). :func:`keep_freed_memory` turns that off for this process with
``mallopt``: large blocks come from the heap and freed ones stay there for the next step. The
numbers computed are unchanged; only where the memory comes from. Elsewhere than glibc Linux it
does nothing. Freed memory stays with the process (up to 2 GiB is kept before any is trimmed), so
its resident size stays at its peak.

glibc's own default adapts: after a freed ``mmap`` block its threshold rises to that block's size
(at most 32 MB), so blocks up to 32 MB are then reused; blocks above 32 MB never are. Any
``mallopt`` call switches that adaptation off for good, so ``keep_freed_memory(False)`` sets glibc's
*initial* fixed values (128 KiB thresholds), not the adaptive default; only a fresh process has that
(``benchmarks/bench_step.py`` times "before" in one).
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


_state: dict[str, bool] = {}  # the setting this process last made (mallopt is not thread-safe: set it once)


def keep_freed_memory(on: bool = True) -> bool:
    """Serve large blocks from the heap and keep freed memory (``on``), or go back to glibc's initial
    fixed thresholds (``on=False``; see the module's note: not the adaptive default).

    Returns whether the setting is in effect (False where the C library is not glibc). A repeated
    call with the setting already made calls nothing.
    """
    libc = _libc()
    if libc is None:
        return False
    if _state.get("on") is on:
        return True
    mmap_max, trim = (0, 2**31 - 1) if on else (_DEFAULT_MMAP_MAX, _DEFAULT_TRIM_THRESHOLD)
    ok = bool(libc.mallopt(_M_MMAP_MAX, mmap_max)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim))
    if ok:
        _state["on"] = on
    return ok


def mmapped_blocks() -> int | None:
    """How many blocks glibc now serves by ``mmap`` (``mallinfo2().hblks``); None where unknown."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                          "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = _Mallinfo2
    return int(libc.mallinfo2().hblks)
