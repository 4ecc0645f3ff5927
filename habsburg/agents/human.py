"""Human authors, as one Mesa agent holding the population's arrays, and the writing workflows
that make the web co-written.

Thousands of authors publish every month; one agent whose state is a struct of arrays (one row per
author) makes a month of human writing one vectorised call, and the drift of their interests one
more. (An agent per author would be thousands of objects that never act on their own.)

A document's synthetic fraction comes from how it was written (Issue 11): an author who has
adopted an assistant writes each document by one workflow of ``humans.workflows`` (pure human
drafting, a draft polished or extended by the assistant, a model draft the author edited);
authors who have not adopted write by hand. Adoption follows ``humans.assistant`` (a fast rise
after launch, then a plateau, as Liang et al. 2025 measured), so the share of co-written documents
changes with it. Model users have a mix of their own (``demand.workflows``: verbatim or edited
output, :meth:`habsburg.agents.generative.GenerativeModel.publish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from habsburg.agents.ids import MODEL_IDS
from habsburg.ecosystem.publishing import (
    CategoricalTable,
    adoption_level,
    beta_with_mean,
    categorical_by_runs,
    fill_by_source,
    lognormal_tokens,
    sample_categorical,
)
from habsburg.ecosystem.store import HUMAN, HYBRID, MODEL, Batch
from habsburg.ecosystem.watermark import model_written_tokens
from habsburg.scenarios.schema import Workflow

if TYPE_CHECKING:
    from collections.abc import Callable


def draw_workflows(
    mix: Sequence[Workflow], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(workflow index, synthetic fraction)`` of ``n`` documents written by the ``mix``.

    Workflows are drawn by weight; ``human`` documents have fraction 0, ``verbatim`` ones 1, and
    the others a Beta(mean, concentration) fraction (one vectorised draw per workflow).
    """
    weights = np.array([w.weight for w in mix], dtype=np.float64)
    which = sample_categorical(weights / weights.sum(), n, rng)

    def fractions(w: Workflow) -> Callable[[int], np.ndarray]:
        if w.name == "human":
            return lambda k: np.zeros(k)
        if w.name == "verbatim":
            return lambda k: np.ones(k)
        return lambda k: beta_with_mean(w.synthetic_mean, k, rng, w.concentration)

    samplers = {i: fractions(w) for i, w in enumerate(mix)}
    return which, fill_by_source(which, samplers, dtype=np.float64)


class HumanPopulation(mesa.Agent):
    """Every human author: per-author arrays (community, style, productivity, home site,
    assistant-adoption threshold) and the vectorised ``publish`` / ``drift`` behaviour."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: mesa.Model, home_sites: np.ndarray) -> None:
        super().__init__(model)
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
        #: share of authors who could write with an assistant this month (past their adoption
        #: threshold while a model was deployed), set as they publish
        self.assisted_share = 0.0
        # Current (drifting) concept interests per community; the world's p_H stays the yardstick.
        self.community_concepts = world.community_concepts.copy()

    def assisted(self, step: int) -> np.ndarray:
        sc = self.model.config
        curve = sc.humans.assistant
        level = adoption_level(curve, step - sc.month_to_step(curve.start))
        return self.adoption_threshold < level

    def publish(self) -> None:
        """One month of human writing: each document written by a workflow (hand-written, or
        co-written with an assistant who writes a share of it); hybrids carry watermark evidence
        only on their model-written tokens, and an edited draft's evidence is eroded by the edits."""
        m = self.model
        step = m.month
        rng, cfg, world = m.rng, m.config.humans, m.world
        counts = rng.poisson(cfg.docs_per_month * self.rate)
        author = np.repeat(np.arange(self.n), counts)
        n = author.size
        assistants = m.deployed_models()
        assisted = self.assisted(step)
        self.assisted_share = float(assisted.mean()) if assistants else 0.0
        if n == 0:
            return
        self.docs_published += counts
        users = assisted[author] & bool(assistants)
        sf = np.zeros(n)
        # a model draft the author edited: the edits are scattered through the draft's tokens
        drafted = np.zeros(n, dtype=bool)
        if cfg.workflows:
            workflow, sf[users] = draw_workflows(cfg.workflows, int(users.sum()), rng)
            edited = [i for i, w in enumerate(cfg.workflows) if w.name == "edited"]
            drafted[users] = np.isin(workflow, edited)
        else:  # one workflow (polished, assisted_fraction): the draws of earlier releases
            sf = np.where(users, beta_with_mean(cfg.assisted_fraction, n, rng), 0.0)
        hybrid = sf > 0
        helper = np.full(n, -1, dtype=np.int32)
        if hybrid.any():
            shares = np.array([a.market_share for a in assistants]) + 1e-12
            pick = sample_categorical(shares / shares.sum(), int(hybrid.sum()), rng)
            helper[hybrid] = np.array([a.index for a in assistants])[pick]

        tokens = lognormal_tokens(n, cfg.tokens_mean, rng)
        lengths = np.maximum(1, np.rint(tokens / cfg.tokens_per_concept)).astype(np.int64)
        model_draws = np.rint(sf * lengths).astype(np.int64)
        # each document's draws come from its author's community, except a hybrid's first
        # ``model_draws``, which come from its assistant (source C + model index)
        C = len(self.community_concepts)
        tables = dict(enumerate(CategoricalTable.of_rows(self.community_concepts)))
        for a in assistants:
            tables[C + a.index] = a.concept_table()
        first = np.cumsum(lengths) - lengths
        concepts = categorical_by_runs(
            np.concatenate([C + helper, self.community[author]]),
            np.concatenate([first, first + model_draws]),
            np.concatenate([model_draws, lengths - model_draws]),
            tables,
            rng,
        )

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
            asked = np.flatnonzero(claim_model == a.index)
            if asked.size:  # abstentions (-1) are dropped below
                values[asked] = a.learners.facts.sample(facts[asked], rng)[0]
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

        helped_by = [np.flatnonzero(helper == a.index) for a in assistants]
        d = world.config.style_dim
        style = self.style[author] + rng.normal(0.0, world.config.style_doc, (n, d))
        for a, docs in zip(assistants, helped_by, strict=True):
            if docs.size:
                s = sf[docs][:, None]
                style[docs] = (1 - s) * style[docs] + s * a.learners.style.sample(docs.size, rng)

        # Polished and extended hybrids: the model wrote a block of rint(sf·T) tokens, each scored
        # with its own preceding token. Edited drafts: the model wrote all T tokens and the author
        # replaced 1 − sf of them at scattered positions, which erodes the evidence like a
        # paraphrase of that share (as a model user's edit, GenerativeModel.publish).
        wm_tokens = np.zeros(n, dtype=np.int64)
        for a, docs in zip(assistants, helped_by, strict=True):
            if docs.size:
                marked = rng.random(docs.size) < a.watermark_probability
                written = np.where(drafted[docs], 1.0, sf[docs])
                wm_tokens[docs] = model_written_tokens(tokens[docs], written, marked)
        edits = np.where(drafted, 1.0 - sf, 0.0)
        green = m.watermark.draw_green_counts(tokens, wm_tokens, rng, paraphrase=edits)
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

    def drift(self) -> None:
        """Authors drift toward what they read: each community's interests move toward the
        concept mix of this month's synthetic documents (synthetic fraction >= 0.5), in
        proportion to the synthetic share of all new documents (``humans.drift_toward =
        "synthetic"``); or toward the concept mix of all this month's documents at ``drift_rate``
        (``"internet"``)."""
        m = self.model
        store = m.internet.store
        new = store.step_slice(m.month, m.month)
        if m.config.humans.drift_toward == "internet":
            self._drift_toward(np.arange(new.start, new.stop), m.config.humans.drift_rate)
            return
        sf = store.synthetic_fraction[new]
        synthetic = new.start + np.flatnonzero(sf >= 0.5)
        if not synthetic.size:
            return
        rate = m.config.humans.drift_rate * float(sf.astype(np.float64).mean())
        self._drift_toward(synthetic, rate)

    def _drift_toward(self, ids: np.ndarray, rate: float) -> None:
        """Every community's interests c ← (1 − rate)·c + rate·q, q the concept mix of documents
        ``ids`` (nothing without documents, concept draws or a positive rate)."""
        if rate <= 0 or not ids.size:
            return
        counts = self.model.internet.store.concept_counts(ids, self.model.world.config.concepts)
        total = counts.sum()
        if total == 0:
            return
        self.community_concepts *= 1.0 - rate
        self.community_concepts += rate * (counts.astype(float) / total)[None, :]
