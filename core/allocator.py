"""The C allocator's habits under tensor work (glibc, Linux).

glibc serves blocks over its mmap threshold (32 MiB at most) with fresh mmap()s and unmaps them on free,
so every large activation is faulted in again page by page on the next operation: a 1024 px forward pass
of the fast style network took 1.2 million minor page faults. Jobs run on worker threads, which get
arenas of their own that trim the same way. `keep_freed_memory` serves everything from one heap and keeps
up to TRIM_THRESHOLD of freed memory for reuse; `release_freed_memory` hands what a finished job freed
back to the system, so an idle window does not sit on a stylization's peak. benchmarks/allocator.py
measures both settings side by side.
"""

import ctypes
import ctypes.util
import sys
from functools import cache

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
TRIM_THRESHOLD = 1 << 30  # freed memory kept at the heap's top before it is given back


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - musl and others have no mallopt
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Keep freed tensor memory for reuse (call at start-up, before worker threads exist); whether this
    C library took the setting."""
    libc = _glibc()
    if libc is None:
        return False
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_ARENA_MAX, 1))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


def release_freed_memory() -> None:
    """Give the memory freed so far back to the system (after a job)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
