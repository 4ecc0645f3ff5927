"""Text mode: the ecosystem loop on real tokens, as a Mesa model with agents of its own.

One step is one generation. In order: human author communities publish real passages of the
corpus; each generative model (an :class:`NgramLearner`) publishes sampled documents
(watermarked if its lab watermarks; a share paraphrased by real edits); the scraper crawls the
new documents through a watermark filter and a perplexity classifier; each model retrains on its
data policy (replace / accumulate / reservoir / distillation) and becomes the next generation.
Per generation the model records the collapse measures of :mod:`habsburg.ecosystem.text.metrics`.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from habsburg.agents.ids import MODEL_IDS
from habsburg.ecosystem.rawdraws import sorted_sample
from habsburg.ecosystem.text.classifier import PerplexityClassifier
from habsburg.ecosystem.text.corpus import Corpus, passages, tokenize
from habsburg.ecosystem.text.metrics import distinct_ngrams, ngram_share, vocabulary_share
from habsburg.ecosystem.text.ngram import NgramLearner, flatten
from habsburg.ecosystem.text.store import HUMAN, KIND_HUMAN, KIND_MODEL, TokenStore
from habsburg.ecosystem.text.views import (
    concept_distribution,
    concept_divergence,
    fact_accuracy,
    fact_claims,
    true_values,
)
from habsburg.ecosystem.text.watermark import TokenWatermark, paraphrase
from habsburg.scenarios.text_schema import TextModelConfig, TextScenario


class AuthorCommunity(mesa.Agent):
    """Human authors of one community (a genre of the corpus): publish real passages."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: TextEcosystemModel, index: int, name: str, docs: list[np.ndarray]):
        super().__init__(model)
        self.index, self.name, self.docs = index, name, docs

    def publish(self) -> None:
        m = self.model
        share = m.community_share[self.index]
        n = int(m.rng.binomial(m.config.humans.documents, share)) if share > 0 else 0
        docs = passages(self.docs, n, m.config.humans.document_tokens, m.rng)
        if docs:
            m.store.publish(
                docs, generation=m.generation, kind=KIND_HUMAN, producer=self.index, author=HUMAN
            )


class TextGenerativeModel(mesa.Agent):
    """A model lineage: an n-gram learner that publishes, and retrains on its data policy."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: TextEcosystemModel, config: TextModelConfig, index: int):
        super().__init__(model)
        self.config, self.index = config, index
        V = len(model.corpus.vocab)
        self.watermark = (
            TokenWatermark(
                V,
                key=int(model.rng.integers(2**62)),
                gamma=config.watermark_gamma,
                delta=config.watermark_delta,
            )
            if config.watermark
            else None
        )
        self.learner = self._new_learner().fit(model.human_train)
        self.first = self.learner  # generation 0: trained on human text only
        self.generation = 0
        self.market_share = 1.0
        self.published = np.zeros(0, dtype=np.int64)
        self.training_stats = {
            "train_tokens": float(sum(d.size for d in model.human_train)),
            "train_synthetic_share": 0.0,
        }

    def _new_learner(self) -> NgramLearner:
        c = self.config
        return NgramLearner(
            len(self.model.corpus.vocab), order=c.order, temperature=c.temperature, top_p=c.top_p
        )

    def publish(self) -> None:
        m, c = self.model, self.config
        n_docs = m.documents_for(self)
        docs = self.learner.sample(n_docs, c.document_tokens, m.rng, watermark=self.watermark)
        author = np.full(docs.shape, self.index, dtype=np.int16)
        m.measure(self, docs)  # the model's own output, before any user edits it
        n_para = round(c.paraphrase_share * n_docs)
        if n_para:
            flat = docs[:n_para].ravel()
            edited, _ = paraphrase(
                flat,
                c.paraphrase_fraction,
                m.rng,
                mode=c.paraphrase_mode,
                paraphraser=m.paraphraser,
                offsets=np.arange(0, flat.size + 1, docs.shape[1]),
            )
            docs[:n_para] = edited.reshape(n_para, -1)
        self.published = m.store.publish(
            docs,
            generation=m.generation,
            kind=KIND_MODEL,
            producer=self.index,
            author=author,
            watermarked=self.watermark is not None,
        )

    def retrain(self) -> None:
        """Fit the next generation on the data policy's training set (store ids + original
        human documents), then deploy it."""
        m, c = self.model, self.config
        human: list[np.ndarray] = []
        if c.policy == "distillation":
            teacher = next(a for a in m.generative_models if a.config.name == c.teacher)
            ids = teacher.published
        elif c.policy == "accumulate":
            ids = np.concatenate(m.crawled) if m.crawled else np.zeros(0, np.int64)
            human = list(m.human_train)
        else:
            ids = m.crawled[-1] if m.crawled else np.zeros(0, np.int64)
            if c.policy == "reservoir":  # Shumailov et al. 2024: a share of original data kept
                n_total = max(ids.size, 1)
                n_human = round(c.reservoir_fraction * n_total)
                ids = m.rng.permutation(ids)[: n_total - n_human]
                # passages as long as the crawled documents: the share holds in tokens too
                length = int(np.diff(m.store.offsets)[ids].mean()) if ids.size else 80
                human = passages(m.human_train, n_human, length, m.rng)
        n_all = ids.size + len(human)
        if c.training_documents and n_all > c.training_documents:
            pick = m.rng.choice(n_all, c.training_documents, replace=False)
            human = [human[i - ids.size] for i in pick[pick >= ids.size]]
            ids = ids[pick[pick < ids.size]]
        if n_all == 0:
            return  # nothing to learn from: the deployed generation stays
        docs = m.store.documents(ids) + human
        tokens, offsets = flatten(docs)
        self.learner = self._new_learner().fit_flat(tokens, offsets)
        self.generation += 1
        lengths = np.diff(m.store.offsets)[ids]
        synthetic = float((m.store.synthetic_fraction(ids) * lengths).sum())
        self.training_stats = {
            "train_tokens": float(tokens.size),
            "train_synthetic_share": synthetic / max(tokens.size, 1),
        }


class TextScraper(mesa.Agent):
    """Crawls the generation's new documents through the watermark and classifier filters."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def crawl(self) -> None:
        m, c = self.model, self.model.config.scraper
        new = np.flatnonzero(m.store.generation == m.generation)
        if c.crawl_documents and new.size > c.crawl_documents:
            new = sorted_sample(new, c.crawl_documents, m.rng)
        tokens, offsets = m.store.select(new)
        flagged = np.zeros(new.size, dtype=bool)
        wm_flags = np.zeros(new.size, dtype=bool)
        if c.watermark_filter:
            for agent in m.generative_models:
                if agent.watermark is not None:
                    wm_flags |= agent.watermark.detect(tokens, offsets)["z"] > c.z_threshold
        clf_flags = m.classifier.flags(tokens, offsets) if c.classifier_filter else wm_flags & False
        flagged = wm_flags | clf_flags
        truth = m.store.synthetic_fraction(new) > 0.5
        kept = new[~flagged]
        m.crawled.append(kept)
        tp, fp = int((flagged & truth).sum()), int((flagged & ~truth).sum())
        m.scraper_rows.append(
            {
                "generation": m.generation,
                "crawled": int(new.size),
                "kept": int(kept.size),
                "watermark_flags": int(wm_flags.sum()),
                "classifier_flags": int(clf_flags.sum()),
                "precision": tp / max(tp + fp, 1) if flagged.any() else float("nan"),
                "recall": tp / max(int(truth.sum()), 1) if truth.any() else float("nan"),
                "synthetic_before": float(truth.mean()) if new.size else float("nan"),
                "synthetic_after": float(truth[~flagged].mean()) if kept.size else float("nan"),
                "human_lost": fp,
            }
        )


class TextEcosystemModel(mesa.Model):
    """The text-mode ecosystem. ``corpus`` is the human corpus (tests pass a small one)."""

    def __init__(self, scenario: TextScenario, corpus: Corpus, *, seed: int | None = None) -> None:
        super().__init__(rng=scenario.seed if seed is None else seed)
        self.config, self.corpus = scenario, corpus
        self.store = TokenStore()
        self.generation = 0
        # the training split is divided into the pre-AI data every model starts from and the new
        # text human authors write during the run (which no model has seen)
        train_docs = corpus.train_documents()
        train_comm = corpus.community[~corpus.heldout]
        humans = scenario.humans
        fresh = np.zeros(len(train_docs), dtype=bool)
        if humans.documents > 0 and humans.fresh_fraction > 0:
            fresh = self.rng.random(len(train_docs)) < humans.fresh_fraction
        self.human_train = [d for d, f in zip(train_docs, fresh, strict=True) if not f]
        self.heldout = corpus.heldout_documents()
        V = len(corpus.vocab)
        self.human_vocab = np.unique(np.concatenate(self.human_train))
        self.human_vocab = self.human_vocab[self.human_vocab > 2]
        self._human_ngrams: dict[int, np.ndarray] = {}
        # a reference model of pre-AI human text: the classifier's yardstick and the paraphraser;
        # the threshold is calibrated on held-out human text (never on text the model has seen)
        self.reference = NgramLearner(V, order=3).fit(self.human_train)
        self.paraphraser = self.reference
        unigram = NgramLearner(V, order=1).fit(self.human_train)
        calib = passages(self.heldout, 400, humans.document_tokens, self.rng)
        self.classifier = PerplexityClassifier(
            self.reference, baseline=unigram, fpr=scenario.scraper.classifier_fpr
        ).calibrate(*flatten(calib))
        pool = fresh if fresh.any() else np.ones(len(train_docs), dtype=bool)
        sizes = np.bincount(train_comm[pool], minlength=len(corpus.community_names)).astype(float)
        self.community_share = sizes / sizes.sum()
        for i, name in enumerate(corpus.community_names):
            docs = [d for d, c, f in zip(train_docs, train_comm, pool, strict=True) if c == i and f]
            if docs:
                AuthorCommunity(self, i, name, docs)
        for i, cfg in enumerate(scenario.models):
            TextGenerativeModel(self, cfg, i)
        total = sum(cfg.documents for cfg in scenario.models)
        for agent in self.generative_models:
            agent.market_share = agent.config.documents / total
        TextScraper(self)
        self.crawled: list[np.ndarray] = []
        self.model_rows: list[dict] = []
        self.scraper_rows: list[dict] = []
        self.perplexity_rows: list[pd.DataFrame] = []
        self.sample_rows: list[dict] = []
        self.prompt = corpus.vocab.encode(tokenize(scenario.samples.prompt))
        human_flat, human_offsets = flatten(self.human_train)
        self.fact_truth = true_values(
            fact_claims(human_flat, corpus.vocab, offsets=human_offsets), V
        )
        self.human_concepts = concept_distribution(human_flat, V)
        self.concepts: dict[tuple[int, str], np.ndarray] = {}

    @property
    def generative_models(self) -> list[TextGenerativeModel]:
        return list(self.agents_by_type.get(TextGenerativeModel, []))

    def human_ngrams(self, order: int) -> np.ndarray:
        if order not in self._human_ngrams:
            self._human_ngrams[order] = distinct_ngrams(
                self.human_train, order, len(self.corpus.vocab)
            )
        return self._human_ngrams[order]

    def documents_for(self, agent: TextGenerativeModel) -> int:
        """Documents a model publishes this generation: its configured number, or its market
        share of the AI demand when the scenario sets ``demand.documents``."""
        total = self.config.demand.documents
        return agent.config.documents if total == 0 else max(1, round(agent.market_share * total))

    def update_market(self) -> None:
        """Users move toward better models: shares relax toward ``exp(−s·(log ppl − best))``
        with inertia (as ``EcosystemModel.update_market`` does with capability)."""
        d = self.config.demand
        agents = self.generative_models
        rows = {r["model"]: r for r in self.model_rows if r["generation"] == self.generation}
        cap = np.log([rows[a.config.name]["heldout_perplexity"] for a in agents])
        attract = np.exp(-d.quality_sensitivity * (cap - cap.min()))
        share = np.array([a.market_share for a in agents])
        share = d.inertia * share + (1 - d.inertia) * attract / attract.sum()
        for a, s in zip(agents, share / share.sum(), strict=True):
            a.market_share = float(s)

    def step(self) -> None:
        for cls, method in (
            (AuthorCommunity, "publish"),
            (TextGenerativeModel, "publish"),
            (TextScraper, "crawl"),
        ):
            agents = self.agents_by_type.get(cls)
            if agents:
                agents.shuffle_do(method)
        if self.config.demand.documents:
            self.update_market()
        if self.generation < self.config.generations - 1:
            self.agents_by_type[TextGenerativeModel].do("retrain")
        self.generation += 1

    def measure(self, agent: TextGenerativeModel, docs: np.ndarray) -> None:
        """Record the deployed generation's collapse measures and sample continuations."""
        learner, c = agent.learner, agent.config
        flat = docs.ravel()
        offsets = np.arange(0, flat.size + 1, docs.shape[1])
        own = agent.first.doc_perplexities(flat, offsets)
        row = {
            "generation": self.generation,
            "model": c.name,
            "model_generation": agent.generation,
            "market_share": agent.market_share,
            "documents": int(docs.shape[0]),
            "heldout_perplexity": learner.perplexity(self.heldout),
            "own_perplexity_gen0_median": float(np.median(own)),
            "own_perplexity_gen0_mean": float(np.mean(own)),
            "ngram_share": ngram_share(learner, self.human_ngrams(c.order)),
            "vocabulary_share": vocabulary_share(learner, self.human_vocab),
            "distinct_sample_ngrams": int(
                distinct_ngrams(list(docs), c.order, learner.vocab_size).size
            ),
            **agent.training_stats,
        }
        accuracy, n_claims = fact_accuracy(
            fact_claims(flat, self.corpus.vocab, offsets=offsets), self.fact_truth
        )
        concepts = concept_distribution(flat, learner.vocab_size)
        self.concepts[self.generation, c.name] = concepts
        row.update(
            fact_accuracy=accuracy,
            fact_claims=n_claims,
            concept_js_to_human=concept_divergence(concepts, self.human_concepts),
        )
        if agent.watermark is not None:
            row["mean_z"] = float(agent.watermark.detect(flat, offsets)["z"].mean())
        self.model_rows.append(row)
        self.perplexity_rows.append(
            pd.DataFrame({"generation": self.generation, "model": c.name, "perplexity_gen0": own})
        )
        cont = learner.sample(
            self.config.samples.continuations,
            self.config.samples.tokens,
            self.rng,
            prompt=self.prompt,
        )
        for k, ids in enumerate(cont):
            self.sample_rows.append(
                {
                    "generation": self.generation,
                    "model": c.name,
                    "sample": k,
                    "prompt": self.config.samples.prompt,
                    "text": self.corpus.vocab.decode(ids),
                }
            )

    def convergence(self) -> pd.DataFrame:
        """Pairwise Jensen–Shannon divergence between models' concept (content-word)
        distributions per generation: falling values mean the models converge."""
        rows = []
        names = [a.config.name for a in self.generative_models]
        for g in range(self.generation):
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    if (g, a) in self.concepts and (g, b) in self.concepts:
                        js = concept_divergence(self.concepts[g, a], self.concepts[g, b])
                        rows.append({"generation": g, "model_a": a, "model_b": b, "concept_js": js})
        return pd.DataFrame(rows, columns=["generation", "model_a", "model_b", "concept_js"])

    def tables(self) -> dict[str, pd.DataFrame]:
        """The run's result tables (one row per generation × model / crawl / sample)."""
        return {
            "text_convergence": self.convergence(),
            "text_generations": pd.DataFrame(self.model_rows),
            "text_crawls": pd.DataFrame(self.scraper_rows),
            "text_perplexities": pd.concat(self.perplexity_rows, ignore_index=True)
            if self.perplexity_rows
            else pd.DataFrame(),
            "text_samples": pd.DataFrame(self.sample_rows),
        }
