"""Replicate seeds: the one scheme every replicated experiment (sweeps, comparisons, EMA) uses.

Replicate ``r`` of an experiment with seed ``s`` runs on a seed spawned from
``numpy.random.SeedSequence(s, spawn_key=(r,))``: independent streams for different replicates,
and the same seeds for every parameter point or scenario of one experiment (common random
numbers), so differences between points or scenarios are not noise from different draws and
comparisons can pair runs by seed.
"""

from __future__ import annotations

import numpy as np


def replicate_seeds(base_seed: int, n: int) -> list[int]:
    """``n`` run seeds derived from ``base_seed`` (non-negative 63-bit integers)."""
    return [
        int(np.random.SeedSequence(base_seed, spawn_key=(r,)).generate_state(1, np.uint64)[0] >> 1)
        for r in range(n)
    ]
