"""keep_freed_memory: what glibc's allocator does inside and after the context, read back from
glibc itself (``mallinfo2``), and which runs use it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import numpy as np
import pytest
from tinyscenario import tiny_scenario
from tracing import resident

from habsburg.experiments import run as run_module
from habsburg.model import allocator
from habsburg.model.allocator import keep_freed_memory
from habsburg.model.export import libc_function

BLOCK = 64 * 2**20  # above any mmap threshold glibc sets itself (at most 32 MiB)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        )
    ]


def _mallinfo2():
    try:
        call = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    call.restype = _MallInfo2
    return call


MALLINFO2 = _mallinfo2()
glibc = pytest.mark.skipif(
    MALLINFO2 is None or libc_function("mallopt", ctypes.c_int, ctypes.c_int) is None,
    reason="glibc's mallopt and mallinfo2 (>= 2.33) are what is tested",
)


def mapped_blocks() -> int:
    """Blocks glibc serves with their own mmap right now."""
    return MALLINFO2().hblks


def free_in_heap() -> int:
    """Bytes free in glibc's heaps, kept for the next allocations."""
    return MALLINFO2().fordblks


def beyond_the_heap() -> int:
    """A size no free space in glibc's heaps can hold (what earlier tests freed there may be
    free chunks anywhere in them), so glibc must map it, or grow a heap where mapping is off."""
    return free_in_heap() + BLOCK


def allocate_and_free(nbytes: int = BLOCK) -> tuple[int, int]:
    """(blocks mmapped while an array of ``nbytes`` lives, bytes free in the heap after it)."""
    before = mapped_blocks()
    a = np.ones(nbytes // 8)
    mapped = mapped_blocks() - before
    del a
    return mapped, free_in_heap()


@glibc
def test_inside_large_blocks_come_from_the_heap_and_stay_there_when_freed():
    with keep_freed_memory() as told:
        assert told
        mapped, free = allocate_and_free()
        assert mapped == 0  # not its own mmap
        assert free >= BLOCK  # kept, not trimmed
        # and the next one reuses it: the heap does not grow
        arena = MALLINFO2().arena
        allocate_and_free()
        assert MALLINFO2().arena == arena


@glibc
def test_after_it_large_blocks_are_mapped_again_and_the_heap_is_given_back():
    with keep_freed_memory():
        allocate_and_free()  # (its pages written, then kept)
        kept = resident("RssAnon")
    # malloc_trim gave the kept block back (the top of the heap, or the pages of a free chunk
    # in its middle: glibc still counts those as free, so RssAnon is what tells)
    assert kept - resident("RssAnon") >= BLOCK * 3 // 4
    mapped, _ = allocate_and_free(beyond_the_heap())
    assert mapped == 1  # glibc's usual way for a block over its mmap threshold
    # below the threshold AFTER sets (32 MiB) a block comes from the heap, as glibc's own
    # adjustment would serve it after a large run
    mapped, _ = allocate_and_free(16 * 2**20)
    assert mapped == 0


@glibc
def test_an_error_inside_still_restores_and_nested_uses_are_the_outermost_ones():
    with pytest.raises(RuntimeError), keep_freed_memory():
        raise RuntimeError("stop")
    assert allocate_and_free(beyond_the_heap())[0] == 1
    with keep_freed_memory():
        with keep_freed_memory() as inner:
            assert inner
        # the inner one's exit left the outer one's settings
        assert allocate_and_free(beyond_the_heap())[0] == 0
    assert allocate_and_free(beyond_the_heap())[0] == 1


@glibc
def test_told_not_to_keep_it_does_nothing():
    with keep_freed_memory(False) as told:
        assert told is False
        assert allocate_and_free(beyond_the_heap())[0] == 1  # mapped, as glibc does by itself
        with keep_freed_memory(False) as inner:  # and it is no outer use for a nested one
            assert inner is False
        with keep_freed_memory() as inner:
            assert inner
            assert allocate_and_free(beyond_the_heap())[0] == 0
        assert allocate_and_free(beyond_the_heap())[0] == 1


def test_without_mallopt_the_context_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator, "libc_function", lambda *args: None)
    with keep_freed_memory() as told:
        assert told is False
        with keep_freed_memory() as inner:
            assert inner is False


@pytest.mark.parametrize("on_disk", [True, False])
def test_only_a_run_with_its_store_on_disk_uses_it(tmp_path, monkeypatch, on_disk):
    entered: list[bool] = []

    @contextlib.contextmanager
    def recording(keep=True):
        entered.append(keep)
        yield keep

    monkeypatch.setattr(run_module, "keep_freed_memory", recording)
    run_module.run_scenario(
        tiny_scenario(),
        steps=3,
        store_dir=tmp_path if on_disk else None,
        progress=False,
    )
    # run_scenario around the whole run, simulate around its months
    assert entered == [on_disk, on_disk]
