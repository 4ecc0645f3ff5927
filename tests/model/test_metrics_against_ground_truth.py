"""Every per-month metric the DataCollector records (:mod:`habsburg.model.reporters`) and every
run outcome (:mod:`habsburg.experiments.outcomes`) recomputed by brute force from the ground
truth of a tiny run: the document store's rows of each month, the deployed models' learners, the
world, and the documents each crawl sampled and kept. One run is shared by the module.

The run is arranged so the ground truth is complete and deterministic: crawls sample at most
:data:`~habsburg.model.observation.Z_SAMPLE` documents (so the observer keeps every crawled
document), the study instruments have noise-free detectors, and the web study's detector draws
are recorded as they are handed out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from tinyscenario import TINY, tiny_scenario

from habsburg.agents.generative import GenerativeModel
from habsburg.ecosystem.detectors import DetectorModel
from habsburg.ecosystem.store import HUMAN, HYBRID, REPOST
from habsburg.ecosystem.training import TrainingSet
from habsburg.experiments import outcomes as O
from habsburg.model.export import write_tables, z_sample_table
from habsburg.model.model import EcosystemModel

SEED = 3
#: noise-free study detectors: an estimate is ``floor + (ceiling - floor) * s`` exactly
FLOOR, CEILING = 0.05, 0.95
LIANG_REFERENCE = 0.6
DETECTOR = {"floor": FLOOR, "ceiling": CEILING, "noise": 0.0, "threshold": 0.5}
#: crawls small enough that the observer keeps every crawled document (Z_SAMPLE is 400)
DOCS_PER_CRAWL = 300
#: the run-quality figures a generation is judged by, recomputed below
QUALITY = ("capability", "tail_coverage", "fact_accuracy", "tail_fact_accuracy")


class RecordedDraws:
    """Stands in for the observer's generator: hands out uniform draws of its own and keeps
    them, so the web study's detector flags can be recomputed (everything else delegated)."""

    def __init__(self, real: np.random.Generator) -> None:
        self.real = real
        self.source = np.random.default_rng(2024)
        self.draws: list[np.ndarray] = []

    def random(self, size: int) -> np.ndarray:
        x = self.source.random(size)
        self.draws.append(x)
        return x

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# --- independent kernels (no library metric code) ---------------------------------------------
def expected_correct(facts: Any, truth: np.ndarray) -> np.ndarray:
    """P(an answer about each fact is its true value), from the fitted beliefs and the decoding
    settings: answers drawn from belief^(1/τ); a hallucination replaces the answer by one of the
    V-1 values other than the mode; an unseen fact is answered uniformly at random or not."""
    belief = np.asarray(facts.belief_, dtype=np.float64)
    n_values = belief.shape[1]
    with np.errstate(divide="ignore"):
        powered = np.where(belief > 0, belief ** (1.0 / facts.temperature), 0.0)
    answer = powered / powered.sum(axis=1, keepdims=True)
    rows = np.arange(truth.size)
    mode = belief.argmax(axis=1)
    h = facts.hallucination_rate
    seen = (1 - h) * answer[rows, truth] + h * np.where(mode == truth, 0.0, 1 / (n_values - 1))
    unseen = facts.unseen_hallucination_rate / n_values
    return np.where(np.asarray(facts.counts_).sum(axis=1) > 0, seen, unseen)


def cross_entropy(p: np.ndarray, q: np.ndarray, floor: float = 1e-6) -> float:
    mixed = (1 - floor) * q + floor / q.size
    return float(-np.sum(p[p > 0] * np.log(mixed[p > 0])))


def failure_ratios(fail: np.ndarray) -> tuple[float, float]:
    """(all models fail together / independence, mean over pairs of both fail / independence)."""
    if len(fail) < 2:
        return np.nan, np.nan
    systemic = np.mean(np.prod(fail, axis=0)) / np.prod(fail.mean(axis=1))
    pairs = [
        np.mean(fail[i] * fail[j]) / (fail[i].mean() * fail[j].mean())
        for i, j in combinations(range(len(fail)), 2)
    ]
    return float(systemic), float(np.mean(pairs))


def model_truth(agent: GenerativeModel, world: Any) -> dict[str, float]:
    """One deployed model's figures, from its learners and the world."""
    learners = agent.learners
    assert learners is not None
    q = learners.concepts.sampling_probs
    correct = expected_correct(learners.facts, world.true_values)
    totals = np.asarray(learners.facts.counts_).sum(axis=1)
    mentioned = totals[totals > 0]
    return {
        "capability": cross_entropy(world.p_human, q),
        "tail_coverage": float(np.count_nonzero(q[world.concept_tail]) / world.concept_tail.sum()),
        "support": float(np.count_nonzero(q) / q.size),
        "fact_accuracy": float(correct.mean()),
        "tail_fact_accuracy": float(correct[world.fact_tail].mean()),
        "style_variance_ratio": float(
            np.trace(learners.style.sampling_cov) / np.trace(world.human_style_cov)
        ),
        "training_fact_claims_median": float(np.median(mentioned)),
        "training_fact_claims_p10": float(np.percentile(mentioned, 10)),
    }


def month_truth(model: EcosystemModel, training: dict[str, TrainingSet]) -> dict[str, float]:
    """The deployed models' figures this month, by brute force."""
    world, store = model.world, model.internet.store
    deployed = [a for a in model.models if a.learners is not None]
    out: dict[str, float] = {"deployed_models": len(deployed)}
    per_model = [model_truth(a, world) for a in deployed]
    for key in QUALITY:
        out[f"mean_{key}"] = float(np.mean([r[key] for r in per_model])) if per_model else np.nan
    probs = [a.learners.concepts.sampling_probs for a in deployed if a.learners is not None]
    means = [a.learners.style.mean_ for a in deployed if a.learners is not None]
    js = [jensenshannon(p, q) ** 2 for p, q in combinations(probs, 2)]
    dist = [float(np.sqrt(((a - b) ** 2).sum())) for a, b in combinations(means, 2)]
    out["mean_pairwise_js"] = float(np.mean(js)) if js else np.nan
    out["mean_style_distance"] = float(np.mean(dist)) if dist else np.nan
    fail = np.array(
        [
            1 - expected_correct(a.learners.facts, world.true_values)
            for a in deployed
            if a.learners is not None
        ]
    )
    out["systemic_failure_ratio"], out["pairwise_failure_ratio"] = failure_ratios(fail)
    out["active_wrong_beliefs"] = sum(
        int(
            np.count_nonzero(
                (np.asarray(a.learners.facts.counts_).sum(axis=1) > 0)
                & (a.learners.facts.belief_.argmax(axis=1) != world.true_values)
            )
        )
        for a in deployed
        if a.learners is not None
    )
    # the latest training set of each deployed model
    dup, lift = [], []
    for a in deployed:
        ids = np.asarray(training[a.name].doc_ids)
        roots = store.root(ids)
        dup.append(1 - np.unique(roots).size / ids.size if ids.size else 0.0)
        originals = np.unique(ids[roots == ids])
        lift.append(wrong_claim_share(model, ids) - wrong_claim_share(model, originals))
    out["training_set_duplicate_share"] = float(np.mean(dup)) if dup else np.nan
    out["duplication_error_lift"] = float(np.mean(lift)) if lift else np.nan
    return out


def wrong_claim_share(model: EcosystemModel, ids: np.ndarray) -> float:
    store, truth = model.internet.store, model.world.true_values
    _, claims = store.claim_rows(ids)
    facts, values = store.claims_at(claims)
    return float(np.mean(values != truth[facts])) if claims.size else 0.0


# --- the shared run ---------------------------------------------------------------------------
@dataclass
class Run:
    model: EcosystemModel
    tables: O.OutcomeTables
    truth: pd.DataFrame  # one row per month
    models_truth: pd.DataFrame  # one row per deployed model per month
    draws: list[np.ndarray]
    crawls: pd.DataFrame  # one row per crawled document
    kept: dict[int, np.ndarray] = field(default_factory=dict)  # month -> kept ids, pooled


def _record_training_sets(into: dict[str, TrainingSet]) -> Callable[[GenerativeModel], Any]:
    built = GenerativeModel.training_set

    def training_set(self: GenerativeModel) -> TrainingSet:
        data = built(self)
        into[self.name] = data
        return data

    return training_set


def simulate_with_truth() -> Run:
    scrapers = copy.deepcopy(TINY["scrapers"])
    for s in scrapers:
        s["docs_per_crawl"] = DOCS_PER_CRAWL
    sc = tiny_scenario(
        scrapers=scrapers,
        instruments={
            "graphite": DETECTOR,
            "ahrefs": DETECTOR,
            "liang": DETECTOR,
            "liang_reference": LIANG_REFERENCE,
        },
    )
    model = EcosystemModel(sc, seed=SEED)
    draws = RecordedDraws(model.observer.rng)
    model.observer.rng = draws  # type: ignore[assignment]
    training: dict[str, TrainingSet] = {}
    months, rows = [], []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GenerativeModel, "training_set", _record_training_sets(training))
        for _ in range(sc.steps):
            model.step()
            months.append(month_truth(model, training))
            for a in model.models:
                if a.learners is not None:
                    rows.append(
                        {
                            "step": model.month,
                            "name": a.name,
                            "generation": a.generation,
                            **model_truth(a, model.world),
                        }
                    )
    store = model.internet.store
    z = z_sample_table(model.observer.z_samples)
    parts = []
    for scraper in model.scrapers:
        crawled = z[z["scraper"] == scraper.name]
        docs = crawled["document"].to_numpy()
        f = scraper.config.filters
        flagged = np.zeros(docs.size, dtype=bool)
        if f.watermark_detector:
            z_scores = model.watermark.z_scores(store.green[docs], store.tokens[docs])
            flagged |= z_scores > f.watermark_threshold
        if f.classifier:
            scores = scraper.classifier_scores(docs)
            flagged |= scores > DetectorModel.threshold(f.classifier_fpr)
        parts.append(
            pd.DataFrame(
                {
                    "step": crawled["step"].to_numpy(),
                    "scraper": scraper.name,
                    "document": docs,
                    "synthetic": store.synthetic_fraction[docs].astype(np.float64),
                    "flagged": flagged,
                }
            )
        )
    kept: dict[int, list[np.ndarray]] = {}
    for scraper in model.scrapers:
        for ids, step in zip(scraper.crawls, scraper.crawl_steps, strict=True):
            kept.setdefault(step, []).append(ids.ids().astype(np.int64))
    return Run(
        model=model,
        tables=O.outcome_tables(model),
        truth=pd.DataFrame(months),
        models_truth=pd.DataFrame(rows),
        draws=draws.draws,
        crawls=pd.concat(parts, ignore_index=True),
        kept={t: np.concatenate(v) for t, v in kept.items()},
    )


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    yield simulate_with_truth()


def recorded(run: Run, column: str) -> np.ndarray:
    return run.tables.model_metrics[column].to_numpy(dtype=np.float64)


def assert_series(got: np.ndarray, expected: Any, what: str) -> None:
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-9, err_msg=what)


# --- the web ----------------------------------------------------------------------------------
def month_rows(run: Run) -> Iterator[tuple[int, np.ndarray]]:
    step = run.model.internet.store.step
    for t in range(run.model.config.steps):
        yield t, np.flatnonzero(step == t)


def test_the_run_covers_what_the_checks_need(run: Run) -> None:
    mm = run.tables.model_metrics
    assert list(mm["step"]) == list(range(run.model.config.steps)) == sorted(run.kept)
    assert len(run.draws) == run.model.config.steps  # one detector draw per month
    assert run.truth["deployed_models"].iloc[0] == 0 and run.truth["deployed_models"].max() == 3
    assert (run.crawls.groupby(["step", "scraper"]).size() <= DOCS_PER_CRAWL).all()
    assert run.crawls["flagged"].any() and (~run.crawls["flagged"]).any()


def test_web_shares_are_those_of_the_month_s_rows(run: Run) -> None:
    """New documents, stock, true synthetic shares (mean synthetic fraction per document,
    reposts included) and the repost share, from the store's rows of each month."""
    store = run.model.internet.store
    sf = store.synthetic_fraction.astype(np.float64)
    new, total, share_new, share_stock, reposts = [], [], [], [], []
    for _, rows in month_rows(run):
        upto = np.flatnonzero(store.step <= store.step[rows[0]])
        new.append(rows.size)
        total.append(upto.size)
        share_new.append(sf[rows].mean())
        share_stock.append(sf[upto].mean())
        reposts.append(np.mean(store.kind[rows] == REPOST))
    assert_series(recorded(run, "new_documents"), new, "new_documents")
    assert_series(recorded(run, "documents"), total, "documents")
    assert_series(recorded(run, "synthetic_share_new"), share_new, "synthetic_share_new")
    assert_series(recorded(run, "synthetic_share_stock"), share_stock, "synthetic_share_stock")
    assert_series(recorded(run, "duplicate_share_web"), reposts, "duplicate_share_web")


def test_measured_shares_flag_with_the_study_detector_rates(run: Run) -> None:
    """A new document is flagged with probability fpr + (tpr - fpr)·s; the measured stock share
    is every document flagged so far over every document."""
    store, meas = run.model.internet.store, run.model.config.measurement
    sf = store.synthetic_fraction.astype(np.float64)
    flagged_total, measured_new, measured_stock = 0, [], []
    for t, rows in month_rows(run):
        u = run.draws[t]
        assert u.size == rows.size
        flags = u < meas.fpr + (meas.tpr - meas.fpr) * sf[rows]
        flagged_total += int(flags.sum())
        measured_new.append(flags.mean())
        measured_stock.append(flagged_total / np.count_nonzero(store.step <= t))
    assert_series(recorded(run, "synthetic_share_new_measured"), measured_new, "measured new")
    assert_series(recorded(run, "synthetic_share_stock_measured"), measured_stock, "stock")


def test_study_instruments_read_the_month_s_new_documents(run: Run) -> None:
    """Graphite: estimate > 50%; Ahrefs: bins of the estimate in whole percent; Liang:
    mean min(1, estimate / reference) over human-written (human and hybrid) documents."""
    store = run.model.internet.store
    sf = store.synthetic_fraction.astype(np.float64)
    expected: dict[str, list[float]] = {}
    for _, rows in month_rows(run):
        estimate = FLOOR + (CEILING - FLOOR) * sf[rows]
        percent = np.rint(100 * estimate)
        human = np.isin(store.kind[rows], [HUMAN, HYBRID])
        for key, value in {
            "graphite_ai_share": np.mean(estimate > 0.5),
            "ahrefs_pure_human": np.mean(percent == 0),
            "ahrefs_ai_1_10": np.mean((percent >= 1) & (percent <= 10)),
            "ahrefs_ai_11_40": np.mean((percent >= 11) & (percent <= 40)),
            "ahrefs_ai_41_70": np.mean((percent >= 41) & (percent <= 70)),
            "ahrefs_ai_71_99": np.mean((percent >= 71) & (percent <= 99)),
            "ahrefs_pure_ai": np.mean(percent == 100),
            "liang_llm_modified_share": np.mean(np.minimum(1.0, estimate[human] / LIANG_REFERENCE)),
        }.items():
            expected.setdefault(key, []).append(float(value))
    for key, values in expected.items():
        assert_series(recorded(run, key), values, key)
    assert len({tuple(v) for v in expected.values()}) > 3  # the bins are not all empty


# --- the models -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column",
    [
        "deployed_models",
        "mean_capability",
        "mean_tail_coverage",
        "mean_fact_accuracy",
        "mean_pairwise_js",
        "mean_style_distance",
        "systemic_failure_ratio",
        "pairwise_failure_ratio",
        "active_wrong_beliefs",
        "training_set_duplicate_share",
        "duplication_error_lift",
    ],
)
def test_model_metrics_are_over_the_models_deployed_that_month(run: Run, column: str) -> None:
    """Means over the deployed models only, NaN (not 0) before any is deployed and, for the
    pairwise ones, before two are."""
    assert_series(recorded(run, column), run.truth[column].to_numpy(np.float64), column)


def test_model_metrics_are_nan_not_zero_before_deployment(run: Run) -> None:
    mm = run.tables.model_metrics
    before = run.truth["deployed_models"].to_numpy() == 0
    one = run.truth["deployed_models"].to_numpy() == 1
    assert before.sum() >= 12 and one.any()
    for column in ("mean_capability", "mean_tail_coverage", "mean_fact_accuracy"):
        assert mm[column][before].isna().all() and mm[column][~before].notna().all()
    for column in ("mean_pairwise_js", "systemic_failure_ratio", "pairwise_failure_ratio"):
        assert mm[column][before | one].isna().all()


def test_assisted_authors_are_the_authors_who_can_use_a_deployed_model(run: Run) -> None:
    """Authors write with an assistant once adoption passes their threshold and a model is
    deployed: the share is 0 before the first deployment even where the adoption curve has
    begun (it reported the curve's share while no hybrid could be written)."""
    m = run.model
    # models deployed as the month's authors wrote: those deployed at the end of the month before
    at_end = run.truth["deployed_models"].to_numpy() > 0
    deployed = np.r_[False, at_end[:-1]]
    share = recorded(run, "assisted_authors")
    expected = [
        float(m.humans.assisted(step).mean()) if deployed[step] else 0.0
        for step in range(len(share))
    ]
    assert_series(share, expected, "assisted_authors")
    curve_started = [float(m.humans.assisted(step).mean()) > 0 for step in range(len(share))]
    assert any(c and not d for c, d in zip(curve_started, deployed, strict=True))  # the launch
    store = m.internet.store
    hybrid_months = [
        step
        for step in range(len(share))
        if (store.kind[store.step_slice(step, step)] == HYBRID).any()
    ]
    assert hybrid_months and all(deployed[step] for step in hybrid_months)


def test_models_table_rows_are_each_model_s_month(run: Run) -> None:
    """The per-model table: a row per model per month (``step`` the month of the row), NaN
    quality before a model's first training, each deployed model's figures that month."""
    md = run.tables.models
    steps = run.model.config.steps
    assert len(md) == steps * len(run.model.models)
    assert sorted(set(md["step"])) == list(range(steps))
    deployed = md[md["deployed"].astype(bool)]
    joined = deployed.merge(
        run.models_truth, on=["step", "name"], how="outer", suffixes=("", "_truth")
    )
    assert len(joined) == len(deployed) == len(run.models_truth)
    columns = [*QUALITY, "support", "style_variance_ratio", "generation"]
    for column in [*columns, "training_fact_claims_median", "training_fact_claims_p10"]:
        assert_series(
            joined[column].to_numpy(np.float64),
            joined[f"{column}_truth"].to_numpy(np.float64),
            column,
        )
    waiting = md[~md["deployed"].astype(bool)]
    assert len(waiting) and waiting[list(QUALITY)].isna().all().all()
    assert (waiting["generation"] == -1).all()


# --- errors and cascades ----------------------------------------------------------------------
def wrong_claims(model: EcosystemModel) -> pd.DataFrame:
    """Every wrong fact claim on the web: document, its month, fact and value."""
    store = model.internet.store
    docs = np.arange(len(store))
    lengths, claims = store.claim_rows(docs)
    facts, values = store.claims_at(claims)
    owner = np.repeat(docs, lengths)
    wrong = values != model.world.true_values[facts]
    return pd.DataFrame(
        {
            "document": owner[wrong],
            "step": store.step[owner[wrong]],
            "fact": facts[wrong],
            "value": values[wrong],
        }
    )


def cascade_truth(model: EcosystemModel) -> pd.DataFrame:
    """Per month: distinct wrong values published so far, and the most documents carrying
    one of them (a document counted once however often it repeats the claim)."""
    claims = wrong_claims(model).drop_duplicates(["document", "fact", "value"])
    steps = range(model.config.steps)
    first = claims.groupby(["fact", "value"])["step"].min()
    per_month = claims.groupby(["fact", "value", "step"]).size().unstack(fill_value=0)
    per_month = per_month.reindex(columns=steps, fill_value=0).cumsum(axis=1)
    return pd.DataFrame(
        {
            "errors_registered": [int((first <= t).sum()) for t in steps],
            "largest_cascade_documents": [int(per_month[t].max()) for t in steps],
        }
    )


def adoption_truth(model: EcosystemModel) -> pd.DataFrame:
    adoptions = model.errors.adoptions_frame()
    origin = model.errors.to_frame()["origin_model"].to_numpy()
    out = []
    for t in range(model.config.steps):
        a = adoptions[adoptions["step"] <= t]
        src = origin[a["error_id"].to_numpy()]
        out.append(
            {
                "largest_cascade_models": int(a.groupby("error_id")["model"].nunique().max())
                if len(a)
                else 0,
                "cross_model_adoptions": int(((src >= 0) & (src != a["model"].to_numpy())).sum()),
            }
        )
    return pd.DataFrame(out)


def test_errors_and_cascades_from_the_web_s_claims(run: Run) -> None:
    truth = cascade_truth(run.model)
    assert truth["largest_cascade_documents"].iloc[-1] > 10
    for column in truth:
        assert_series(recorded(run, column), truth[column].to_numpy(np.float64), column)
    adopted = adoption_truth(run.model)
    for column in adopted:
        assert_series(recorded(run, column), adopted[column].to_numpy(np.float64), column)


# --- filters (this month's crawls) ------------------------------------------------------------
def crawl_truth(run: Run) -> pd.DataFrame:
    """Per month, pooled over the month's crawls (each crawled or kept document counted once
    per crawl): filter confusion against ground truth (synthetic fraction >= the measurement
    threshold), synthetic shares before and after filtering, repeated copies kept."""
    store, threshold = run.model.internet.store, run.model.config.measurement.threshold
    out = []
    for t in range(run.model.config.steps):
        c = run.crawls[run.crawls["step"] == t]
        ai = c["synthetic"].to_numpy() >= threshold
        flagged = c["flagged"].to_numpy()
        tp, fp, fn = (int(np.sum(x)) for x in (flagged & ai, flagged & ~ai, ~flagged & ai))
        kept = run.kept[t]
        out.append(
            {
                "filter_precision": tp / (tp + fp) if tp + fp else np.nan,
                "filter_recall": tp / (tp + fn) if tp + fn else np.nan,
                "human_documents_lost": float(fp),
                "training_synthetic_before": c["synthetic"].mean() if len(c) else np.nan,
                "training_synthetic_after": float(
                    store.synthetic_fraction[kept].astype(np.float64).mean()
                )
                if kept.size
                else np.nan,
                "training_duplicate_share": float(np.mean(store.root(kept) != kept))
                if kept.size
                else np.nan,
            }
        )
    return pd.DataFrame(out)


def test_filter_metrics_from_the_crawled_documents(run: Run) -> None:
    truth = crawl_truth(run)
    assert truth["filter_precision"].notna().sum() > 10
    for column in truth:
        assert_series(recorded(run, column), truth[column].to_numpy(np.float64), column)


# --- outcomes ---------------------------------------------------------------------------------


def final_model_outcomes(last: pd.DataFrame, month: pd.Series) -> dict[str, float]:
    """The "final" outcomes read from the deployed models: ``last``, the models' ground truth
    in the last month, and ``month``, that month's row of the run's truth."""
    return {
        "final_mean_tail_coverage": last["tail_coverage"].mean(),
        "final_min_tail_coverage": last["tail_coverage"].min(),
        "final_mean_fact_accuracy": last["fact_accuracy"].mean(),
        "final_mean_tail_fact_accuracy": last["tail_fact_accuracy"].mean(),
        "final_min_fact_claims": last["training_fact_claims_median"].min(),
        "final_mean_capability": last["capability"].mean(),
        "final_style_variance_ratio": last["style_variance_ratio"].mean(),
        "final_mean_pairwise_js": month["mean_pairwise_js"],
        "final_systemic_failure_ratio": month["systemic_failure_ratio"],
    }


def outcome_truth(run: Run) -> dict[str, float]:
    """Every scalar outcome by its description, from the brute-force figures above."""
    last_step = run.model.config.steps - 1
    last = run.models_truth[run.models_truth["step"] == last_step]
    store = run.model.internet.store
    sf = store.synthetic_fraction.astype(np.float64)
    meas = run.model.config.measurement
    flags = run.draws[-1] < meas.fpr + (meas.tpr - meas.fpr) * sf[store.step == last_step]
    crawls = crawl_truth(run)
    cascades, adopted = cascade_truth(run.model), adoption_truth(run.model)
    return {
        "final_synthetic_share_new": sf[store.step == last_step].mean(),
        "final_synthetic_share_measured": float(flags.mean()),
        "final_synthetic_share_stock": sf.mean(),
        **final_model_outcomes(last, run.truth.iloc[-1]),
        "largest_cascade": adopted["largest_cascade_models"].iloc[-1],
        "largest_cascade_documents": cascades["largest_cascade_documents"].iloc[-1],
        "cross_model_adoptions": adopted["cross_model_adoptions"].iloc[-1],
        # means over the months whose rate is defined (months with crawls that flagged or met
        # AI documents)
        "mean_filter_precision": crawls["filter_precision"].dropna().mean(),
        "mean_filter_recall": crawls["filter_recall"].dropna().mean(),
        "final_training_synthetic_after": crawls["training_synthetic_after"].iloc[-1],
        "human_documents_lost": crawls["human_documents_lost"].sum(),
    }


def test_every_scalar_outcome_is_what_its_description_says(run: Run) -> None:
    truth = outcome_truth(run)
    assert set(truth) == set(O.SCALARS)
    got = O.run_outcomes(run.tables)
    for name, value in truth.items():
        assert np.isfinite(value), name
        np.testing.assert_allclose(got[name], value, rtol=1e-9, err_msg=name)


def test_every_series_outcome_is_its_month_by_month_metric(run: Run) -> None:
    truth = {
        **{c: run.truth[c] for c in run.truth},
        **{c: v for c, v in crawl_truth(run).items()},
        **{c: v for c, v in adoption_truth(run.model).items()},
    }
    _, series = O.evaluate_outcomes(
        [n for n, o in O.OUTCOMES.items() if o.kind == "timeseries"], run.tables
    )
    assert list(series["step"]) == list(range(run.model.config.steps))
    for name in ("mean_tail_coverage", "mean_fact_accuracy", "mean_capability"):
        assert_series(series[name].to_numpy(), truth[name].to_numpy(np.float64), name)
    for name in ("mean_pairwise_js", "largest_cascade_models", "training_synthetic_after"):
        assert_series(series[name].to_numpy(), truth[name].to_numpy(np.float64), name)
    for name in ("synthetic_share_new", "synthetic_share_stock", "synthetic_share_new_measured"):
        assert_series(series[name].to_numpy(), recorded(run, name), name)  # (checked above)


def test_outcomes_of_a_run_ending_before_every_model_is_deployed(run: Run) -> None:
    """The "final" outcomes read the last month of the tables and the models deployed then: the
    same tables cut at month 15 (models a and b deployed, c not yet) and at month 5 (none)."""
    mm, md = run.tables.model_metrics, run.tables.models
    for end in (15, 5):
        cut = O.OutcomeTables(mm[mm["step"] <= end], md[md["step"] <= end])
        got = O.run_outcomes(cut)
        last = run.models_truth[run.models_truth["step"] == end]
        assert len(last) == (2 if end == 15 else 0)
        expected = final_model_outcomes(last, run.truth.iloc[end])
        assert set(expected) == O.MODEL_OUTCOMES
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-9, err_msg=f"{name} at {end}")
            assert np.isnan(got[name]) == (end == 5), name


def test_outcome_means_and_sums_skip_months_without_a_rate() -> None:
    """Mean precision and recall over the months whose rate is defined (a month without flags,
    or without crawls, is left out, not counted as 0); human documents lost summed."""
    nan = np.nan
    mm = pd.DataFrame(
        {
            "step": [0, 1, 2, 3],
            "month": ["2020-01", "2020-02", "2020-03", "2020-04"],
            "filter_precision": [nan, 0.5, 1.0, nan],
            "filter_recall": [0.2, nan, 0.4, nan],
            "human_documents_lost": [3.0, nan, 4.0, 0.0],
        }
    )
    tables = O.OutcomeTables(mm, pd.DataFrame(columns=["step", "deployed"]))
    got = O.evaluate_outcomes(
        ["mean_filter_precision", "mean_filter_recall", "human_documents_lost"], tables
    )[0]
    assert got == pytest.approx(
        {"mean_filter_precision": 0.75, "mean_filter_recall": 0.3, "human_documents_lost": 7.0}
    )
    none = O.OutcomeTables(mm.assign(filter_precision=nan), tables.models)
    assert np.isnan(O.OUTCOMES["mean_filter_precision"].function(none))


def test_outcomes_read_back_from_the_written_tables_are_the_same(run: Run, tmp_path: Path) -> None:
    write_tables(run.model, tmp_path)
    again = O.run_outcomes(O.read_outcome_tables(tmp_path))
    assert again == pytest.approx(O.run_outcomes(run.tables), nan_ok=True, rel=1e-12)


# --- bugs an audit found (fixed): the correct behaviour ---------------------------------------
def step_to(model: EcosystemModel, steps: int) -> EcosystemModel:
    while model.steps < steps:
        model.step()
    return model


def test_quality_metrics_follow_a_decoding_intervention() -> None:
    # model a deploys at month 12 and next retrains at 18: months 13-17 run on the new decoding
    sc = tiny_scenario(
        interventions=[
            {
                "at_step": 13,
                "set": {"models.*.temperature": 0.4, "models.*.hallucination_rate": 0.3},
            }
        ]
    )
    m = step_to(EcosystemModel(sc, seed=SEED), 14)
    (a,) = m.deployed_models()
    assert a.learners is not None and a.learners.facts.hallucination_rate == 0.3
    truth = model_truth(a, m.world)
    tables = O.outcome_tables(m)
    mm, md = tables.model_metrics, tables.models
    row = md[(md["step"] == 13) & (md["name"] == a.name)].iloc[0]
    recorded = [key for key in QUALITY if f"mean_{key}" in mm.columns]
    assert {"capability", "tail_coverage", "fact_accuracy"} <= set(recorded)
    for key in QUALITY:
        if key in recorded:
            assert mm[f"mean_{key}"].iloc[-1] == pytest.approx(truth[key]), key
        assert row[key] == pytest.approx(truth[key]), key


def test_failure_ratios_follow_a_temperature_only_intervention() -> None:
    # at month 19 no model retrains; every model's answers sharpen (τ = 0.3)
    sc = tiny_scenario(interventions=[{"at_step": 19, "set": {"models.*.temperature": 0.3}}])
    m = step_to(EcosystemModel(sc, seed=SEED), 20)
    deployed = m.deployed_models()
    assert len(deployed) == 3 and all(a.last_retrain_step < 19 for a in deployed)
    fail = np.array(
        [
            1 - expected_correct(a.learners.facts, m.world.true_values)
            for a in deployed
            if a.learners
        ]
    )
    systemic, pairwise = failure_ratios(fail)
    mm = m.datacollector.get_model_vars_dataframe()
    assert mm["systemic_failure_ratio"].iloc[-1] == pytest.approx(systemic)
    assert mm["pairwise_failure_ratio"].iloc[-1] == pytest.approx(pairwise)


def test_largest_cascade_counts_documents_not_claims() -> None:
    # few facts and many claims per document: documents repeat a wrong claim
    sc = tiny_scenario(
        world={"facts": 10, "values_per_fact": 3},
        humans={"error_rate": 0.3, "facts_per_doc": 6.0},
    )
    m = step_to(EcosystemModel(sc, seed=SEED), 6)
    claims = wrong_claims(m)
    assert claims.duplicated(["document", "fact", "value"]).any()
    truth = cascade_truth(m)
    mm = m.datacollector.get_model_vars_dataframe()
    assert mm["largest_cascade_documents"].iloc[-1] == truth["largest_cascade_documents"].iloc[-1]


def test_repost_share_of_a_month_without_documents_is_nan() -> None:
    m = step_to(EcosystemModel(tiny_scenario(humans={"docs_per_month": 0.0}), seed=SEED), 1)
    mm = m.datacollector.get_model_vars_dataframe()
    assert mm["new_documents"].iloc[0] == 0 and np.isnan(mm["synthetic_share_new"].iloc[0])
    assert np.isnan(mm["duplicate_share_web"].iloc[0])
