"""AI-text classifiers as score models: a score per document, a filter is a threshold on it.

A real detector (DetectGPT, a RoBERTa classifier, GPTZero ...) outputs a score whose distribution
depends on the document: how much of it a model wrote, how long it is, and whether it was
paraphrased. That is what makes hybrid and paraphrased text hard to catch and what a threshold
trades off. The score model here is the equal-variance binormal model of ROC analysis:

    human text:          score ~ N(0, 1)
    a document with synthetic fraction s, T tokens and paraphrase fraction ε:
                         score ~ N(d₀ · s · (T/T₀)^α · (1 − ε)^k, 1)

- d₀ (separation at the reference length T₀) is fixed by the detector's published recall on fully
  synthetic, unedited text at a published false-positive rate: d₀ = Φ⁻¹(1 − FPR) + Φ⁻¹(recall).
- k is fixed by its published recall after a paraphrase of a fraction ε_ref of tokens, the same way.
- α = 0.5: evidence accumulates per token like a sum of per-token log-likelihood terms (the same √T
  law as the watermark z-test); longer documents are easier, as every detector benchmark reports.
- The mean is linear in s: per-token evidence averaged over a document only a share s of which a
  model wrote (an assumption; hybrids are scored as a dilution of the pure case).

Default calibration (``DETECTORS["detectgpt"]``): Krishna et al. 2023, "Paraphrasing evades
detectors of AI-generated text, but retrieval is an effective defense" (NeurIPS 2023): DIPPER
paraphrasing (lexical diversity 60, order diversity 60) drops DetectGPT's detection rate from 70.3%
to 4.6% at a 1% false-positive rate. We read L60 as about 60% of tokens changed (ε_ref = 0.6) and
take T₀ = 300 tokens as the length of the evaluated generations; both are our reading, stated so
they can be changed (``filters.detector.*``). Then d₀ = 2.86 and k = 1.63.

A detector's score on a document is a property of the text, so the noise term is a deterministic
function of (document id, detector name): every crawler running the same detector sees the same
score, the observer can record it, and scoring draws nothing from the simulation's random stream.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import numpy as np
from scipy.special import ndtr, ndtri


# the standard normal's quantiles and tail exactly as scipy.stats.norm computes them (isf = -ndtri,
# sf(x) = ndtr(-x)) without importing scipy.stats (0.7 s of every worker's start-up)
def _isf(q: float) -> np.float64:
    return -ndtri(q)


def _sf(x: np.ndarray | float) -> np.ndarray | np.float64:
    return ndtr(-np.asarray(x))


@dataclass(frozen=True)
class DetectorModel:
    """An AI-text classifier's score model, parameterised by the published figures it is
    calibrated to (see the module docstring for the model and the default's source)."""

    name: str = "detectgpt"
    recall: float = 0.703
    reference_fpr: float = 0.01
    reference_tokens: float = 300.0
    paraphrased_recall: float = 0.046
    reference_paraphrase: float = 0.6
    length_exponent: float = 0.5

    def __post_init__(self) -> None:
        for key in ("recall", "reference_fpr", "paraphrased_recall", "reference_paraphrase"):
            value = getattr(self, key)
            if not 0.0 < value < 1.0:
                raise ValueError(f"detector {self.name!r}: {key} must be in (0, 1), got {value!r}")
        if self.recall <= self.reference_fpr:
            raise ValueError(
                f"detector {self.name!r}: recall ({self.recall}) must exceed reference_fpr "
                f"({self.reference_fpr}); a detector no better than chance has no score model"
            )
        if not self.reference_fpr < self.paraphrased_recall <= self.recall:
            raise ValueError(
                f"detector {self.name!r}: paraphrased_recall must be in (reference_fpr, recall] "
                f"= ({self.reference_fpr}, {self.recall}], got {self.paraphrased_recall}"
            )
        if self.reference_tokens <= 0 or not 0.0 <= self.length_exponent <= 2.0:
            raise ValueError(
                f"detector {self.name!r}: reference_tokens must be > 0 and length_exponent in "
                f"[0, 2], got {self.reference_tokens}, {self.length_exponent}"
            )

    @cached_property  # fixed per (frozen) detector; scipy's norm costs ~0.1 ms a call
    def separation(self) -> float:
        """d₀: mean score of fully synthetic, unedited text of ``reference_tokens`` tokens."""
        return float(_isf(self.reference_fpr) + ndtri(self.recall))

    @cached_property
    def paraphrase_exponent(self) -> float:
        """k with d₀(1 − ε_ref)^k equal to the separation the paraphrased recall implies."""
        d_para = _isf(self.reference_fpr) + ndtri(self.paraphrased_recall)
        return float(np.log(d_para / self.separation) / np.log1p(-self.reference_paraphrase))

    def at_operating_point(self, recall: float, fpr: float) -> DetectorModel:
        """This detector re-anchored to ``recall`` at ``fpr`` (fully synthetic, unedited text of
        ``reference_tokens``), keeping its paraphrase exponent and length law: how an old fixed
        TPR/FPR pair is read."""
        separation = _isf(fpr) + ndtri(recall)
        d_para = separation * (1.0 - self.reference_paraphrase) ** self.paraphrase_exponent
        return replace(
            self,
            recall=float(recall),
            reference_fpr=float(fpr),
            paraphrased_recall=float(_sf(_isf(fpr) - d_para)),
        )

    def mean_score(
        self,
        synthetic_fraction: np.ndarray | float,
        tokens: np.ndarray | float,
        paraphrase: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """Expected score d₀ · s · (T/T₀)^α · (1 − ε)^k (human text: 0)."""
        s = np.asarray(synthetic_fraction, dtype=np.float64)
        t = np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
        eps = np.clip(np.asarray(paraphrase, dtype=np.float64), 0.0, 1.0)
        length = (t / self.reference_tokens) ** self.length_exponent
        return self.separation * s * length * (1.0 - eps) ** self.paraphrase_exponent

    def scores(
        self,
        synthetic_fraction: np.ndarray,
        tokens: np.ndarray,
        paraphrase: np.ndarray | float,
        documents: np.ndarray,
    ) -> np.ndarray:
        """Each document's score: its mean plus a standard normal noise that is a fixed function
        of (document id, detector name), so a document always gets the same score."""
        return self.mean_score(synthetic_fraction, tokens, paraphrase) + document_noise(
            documents, self.name
        )

    @staticmethod
    @lru_cache(maxsize=256)
    def threshold(fpr: float) -> float:
        """Score threshold whose false-positive rate on human text is ``fpr``."""
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"classifier false-positive rate must be in (0, 1), got {fpr!r}")
        return float(_isf(fpr))

    def recall_at(
        self,
        fpr: float,
        synthetic_fraction: np.ndarray | float = 1.0,
        tokens: np.ndarray | float | None = None,
        paraphrase: np.ndarray | float = 0.0,
    ) -> np.ndarray | np.float64:
        """P(score > threshold(fpr)) for documents of the given kind (closed form)."""
        t = self.reference_tokens if tokens is None else tokens
        mean = self.mean_score(synthetic_fraction, t, paraphrase)
        return _sf(self.threshold(fpr) - mean)

    def flag(
        self,
        synthetic_fraction: np.ndarray,
        tokens: np.ndarray,
        paraphrase: np.ndarray,
        documents: np.ndarray,
        fpr: float,
    ) -> np.ndarray:
        """The filter: documents whose score exceeds the threshold of false-positive rate ``fpr``."""
        scores = self.scores(synthetic_fraction, tokens, paraphrase, documents)
        return scores > self.threshold(fpr)


#: named detectors; their figures and sources are in the module docstring
DETECTORS: dict[str, DetectorModel] = {"detectgpt": DetectorModel()}

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def document_noise(documents: np.ndarray, name: str) -> np.ndarray:
    """Standard normal values that are a fixed function of (document id, ``name``): splitmix64 of
    the id keyed by the name's CRC-32, mapped through Φ⁻¹ (vectorised, no random state)."""
    key = np.uint64(zlib.crc32(name.encode("utf-8")))
    x = np.asarray(documents, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x * _GOLDEN + key * _MIX2 + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        x = x ^ (x >> np.uint64(31))
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return ndtri(u)
