"""A plain batch of documents for tests that build a store by hand (a plain module, imported as
``from batches import plain_batch``, like ``tinyscenario``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from habsburg.ecosystem.store import Batch


def plain_batch(n: int, **over) -> Batch:
    """``n`` human documents on site 0 with no concept draws and no claims, of 100 tokens, no
    green tokens, a one-dimensional zero style and quality 1; ``over`` replaces any field."""
    fields: dict[str, Any] = dict(
        site=np.zeros(n, int),
        kind=0,
        producer=0,
        model=-1,
        synthetic_fraction=np.zeros(n),
        tokens=np.full(n, 100),
        green=np.zeros(n, int),
        style=np.zeros((n, 1)),
        quality=np.ones(n),
        concept_lengths=np.zeros(n, int),
        concepts=np.zeros(0, int),
        claim_lengths=np.zeros(n, int),
        claim_facts=np.zeros(0, int),
        claim_values=np.zeros(0, int),
        claim_errors=np.zeros(0, int),
    )
    fields.update(over)
    return Batch(**fields)


def build_from_pool(model: Any, policy: Any, pool: Any, seed: int, **kw: Any) -> Any:
    """``build_training_set`` of ``policy`` from crawled ids ``pool`` in ``model``'s store, as a
    first retrain builds it (no earlier generation; the human archive up to the launch), on its
    own generator seeded ``seed``; ``kw`` passes more of its arguments."""
    from habsburg.ecosystem.training import build_training_set

    return build_training_set(
        policy,
        np.asarray(pool, dtype=np.int64),
        model.internet.store,
        model.world,
        np.random.default_rng(seed),
        previous=np.zeros(0, np.int64),
        archive_last_step=model.config.launch_step - 1,
        facts_per_doc=model.config.humans.facts_per_doc,
        **kw,
    )
