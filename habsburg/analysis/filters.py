"""Do watermark filters work?

Per scraper and over time: the AI filters' confusion matrix against ground truth (a document
counts as AI when its synthetic fraction reaches the measurement threshold), precision, recall,
false-positive rate, the synthetic share of crawled data before and after filtering and the
human documents lost (``crawls``); an ROC curve of the watermark z-test over detector thresholds
from the recorded z-scores of crawled documents (``z_samples``); and the counterfactual: the same
seed run with the AI filters off.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from habsburg.experiments.outcomes import OutcomeTables
from habsburg.scenarios.schema import Scenario, set_setting

#: the AI-text filters the counterfactual switches off (quality and dedup filters stay on)
AI_FILTER_SETTINGS = {
    "scrapers.*.filters.watermark_detector": False,
    "scrapers.*.filters.classifier": False,
}

COUNTS = ["sampled", "kept", "tp", "fp", "fn", "tn", "human_lost", "dedup_removed"]


def rates(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Precision tp/(tp+fp), recall tp/(tp+fn), false-positive rate fp/(fp+tn) (NaN when the
    denominator is 0)."""
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "false_positive_rate": np.where(fp + tn > 0, fp / (fp + tn), np.nan),
        }


def _pool(crawls: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum the confusion counts over groups; synthetic shares weighted by documents."""
    c = crawls.assign(
        _syn_before=crawls["synthetic_before"].fillna(0) * crawls["sampled"],
        _syn_after=crawls["synthetic_after"].fillna(0) * crawls["kept"],
    )
    g = c.groupby(by, sort=True)[[*COUNTS, "_syn_before", "_syn_after"]].sum()
    for k, v in rates(g["tp"], g["fp"], g["fn"], g["tn"]).items():
        g[k] = v
    with np.errstate(invalid="ignore", divide="ignore"):
        g["synthetic_before"] = np.where(g["sampled"] > 0, g["_syn_before"] / g["sampled"], np.nan)
        g["synthetic_after"] = np.where(g["kept"] > 0, g["_syn_after"] / g["kept"], np.nan)
    return g.drop(columns=["_syn_before", "_syn_after"]).reset_index()


def by_scraper(crawls: pd.DataFrame, since_step: int = 0) -> pd.DataFrame:
    """Each scraper's filter performance over all its crawls from ``since_step`` on, with a last
    row ``all`` pooling every scraper."""
    c = crawls[crawls["step"] >= since_step]
    per = _pool(c, ["scraper"])
    total = _pool(c.assign(scraper="all"), ["scraper"])
    return pd.concat([per, total], ignore_index=True)


def over_time(crawls: pd.DataFrame, *, pooled: bool = True) -> pd.DataFrame:
    """Filter performance per scraper and month (``pooled``: plus scraper ``all``)."""
    per = _pool(crawls, ["scraper", "step"])
    if not pooled:
        return per
    total = _pool(crawls.assign(scraper="all"), ["scraper", "step"])
    return pd.concat([per, total], ignore_index=True)


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> pd.DataFrame:
    """ROC curve of "flag when score ≥ threshold" over every distinct threshold: columns
    ``threshold``, ``tpr``, ``fpr`` from (0, 0) at +inf to (1, 1)."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    tps, fps = np.cumsum(p), np.cumsum(~p)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1] if s.size else np.zeros(0, int)
    n_pos, n_neg = max(int(p.sum()), 1), max(int((~p).sum()), 1)
    return pd.DataFrame(
        {
            "threshold": np.r_[np.inf, s[last]],
            "tpr": np.r_[0.0, tps[last] / n_pos],
            "fpr": np.r_[0.0, fps[last] / n_neg],
        }
    )


def auc(roc: pd.DataFrame) -> float:
    """Area under an ROC curve (trapezoid rule; 0.5 is chance, 1 a perfect detector)."""
    tpr, fpr = roc["tpr"].to_numpy(), roc["fpr"].to_numpy()
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def watermark_roc(
    z_samples: pd.DataFrame, *, ai_threshold: float = 0.5, by: str | None = None
) -> pd.DataFrame:
    """ROC of the watermark z-test on crawled documents: AI documents (synthetic fraction ≥
    ``ai_threshold``) against human ones. ``by="kind"`` gives one curve per producer kind
    (its AI documents against all human ones); column ``group`` names the curve."""
    positive = z_samples["synthetic_fraction"].to_numpy() >= ai_threshold
    z = z_samples["z"].to_numpy()
    curves = [roc_curve(z, positive).assign(group="all AI documents")]
    if by is not None:
        groups = z_samples[by].astype(str).to_numpy()
        for name in pd.unique(groups[positive]):
            keep = ~positive | (groups == name)
            curves.append(roc_curve(z[keep], positive[keep]).assign(group=str(name)))
    return pd.concat(curves, ignore_index=True)


def operating_point(
    z_samples: pd.DataFrame, z_threshold: float, *, ai_threshold: float = 0.5
) -> dict[str, float]:
    """True- and false-positive rate of the watermark z-test alone at ``z_threshold``."""
    positive = z_samples["synthetic_fraction"].to_numpy() >= ai_threshold
    flagged = z_samples["z"].to_numpy() >= z_threshold
    return {
        "threshold": float(z_threshold),
        "tpr": float(flagged[positive].mean()) if positive.any() else float("nan"),
        "fpr": float(flagged[~positive].mean()) if (~positive).any() else float("nan"),
    }


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
    sc.interventions = [iv for iv in sc.interventions if iv.set]
    return sc


#: outcomes the counterfactual reports first (the rest of the scalar outcomes follow)
COUNTERFACTUAL_OUTCOMES = (
    "final_mean_tail_coverage",
    "final_mean_fact_accuracy",
    "final_mean_tail_fact_accuracy",
    "final_mean_capability",
    "final_training_synthetic_after",
    "final_synthetic_share_new",
)


def filter_counterfactual(
    scenario: Scenario,
    *,
    seed: int | None = None,
    steps: int | None = None,
    with_filters: OutcomeTables | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The AI filters' effect: run ``scenario`` on the same seed with the watermark detector and
    the AI-text classifier off, and compare the end-of-run outcomes (tail coverage, fact
    accuracy, capability, ...). One seed reproduces a run exactly, so the difference is the
    filters' doing (for this seed).

    ``with_filters``: the outcome tables of the run with the filters on, when it already exists
    (e.g. :func:`habsburg.experiments.outcomes.read_outcome_tables` of its directory); otherwise
    that run is simulated too. Returns one row per scalar outcome: ``filters_on``,
    ``filters_off`` and ``effect`` (on − off).
    """
    from habsburg.experiments.compare import SCALARS, run_outcomes
    from habsburg.experiments.outcomes import OUTCOMES, outcome_tables
    from habsburg.experiments.run import simulate

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
