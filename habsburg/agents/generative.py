"""Generative models: serve demand, publish (watermarked if their lab does), retrain on schedule."""

from __future__ import annotations

import mesa
import numpy as np

from habsburg.agents.human import draw_workflows
from habsburg.agents.ids import MODEL_IDS
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem import metrics as K
from habsburg.ecosystem.bitset import BitSet
from habsburg.ecosystem.edits import RANDOM, EditProcess
from habsburg.ecosystem.learners import (
    ConceptLearner,
    FactLearner,
    Learners,
    StyleLearner,
)
from habsburg.ecosystem.publishing import (
    CategoricalTable,
    beta_with_mean,
    cached_table,
    lognormal_tokens,
    model_claims,
)
from habsburg.ecosystem.store import MODEL, Batch
from habsburg.ecosystem.training import (
    Teacher,
    TrainingSet,
    build_training_set,
    dedup_histories,
)
from habsburg.scenarios.schema import DataPolicy, LabConfig, ModelConfig


class GenerativeModel(mesa.Agent):
    """A model lineage. Each retrain fits new learners: a new generation replaces the deployed one.

    ``index`` is the model id documents carry in their ``model`` column.
    """

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: mesa.Model, config: ModelConfig, lab: LabConfig, index: int) -> None:
        super().__init__(model)
        self.config = config
        self.lab = lab
        self.index = index
        self.launch_step = model.config.month_to_step(config.launch, f"models.{config.name}.launch")
        self.generation = -1
        self.learners: Learners | None = None
        self.market_share = 0.0
        self.metrics: dict[str, float] = {}
        self.training_stats: dict[str, float] = {}
        self.last_retrain_step = -1
        self.accumulated: np.ndarray = np.zeros(0, dtype=np.int64)
        #: the originals of ``accumulated`` while it is deduplicated (else None)
        self.accumulated_roots: BitSet | None = None
        self.believed_errors: np.ndarray = np.zeros(0, dtype=np.int32)
        self.docs_published = 0
        self.errors_adopted = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def lab_name(self) -> str:
        return self.lab.name

    def quality(self, key: str) -> float:
        """One of this generation's quality metrics (:func:`habsburg.ecosystem.metrics.model_quality`;
        NaN before the first training)."""
        return self.metrics.get(key, float("nan"))

    @property
    def wrong_beliefs(self) -> int:
        return int(self.believed_errors.size)

    @property
    def deployed(self) -> bool:
        return self.learners is not None

    @property
    def watermark_probability(self) -> float:
        """Share of this model's output carrying the watermark: all of it if the lab watermarks,
        otherwise the mandate's compliance level (``watermark.adoption``)."""
        return 1.0 if self.lab.watermarks else self.model.config.watermark.adoption

    def retrain_due(self, step: int) -> bool:
        if step < self.launch_step:
            return False
        return (step - self.launch_step) % self.config.retrain_interval == 0

    def concept_table(self) -> CategoricalTable:
        """The (cached) sampling table of this generation's concept distribution, which the
        assistant's share of co-written documents is drawn from."""
        assert self.learners is not None  # (asked of deployed models only)
        return cached_table(self.learners.concepts.sampling_probs)

    def new_learners(self) -> Learners:
        c, w = self.config, self.model.world.config
        return Learners(
            concepts=ConceptLearner(
                w.concepts,
                temperature=c.temperature,
                top_p=c.top_p,
                smoothing=c.data.smoothing,
                tail_reweighting=c.data.tail_reweighting,
            ),
            facts=FactLearner(
                w.facts,
                w.values_per_fact,
                temperature=c.temperature,
                hallucination_rate=c.hallucination_rate,
                unseen_hallucination_rate=c.unseen_hallucination_rate,
            ),
            style=StyleLearner(w.style_dim, temperature=c.temperature, estimator=c.style_estimator),
        )

    def apply_decoding(self) -> None:
        """Push (possibly changed) decoding settings into the deployed learners, and measure the
        deployed generation's quality again: capability, tail coverage and fact accuracy are of
        what it samples, which its decoding changes (what users choose it by, and what the
        monthly metrics report), not only of its fit."""
        if self.learners is None:
            return
        c = self.config
        self.learners.concepts.set_decoding(temperature=c.temperature, top_p=c.top_p)
        self.learners.facts.set_decoding(
            temperature=c.temperature, hallucination_rate=c.hallucination_rate
        )
        self.learners.facts.unseen_hallucination_rate = c.unseen_hallucination_rate
        self.learners.style.temperature = c.temperature
        self.metrics = K.model_quality(self.learners, self.model.world)

    # --- behaviour ----------------------------------------------------------------------------
    def compose(
        self,
        n: int,
        sites: np.ndarray,
        kind: int,
        producer: int,
        *,
        tokens_mean: float,
        quality_mean: float,
        paraphrase_share: float = 0.0,
        paraphrase_rate: float = 0.0,
        paraphrase_edits: EditProcess = RANDOM,
    ) -> Batch:
        """``n`` documents written by this model, published on ``sites`` (drawn uniformly); a share
        ``paraphrase_share`` paraphrased at ``paraphrase_rate`` with edits placed by
        ``paraphrase_edits`` (which scored watermark pairs survive is drawn from it)."""
        assert self.learners is not None  # (asked of deployed models only)
        m = self.model
        rng, world = m.rng, m.world
        tokens = lognormal_tokens(n, tokens_mean, rng)
        lengths = np.maximum(1, np.rint(tokens / m.config.humans.tokens_per_concept)).astype(
            np.int64
        )
        concepts = self.learners.concepts.sample(int(lengths.sum()), rng)
        claim_lengths, facts, values = model_claims(
            self.learners, n, m.config.humans.facts_per_doc, world.fact_popularity, rng
        )
        errors = m.errors.register(facts, values, kind, producer, self.index, m.month)
        marked = rng.random(n) < self.watermark_probability
        paraphrased = np.where(rng.random(n) < paraphrase_share, paraphrase_rate, 0.0)
        green = m.watermark.draw_green_counts(
            tokens, np.where(marked, tokens, 0), rng, paraphrase=paraphrased, edits=paraphrase_edits
        )
        return Batch(
            site=sites[rng.integers(0, len(sites), size=n)],
            kind=kind,
            producer=producer,
            model=self.index,
            synthetic_fraction=np.ones(n),
            tokens=tokens,
            green=green,
            style=self.learners.style.sample(n, rng),
            quality=beta_with_mean(quality_mean, n, rng),
            concept_lengths=lengths,
            concepts=concepts,
            claim_lengths=claim_lengths,
            claim_facts=facts,
            claim_values=values,
            claim_errors=errors,
            paraphrase=paraphrased,
        )

    def publish(self) -> None:
        """Serve this model's share of AI demand; users post the outputs on human sites, verbatim
        or edited (``demand.workflows``). A person's edits replace part of the tokens at scattered
        positions, which erodes the watermark evidence like a paraphrase of that share."""
        if not self.deployed:
            return
        m = self.model
        n = int(m.rng.poisson(m.ai_demand() * self.market_share))
        if n == 0:
            return
        d = m.config.demand
        batch = self.compose(
            n,
            m.human_sites,
            MODEL,
            self.index,
            tokens_mean=d.tokens_mean,
            quality_mean=d.quality_mean,
        )
        if d.workflows:
            _, sf = draw_workflows(d.workflows, n, m.rng)
            edited = sf < 1.0
            if edited.any():
                batch.synthetic_fraction = sf
                batch.green = batch.green.copy()
                batch.green[edited] = m.watermark.paraphrase(
                    batch.green[edited], batch.tokens[edited], 1.0 - sf[edited], m.rng
                )
        m.publish(batch)
        self.docs_published += n

    def retrain(self) -> None:
        """Build a training set from the data policy and fit a new generation.

        The pool is what this model's scrapers kept since its last retrain (all crawls ever for
        ``accumulate_subsample``); the training set itself is a pure function of the policy, the
        pool, the store and the world (:func:`~habsburg.ecosystem.training.build_training_set`).
        """
        m = self.model
        data = self.training_set()
        self.accumulated = data.accumulated
        self.accumulated_roots = data.accumulated_roots
        learners = self.new_learners()
        learners.concepts.fit(data.concept_counts)
        learners.facts.fit(data.fact_counts)
        # nothing reads the training set's styles after the fit: centred in place (no copy)
        learners.style.fit(data.style, overwrite_input=True)
        self.learners = learners
        self.generation += 1
        self.last_retrain_step = m.month
        self.adopt_beliefs(data)
        m.events.record_generation(self, data)

    def training_set(self) -> TrainingSet:
        """The training set of this model's next generation (changes no agent's state)."""
        m = self.model
        policy = self.config.data
        # all crawls ever, deduplicated from the scrapers' first copies (no raw pool is made)
        from_first_copies = policy.mode == "accumulate_subsample" and policy.dedup
        return build_training_set(
            policy,
            # passed without a name here, so deduplicating a raw pool frees it
            self._pool(policy, from_first_copies),
            m.internet.store,
            m.world,
            m.rng,
            previous=self.accumulated,
            # (a checkpoint from before these were kept has none: the next set rebuilds them)
            previous_roots=getattr(self, "accumulated_roots", None),
            archive_last_step=m.config.launch_step - 1,
            facts_per_doc=m.config.humans.facts_per_doc,
            teacher=self.teacher(),
            registry=m.errors,
            step=m.month,
            deduplicated=from_first_copies,
        )

    def _scrapers(self, policy: DataPolicy) -> list[Scraper]:
        """The scrapers whose crawls a model with ``policy`` buys (in the model's order)."""
        return [s for s in self.model.agents_by_type.get(Scraper, []) if s.serves(policy)]

    def _pool(self, policy: DataPolicy, from_first_copies: bool = False) -> np.ndarray:
        """What this model's scrapers kept in crawls (all crawls ever for
        ``accumulate_subsample``, else those since the last retrain), in one array of the
        store's row type; ``from_first_copies``: deduplicated by original, from what each
        scraper keeps of its crawls' first copies (:func:`dedup_histories`)."""
        store = self.model.internet.store
        scrapers = self._scrapers(policy)
        if from_first_copies:
            return dedup_histories(store, [s.history() for s in scrapers], store.id_type)
        since = 0 if policy.mode == "accumulate_subsample" else self.last_retrain_step + 1
        parts = [s.datasets_since(since) for s in scrapers]
        rows = store.id_type
        return np.concatenate(parts, dtype=rows) if parts else np.zeros(0, rows)  # narrow copy

    def teacher(self) -> Teacher | None:
        """The deployed model this one distils from, if its policy asks for one."""
        policy = self.config.data
        if not (policy.distill_from and round(policy.distill_fraction * policy.budget)):
            return None
        other = self.model.model_by_name(policy.distill_from)
        if other is None or not other.deployed:
            return None
        return Teacher(other.index, other.learners)

    def adopt_beliefs(self, data: TrainingSet) -> None:
        """Quality metrics of the new generation, and the errors it came to believe (registered
        as its own when nobody published them), recorded as adoptions in the error registry."""
        assert self.learners is not None  # (called once the new generation is fitted)
        m = self.model
        self.metrics = K.model_quality(self.learners, m.world)
        self.training_stats = data.stats
        facts, values = K.wrong_beliefs(self.learners, m.world.true_values)
        ids = m.errors.error_id(facts, values)
        unregistered = ids < 0
        if unregistered.any():  # a wrong belief nobody published: the model made it up itself
            ids[unregistered] = m.errors.register(
                facts[unregistered], values[unregistered], MODEL, self.index, self.index, m.month
            )
        new = np.setdiff1d(ids, self.believed_errors)
        self.errors_adopted = int(new.size)
        m.errors.record_adoptions(new, self.index, self.generation, m.month)
        self.believed_errors = np.unique(ids)
