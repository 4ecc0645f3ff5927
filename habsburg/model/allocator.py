"""The C allocator during a run with its store on disk: freed memory kept for the run's next
allocations instead of handed back to the kernel and faulted in again.

glibc's ``malloc`` serves every block larger than its mmap threshold (at most 32 MiB) with a
fresh ``mmap`` and returns it with ``munmap`` when it is freed, and it trims the top of its heap
once more than its trim threshold is free there. A month of ``scaled(baseline, 100)`` allocates
and frees arrays of tens to hundreds of MB (a month's claims, crawls, training sets), so every
one of them was zeroed and faulted in again by the kernel, page by page: measured on that run
(2026-12-06, Python 3.11, one run after the other), 177 of its 804 CPU s were the kernel's, with
43.8 M page faults; with glibc told to serve every block from its heap and never trim it
(``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...``, what :func:`keep_freed_memory` sets with
``mallopt``) 92 of 720 CPU s and 1.0 M page faults, and writing the results took 53 CPU s
instead of 80, with the same documents, draws and results; the process's anonymous memory
peaked at 1.98 GiB instead of 1.60 (the heap keeps its high-water mark until the run ends). In
memory (``scaled(baseline, 10)``: a month's arrays under 32 MiB, which glibc's own adjustment
already serves from the heap) the kernel's part is ~2 of ~65 CPU s, so only runs with the store
on disk use it.

The heap is kept for the whole run, not given back between months: giving its free pages back
at each month's start (``malloc_trim`` before every month, measured on the same run in a fast
hour, 2026-12-06, one run after the other) took 530.6 CPU s instead of 476.8, 86.5 in the
kernel instead of 43.8, with 17.0 M page faults instead of 1.1 M, and its anonymous memory
still peaked at 1.90 GiB (1.95 kept): the peak is a month's own working set, not months of
freed memory piled up.

Where the C library is not glibc (musl, macOS) there is no ``mallopt`` to call and the context
does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

from habsburg.model.export import libc_function, trim_heap

# mallopt's parameters (glibc's <malloc.h>)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4

#: inside the context: no block from ``mmap`` (all from the heap), and the heap never trimmed
#: (``mallopt(M_TRIM_THRESHOLD, -1)``: "disables trimming completely", mallopt(3))
KEEP = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))
#: after it: glibc's default count of mmapped blocks, and the thresholds where glibc's own
#: dynamic adjustment leaves them once a block of 32 MiB or more has been freed (an mmap
#: threshold of 32 MiB, a trim threshold of twice that), which any run large enough to keep its
#: store on disk has done. Any ``mallopt`` turns that adjustment off for good, and glibc has no
#: call that reads the settings back, so these are set rather than the ones before the context.
AFTER = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 64 * 2**20))

#: how deep in the context this process is, and whether its outermost use told the allocator
_state = {"depth": 0, "told": False}


def _set(settings: tuple[tuple[int, int], ...]) -> bool:
    mallopt = libc_function("mallopt", ctypes.c_int, ctypes.c_int)
    if mallopt is None:
        return False
    return all(mallopt(param, value) == 1 for param, value in settings)


@contextlib.contextmanager
def keep_freed_memory(keep: bool = True) -> Iterator[bool]:
    """A context in which glibc's allocator serves every block from its heap and keeps what is
    freed there for the next allocations (no ``mmap``/``munmap`` of large blocks, no trimming);
    after it, the settings of :data:`AFTER` and the heap's free memory given back to the system
    (``malloc_trim``), also after an error. Yields whether the allocator was told (False where
    the C library has no ``mallopt``). Nested uses are the outermost one's. With ``keep`` False
    it does nothing and yields False (``keep_freed_memory(store_dir is not None)``: only runs
    with their store on disk use it)."""
    if not keep:
        yield False
        return
    if _state["depth"]:
        _state["depth"] += 1
        try:
            yield bool(_state["told"])
        finally:
            _state["depth"] -= 1
        return
    told = _set(KEEP)
    _state.update(depth=1, told=told)
    try:
        yield told
    finally:
        _state.update(depth=0, told=False)
        if told:
            _set(AFTER)
            trim_heap()
