"""Kernels that compose batches of documents (pure functions of arrays; agents call them).

``fill_by_source`` / ``categorical_by_source`` / ``categorical_by_runs`` (one grouping pass, then one draw per source),
``sample_categorical`` and the cached tables live in :mod:`habsburg.ecosystem.sampling` and are
re-exported here for the publishing agents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from habsburg.ecosystem.learners import Learners
from habsburg.ecosystem.sampling import (
    CategoricalSampler,
    CategoricalTable,
    cached_table,
    categorical_by_runs,
    categorical_by_source,
    fill_by_source,
    sample_categorical,
)

if TYPE_CHECKING:
    from habsburg.scenarios.schema import AdoptionCurve

__all__ = [
    "CategoricalSampler",
    "CategoricalTable",
    "adoption_level",
    "beta_with_mean",
    "cached_table",
    "categorical_by_runs",
    "categorical_by_source",
    "fill_by_source",
    "lognormal_tokens",
    "model_claims",
    "model_concepts",
    "sample_categorical",
]


def adoption_level(curve: AdoptionCurve, months_since_start: float) -> float:
    """Logistic adoption curve value (0 before its start)."""
    if months_since_start < 0:
        return 0.0
    return curve.ceiling / (1.0 + np.exp(-curve.rate * (months_since_start - curve.midpoint)))


def lognormal_tokens(
    n: int, mean: float, rng: np.random.Generator, sigma: float = 0.5
) -> np.ndarray:
    """Document lengths in tokens: lognormal with the given mean, at least 20."""
    mu = np.log(mean) - 0.5 * sigma**2
    return np.maximum(20, rng.lognormal(mu, sigma, size=n)).astype(np.int32)


def beta_with_mean(
    mean: float, n: int, rng: np.random.Generator, concentration: float = 8.0
) -> np.ndarray:
    m = min(max(mean, 1e-3), 1 - 1e-3)
    return rng.beta(m * concentration, (1 - m) * concentration, size=n)


def model_concepts(learners: Learners, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return sample_categorical(learners.concepts.sampling_probs, int(lengths.sum()), rng)


def model_claims(
    learners: Learners,
    n_docs: int,
    facts_per_doc: float,
    fact_popularity: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fact claims of ``n_docs`` model-written documents: ``(lengths, facts, values)``.

    Users ask about facts in proportion to their popularity; abstentions are dropped.
    """
    lengths = rng.poisson(facts_per_doc, size=n_docs)
    facts = sample_categorical(fact_popularity, int(lengths.sum()), rng)
    values, answered = learners.facts.sample(facts, rng)
    owner = np.repeat(np.arange(n_docs), lengths)
    lengths = np.bincount(owner[answered], minlength=n_docs)
    return lengths, facts[answered], values[answered]
