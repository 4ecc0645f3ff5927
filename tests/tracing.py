"""The peak of the memory a call allocates, and the process's resident memory, for the tests that
bound them (a plain module, imported as ``from tracing import traced_peak``, like
``tinyscenario``)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any


def traced_peak(fn: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """``(fn(*args), peak bytes traced while it ran)``; numpy's arrays are traced too."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def resident(field: str) -> int:
    """This process's ``field`` of ``/proc/self/status`` (``VmRSS``, ``RssAnon``, ...), bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")
