"""Ground truth: Zipf concepts with community niches, facts with true values, a style mixture.

The human reference distribution ``p_H`` is computed exactly from the community distributions
and the authors' output shares; it is the yardstick for capability and tail metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from habsburg.scenarios.schema import WorldConfig


def zipf(n: int, exponent: float) -> np.ndarray:
    """Normalised Zipf probabilities p_k ∝ k^-exponent, k = 1..n."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return p / p.sum()


def tail_mask(probs: np.ndarray, tail_mass: float) -> np.ndarray:
    """Items that, least popular first, together hold ``tail_mass`` of the mass."""
    order = np.argsort(probs, kind="stable")
    cum = np.cumsum(probs[order])
    mask = np.zeros(probs.shape, dtype=bool)
    mask[order[cum <= tail_mass]] = True
    return mask


@dataclass
class World:
    """The fixed ground truth of one run."""

    config: WorldConfig
    concept_popularity: np.ndarray  # p*_k, Zipf
    community_concepts: np.ndarray  # (C, K) each community's concept distribution
    niche_of: np.ndarray  # community whose niche holds each concept (-1 for head concepts)
    community_weight: np.ndarray  # (C,) share of human output by community
    fact_popularity: np.ndarray  # (F,)
    true_values: np.ndarray  # (F,)
    style_centroids: np.ndarray  # (C, d)
    author_community: np.ndarray  # (A,)
    author_style: np.ndarray  # (A, d) each author's own centroid
    author_rate: np.ndarray  # (A,) relative productivity (mean 1)
    p_human: np.ndarray  # exact human reference distribution p_H
    concept_tail: np.ndarray  # bool (K,)
    fact_tail: np.ndarray  # bool (F,)
    human_style_mean: np.ndarray
    human_style_cov: np.ndarray

    @classmethod
    def build(cls, config: WorldConfig, n_authors: int, rng: np.random.Generator) -> World:
        K, C = config.concepts, config.communities
        pop = zipf(K, config.concept_zipf)
        # Tail concepts (by global popularity) are split among the communities' niches.
        base_tail = tail_mask(pop, 0.5)
        niche_of = np.full(K, -1, dtype=np.int32)
        tail_ids = np.flatnonzero(base_tail)
        niche_of[tail_ids] = rng.permutation(np.arange(tail_ids.size) % C)
        weight = np.where(niche_of < 0, 1.0, config.niche_floor)[None, :].repeat(C, axis=0)
        rows = niche_of[tail_ids]
        weight[rows, tail_ids] = config.niche_boost
        community = pop[None, :] * weight
        community /= community.sum(axis=1, keepdims=True)

        author_community = rng.integers(0, C, size=n_authors).astype(np.int32)
        author_rate = rng.lognormal(-0.5 * 0.6**2, 0.6, size=n_authors)
        # (float64 with weights: numpy 2.4's stubs type every bincount as intp)
        community_weight: np.ndarray = np.bincount(
            author_community, weights=author_rate, minlength=C
        )
        community_weight /= community_weight.sum()
        p_human = community_weight @ community

        fpop = zipf(config.facts, config.fact_zipf)
        fpop = fpop[rng.permutation(config.facts)]  # fact ids carry no rank information
        true_values = rng.integers(0, config.values_per_fact, size=config.facts).astype(np.int32)

        d = config.style_dim
        centroids = rng.normal(0.0, config.style_between, size=(C, d))
        author_style = centroids[author_community] + rng.normal(
            0.0, config.style_within, (n_authors, d)
        )
        # Exact style law of a human document: mixture over authors (weighted by output) of
        # N(author centroid, style_doc² I).
        w = author_rate / author_rate.sum()
        mean = w @ author_style
        centred = author_style - mean
        cov = (centred * w[:, None]).T @ centred + config.style_doc**2 * np.eye(d)
        return cls(
            config=config,
            concept_popularity=pop,
            community_concepts=community,
            niche_of=niche_of,
            community_weight=community_weight,
            fact_popularity=fpop,
            true_values=true_values,
            style_centroids=centroids,
            author_community=author_community,
            author_style=author_style,
            author_rate=author_rate,
            p_human=p_human,
            concept_tail=tail_mask(p_human, config.tail_mass),
            fact_tail=tail_mask(fpop, config.tail_mass),
            human_style_mean=mean,
            human_style_cov=cov,
        )

    def sample_human_style(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Fresh draws from the human style mixture (ground truth, e.g. for sensor data)."""
        authors = rng.choice(
            self.author_rate.size, size=n, p=self.author_rate / self.author_rate.sum()
        )
        return self.author_style[authors] + rng.normal(
            0, self.config.style_doc, (n, self.config.style_dim)
        )

    @property
    def human_entropy(self) -> float:
        p = self.p_human[self.p_human > 0]
        return float(-(p * np.log(p)).sum())
