"""Scalar outcomes of one text-mode run, for ``habsburg compare`` and ``habsburg sweep`` of text
scenarios.

Each outcome is a number computed from a run's tables (:meth:`TextEcosystemModel.tables`, or
the Parquet files of a text results directory): mostly the last generation's collapse measures
of ``text_generations`` averaged over the scenario's models. A registry (name -> function and
meaning) like :mod:`habsburg.experiments.outcomes`, kept apart because the tables differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

Tables = Mapping[str, pd.DataFrame]


@dataclass(frozen=True)
class TextOutcome:
    name: str
    compute: Callable[[Tables], float]
    description: str


def _final_mean(column: str) -> Callable[[Tables], float]:
    """The mean over models of ``column`` in the last generation (NaN if absent)."""

    def compute(t: Tables) -> float:
        g = t["text_generations"]
        if g.empty or column not in g:
            return float("nan")
        last = g[g["generation"] == g["generation"].max()][column].to_numpy(dtype=float)
        return float(np.nanmean(last)) if np.isfinite(last).any() else float("nan")

    return compute


def mean_watermark_z(t: Tables) -> float:
    """Mean watermark z of the watermarking models' published text over all generations."""
    g = t["text_generations"]
    if "mean_z" not in g:
        return float("nan")
    z = g["mean_z"].to_numpy(dtype=float)
    return float(np.nanmean(z)) if np.isfinite(z).any() else float("nan")


def heldout_perplexity_rise(t: Tables) -> float:
    """Last over first generation's held-out perplexity (mean over models): > 1 is collapse."""
    g = t["text_generations"]
    by_gen = g.groupby("generation")["heldout_perplexity"].mean()
    return float(by_gen.iloc[-1] / by_gen.iloc[0]) if len(by_gen) else float("nan")


TEXT_OUTCOMES: dict[str, TextOutcome] = {
    o.name: o
    for o in (
        TextOutcome(
            "final_heldout_perplexity",
            _final_mean("heldout_perplexity"),
            "held-out human text's perplexity under the last generation (mean over models)",
        ),
        TextOutcome(
            "heldout_perplexity_rise",
            heldout_perplexity_rise,
            "last / first generation's held-out perplexity (> 1: the model forgets human text)",
        ),
        TextOutcome(
            "final_ngram_share",
            _final_mean("ngram_share"),
            "share of the human corpus's distinct n-grams the last generation can produce",
        ),
        TextOutcome(
            "final_vocabulary_share",
            _final_mean("vocabulary_share"),
            "share of the human vocabulary the last generation can produce",
        ),
        TextOutcome(
            "final_own_perplexity_gen0",
            _final_mean("own_perplexity_gen0_median"),
            "median perplexity of the last generation's samples under generation 0 (falls: "
            "over-confident)",
        ),
        TextOutcome(
            "final_fact_accuracy",
            _final_mean("fact_accuracy"),
            "share of the last generation's fact claims that match the human corpus",
        ),
        TextOutcome(
            "final_concept_js_to_human",
            _final_mean("concept_js_to_human"),
            "Jensen-Shannon divergence of the last generation's content words from the human's",
        ),
        TextOutcome(
            "mean_watermark_z",
            mean_watermark_z,
            "mean watermark z of the watermarking models' text (NaN without a watermark)",
        ),
    )
}


def text_outcome_descriptions() -> dict[str, str]:
    return {name: o.description for name, o in TEXT_OUTCOMES.items()}


def text_run_outcomes(tables: Tables) -> dict[str, float]:
    """Every registered outcome of one run's tables."""
    return {name: o.compute(tables) for name, o in TEXT_OUTCOMES.items()}
