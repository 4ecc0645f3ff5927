"""Metric kernels: pure functions of learners and ground truth (one place computes each metric;
the DataCollector reporters, the analysis and the validation all call these)."""

from __future__ import annotations

import itertools

import numpy as np

from habsburg.ecosystem.learners import Learners
from habsburg.ecosystem.world import World

#: the quality of one model generation (keys of :func:`model_quality`), with their meaning
QUALITY_METRICS = {
    "capability": "cross-entropy to p_H (nats)",
    "tail_coverage": "share of tail concepts kept",
    "support": "share of all concepts kept",
    "fact_accuracy": "expected share of facts right",
    "tail_fact_accuracy": "expected share of tail facts right",
    "style_variance_ratio": "style variance over the human style variance",
}

#: probability floor (mixed in uniformly) so a model that lost a concept has a finite loss on it
CAPABILITY_FLOOR = 1e-6


def cross_entropy(p: np.ndarray, q: np.ndarray, floor: float = CAPABILITY_FLOOR) -> float:
    """H(p, q) in nats, with q mixed with a uniform floor: ``q' = (1 − floor)·q + floor/K``."""
    q = (1.0 - floor) * q + floor / q.size
    mask = p > 0
    return float(-(p[mask] * np.log(q[mask])).sum())


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in nats (0 for identical, ln 2 for disjoint supports) of two
    probability vectors (each summing to 1; the callers pass sampling distributions).

    Rounding can make the sum of the two Kullback–Leibler terms a few ulps below zero for equal
    distributions; a divergence is never negative, so that is returned as 0.
    """
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / m[mask])).sum())

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def mean_pairwise_js(distributions: list[np.ndarray]) -> float:
    pairs = list(itertools.combinations(distributions, 2))
    if not pairs:
        return float("nan")
    return float(np.mean([js_divergence(a, b) for a, b in pairs]))


def tail_coverage(q: np.ndarray, tail: np.ndarray) -> float:
    """Share of tail concepts the model can still produce (non-zero sampling probability)."""
    return float((q[tail] > 0).mean()) if tail.any() else float("nan")


def style_variance_ratio(learners: Learners, world: World) -> float:
    """Total variance of the model's sampled style over the human documents' total variance."""
    return float(np.trace(learners.style.sampling_cov) / np.trace(world.human_style_cov))


def model_quality(learners: Learners, world: World) -> dict[str, float]:
    """Capability (cross-entropy to p_H, nats), tail coverage, fact accuracy, style ratio."""
    q = learners.concepts.sampling_probs
    correct = learners.facts.correct_probability(world.true_values)
    return {
        "capability": cross_entropy(world.p_human, q),
        "tail_coverage": tail_coverage(q, world.concept_tail),
        "support": float((q > 0).mean()),
        "fact_accuracy": float(correct.mean()),
        "tail_fact_accuracy": float(correct[world.fact_tail].mean()),
        "style_variance_ratio": style_variance_ratio(learners, world),
    }


def systemic_failure_ratio(failure_probs: np.ndarray) -> float:
    """Outcome homogenization (Bommasani et al. 2022; Toups et al. 2023): the rate at which all
    models fail the same item, over the rate independence predicts.

    ``failure_probs``: (models, items) probability each model fails each item.
    observed = mean_i Π_m f[m, i]; independent = Π_m mean_i f[m, i].
    """
    f = np.asarray(failure_probs, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        return float("nan")
    observed = f.prod(axis=0).mean()
    independent = f.mean(axis=1).prod()
    return float(observed / independent) if independent > 0 else float("nan")


def pairwise_failure_ratio(failure_probs: np.ndarray) -> float:
    """Mean over model pairs of P(both fail an item) / (P(A fails)·P(B fails)): the
    homogenization ratio for two models, which, unlike the all-models ratio, does not grow
    with the number of models merely because some items are hard for everyone."""
    f = np.asarray(failure_probs, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        return float("nan")
    joint = (f @ f.T) / f.shape[1]
    marginal = f.mean(axis=1)
    expected = np.outer(marginal, marginal)
    i, j = np.triu_indices(f.shape[0], k=1)
    ok = expected[i, j] > 0
    return float(np.mean(joint[i, j][ok] / expected[i, j][ok])) if ok.any() else float("nan")


def wrong_beliefs(learners: Learners, true_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Facts a model has seen whose modal belief is wrong: ``(facts, believed values)``."""
    mode = learners.facts.modal_value
    wrong = learners.facts.seen_ & (mode != true_values)
    facts = np.flatnonzero(wrong)
    return facts, mode[facts]
