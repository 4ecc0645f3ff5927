"""What the run observes, on a random stream of its own.

Measuring the web the way a web study does (an AI-text detector that errs) and keeping a sample of
crawled documents' z-scores for ROC analysis both need random draws. They come from a child stream
spawned from the run's seed, never from the model's generator, so measuring more or less (adding or
removing a reporter) leaves the simulated trajectory bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from habsburg.ecosystem.rawdraws import sorted_sample

#: how many crawled documents per crawl keep their z-score for ROC analysis
Z_SAMPLE = 400


def observation_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator independent of ``rng``'s stream, spawned from the same seed sequence
    (spawning does not draw from ``rng``, so the simulation is unaffected)."""
    seed_seq = rng.bit_generator.seed_seq
    # (a generator made by ``default_rng(seed)``, as Mesa makes the model's, has one)
    assert isinstance(seed_seq, np.random.SeedSequence)
    return np.random.default_rng(seed_seq.spawn(1)[0])


@dataclass(frozen=True)
class MonthObservation:
    """The web as measured at the end of one month."""

    new_documents: int
    documents: int
    synthetic_share_new: float  # ground truth: mean synthetic fraction
    synthetic_share_new_measured: float  # share the study's detector flags
    synthetic_share_stock: float
    synthetic_share_stock_measured: float
    duplicate_share_web: float


class Observer:
    """Applies the study detector (``scenario.measurement``) to each month's new documents and
    samples crawled documents' z-scores; everything drawn here comes from ``self.rng``."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.flag_total = 0
        self.synthetic_total = 0.0
        self.z_samples: list[dict[str, Any]] = []
        self.month: MonthObservation | None = None

    def observe(self, model: Any) -> MonthObservation:
        """Measure this month's new documents (called once per step, after the agents acted)."""
        store, t = model.internet.store, model.month
        new = store.step_slice(t, t)
        sf = store.synthetic_fraction[new].astype(np.float64)
        meas = model.config.measurement
        flags = self.rng.random(sf.size) < meas.fpr + (meas.tpr - meas.fpr) * sf
        self.flag_total += int(flags.sum())
        self.synthetic_total += float(sf.sum())
        n_all = len(store)
        nan = float("nan")
        self.month = MonthObservation(
            new_documents=int(sf.size),
            documents=n_all,
            synthetic_share_new=float(sf.mean()) if sf.size else nan,
            synthetic_share_new_measured=float(flags.mean()) if sf.size else nan,
            synthetic_share_stock=self.synthetic_total / n_all if n_all else nan,
            synthetic_share_stock_measured=self.flag_total / n_all if n_all else nan,
            duplicate_share_web=(
                float((store.originals_of(new) >= 0).mean()) if sf.size else float("nan")
            ),
        )
        return self.month

    def sample_crawl(self, model: Any, scraper: Any, sampled: np.ndarray) -> None:
        """Keep up to :data:`Z_SAMPLE` of a crawl's documents with their watermark z-scores and the
        scores of the scraper's AI-text classifier (fixed per document: no draws)."""
        if not sampled.size:
            return
        store = model.internet.store
        pick = sampled if sampled.size <= Z_SAMPLE else sorted_sample(sampled, Z_SAMPLE, self.rng)
        # arrays per crawl, one table at the end (export.z_sample_table): no DataFrame per crawl
        self.z_samples.append(
            {
                "step": model.month,
                "scraper": scraper.name,
                "document": pick,
                "z": model.watermark.z_scores(store.green[pick], store.tokens[pick]).astype(
                    np.float32
                ),
                "classifier_score": scraper.classifier_scores(pick).astype(np.float32),
                "paraphrase": store.paraphrase_of(pick),
                "tokens": store.tokens[pick],
                "synthetic_fraction": store.synthetic_fraction[pick],
                "kind": store.kind[pick],
            }
        )
