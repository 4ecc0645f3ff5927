"""Human authors.

The population's state lives in arrays (struct of arrays) so that a month of publishing is one
vectorised call over every author; each :class:`HumanAuthor` Mesa agent is a view on its row and
sits on its home site in the network space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from habsburg.ecosystem.learners import sample_categorical
from habsburg.ecosystem.publishing import beta_with_mean, fill_by_source, lognormal_tokens
from habsburg.ecosystem.store import HUMAN, HYBRID, MODEL, Batch

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel


def adoption_level(curve, months_since_start: float) -> float:
    """Logistic adoption curve value (0 before its start)."""
    if months_since_start < 0:
        return 0.0
    return curve.ceiling / (1.0 + np.exp(-curve.rate * (months_since_start - curve.midpoint)))


class HumanPopulation:
    """Arrays of per-author state and the vectorised ``publish`` / ``drift`` behaviour."""

    def __init__(self, model: EcosystemModel, home_sites: np.ndarray) -> None:
        self.model = model
        world = model.world
        n = len(world.author_community)
        self.n = n
        self.community = world.author_community
        self.style = world.author_style
        self.rate = world.author_rate
        self.home_site = home_sites.astype(np.int32)
        # An author starts using an assistant once adoption passes their own threshold.
        self.adoption_threshold = model.rng.random(n)
        self.docs_published = np.zeros(n, dtype=np.int64)
        # Current (drifting) concept interests per community; the world's p_H stays the yardstick.
        self.community_concepts = world.community_concepts.copy()

    def assisted(self, step: int) -> np.ndarray:
        sc = self.model.config
        curve = sc.humans.assistant
        level = adoption_level(curve, step - sc.month_to_step(curve.start))
        return self.adoption_threshold < level

    def publish(self, step: int) -> None:
        """One month of human writing: plain documents, and hybrids where an author uses an AI
        assistant (the assistant writes a share of the document)."""
        m = self.model
        rng, cfg, world = m.rng, m.config.humans, m.world
        counts = rng.poisson(cfg.docs_per_month * self.rate)
        author = np.repeat(np.arange(self.n), counts)
        n = author.size
        if n == 0:
            return
        self.docs_published += counts
        assistants = m.deployed_models()
        hybrid = self.assisted(step)[author] & (len(assistants) > 0)
        sf = np.where(hybrid, beta_with_mean(cfg.assisted_fraction, n, rng), 0.0)
        helper = np.full(n, -1, dtype=np.int32)
        if hybrid.any():
            shares = np.array([a.market_share for a in assistants]) + 1e-12
            pick = sample_categorical(shares / shares.sum(), int(hybrid.sum()), rng)
            helper[hybrid] = np.array([a.index for a in assistants])[pick]

        tokens = lognormal_tokens(n, cfg.tokens_mean, rng)
        lengths = np.maximum(1, np.rint(tokens / cfg.tokens_per_concept)).astype(np.int64)
        model_draws = np.rint(sf * lengths).astype(np.int64)
        owner = np.repeat(np.arange(n), lengths)
        position = np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        from_model = position < model_draws[owner]
        C = len(self.community_concepts)
        source = np.where(from_model, C + helper[owner], self.community[author][owner])
        samplers = {c: self._community_sampler(c) for c in range(C)}
        for a in assistants:
            samplers[C + a.index] = a.concept_sampler()
        concepts = fill_by_source(source, samplers)

        n_claims = rng.poisson(cfg.facts_per_doc, size=n)
        claim_owner = np.repeat(np.arange(n), n_claims)
        facts = sample_categorical(world.fact_popularity, claim_owner.size, rng)
        by_model = rng.random(claim_owner.size) < sf[claim_owner]
        values = world.true_values[facts].astype(np.int64)
        wrong = rng.random(facts.size) < cfg.error_rate
        V = world.config.values_per_fact
        shift = rng.integers(1, V, size=facts.size)
        values = np.where(wrong, (values + shift) % V, values)
        claim_model = np.where(by_model, helper[claim_owner], -1)
        for a in assistants:
            mask = by_model & (claim_model == a.index)
            if mask.any():
                values[mask] = a.learners.facts.sample(facts[mask], rng)[
                    0
                ]  # abstentions (-1) are dropped below
        keep = values >= 0
        claim_owner, facts, values, claim_model = (
            claim_owner[keep],
            facts[keep],
            values[keep],
            claim_model[keep],
        )
        claim_kind = np.where(claim_model >= 0, MODEL, HUMAN)
        errors = m.errors.register(
            facts, values, claim_kind, author[claim_owner], claim_model, step
        )

        d = world.config.style_dim
        style = self.style[author] + rng.normal(0.0, world.config.style_doc, (n, d))
        if hybrid.any():
            for a in assistants:
                mask = helper == a.index
                if mask.any():
                    s = sf[mask][:, None]
                    style[mask] = (1 - s) * style[mask] + s * a.learners.style.sample(
                        int(mask.sum()), rng
                    )

        wm_tokens = np.zeros(n, dtype=np.int64)
        for a in assistants:
            mask = helper == a.index
            if mask.any():
                marked = rng.random(int(mask.sum())) < a.watermark_probability
                wm_tokens[mask] = np.where(marked, np.rint(sf[mask] * tokens[mask]), 0)
        green = m.watermark.draw_green_counts(tokens, wm_tokens, rng)
        batch = Batch(
            site=self.home_site[author],
            kind=np.where(hybrid, HYBRID, HUMAN),
            producer=author,
            model=helper,
            synthetic_fraction=sf,
            tokens=tokens,
            green=green,
            style=style,
            quality=beta_with_mean(cfg.quality_mean, n, rng),
            concept_lengths=lengths,
            concepts=concepts,
            claim_lengths=np.bincount(claim_owner, minlength=n),
            claim_facts=facts,
            claim_values=values,
            claim_errors=errors,
        )
        m.publish(batch)

    def _community_sampler(self, c: int):
        probs = self.community_concepts[c]
        rng = self.model.rng
        return lambda k: sample_categorical(probs, k, rng)

    def drift(self, synthetic_share: float, synthetic_mix: np.ndarray | None) -> None:
        """Authors drift toward what they read: each community's interests move toward the
        concept mix of synthetic text in proportion to how much of what they read is synthetic."""
        rate = self.model.config.humans.drift_rate * synthetic_share
        if rate <= 0 or synthetic_mix is None:
            return
        self.community_concepts *= 1.0 - rate
        self.community_concepts += rate * synthetic_mix[None, :]


class HumanAuthor(CellAgent):
    """A human author on their home site; state is a row of :class:`HumanPopulation`."""

    def __init__(
        self, model: EcosystemModel, population: HumanPopulation, index: int, cell
    ) -> None:
        super().__init__(model)
        self.population = population
        self.index = index
        self.cell = cell

    @property
    def community(self) -> int:
        return int(self.population.community[self.index])

    @property
    def home_site(self) -> int:
        return int(self.population.home_site[self.index])

    @property
    def uses_assistant(self) -> bool:
        return bool(self.population.assisted(self.model.month)[self.index])

    @property
    def docs_published(self) -> int:
        return int(self.population.docs_published[self.index])
