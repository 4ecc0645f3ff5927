"""The validation framework: a measured :class:`Estimate`, the :class:`Tolerance` rule that
judges it, the :class:`Check` that names what is expected and why, and the :class:`Result` /
:class:`Report` of a run of checks.

Each check says whether it is *evidence* (a closed form, a null distribution or a scaling law the
simulator was not tuned to) or *calibration* (a measurement the simulator's parameters were fitted
to: it shows the fit, not that the model is right: a calibration is not evidence).
A *prediction* row compares with a published point measured after the calibration cut-off (never
fitted): inside or outside its published interval is evidence about the model, not a failure of
the code, so predictions never fail a validation run (:attr:`Report.passed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

#: standard errors a fixed tolerance is widened by in ``--quick`` mode
QUICK_WIDENING_SE = 3.0
#: what a check's expected value is: a result the code was not tuned to, or a fitted target
EVIDENCE = "evidence"
CALIBRATION = "calibration"
PREDICTION = "prediction"
KINDS = (EVIDENCE, CALIBRATION, PREDICTION)


@dataclass(frozen=True)
class Estimate:
    """A measured value: ``n`` is the sample size (counted in ``unit``: runs, documents), ``se``
    its Monte Carlo standard error, ``count`` the successes when the value is a share, ``detail``
    shown beside it; ``p`` the p-value of a test the experiment ran on it (the ``test`` rule)."""

    value: float
    n: int = 0
    se: float = 0.0
    count: int | None = None
    detail: str = ""
    unit: str = "runs"
    p: float | None = None

    @classmethod
    def mean_of(cls, samples: np.ndarray, detail: str = "", unit: str = "runs") -> Estimate:
        s = np.asarray(samples, dtype=np.float64)
        se = float(s.std(ddof=1) / math.sqrt(s.size))
        return cls(float(s.mean()), s.size, se, None, detail, unit)

    @classmethod
    def share(cls, count: int, n: int, detail: str = "", unit: str = "runs") -> Estimate:
        p = count / n
        return cls(p, n, math.sqrt(p * (1 - p) / n), int(count), detail, unit)


@dataclass(frozen=True)
class Tolerance:
    """How close ``measured`` must be to ``expected``.

    - ``se``: within ``value`` standard errors of the run itself;
    - ``relative``: within ``value`` × |expected| (plus 3 SE in quick mode);
    - ``absolute``: within ``value`` (plus 3 SE in quick mode);
    - ``binomial_ci``: expected inside the exact (Clopper–Pearson) interval at level ``value``;
    - ``at_least``: measured ≥ expected;
    - ``never``: no event among ``n`` opportunities (and at least one opportunity);
    - ``interval``: measured inside the published interval [``low``, ``high``];
    - ``test``: the experiment's own test of the estimate (its ``p``) at level ``value``: for a
      mean too skewed for any standard-error rule to keep its level (V1's E[W2²] at M = 20,
      n = 50), a permutation test against draws from the exact law; for that law itself, a
      two-sample Kolmogorov–Smirnov test against them.

    ``why`` says where a fixed tolerance comes from.
    """

    rule: str
    value: float = 0.0
    why: str = ""
    low: float = 0.0
    high: float = 0.0

    RULES = ("se", "relative", "absolute", "binomial_ci", "at_least", "never", "interval", "test")

    def __post_init__(self) -> None:
        if self.rule not in self.RULES:
            raise ValueError(f"tolerance rule must be one of {self.RULES}, got {self.rule!r}")

    def judge(self, expected: float, est: Estimate, quick: bool) -> tuple[bool, str]:
        """``(passed, allowed)``: whether the estimate passes and the tolerance as applied."""
        passed, allowed = self._judge(expected, est, quick)
        return bool(passed), allowed  # a plain bool, whichever numpy/scipy computed it

    def bound(self, expected: float, est: Estimate, quick: bool) -> float:
        """The largest ``|measured - expected|`` the ``se``, ``relative`` and ``absolute`` rules
        allow (in quick mode, the fixed ones widened by 3 SE); NaN for the other rules."""
        if self.rule == "se":
            return self.value * est.se
        if self.rule in ("relative", "absolute"):
            widen = QUICK_WIDENING_SE * est.se if quick else 0.0
            return (self.value * abs(expected) if self.rule == "relative" else self.value) + widen
        return math.nan

    def false_failure_rate(self, expected: float, est: Estimate, quick: bool) -> float:
        """How often a correct simulator fails this check on a seed: with a bound of ``b``
        standard errors, ``2 (1 - Φ(b))`` (the estimate normal about ``expected``); a binomial
        interval at level ``L``, at most ``1 - L`` (Clopper–Pearson intervals are conservative);
        a ``test`` at level ``α``, at most ``α`` (a valid p-value); ``at_least`` and ``never``,
        0 (they state what a correct simulator always does, so any failure is a bug), and a
        prediction's ``interval`` 0 (it never fails a run)."""
        if self.rule == "binomial_ci":
            return 1.0 - self.value
        if self.rule == "test":
            return self.value
        bound = self.bound(expected, est, quick)
        if math.isnan(bound) or est.se <= 0:
            return 0.0
        return float(2.0 * stats.norm.sf(bound / est.se))

    def _judge(self, expected: float, est: Estimate, quick: bool) -> tuple[bool, str]:
        diff = abs(est.value - expected)
        bound = self.bound(expected, est, quick)
        if self.rule == "se":
            return diff <= bound, f"±{self.value:g} SE = ±{fmt(bound)}"
        if self.rule in ("relative", "absolute"):
            widen = quick and est.se > 0
            text = f"±{self.value:.0%}" if self.rule == "relative" else f"±{fmt(self.value)}"
            if widen:
                text += f" + 3 SE = ±{fmt(bound)}"
            elif self.rule == "relative":
                text += f" = ±{fmt(bound)}"
            return diff <= bound, text
        if self.rule == "binomial_ci":
            ci = stats.binomtest(est.count, est.n).proportion_ci(self.value, method="exact")
            inside = ci.low <= expected <= ci.high
            return inside, f"{self.value:.0%} CI [{fmt(ci.low)}, {fmt(ci.high)}]"
        if self.rule == "interval":
            return self.low <= est.value <= self.high, f"[{fmt(self.low)}, {fmt(self.high)}]"
        if self.rule == "test":
            if est.p is None:
                raise ValueError("a 'test' tolerance needs an estimate with a p-value")
            return est.p >= self.value, f"p = {fmt(est.p)} ≥ {fmt(self.value)}"
        if self.rule == "at_least":
            return est.value >= expected, f"≥ {fmt(expected)}"
        # never
        return (est.count == 0 and est.n > 0), f"none of {est.n:,}"


@dataclass(frozen=True)
class Check:
    """One published result: the experiment and estimate it reads, what it expects, how close,
    and whether it is evidence or a calibration target (``kind``)."""

    name: str
    experiment: str
    estimate: str
    source: str
    setting: str
    expected: float
    tolerance: Tolerance
    kind: str = EVIDENCE

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class Result:
    check: Check
    estimate: Estimate
    passed: bool
    allowed: str

    def row(self) -> dict[str, object]:
        c, e = self.check, self.estimate
        measured = fmt(e.value)
        if e.detail:
            measured += f" ({e.detail})"
        expected = ("≥ " if c.tolerance.rule == "at_least" else "") + fmt(c.expected)
        return {
            "check": c.name,
            "kind": c.kind,
            "source": c.source,
            "setting": c.setting + (f"; {e.n:,} {e.unit}" if e.n else ""),
            "expected": expected,
            "measured": measured,
            "tolerance": self.allowed,
            "pass": self.verdict,
        }

    @property
    def verdict(self) -> str:
        """PASS / FAIL; a prediction is inside or outside its interval (never a failure)."""
        if self.check.kind == PREDICTION:
            return "inside" if self.passed else "outside"
        return "PASS" if self.passed else "FAIL"


@dataclass
class Report:
    """The results of a validation run, in check order, with each group's seconds."""

    results: list[Result]
    quick: bool
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def checks(self) -> list[Result]:
        """The rows that can fail (every row but the out-of-sample predictions)."""
        return [r for r in self.results if r.check.kind != PREDICTION]

    @property
    def predictions(self) -> list[Result]:
        return [r for r in self.results if r.check.kind == PREDICTION]

    @property
    def passed(self) -> bool:
        """Every check passed; a prediction outside its interval is evidence, not a failure."""
        return all(r.passed for r in self.checks)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.results])


def fmt(x: float) -> str:
    """Four significant digits (three below 10⁻³)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"
