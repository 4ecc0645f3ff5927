"""Scrapers: crawl the site graph, filter what they collect, and repost part of it on their own
aggregator/mirror sites."""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
from mesa.discrete_space import CellAgent

from habsburg.agents.ids import MODEL_IDS
from habsburg.ecosystem.bitset import BitSet
from habsburg.ecosystem.detectors import DetectorModel
from habsburg.ecosystem.edits import EditProcess
from habsburg.ecosystem.idlists import GapList, joined
from habsburg.ecosystem.internet import AGGREGATOR_SITE
from habsburg.ecosystem.rates import false_positive_rate, precision_recall
from habsburg.ecosystem.rawdraws import sorted_sample
from habsburg.ecosystem.sampling import CategoricalTable, ragged_index, sorted_unique
from habsburg.ecosystem.store import REPOST, Batch
from habsburg.ecosystem.training import FirstCopies
from habsburg.scenarios.schema import DataPolicy, ScraperConfig


def weighted_sample_without_replacement(
    weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``k`` items drawn without replacement with probability ∝ weight
    (Efraimidis & Spirakis 2006: the k largest of u^(1/w))."""
    n = weights.size
    if k >= n:
        return np.arange(n)
    keys = np.log(rng.random(n)) / weights
    return np.sort(np.argpartition(-keys, k - 1)[:k])


class Scraper(CellAgent):
    """A crawler with a filter pipeline; each crawl yields a dataset and a confusion matrix.

    It lives on its first aggregator site in the model's site-graph space (none if it runs no
    aggregator) and walks that graph when it crawls."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: mesa.Model, config: ScraperConfig, index: int) -> None:
        super().__init__(model)
        self.config = config
        self.index = index
        self.sites = model.internet.sites_of(AGGREGATOR_SITE, index)
        if self.sites.size:
            self.cell = model.space[int(self.sites[0])]
        #: the ids each crawl kept, for later training (as gaps: 2 bytes per id)
        self.crawls: list[GapList] = []
        self.crawl_steps: list[int] = []
        #: root documents this scraper's dedup filter has kept (one bit per store row)
        self.seen_root = BitSet(1024)
        #: which crawled ids are the first copy of their original in all crawls so far
        #: (what a model that retrains on every crawl ever keeps; see :meth:`history`)
        self.first_copies = FirstCopies()
        self.last: dict[str, float] = {}
        self.reposts_published = 0

    @property
    def name(self) -> str:
        return self.config.name

    def last_crawl(self, key: str) -> float:
        """A figure of this scraper's latest crawl (NaN before the first)."""
        return self.last.get(key, float("nan"))

    def serves(self, policy: DataPolicy) -> bool:
        """Whether a model with this data policy buys this scraper's crawls."""
        return not policy.scrapers or self.name in policy.scrapers

    # --- crawling ----------------------------------------------------------------------------
    def crawl(self) -> None:
        """Random-walk the site graph, sample recent documents from visited sites (recency
        weighted), filter them, keep the dataset, and repost part of what was crawled."""
        m = self.model
        c, rng, t = self.config, m.rng, m.month
        visits = m.internet.random_walks(c.budget_sites, c.walk_length, rng)  # on model.space
        sampled = self.sample_recent(visits, t)
        kept, stats = self.filter(sampled)
        self.crawls.append(GapList(kept.astype(m.internet.store.id_type)))
        self.crawl_steps.append(t)
        self.last = stats
        m.events.record_crawl(self, stats, m.month, m.date)
        m.observer.sample_crawl(m, self, sampled)
        self.repost(sampled)

    def sample_recent(self, visits: np.ndarray, t: int) -> np.ndarray:
        """Sample up to ``docs_per_crawl`` distinct documents from the last ``window_months``,
        each with probability ∝ visits to its site × exp(−age / recency_months).

        Works on the (month, visited site) cells, so the cost grows with the sample, not with the
        web: cells are drawn by weight × document count, then a document uniformly within the
        cell; repeats are redrawn. When the sample would take most candidates, it is drawn
        exactly instead. (Only visited sites weigh anything: leaving the others out of the
        cumulative weights changes no draw.)
        """
        c, m = self.config, self.model
        rng = m.rng
        months = min(c.window_months, t + 1)
        visited = np.flatnonzero(visits)
        rows, offsets, counts = m.internet.recent_cells(t, months, visited)
        counts = counts.ravel()  # cells (age, visited site), age-major
        offsets = offsets.ravel()
        n_candidates = int(counts.sum())
        k = min(c.docs_per_crawl, n_candidates)
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        ages = np.arange(months)
        doc_weight = (np.exp(-ages / c.recency_months)[:, None] * visits[visited][None, :]).ravel()
        if k > n_candidates // 2:  # exact: weighted sampling without replacement
            docs = rows[ragged_index(offsets, counts)]
            weights = np.repeat(doc_weight, counts)
            return np.sort(docs[weighted_sample_without_replacement(weights, k, rng)]).astype(
                np.int64
            )
        cells = CategoricalTable(doc_weight * counts)
        chosen = np.zeros(0, dtype=np.int64)
        while chosen.size < k:
            need = int(1.2 * (k - chosen.size)) + 16
            # a guide table once the draws outnumber the cells (the outcomes of a plain search)
            cell = cells.draw(rng.random(need))
            within = (rng.random(need) * counts[cell]).astype(np.int64)
            # the new draws sorted, then merged into the sorted sample: timsort ("stable") finds
            # the two runs and merges them in one pass (with skewed weights a crawl can take
            # dozens of rounds, and sorting the whole sample each round was 3% of a 100× run)
            drawn = np.sort(rows[offsets[cell] + within])
            chosen = sorted_unique(np.concatenate([chosen, drawn]), kind="stable")
        if chosen.size > k:
            chosen = sorted_sample(chosen, k, rng)
        return chosen

    def filter(self, ids: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """The filter pipeline: quality, watermark detector, AI-text classifier, near-duplicates.

        Returns the kept ids and the crawl's figures: the AI filters' confusion matrix against
        ground truth (synthetic fraction ≥ the measurement threshold), the synthetic share before
        and after filtering, human documents lost, and what dedup removed or wrongly dropped."""
        m = self.model
        f, rng, store = self.config.filters, m.rng, m.internet.store
        # each column gathered once for the whole pipeline
        sf32, tokens, paraphrase = self._scored_columns(ids)
        sf = sf32.astype(np.float64)
        truth = sf >= m.config.measurement.threshold
        low_quality = store.quality[ids] < f.quality_threshold
        flagged = np.zeros(ids.size, dtype=bool)
        if f.watermark_detector:
            flagged |= m.watermark.detect(store.green[ids], tokens, f.watermark_threshold)
        if f.classifier:  # a threshold on the classifier's score (habsburg.ecosystem.detectors)
            scores = self.classifier().scores(sf32, tokens, paraphrase, ids)
            flagged |= scores > DetectorModel.threshold(f.classifier_fpr)
        survive = ~low_quality & ~flagged
        dup_removed = dup_wrong = 0
        roots = store.root(ids)
        is_copy = roots != ids  # a repost's root is the earlier document it copies
        if f.dedup:
            self.seen_root.grow(len(store))
            detectable = (1.0 - paraphrase) >= f.dedup_similarity
            kept_before = self.seen_root.contains(roots)
            # an original no earlier crawl kept is wrongly taken for a duplicate at this rate
            # (an original comes before its copies: the ids are sorted)
            false_drop = survive & ~is_copy & ~kept_before
            false_drop &= rng.random(ids.size) < f.dedup_false_positive_rate
            survive &= ~false_drop
            # duplicates of what is kept: an earlier crawl's copy of the original, or an earlier
            # copy in this crawl that passed the other filters (a copy whose original an
            # earlier filter removed duplicates nothing kept, as in the crawls after it)
            order_first = np.zeros(ids.size, dtype=bool)
            passed = np.flatnonzero(survive)
            _, first = np.unique(roots[passed], return_index=True)
            order_first[passed[first]] = True
            duplicate = survive & (kept_before | ~order_first) & (detectable | ~is_copy)
            dup_removed = int(duplicate.sum())
            dup_wrong = int(false_drop.sum())
            survive &= ~duplicate
            self.seen_root.add(roots[survive])
        kept = ids[survive]
        tp = int((flagged & truth).sum())
        fp = int((flagged & ~truth).sum())
        fn = int((~flagged & truth).sum())
        tn = int((~flagged & ~truth).sum())
        precision, recall = precision_recall(tp, fp, fn)
        stats = {
            "sampled": int(ids.size),
            "kept": int(kept.size),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "precision": precision,
            "recall": recall,
            "false_positive_rate": false_positive_rate(fp, tn),
            "synthetic_before": float(sf.mean()) if sf.size else float("nan"),
            "synthetic_after": float(sf[survive].mean()) if survive.any() else float("nan"),
            "human_lost": fp,
            "quality_removed": int(low_quality.sum()),
            "duplicate_share_before": float(is_copy.mean()) if ids.size else float("nan"),
            "duplicate_share_after": float(is_copy[survive].mean())
            if survive.any()
            else float("nan"),
            "dedup_removed": dup_removed,
            "dedup_wrongly_dropped": dup_wrong,
        }
        return kept, stats

    def classifier(self) -> DetectorModel:
        """The score model of this scraper's AI-text classifier (``filters.classifier_model``; an
        old fixed ``classifier_tpr`` re-anchors it at that recall and ``classifier_fpr``). Kept
        while those settings keep their values (an intervention may change them)."""
        f = self.config.filters
        key = (tuple(vars(f.classifier_model).values()), f.classifier_tpr, f.classifier_fpr)
        cached = self.__dict__.get("_classifier")
        if cached is not None and cached[0] == key:
            return cached[1]
        detector = DetectorModel(**dataclasses.asdict(f.classifier_model))
        if f.classifier_tpr >= 0:
            detector = detector.at_operating_point(
                min(max(f.classifier_tpr, f.classifier_fpr + 1e-6), 1 - 1e-9), f.classifier_fpr
            )
        self._classifier = (key, detector)
        return detector

    def classifier_scores(self, ids: np.ndarray) -> np.ndarray:
        """Classifier scores of documents ``ids`` (fixed per document; no random draws)."""
        return self.classifier().scores(*self._scored_columns(ids), ids)

    def _scored_columns(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the classifier scores documents ``ids`` on, as stored: their synthetic
        fraction (float32), tokens and paraphrased fraction (float32)."""
        store = self.model.internet.store
        return store.synthetic_fraction[ids], store.tokens[ids], store.paraphrase_of(ids)

    def __setstate__(self, state: dict) -> None:
        """Checkpoints written before the dedup memory was packed kept it as booleans, and
        before crawls were packed, their ids as arrays."""
        if isinstance(state.get("seen_root"), np.ndarray):
            state = {**state, "seen_root": BitSet.from_bools(state["seen_root"])}
        if any(isinstance(c, np.ndarray) for c in state.get("crawls", ())):  # ... and crawls
            state = {**state, "crawls": [GapList(c) for c in state["crawls"]]}
        if "first_copies" not in state:  # ... and before first copies were kept (rebuilt)
            state = {**state, "first_copies": FirstCopies()}
        self.__dict__.update(state)

    # --- publishing --------------------------------------------------------------------------
    def repost(self, crawled: np.ndarray) -> None:
        """Repost a share of what was crawled on this scraper's aggregator sites; a share of the
        reposts is spun (paraphrased), eroding watermark evidence as paraphrasing does. Reposts
        point to their original and inherit its provenance (synthetic fraction, fact claims with
        their error ids)."""
        c, m = self.config, self.model
        if self.sites.size == 0 or c.repost_share <= 0 or crawled.size == 0:
            return
        rng, store = m.rng, m.internet.store
        # Reposts favour what spreads: a document with a wrong claim weighs 1 + error_virality
        # (the mean repost probability stays ``repost_share``).
        wrong = store.has_wrong_claim(crawled)
        weight = 1.0 + c.error_virality * wrong
        p = np.minimum(1.0, c.repost_share * weight / weight.mean())
        ids = crawled[rng.random(crawled.size) < p]
        n = ids.size
        if n == 0:
            return
        spun = rng.random(n) < c.spin_share
        green = store.green[ids].astype(np.int64)
        tokens = store.tokens[ids]
        paraphrase = store.paraphrase_of(ids).astype(np.float64)
        if spun.any():  # spinning an already paraphrased document compounds the two edits
            green[spun], paraphrase[spun] = m.watermark.spin(
                green[spun],
                tokens[spun],
                paraphrase[spun],
                c.spin_rate,
                rng,
                edits=EditProcess(c.spin_edits.span_length, c.spin_edits.random_share),
            )
        concept_lengths, concepts = store.concept_rows(ids)
        claim_lengths, claim_idx = store.claim_rows(ids)
        claim_facts, claim_values = store.claims_at(claim_idx)
        batch = Batch(
            site=self.sites[rng.integers(0, self.sites.size, size=n)],
            kind=REPOST,
            producer=self.index,
            model=store.model[ids],
            synthetic_fraction=store.synthetic_fraction[ids],
            tokens=tokens,
            green=green,
            style=store.style[ids],
            quality=store.quality[ids],
            concept_lengths=concept_lengths,
            concepts=concepts,
            claim_lengths=claim_lengths,
            claim_facts=claim_facts,
            claim_values=claim_values,
            claim_errors=store.claim_error_ids(claim_idx),
            original=store.root(ids),
            paraphrase=paraphrase,
        )
        m.publish(batch)
        self.reposts_published += n

    def history(self) -> tuple[list[GapList], FirstCopies]:
        """Every crawl kept so far, and which of their ids are first copies of their original
        (brought up to date with the crawls since the last call: the cost of those crawls)."""
        firsts, store = self.first_copies, self.model.internet.store
        for ids in self.crawls[len(firsts) :]:
            firsts.extend(store, ids.ids())
        return self.crawls, firsts

    def datasets_since(self, step: int) -> np.ndarray:
        """Document ids this scraper kept in crawls at or after ``step``."""
        parts = [ids for ids, s in zip(self.crawls, self.crawl_steps, strict=True) if s >= step]
        return joined(parts)  # (in the type of the widest crawl)
