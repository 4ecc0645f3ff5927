"""Named outcomes of a run: what a sweep, a sensitivity analysis or EMA Workbench records.

An outcome is declared once, here, with its name, kind (``scalar``: one number per run;
``timeseries``: one number per month) and meaning, and computed by a module-level function of the
run's DataCollector tables (:class:`OutcomeTables`), so analysis code never digs into model
internals and the sweep, ``habsburg sensitivity`` and the EMA adapter all read the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import numpy as np
import pandas as pd

from habsburg.scenarios.schema import ScenarioError, _close

if TYPE_CHECKING:  # (the simulator loads where a run is read, not where outcomes are named)
    from habsburg.model.model import EcosystemModel

SCALAR: Final = "scalar"
TIMESERIES: Final = "timeseries"


@dataclass(frozen=True)
class OutcomeTables:
    """The two DataCollector tables outcomes are computed from (same columns as the run's
    ``model_metrics.parquet`` and ``models.parquet``)."""

    model_metrics: pd.DataFrame  # one row per month
    models: pd.DataFrame  # one row per generative model per month


@dataclass(frozen=True)
class Outcome:
    """A named, typed outcome: ``function(tables)`` returns a float (scalar) or one value per
    month (time series)."""

    name: str
    kind: Literal["scalar", "timeseries"]
    description: str
    function: Callable[[OutcomeTables], float | np.ndarray]


def outcome_tables(model: EcosystemModel) -> OutcomeTables:
    """The outcome tables of a model, read from its DataCollector (through the model's own
    :func:`~habsburg.model.export.collected_frames`) without building the heavier
    document-level tables."""
    from habsburg.model.export import collected_frames

    frames = collected_frames(model)
    models = frames.get("models", pd.DataFrame(columns=["step", "agent_id", "name", "deployed"]))
    return OutcomeTables(frames["model_metrics"], models)


def read_outcome_tables(run_dir: str | Path) -> OutcomeTables:
    """The outcome tables of a results directory written by ``habsburg run``."""
    run_dir = Path(run_dir)
    mm = pd.read_parquet(run_dir / "model_metrics.parquet", page_checksum_verification=True)
    models = run_dir / "models.parquet"
    md = (
        pd.read_parquet(models, page_checksum_verification=True)
        if models.exists()
        else pd.DataFrame(columns=["step", "deployed"])
    )
    return OutcomeTables(mm, md)


# --------------------------------------------------------------------------------------------
# Outcome functions (module level, so they pickle to Dask workers)
# --------------------------------------------------------------------------------------------
def _final(t: OutcomeTables, column: str) -> float:
    mm = t.model_metrics
    return float(mm[column].iloc[-1]) if len(mm) else float("nan")


def _series(t: OutcomeTables, column: str) -> np.ndarray:
    return t.model_metrics[column].to_numpy(dtype=np.float64)


def _final_deployed(t: OutcomeTables) -> pd.DataFrame:
    md = t.models
    if not len(md):
        return md
    last = md[md["step"] == md["step"].max()]
    return last[last["deployed"].astype(bool)]


def final_synthetic_share_new(t: OutcomeTables) -> float:
    return _final(t, "synthetic_share_new")


def final_synthetic_share_measured(t: OutcomeTables) -> float:
    return _final(t, "synthetic_share_new_measured")


def final_synthetic_share_stock(t: OutcomeTables) -> float:
    return _final(t, "synthetic_share_stock")


def final_mean_tail_coverage(t: OutcomeTables) -> float:
    return _final(t, "mean_tail_coverage")


def final_min_tail_coverage(t: OutcomeTables) -> float:
    last = _final_deployed(t)
    return float(last["tail_coverage"].min()) if len(last) else float("nan")


def final_mean_fact_accuracy(t: OutcomeTables) -> float:
    return _final(t, "mean_fact_accuracy")


def final_mean_tail_fact_accuracy(t: OutcomeTables) -> float:
    last = _final_deployed(t)
    return float(last["tail_fact_accuracy"].mean()) if len(last) else float("nan")


def final_min_fact_claims(t: OutcomeTables) -> float:
    """The thinnest training data of any deployed model: the lowest, over the deployed models'
    latest training sets, of the median claims per fact the set mentions (a model whose set
    fell short of its budget, or a smaller web, has fewer; NaN for results without the column)."""
    last = _final_deployed(t)
    if not len(last) or "training_fact_claims_median" not in last:
        return float("nan")
    return float(last["training_fact_claims_median"].min())


def final_mean_capability(t: OutcomeTables) -> float:
    return _final(t, "mean_capability")


def final_style_variance_ratio(t: OutcomeTables) -> float:
    last = _final_deployed(t)
    return float(last["style_variance_ratio"].mean()) if len(last) else float("nan")


def final_mean_pairwise_js(t: OutcomeTables) -> float:
    return _final(t, "mean_pairwise_js")


def final_systemic_failure_ratio(t: OutcomeTables) -> float:
    return _final(t, "systemic_failure_ratio")


def largest_cascade(t: OutcomeTables) -> float:
    """Most models that ever came to believe one error (cumulative, so the last month's value)."""
    return _final(t, "largest_cascade_models")


def largest_cascade_documents(t: OutcomeTables) -> float:
    return _final(t, "largest_cascade_documents")


def cross_model_adoptions(t: OutcomeTables) -> float:
    return _final(t, "cross_model_adoptions")


def mean_filter_precision(t: OutcomeTables) -> float:
    values = _series(t, "filter_precision")
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def mean_filter_recall(t: OutcomeTables) -> float:
    values = _series(t, "filter_recall")
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def final_training_synthetic_after(t: OutcomeTables) -> float:
    return _final(t, "training_synthetic_after")


def human_documents_lost(t: OutcomeTables) -> float:
    """Human documents the AI filters wrongly removed over the whole run, counted per crawl
    (a document removed from two crawls counts twice)."""
    return float(np.nansum(_series(t, "human_documents_lost")))


def synthetic_share_new(t: OutcomeTables) -> np.ndarray:
    return _series(t, "synthetic_share_new")


def synthetic_share_stock(t: OutcomeTables) -> np.ndarray:
    return _series(t, "synthetic_share_stock")


def mean_tail_coverage(t: OutcomeTables) -> np.ndarray:
    return _series(t, "mean_tail_coverage")


def mean_fact_accuracy(t: OutcomeTables) -> np.ndarray:
    return _series(t, "mean_fact_accuracy")


def mean_capability(t: OutcomeTables) -> np.ndarray:
    return _series(t, "mean_capability")


def mean_pairwise_js(t: OutcomeTables) -> np.ndarray:
    return _series(t, "mean_pairwise_js")


def largest_cascade_models(t: OutcomeTables) -> np.ndarray:
    return _series(t, "largest_cascade_models")


def training_synthetic_after(t: OutcomeTables) -> np.ndarray:
    return _series(t, "training_synthetic_after")


def synthetic_share_new_measured(t: OutcomeTables) -> np.ndarray:
    return _series(t, "synthetic_share_new_measured")


def _optional(t: OutcomeTables, column: str) -> np.ndarray:
    """A model metric some scenarios do not record (NaN every month then)."""
    mm = t.model_metrics
    return _series(t, column) if column in mm else np.full(len(mm), np.nan)


def graphite_ai_share(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "graphite_ai_share")


def liang_llm_modified_share(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "liang_llm_modified_share")


def ahrefs_pure_human(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_pure_human")


def ahrefs_ai_1_10(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_ai_1_10")


def ahrefs_ai_11_40(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_ai_11_40")


def ahrefs_ai_41_70(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_ai_41_70")


def ahrefs_ai_71_99(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_ai_71_99")


def ahrefs_pure_ai(t: OutcomeTables) -> np.ndarray:
    return _optional(t, "ahrefs_pure_ai")


#: the study instruments' series (habsburg.model.instruments), banded by posterior runs
INSTRUMENT_OUTCOMES = (
    graphite_ai_share,
    liang_llm_modified_share,
    ahrefs_pure_human,
    ahrefs_ai_1_10,
    ahrefs_ai_11_40,
    ahrefs_ai_41_70,
    ahrefs_ai_71_99,
    ahrefs_pure_ai,
)


def _declare(
    kind: Literal["scalar", "timeseries"], items: Iterable[tuple[Callable, str]]
) -> dict[str, Outcome]:
    return {f.__name__: Outcome(f.__name__, kind, text, f) for f, text in items}


#: every named outcome, by name
OUTCOMES: dict[str, Outcome] = {
    **_declare(
        SCALAR,
        [
            (final_synthetic_share_new, "true synthetic share of new documents, last month"),
            (
                final_synthetic_share_measured,
                "detector-measured synthetic share of new documents, last month",
            ),
            (final_synthetic_share_stock, "true synthetic share of the whole web, last month"),
            (final_mean_tail_coverage, "mean tail coverage of deployed models, last month"),
            (final_min_tail_coverage, "tail coverage of the worst deployed model, last month"),
            (final_mean_fact_accuracy, "mean fact accuracy of deployed models, last month"),
            (
                final_mean_tail_fact_accuracy,
                "mean tail-fact accuracy of deployed models, last month",
            ),
            (
                final_min_fact_claims,
                "fewest claims per fact (median) in any deployed model's latest training set",
            ),
            (
                final_mean_capability,
                "mean capability (cross-entropy to p_H, nats; lower is better), last month",
            ),
            (final_style_variance_ratio, "mean style variance / human of deployed models"),
            (final_mean_pairwise_js, "mean pairwise Jensen–Shannon divergence between models"),
            (final_systemic_failure_ratio, "systemic-failure ratio, last month"),
            (largest_cascade, "most models that ever believed one error"),
            (largest_cascade_documents, "most documents carrying one error"),
            (cross_model_adoptions, "adoptions of errors that originated in another model"),
            (mean_filter_precision, "AI-filter precision, mean over months with crawls"),
            (mean_filter_recall, "AI-filter recall, mean over months with crawls"),
            (
                final_training_synthetic_after,
                "synthetic share of crawled data after filtering, last month",
            ),
            (
                human_documents_lost,
                "human documents wrongly filtered out, whole run (per crawl that removed them)",
            ),
        ],
    ),
    **_declare(
        TIMESERIES,
        [
            (synthetic_share_new, "true synthetic share of new documents, per month"),
            (synthetic_share_stock, "true synthetic share of the whole web, per month"),
            (mean_tail_coverage, "mean tail coverage of deployed models, per month"),
            (mean_fact_accuracy, "mean fact accuracy of deployed models, per month"),
            (mean_capability, "mean capability of deployed models (nats), per month"),
            (mean_pairwise_js, "mean pairwise Jensen–Shannon divergence, per month"),
            (largest_cascade_models, "most models that believed one error so far, per month"),
            (training_synthetic_after, "synthetic share of filtered crawls, per month"),
            (
                synthetic_share_new_measured,
                "detector-measured synthetic share of new documents, per month",
            ),
            *((f, f"study instrument {f.__name__}, per month") for f in INSTRUMENT_OUTCOMES),
        ],
    ),
}

#: the scalar outcomes read from the deployed models: NaN in a run whose months end before any
#: of its models is deployed (and the pairwise ones before two are)
MODEL_OUTCOMES = frozenset(
    {
        "final_mean_tail_coverage",
        "final_min_tail_coverage",
        "final_mean_fact_accuracy",
        "final_mean_tail_fact_accuracy",
        "final_min_fact_claims",
        "final_mean_capability",
        "final_style_variance_ratio",
        "final_mean_pairwise_js",
        "final_systemic_failure_ratio",
    }
)

#: recorded when a spec names no outcomes
DEFAULT_OUTCOMES = (
    "final_synthetic_share_new",
    "final_mean_tail_coverage",
    "final_mean_fact_accuracy",
    "final_mean_capability",
    "largest_cascade",
)


def check_outcomes(
    names: Iterable[str], where: str = "outcomes", kinds: tuple[str, ...] = (SCALAR, TIMESERIES)
) -> tuple[str, ...]:
    """Validate outcome names (and their kind); returns them as a tuple."""
    names = tuple(names)
    if not names:
        raise ScenarioError(f"{where}: name at least one outcome; available: {', '.join(OUTCOMES)}")
    for name in names:
        if not isinstance(name, str) or name not in OUTCOMES:
            allowed = [n for n, o in OUTCOMES.items() if o.kind in kinds]
            raise ScenarioError(
                f"{where}: unknown outcome {name!r}{_close(str(name), allowed)}; "
                f"available: {', '.join(allowed)}"
            )
        if OUTCOMES[name].kind not in kinds:
            raise ScenarioError(
                f"{where}: outcome {name!r} is a {OUTCOMES[name].kind}; "
                f"only {' or '.join(kinds)} outcomes are allowed here"
            )
    if len(set(names)) != len(names):
        raise ScenarioError(f"{where}: outcomes are listed twice: {list(names)}")
    return names


def evaluate_outcomes(
    names: Iterable[str], tables: OutcomeTables
) -> tuple[dict[str, float], pd.DataFrame]:
    """Scalars (name -> value) and a per-month frame (``step``, ``month`` and one column per
    time-series outcome) for the named outcomes."""
    scalars: dict[str, float] = {}
    mm = tables.model_metrics
    series = pd.DataFrame({"step": mm["step"].to_numpy(np.int32), "month": mm["month"]})
    for name in names:
        outcome = OUTCOMES[name]
        value = outcome.function(tables)
        if outcome.kind == SCALAR:
            scalars[name] = float(value)
        else:
            series[name] = np.asarray(value, dtype=np.float64)
    return scalars, series


#: the series a posterior forecast band covers (habsburg.experiments.bands)
BAND_OUTCOMES = (
    "synthetic_share_new",
    "synthetic_share_new_measured",
    "mean_tail_coverage",
    "mean_fact_accuracy",
    *(f.__name__ for f in INSTRUMENT_OUTCOMES),
)
#: every scalar outcome and every time-series outcome, in declaration order (what a comparison
#: reports; the measured share and the instruments' series are banded, not compared)
SCALARS = tuple(n for n, o in OUTCOMES.items() if o.kind == SCALAR)
_BANDED_ONLY = {"synthetic_share_new_measured", *(f.__name__ for f in INSTRUMENT_OUTCOMES)}
SERIES = tuple(n for n, o in OUTCOMES.items() if o.kind == TIMESERIES and n not in _BANDED_ONLY)


def run_outcomes(tables: OutcomeTables) -> dict[str, float]:
    """Every scalar outcome of one run."""
    return evaluate_outcomes(SCALARS, tables)[0]


def run_series(tables: OutcomeTables) -> pd.DataFrame:
    """Every monthly outcome series of one run (``step``, ``month``, one column per series)."""
    return evaluate_outcomes(SERIES, tables)[1]
