"""The AI filters' counterfactual: rerun a scenario on the same seed with the watermark detector
and the AI-text classifier switched off, and compare the end-of-run outcomes.

One seed reproduces a run exactly, so the difference between the two arms is the filters' doing
(for this seed). This module runs simulations; the analysis and the report only read the table it
returns (``habsburg report --counterfactual`` stores it in the run directory).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from habsburg.experiments.outcomes import (
    OUTCOMES,
    SCALARS,
    OutcomeTables,
    outcome_tables,
    run_outcomes,
)
from habsburg.experiments.run import simulate
from habsburg.scenarios.schema import Scenario, set_setting

#: the AI-text filters the counterfactual switches off (quality and dedup filters stay on)
AI_FILTER_SETTINGS = {
    "scrapers.*.filters.watermark_detector": False,
    "scrapers.*.filters.classifier": False,
}

#: outcomes the counterfactual reports first (the rest of the scalar outcomes follow)
COUNTERFACTUAL_OUTCOMES = (
    "final_mean_tail_coverage",
    "final_mean_fact_accuracy",
    "final_mean_tail_fact_accuracy",
    "final_mean_capability",
    "final_training_synthetic_after",
    "final_synthetic_share_new",
)


def without_ai_filters(scenario: Scenario) -> Scenario:
    """A copy of ``scenario`` whose scrapers run no watermark detector and no AI-text classifier
    (interventions that would switch them back on are dropped)."""
    sc = copy.deepcopy(scenario)
    for path, value in AI_FILTER_SETTINGS.items():
        set_setting(sc, path, value)
    for iv in sc.interventions:
        iv.set = {
            k: v
            for k, v in iv.set.items()
            if not k.endswith((".watermark_detector", ".classifier"))
        }
    sc.interventions = [iv for iv in sc.interventions if iv.set or iv.times]
    return sc


def filter_counterfactual(
    scenario: Scenario,
    *,
    seed: int | None = None,
    steps: int | None = None,
    with_filters: OutcomeTables | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The AI filters' effect on ``scenario``'s end-of-run outcomes (tail coverage, fact
    accuracy, capability, ...) for one seed.

    ``with_filters``: the outcome tables of the run with the filters on, when it already exists;
    otherwise that run is simulated too. Returns one row per scalar outcome: ``outcome``,
    ``meaning``, ``filters_on``, ``filters_off`` and ``effect`` (on − off).
    """
    if with_filters is None:
        with_filters = outcome_tables(simulate(scenario, seed=seed, steps=steps, progress=progress))
    off = outcome_tables(
        simulate(without_ai_filters(scenario), seed=seed, steps=steps, progress=progress)
    )
    on, without = run_outcomes(with_filters), run_outcomes(off)
    names = [*COUNTERFACTUAL_OUTCOMES, *(n for n in SCALARS if n not in COUNTERFACTUAL_OUTCOMES)]
    rows = [(n, OUTCOMES[n].description, on[n], without[n]) for n in names if n in on]
    df = pd.DataFrame(rows, columns=["outcome", "meaning", "filters_on", "filters_off"])
    df["effect"] = df["filters_on"] - df["filters_off"]
    return df


def rerun_counterfactual(
    scenario: Scenario,
    *,
    seed: int,
    steps: int,
    stored_metrics: pd.DataFrame,
    progress: bool = False,
) -> pd.DataFrame:
    """The counterfactual of a finished run: both arms are fresh runs of the installed code on the
    run's seed, so the effect is the filters' alone even if the code changed since the run.
    Column ``reproduces_run`` says whether the filters-on arm equals the run's own monthly
    metrics (``stored_metrics``, its ``model_metrics`` table)."""
    on = outcome_tables(simulate(scenario, seed=seed, steps=steps, progress=progress))
    numeric = [c for c in stored_metrics.columns if c != "month"]
    same = on.model_metrics.shape == stored_metrics.shape and np.allclose(
        on.model_metrics[numeric].to_numpy(float),
        stored_metrics[numeric].to_numpy(float),
        equal_nan=True,
    )
    table = filter_counterfactual(
        scenario, seed=seed, steps=steps, with_filters=on, progress=progress
    )
    table["reproduces_run"] = bool(same)
    return table
