"""Every metric the DataCollector records, declared once: name, meaning, and the module-level
function that computes it (functions, not lambdas, so a model pickles for checkpoints and Dask).

:data:`MODEL_METRICS` (one value per month), :data:`GENERATIVE_METRICS` (per generative model per
month) and :data:`SCRAPER_METRICS` (per scraper per month) drive the DataCollector, the outcome
registry of the experiments and the column descriptions of the results tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any

import mesa
import numpy as np

from habsburg.agents.generative import GenerativeModel
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem import metrics as K
from habsburg.ecosystem.rates import precision_recall
from habsburg.model.instruments import INSTRUMENT_SERIES, instrument_reading

NAN = float("nan")


def _memo(model: Any, name: str, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, recomputed only when ``key`` changes. Keys are compared element by element
    by identity, and the cache holds the key's objects (so no id is reused): a changed or new
    object is always a miss, never a stale hit. Metrics of the deployed models' distributions
    change only when a model retrains or an intervention changes its decoding, not every month.
    """
    cache = model.__dict__.setdefault("_metric_memo", {})
    hit = cache.get(name)
    if (
        hit is not None
        and len(hit[0]) == len(key)
        and all(a is b for a, b in zip(hit[0], key, strict=True))
    ):
        return hit[1]
    value = compute()
    cache[name] = (key, value)
    return value


@dataclass(frozen=True)
class Metric:
    """A recorded metric: ``function(model)`` (model level) or ``function(agent)`` (agent level)."""

    name: str
    description: str
    function: Callable[[Any], Any]


MODEL_METRICS: dict[str, Metric] = {}


def model_metric(description: str) -> Callable:
    """Register a module-level function of the model as a model-level metric (by its name)."""

    def register(function: Callable) -> Callable:
        MODEL_METRICS[function.__name__] = Metric(function.__name__, description, function)
        return function

    return register


# --- the web (as observed this month; see habsburg.model.observation) --------------------------
def _observed(model: Any, key: str) -> float:
    month = model.observer.month
    return NAN if month is None else getattr(month, key)


for _key, _text in (
    ("new_documents", "documents published this month"),
    ("documents", "documents on the web"),
    ("synthetic_share_new", "true synthetic share of new documents (mean synthetic fraction)"),
    (
        "synthetic_share_new_measured",
        "share of new documents an AI-text detector flags (as web studies measure it)",
    ),
    ("synthetic_share_stock", "true synthetic share of all documents"),
    ("synthetic_share_stock_measured", "detector-flagged share of all documents"),
    ("duplicate_share_web", "share of new documents that are reposts"),
):
    MODEL_METRICS[_key] = Metric(_key, _text, partial(_observed, key=_key))


@model_metric("documents per month published by model users")
def ai_demand(model: Any) -> float:
    return model.ai_demand()


@model_metric(
    "share of human authors using an AI assistant this month (none while no model was deployed "
    "as they wrote)"
)
def assisted_authors(model: Any) -> float:
    return model.humans.assisted_share


# --- the models --------------------------------------------------------------------------------
@model_metric("models deployed")
def deployed_models(model: Any) -> int:
    return len(model.deployed_models())


@model_metric("mean pairwise Jensen–Shannon divergence between deployed models (nats)")
def mean_pairwise_js(model: Any) -> float:
    deployed = model.deployed_models()
    if not deployed:
        return NAN
    probs = [a.learners.concepts.sampling_probs for a in deployed]
    if len(probs) < 2:
        return NAN
    # each pair's divergence is kept while both distributions are the same objects, so a
    # retrain recomputes only the retrained model's pairs (the mean is the same as
    # K.mean_pairwise_js: same pairs, same order)
    values = [
        _memo(
            model, f"js:{i}:{j}", (probs[i], probs[j]), partial(K.js_divergence, probs[i], probs[j])
        )
        for i in range(len(probs))
        for j in range(i + 1, len(probs))
    ]
    return float(np.mean(values))


@model_metric("mean pairwise distance between deployed models' style means")
def mean_style_distance(model: Any) -> float:
    means = [a.learners.style.mean_ for a in model.deployed_models()]
    dists = [np.linalg.norm(a - b) for i, a in enumerate(means) for b in means[i + 1 :]]
    return float(np.mean(dists)) if dists else NAN


def _failure_probs(model: Any) -> np.ndarray:
    truth = model.world.true_values
    deployed = model.deployed_models()
    key = (
        truth,
        *(
            x
            for a in deployed
            for x in (
                a,
                a.generation,
                a.learners.facts,
                a.learners.facts.temperature,
                a.learners.facts.hallucination_rate,
                a.learners.facts.unseen_hallucination_rate,
            )
        ),
    )
    return _memo(
        model,
        "failure_probs",
        key,
        lambda: np.array([1 - a.learners.facts.correct_probability(truth) for a in deployed]),
    )


@model_metric("rate all models fail the same fact over the independence rate")
def systemic_failure_ratio(model: Any) -> float:
    return K.systemic_failure_ratio(_failure_probs(model)) if model.deployed_models() else NAN


@model_metric("mean over model pairs of the both-fail rate over the independence rate")
def pairwise_failure_ratio(model: Any) -> float:
    return K.pairwise_failure_ratio(_failure_probs(model)) if model.deployed_models() else NAN


@model_metric("wrong modal beliefs held by deployed models (model × fact)")
def active_wrong_beliefs(model: Any) -> int:
    return int(sum(a.believed_errors.size for a in model.deployed_models()))


def _mean_over_deployed(model: Any, read: Callable[[Any], float]) -> float:
    deployed = model.deployed_models()
    return float(np.mean([read(a) for a in deployed])) if deployed else NAN


def _mean_training_stat(model: Any, key: str) -> float:
    return _mean_over_deployed(model, lambda a: a.training_stats[key])


def _mean_quality(model: Any, key: str) -> float:
    return _mean_over_deployed(model, lambda a: a.metrics[key])


for _name, _read, _key, _text in (
    (
        "training_set_duplicate_share",
        _mean_training_stat,
        "duplicate_share",
        "mean share of repeated copies in deployed models' latest training sets",
    ),
    (
        "duplication_error_lift",
        _mean_training_stat,
        "duplication_error_lift",
        "mean rise of the wrong-claim share of training sets due to reposts",
    ),
    (
        "mean_capability",
        _mean_quality,
        "capability",
        "mean capability (cross-entropy to p_H, nats) of deployed models",
    ),
    ("mean_tail_coverage", _mean_quality, "tail_coverage", "mean tail coverage of deployed models"),
    ("mean_fact_accuracy", _mean_quality, "fact_accuracy", "mean fact accuracy of deployed models"),
):
    MODEL_METRICS[_name] = Metric(_name, _text, partial(_read, key=_key))


# --- errors and cascades -----------------------------------------------------------------------
@model_metric("distinct wrong fact values ever published or believed by a model")
def errors_registered(model: Any) -> int:
    return len(model.errors)


@model_metric("most models that ever came to believe one error")
def largest_cascade_models(model: Any) -> int:
    return model.errors.largest_cascade_models  # kept up to date as adoptions are recorded


@model_metric("most documents carrying one error")
def largest_cascade_documents(model: Any) -> int:
    counts = model.error_documents
    return int(counts.max()) if counts.size else 0


@model_metric("cumulative adoptions of errors that originated elsewhere")
def cross_model_adoptions(model: Any) -> int:
    return model.errors.cross_model_adoptions


# --- filters (this month's crawls) -------------------------------------------------------------
def _crawl_total(model: Any, key: str) -> int:
    return sum(c[key] for c in model.events.crawls_at(model.month))


def _crawl_mean(model: Any, key: str, weight: str) -> float:
    crawls = [c for c in model.events.crawls_at(model.month) if c[weight]]
    total = sum(c[weight] for c in crawls)
    return sum(c[key] * c[weight] for c in crawls) / total if total else NAN


def _filter_rates(model: Any) -> tuple[float, float]:
    return precision_recall(*(_crawl_total(model, k) for k in ("tp", "fp", "fn")))


@model_metric("precision of the AI filters over this month's crawls")
def filter_precision(model: Any) -> float:
    return _filter_rates(model)[0]


@model_metric("recall of the AI filters over this month's crawls")
def filter_recall(model: Any) -> float:
    return _filter_rates(model)[1]


@model_metric("synthetic share of crawled data before filtering")
def training_synthetic_before(model: Any) -> float:
    return _crawl_mean(model, "synthetic_before", "sampled")


@model_metric("synthetic share of crawled data after filtering")
def training_synthetic_after(model: Any) -> float:
    return _crawl_mean(model, "synthetic_after", "kept")


@model_metric(
    "human documents wrongly removed by the AI filters this month, per crawl (a document two "
    "scrapers remove counts twice)"
)
def human_documents_lost(model: Any) -> float:
    crawls = model.events.crawls_at(model.month)
    return float(sum(c["fp"] for c in crawls)) if crawls else NAN


@model_metric("duplicate share of crawled data after filtering")
def training_duplicate_share(model: Any) -> float:
    return _crawl_mean(model, "duplicate_share_after", "kept")


# --- per agent ---------------------------------------------------------------------------------
def _quality(agent: GenerativeModel, key: str) -> float:
    return agent.quality(key)


def _training_stat(agent: GenerativeModel, key: str) -> float:
    return float(agent.training_stats.get(key, NAN))


def _last_crawl(agent: Scraper, key: str) -> float:
    return agent.last_crawl(key)


GENERATIVE_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("name", "model name", attrgetter("name")),
        Metric("lab_name", "lab that trains it", attrgetter("lab_name")),
        Metric("deployed", "a generation is deployed", attrgetter("deployed")),
        Metric("generation", "generation deployed (-1 before launch)", attrgetter("generation")),
        Metric("market_share", "share of AI demand served", attrgetter("market_share")),
        Metric("docs_published", "documents published so far", attrgetter("docs_published")),
        Metric("wrong_beliefs", "facts whose modal belief is wrong", attrgetter("wrong_beliefs")),
    )
}
for _key, _text in K.QUALITY_METRICS.items():
    GENERATIVE_METRICS[_key] = Metric(_key, _text, partial(_quality, key=_key))
for _key, _stat, _text in (
    (
        "training_fact_claims_median",
        "fact_claims_median",
        "median claims per fact the latest training set mentions (NaN before the first training)",
    ),
    (
        "training_fact_claims_p10",
        "fact_claims_p10",
        "10th percentile of claims per fact the latest training set mentions",
    ),
):
    GENERATIVE_METRICS[_key] = Metric(_key, _text, partial(_training_stat, key=_stat))
# column order of the ``models`` table
GENERATIVE_METRICS = {
    k: GENERATIVE_METRICS[k]
    for k in (
        "name",
        "lab_name",
        "deployed",
        "generation",
        "market_share",
        *K.QUALITY_METRICS,
        "docs_published",
        "wrong_beliefs",
        "training_fact_claims_median",
        "training_fact_claims_p10",
    )
}

SCRAPER_METRICS: dict[str, Metric] = {"name": Metric("name", "scraper name", attrgetter("name"))}
for _key, _text in (
    ("sampled", "documents sampled by the latest crawl"),
    ("kept", "documents kept after the filters"),
    ("precision", "precision of the AI filters"),
    ("recall", "recall of the AI filters"),
    ("false_positive_rate", "share of human documents flagged"),
    ("synthetic_before", "synthetic share before filtering"),
    ("synthetic_after", "synthetic share after filtering"),
    ("human_lost", "human documents wrongly removed"),
    ("dedup_removed", "repeated copies removed"),
    ("dedup_wrongly_dropped", "originals wrongly dropped as duplicates"),
):
    SCRAPER_METRICS[_key] = Metric(_key, _text, partial(_last_crawl, key=_key))
SCRAPER_METRICS["reposts_published"] = Metric(
    "reposts_published", "reposts published so far", attrgetter("reposts_published")
)


# column order of the ``model_metrics`` table (as recorded since the first release)
MODEL_METRICS = {
    k: MODEL_METRICS[k]
    for k in (
        "new_documents",
        "documents",
        "synthetic_share_new",
        "synthetic_share_new_measured",
        "synthetic_share_stock",
        "synthetic_share_stock_measured",
        "duplicate_share_web",
        "ai_demand",
        "assisted_authors",
        "deployed_models",
        "mean_pairwise_js",
        "mean_style_distance",
        "systemic_failure_ratio",
        "pairwise_failure_ratio",
        "active_wrong_beliefs",
        "errors_registered",
        "largest_cascade_models",
        "largest_cascade_documents",
        "cross_model_adoptions",
        "filter_precision",
        "filter_recall",
        "training_synthetic_before",
        "training_synthetic_after",
        "human_documents_lost",
        "training_duplicate_share",
        "training_set_duplicate_share",
        "duplication_error_lift",
        "mean_capability",
        "mean_tail_coverage",
        "mean_fact_accuracy",
    )
}


# --- study instruments (Issue 11; habsburg.model.instruments) ---------------------------------
# Appended after the ordered columns above: the published web studies as measured in the run.
for _key, _text in INSTRUMENT_SERIES.items():
    MODEL_METRICS[_key] = Metric(_key, _text, partial(instrument_reading, key=_key))
# --- end of study instruments ------------------------------------------------------------------


def data_collector(
    model_metrics: dict[str, Metric] | None = None,
) -> mesa.DataCollector:
    """The DataCollector of a run: every model metric (or the given subset) and the per-type
    agent metrics."""
    metrics = MODEL_METRICS if model_metrics is None else model_metrics
    return mesa.DataCollector(
        model_reporters={k: m.function for k, m in metrics.items()},
        agenttype_reporters={
            GenerativeModel: {k: m.function for k, m in GENERATIVE_METRICS.items()},
            Scraper: {k: m.function for k, m in SCRAPER_METRICS.items()},
        },
    )


def column_descriptions() -> dict[str, str]:
    """Meaning of every recorded column (model level and per agent), for tables and reports."""
    out = {k: m.description for k, m in MODEL_METRICS.items()}
    for table in (GENERATIVE_METRICS, SCRAPER_METRICS):
        out.update({k: m.description for k, m in table.items() if k not in out})
    return out
