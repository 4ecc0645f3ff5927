"""The published web studies as instruments applied to the simulated web every month (Issue 11).

Each study measured the real web with its own detector and its own classification rule, so each
is simulated the same way: a :class:`Detector` estimates every new document's AI fraction with
error (``scenario.instruments``), and the study's rule turns the estimates into its statistic.

- :class:`GraphiteInstrument`: share of new articles classified AI-generated (estimated AI
  fraction above 50%). Graphite, "More Articles Are Now Created by AI Than Humans" (2025; 65,000
  Common Crawl articles, Surfer detector with 4.2% false positives and 0.6% false negatives):
  39% twelve months after ChatGPT, parity in Nov 2024, then a plateau near 50%.
- :class:`AhrefsInstrument`: new pages binned by estimated AI share: pure human, 1–10%, 11–40%,
  41–70%, 71–99%, pure AI. Ahrefs (2025) on 900,000 new English pages of April 2025: 25.8%,
  9.87%, 25.86%, 20.50%, 15.51%, 2.5%.
- :class:`LiangInstrument`: population-level share of human-written text that is LLM-modified.
  Liang et al., "The widespread adoption of large language model-assisted writing across
  society" (Patterns 2025, arXiv:2502.09747): about 18% of consumer complaints, up to 24% of
  corporate press releases, ~10% of job postings and ~14% of UN press releases by late 2024,
  after a fast rise following ChatGPT and a plateau in 2024. Its population is what human
  authors publish (kinds human and hybrid), not model users' posts or farms.

Every draw comes from a child of the observation stream (``model.observer.rng``), so measuring
changes neither the simulated trajectory nor the other observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logit, ndtr

from habsburg.ecosystem.store import HUMAN, HYBRID
from habsburg.scenarios.schema import DetectorConfig, InstrumentsConfig

#: Ahrefs' bins of the estimated AI share, in whole percent (pure human is 0%, pure AI 100%)
AHREFS_BINS = ("pure_human", "ai_1_10", "ai_11_40", "ai_41_70", "ai_71_99", "pure_ai")
#: upper edges (whole percent, inclusive) of the bins above
AHREFS_EDGES = (0, 10, 40, 70, 99, 100)


@dataclass(frozen=True)
class Detector:
    """An AI-text detector: a document of synthetic fraction s reads ``floor + (ceiling −
    floor)·s`` and the estimate is that reading plus Gaussian noise on the logit scale."""

    floor: float
    ceiling: float
    noise: float
    threshold: float = 0.5

    @classmethod
    def from_config(cls, c: DetectorConfig) -> Detector:
        return cls(c.floor, c.ceiling, c.noise, c.threshold)

    def estimate(self, synthetic_fraction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Estimated AI fraction of each document (in (0, 1))."""
        s = np.asarray(synthetic_fraction, dtype=np.float64)
        return expit(self._logit_reading(s) + self.noise * rng.standard_normal(s.size))

    def _logit_reading(self, s: np.ndarray) -> np.ndarray:
        """``logit(floor + (ceiling − floor)·clip(s, 0, 1))``, the logit taken once for the
        human (s ≤ 0) and the wholly synthetic (s ≥ 1) documents, most of a month's: the same
        values, at a fraction of the cost (a logit costs more than the noise's normal draw)."""
        span = self.ceiling - self.floor
        out = np.full(s.size, logit(self.floor + span * 0.0))
        top = s >= 1.0
        out[top] = logit(self.floor + span * 1.0)
        between = np.flatnonzero(~((s <= 0.0) | top))  # (and any NaN, as before)
        out[between] = logit(self.floor + span * s[between])
        return out

    def classify(self, synthetic_fraction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Documents the study counts as AI-written (estimate above the threshold)."""
        return self.estimate(synthetic_fraction, rng) > self.threshold

    def error_rates(self) -> tuple[float, float]:
        """(false-positive rate on human text, false-negative rate on model text) at the
        threshold, in closed form."""
        cut = logit(np.clip(self.threshold, 1e-12, 1 - 1e-12))
        scale = max(self.noise, 1e-12)
        fpr = ndtr(-((cut - logit(self.floor)) / scale))
        fnr = ndtr((cut - logit(self.ceiling)) / scale)
        return float(fpr), float(fnr)


class GraphiteInstrument:
    """Share of new articles the detector classifies AI-generated (Graphite 2025)."""

    name = "graphite"

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def measure(self, sf: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> dict:
        if not sf.size:
            return {"graphite_ai_share": np.nan}
        return {"graphite_ai_share": float(self.detector.classify(sf, rng).mean())}


class AhrefsInstrument:
    """New pages binned by estimated AI share, rounded to whole percent (Ahrefs 2025)."""

    name = "ahrefs"

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    @staticmethod
    def bin_shares(estimate: np.ndarray) -> np.ndarray:
        """Share of documents in each of :data:`AHREFS_BINS` given estimated AI fractions."""
        percent = np.rint(100.0 * np.asarray(estimate, dtype=np.float64))
        which = np.searchsorted(np.array(AHREFS_EDGES), percent, side="left")
        return np.bincount(which, minlength=len(AHREFS_BINS)) / max(percent.size, 1)

    def measure(self, sf: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> dict:
        if not sf.size:
            return {f"ahrefs_{b}": np.nan for b in AHREFS_BINS}
        shares = self.bin_shares(self.detector.estimate(sf, rng))
        return {f"ahrefs_{b}": float(v) for b, v in zip(AHREFS_BINS, shares, strict=True)}


class LiangInstrument:
    """Population-level share of human-written text that is LLM-modified (Liang et al. 2025).

    The study fits the corpus as a mixture of human text and fully LLM-modified reference text;
    a document whose estimated AI fraction is e counts as ``min(1, e / reference)`` of a modified
    document, ``reference`` being the AI fraction of the reference text.
    """

    name = "liang"

    def __init__(self, detector: Detector, reference: float) -> None:
        self.detector = detector
        self.reference = reference

    def measure(self, sf: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> dict:
        human_written = (kind == HUMAN) | (kind == HYBRID)
        if not human_written.any():
            return {"liang_llm_modified_share": np.nan}
        estimate = self.detector.estimate(sf[human_written], rng)
        alpha = np.minimum(1.0, estimate / self.reference).mean()
        return {"liang_llm_modified_share": float(alpha)}


def build_instruments(config: InstrumentsConfig) -> list[Any]:
    """The three study instruments a scenario declares."""
    return [
        GraphiteInstrument(Detector.from_config(config.graphite)),
        AhrefsInstrument(Detector.from_config(config.ahrefs)),
        LiangInstrument(Detector.from_config(config.liang), config.liang_reference),
    ]


#: every series the instruments record, with its meaning (registered as model metrics)
INSTRUMENT_SERIES: dict[str, str] = {
    "graphite_ai_share": "Graphite-style share of new articles classified AI (detector > 50%)",
    **{
        f"ahrefs_{b}": f"Ahrefs-style share of new pages with estimated AI share {label}"
        for b, label in zip(
            AHREFS_BINS, ("0%", "1-10%", "11-40%", "41-70%", "71-99%", "100%"), strict=True
        )
    },
    "liang_llm_modified_share": "Liang et al.-style share of human-written text LLM-modified",
}


class InstrumentPanel:
    """The instruments of one run, measuring each month's new documents once (cached by month)
    on a child of the observation stream."""

    def __init__(self, model: Any) -> None:
        self.rng = np.random.default_rng(model.observer.rng.bit_generator.seed_seq.spawn(1)[0])
        self.month = -1
        self.readings: dict[str, float] = {}

    def read(self, model: Any) -> dict[str, float]:
        """This month's readings of every instrument."""
        if model.month != self.month:
            store, t = model.internet.store, model.month
            new = store.step_slice(t, t)
            sf = store.synthetic_fraction[new].astype(np.float64)
            kind = store.kind[new]
            self.readings = {}
            # built each month from the settings, so an intervention on instruments.* applies
            for instrument in build_instruments(model.config.instruments):
                self.readings.update(instrument.measure(sf, kind, self.rng))
            self.month = model.month
        return self.readings


def instrument_panel(model: Any) -> InstrumentPanel:
    """The model's instrument panel, built on first use (kept on the model so it pickles with it
    and its random stream continues across checkpoints)."""
    panel = model.__dict__.get("_instrument_panel")
    if panel is None:
        panel = model._instrument_panel = InstrumentPanel(model)
    return panel


def instrument_reading(model: Any, key: str) -> float:
    """One instrument series' value this month (a model metric)."""
    return instrument_panel(model).read(model).get(key, np.nan)
