"""Agents' ``unique_id`` counters, held without keeping finished models alive.

Mesa 3.3 numbers agents from a class attribute, ``mesa.Agent._ids``: a ``defaultdict`` keyed by
the model itself. It holds a strong reference to every model that ever created an agent, so a
process that runs models one after another (a sweep worker, a calibration, the scale study) keeps
them all: about 140 MB per baseline-sized run, until the process is killed for memory (Mesa
issue #3179, fixed in Mesa 3.4 by numbering agents in ``Model.register_agent``).

Each habsburg agent class sets ``_ids = MODEL_IDS``: the same per-model counters (so ids stay
unique within a model across agent classes, numbered exactly as Mesa numbers them), keyed weakly,
so a model is freed once nothing else refers to it. Mesa 3.4+ ignores the attribute.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any


class ModelCounters(weakref.WeakKeyDictionary):
    """``defaultdict(lambda: itertools.count(1))`` with weak keys: one counter per live model."""

    def __getitem__(self, model: Any) -> itertools.count:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


#: The counters shared by every habsburg agent class.
MODEL_IDS = ModelCounters()
