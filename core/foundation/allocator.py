"""Give freed memory back to the operating system, so a run's resident size follows what it really holds.

glibc's malloc serves a request above its mmap threshold with a fresh mapping and unmaps it on free; below the
threshold it carves the request out of a heap that it rarely shrinks. The threshold is dynamic by default: each
time a mapped block is freed it rises to that block's size (up to 32 MiB on 64-bit systems). A training step
allocates and frees thousands of 1-30 MiB tensors of slightly different sizes, so after the first few frees they
all land on the heap, fragment it, and the process keeps gigabytes it no longer uses. On SmolLM2-135M, one GRPO
step of the default job peaked at 3.9 GB resident with the dynamic threshold and at 1.9 GB with a fixed 1 MiB one,
with bit-identical results (``benchmarks/memory_peak.py``): where memory comes from does not change any value.

Setting the threshold with ``mallopt`` also switches the dynamic adjustment off. Environment variables
(``MALLOC_MMAP_THRESHOLD_``) would do the same but must be set before the interpreter starts, which a library
cannot ask of its users. Other C libraries (musl, macOS) have no ``mallopt``; there this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: ``M_TRIM_THRESHOLD`` and ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Requests of at least this size get their own mapping, returned to the system when freed.
MMAP_THRESHOLD_BYTES = 1024 * 1024


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@functools.lru_cache(maxsize=1)
def return_freed_memory(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds at ``threshold_bytes`` for this process; False where there is no glibc.

    Called once when a run starts; later calls are free. Only where memory lives changes, never a value.
    """
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes))


def trim() -> bool:
    """Return the free memory at the top of malloc's heaps to the system now (``malloc_trim``); False without glibc."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
