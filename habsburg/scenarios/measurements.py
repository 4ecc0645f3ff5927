"""Published measurements of the real web, one row per data point, with citation, date and
uncertainty, and whether calibration may use it (Issue 11: a measurement fitted to is a
calibration, not evidence).

Calibration fits only points measured in months up to :data:`CALIBRATION_CUTOFF` (2024-12);
every later point is out-of-sample: a prediction the calibrated model is judged on, with its 90%
posterior-predictive interval, never a target. Each point names the simulated series
(:mod:`habsburg.model.instruments`) it is compared with. The V5 shares of
:mod:`habsburg.scenarios.targets` (Graphite re-analysis, +12 and +24 months) appear here as the
``graphite-2025b`` rows.

Sources (looked up 2026-11):

- Graphite, "More Articles Are Now Created by AI Than Humans" (2025),
  https://graphite.io/five-percent/more-articles-are-now-created-by-ai-than-humans : 65,000
  English Common Crawl articles (2020-01 .. 2025-05), Surfer detector, an article is AI if more
  than 50% of it is; false positives 4.2%, false negatives 0.6%. 39% twelve months after
  ChatGPT; AI articles surpassed human ones in Nov 2024; flat since (about 52% by May 2025, as
  press reports of the study give it).
- Graphite, follow-up with three detectors (Pangram, GPTZero, Copyleaks; false-positive and
  average false-negative rates below 2%), 55,400 Common Crawl pages: 36% at +12 months, 48% at
  +24, a plateau near 50% since Q1 2025 (3.3 points below the first study).
- Ahrefs (2025), 900,000 English pages first seen in April 2025, its own detector (bot_or_not):
  25.8% pure human, 2.5% pure AI, 74.2% mixed: 9.87% with 1–10% AI, 25.86% 11–40%, 20.50%
  41–70%, 15.51% 71–99% (as published; the mixed bins sum to 71.7%).
- Liang, Zhang, Codreanu, Wang, Cao, Zou, "The widespread adoption of large language
  model-assisted writing across society", Patterns (2025), arXiv:2502.09747: Jan 2022 .. Sep 2024;
  by late 2024 about 18% of financial consumer complaint text, up to 24% of corporate press
  releases, just under 10% of job postings (small firms) and about 14% of UN press releases are
  LLM-modified; a fast rise after ChatGPT, stabilised by 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

from habsburg.scenarios.schema import parse_month
from habsburg.scenarios.targets import WEB_STUDY, WEB_STUDY_PLATEAU

#: last month whose measurements calibration may use
CALIBRATION_CUTOFF = "2024-12"
#: half-width of the interval of a point published without uncertainty (Issue 11: ±5 points)
DEFAULT_HALF_WIDTH = 0.05

GRAPHITE = (
    "Graphite (2025), More Articles Are Now Created by AI Than Humans; "
    "https://graphite.io/five-percent/more-articles-are-now-created-by-ai-than-humans"
)
GRAPHITE_B = "Graphite (2025), follow-up with three detectors (Pangram, GPTZero, Copyleaks)"
AHREFS = "Ahrefs (2025), 900,000 new English web pages of April 2025 (bot_or_not detector)"
LIANG = (
    "Liang et al. (2025), The widespread adoption of large language model-assisted writing "
    "across society, Patterns; arXiv:2502.09747"
)


#: the first mass-market chatbot (ChatGPT), from which the web studies count months
CHATBOT_LAUNCH = "2022-11"


def _months_after(month: str, offset: int) -> str:
    year, mon = parse_month(month, "month")
    index = year * 12 + mon - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Measurement:
    """One published data point: the study's value of ``series`` in ``month``."""

    study: str
    series: str
    month: str
    value: float
    citation: str
    note: str = ""
    low: float | None = None
    high: float | None = None

    @property
    def interval(self) -> tuple[float, float]:
        """Published uncertainty interval, or value ± 5 points where none is given."""
        low = self.value - DEFAULT_HALF_WIDTH if self.low is None else self.low
        high = self.value + DEFAULT_HALF_WIDTH if self.high is None else self.high
        return max(0.0, low), min(1.0, high)

    @property
    def calibration_target(self) -> bool:
        """Measured in a month up to :data:`CALIBRATION_CUTOFF` (so calibration may use it)."""
        return parse_month(self.month, "month") <= parse_month(CALIBRATION_CUTOFF, "cutoff")

    @property
    def role(self) -> str:
        return "calibration target" if self.calibration_target else "out-of-sample"

    def covers(self, simulated: float) -> bool:
        low, high = self.interval
        return low <= simulated <= high


_AHREFS_APRIL_2025 = {
    "ahrefs_pure_human": 0.258,
    "ahrefs_ai_1_10": 0.0987,
    "ahrefs_ai_11_40": 0.2586,
    "ahrefs_ai_41_70": 0.2050,
    "ahrefs_ai_71_99": 0.1551,
    "ahrefs_pure_ai": 0.025,
}

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("graphite", "graphite_ai_share", "2023-11", 0.39, GRAPHITE, "+12 months"),
    Measurement(
        "graphite", "graphite_ai_share", "2024-11", 0.50, GRAPHITE, "AI articles reach parity"
    ),
    Measurement("graphite", "graphite_ai_share", "2025-05", 0.52, GRAPHITE, "plateau"),
    # the V5 points (scenarios.targets, declared once there) and the plateau that follows
    *(
        Measurement(
            "graphite-2025b",
            "graphite_ai_share",
            _months_after(CHATBOT_LAUNCH, offset),
            share,
            GRAPHITE_B,
            f"+{offset} months",
        )
        for offset, share in WEB_STUDY.items()
    ),
    Measurement(
        "graphite-2025b",
        "graphite_ai_share",
        "2025-03",
        WEB_STUDY_PLATEAU,
        GRAPHITE_B,
        "plateau from Q1 2025",
    ),
    Measurement(
        "liang",
        "liang_llm_modified_share",
        "2024-09",
        0.165,
        LIANG,
        "mean of four domains; interval spans them (10% job postings .. 24% press releases)",
        low=0.10,
        high=0.24,
    ),
    Measurement(
        "liang",
        "liang_llm_modified_share",
        "2024-01",
        0.165,
        LIANG,
        "reading of 'stabilised by 2024': the early-2024 level already in the late-2024 range",
        low=0.10,
        high=0.24,
    ),
    *(
        Measurement("ahrefs", series, "2025-04", value, AHREFS, "bin share of new pages")
        for series, value in _AHREFS_APRIL_2025.items()
    ),
)


def calibration_targets() -> list[Measurement]:
    """The points calibration fits (measured up to :data:`CALIBRATION_CUTOFF`)."""
    return [m for m in MEASUREMENTS if m.calibration_target]


def out_of_sample() -> list[Measurement]:
    """The points left for prediction (measured after :data:`CALIBRATION_CUTOFF`)."""
    return [m for m in MEASUREMENTS if not m.calibration_target]
