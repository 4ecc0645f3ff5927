"""The peak of the memory a call allocates, for the tests that bound it (a plain module, imported
as ``from tracing import traced_peak``, like ``tinyscenario``)."""

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
