"""Scenario schema: TOML validated into typed dataclasses.

Every parameter is declared once, here, as a dataclass field with its range and a one-line help
(``field(metadata=...)`` through :func:`param`). The TOML loader, the interventions, the sweep
specs and the viz sliders all read these declarations, so a bad value gets the same error wherever
it comes from: the file, the key, the allowed values.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.inputs import read_text_file


def param(
    default: Any,
    low: float | None = None,
    high: float | None = None,
    help: str = "",
    *,
    choices: tuple | None = None,
    factory: Any = None,
) -> Any:
    """A scenario parameter: default, allowed range (inclusive) or choices, and help text."""
    meta = {"low": low, "high": high, "help": help, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


DATE_RE = re.compile(r"^(\d{4})-(\d{2})$")
#: string settings that hold a month (``YYYY-MM``)
MONTH_FIELDS = ("start", "end", "chatbot_launch", "launch")


def parse_month(text: str, where: str) -> tuple[int, int]:
    m = DATE_RE.match(str(text))
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ScenarioError(f"{where}: expected a month as 'YYYY-MM', got {text!r}")
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
@dataclass
class WorldConfig:
    """Ground truth: concepts, facts and style."""

    concepts: int = param(5000, 10, 10_000_000, "number of concepts K (Zipf popularity)")
    concept_zipf: float = param(1.1, 0.1, 5.0, "Zipf exponent β of concept popularity")
    communities: int = param(20, 1, 10_000, "human communities (niches)")
    niche_boost: float = param(
        6.0, 1.0, 1000.0, "how strongly a community tilts to its own tail concepts"
    )
    niche_floor: float = param(
        0.15, 0.0, 1.0, "weight a community gives other niches' tail concepts"
    )
    facts: int = param(2000, 1, 10_000_000, "number of facts F (Zipf popularity)")
    fact_zipf: float = param(1.0, 0.1, 5.0, "Zipf exponent of fact popularity")
    values_per_fact: int = param(8, 2, 1000, "possible values per fact V (one true)")
    style_dim: int = param(8, 1, 256, "style dimensions d")
    style_between: float = param(1.0, 0.0, 100.0, "spread of community style centroids")
    style_within: float = param(0.5, 0.0, 100.0, "spread of authors around their community")
    style_doc: float = param(0.5, 0.0, 100.0, "spread of documents around their author")
    tail_mass: float = param(
        0.1, 0.001, 0.999, "tail = least popular items holding this share of mass"
    )


@dataclass
class AdoptionCurve:
    """Logistic adoption: ``ceiling / (1 + exp(-rate·(months since start − midpoint)))``, zero
    before ``start``."""

    start: str = param("2022-11", help="first month of adoption (YYYY-MM)")
    midpoint: float = param(12.0, 0.0, 600.0, "months from start to half the ceiling")
    rate: float = param(0.25, 0.0, 10.0, "logistic steepness per month")
    ceiling: float = param(1.0, 0.0, 1e9, "level reached at saturation")


#: ways a document gets written (Issue 11: the co-written web). ``human`` documents have synthetic
#: fraction 0 and ``verbatim`` ones 1; the others draw it from a Beta law around their mean.
WORKFLOWS = ("human", "polished", "extended", "edited", "verbatim")


@dataclass
class Workflow:
    """One way of writing a document, and how often a producer writes that way.

    ``polished``: a human draft an assistant polished (a small model-written share); ``extended``:
    a human draft an assistant extended; ``edited``: a model draft a person edited; ``verbatim``:
    model output posted as is. A mix is a list of workflows whose weights are normalised.
    """

    name: str = param("polished", help="workflow", choices=WORKFLOWS)
    weight: float = param(1.0, 0.0, 1e6, "relative weight of this workflow in the mix")
    synthetic_mean: float = param(
        0.3,
        0.0,
        1.0,
        "mean share of the document's tokens a model wrote (polished/extended/edited)",
    )
    concentration: float = param(
        8.0, 0.1, 1e4, "Beta concentration of the synthetic fraction around its mean"
    )


@dataclass
class HumanConfig:
    """Human authors."""

    authors: int = param(2000, 1, 10_000_000, "number of human authors")
    docs_per_month: float = param(4.0, 0.0, 1000.0, "mean documents per author per month")
    tokens_mean: float = param(600.0, 10.0, 1e6, "mean tokens per document")
    tokens_per_concept: float = param(50.0, 1.0, 1e6, "tokens per concept draw")
    facts_per_doc: float = param(2.0, 0.0, 1000.0, "mean fact claims per document (Poisson)")
    error_rate: float = param(0.02, 0.0, 1.0, "probability a human claim is wrong")
    quality_mean: float = param(0.7, 0.0, 1.0, "mean quality of human documents")
    assistant: AdoptionCurve = param(
        None,
        help="share of authors using an AI assistant",
        factory=lambda: AdoptionCurve(start="2022-11", midpoint=24.0, rate=0.15, ceiling=0.6),
    )
    assisted_fraction: float = param(
        0.3, 0.0, 1.0, "mean share of a hybrid document the assistant writes (when no workflows)"
    )
    workflows: list[Workflow] = param(
        None,
        help="how assistant users write each document (default: all polished, assisted_fraction)",
        factory=list,
    )
    drift_rate: float = param(
        0.01, 0.0, 1.0, "monthly drift of authors' interests toward what they read"
    )


@dataclass
class LabConfig:
    name: str = param("lab", help="lab name")
    watermarks: bool = param(False, help="the lab watermarks all its models' output")


@dataclass
class DataPolicy:
    """How a model builds its training set at each retrain."""

    budget: int = param(40_000, 1, 1_000_000_000, "documents per retrain")
    scrapers: list[str] = param(None, help="scrapers this model buys crawls from", factory=list)
    mode: str = param(
        "accumulate_subsample",
        help="how generations of data combine",
        choices=("replace", "accumulate", "accumulate_subsample"),
    )
    human_reservoir: float = param(
        0.0, 0.0, 1.0, "share of the budget from licensed pre-AI human data"
    )
    sensor_fraction: float = param(0.0, 0.0, 1.0, "share of fresh physical-world ground-truth data")
    verifier_recall: float = param(
        0.0, 0.0, 1.0, "rate a verifier drops synthetic documents with wrong facts"
    )
    verifier_false_reject: float = param(
        0.0, 0.0, 1.0, "rate the verifier drops correct synthetic documents"
    )
    tail_reweighting: float = param(
        0.0, 0.0, 1.0, "tail-preserving reweighting a: fit counts^(1-a)"
    )
    smoothing: float = param(0.0, 0.0, 1e6, "additive smoothing of the concept fit")
    distill_from: str = param(
        "", help="model whose outputs are distilled into this one ('' for none)"
    )
    distill_fraction: float = param(
        0.0, 0.0, 1.0, "share of the budget distilled from distill_from"
    )
    dedup: bool = param(True, help="drop repeated copies of one original from the training set")


@dataclass
class ModelConfig:
    """A generative model (a lineage of generations)."""

    name: str = param("model", help="model name")
    lab: str = param("lab", help="lab that trains it")
    launch: str = param("2022-11", help="first deployment month (YYYY-MM)")
    temperature: float = param(1.0, 0.01, 10.0, "decoding temperature τ")
    top_p: float = param(0.95, 0.01, 1.0, "top-p (nucleus) truncation of concept sampling")
    hallucination_rate: float = param(0.03, 0.0, 1.0, "rate of wrong values on facts it has seen")
    unseen_hallucination_rate: float = param(
        0.8, 0.0, 1.0, "rate it answers facts it never saw (at random)"
    )
    style_estimator: str = param(
        "unbiased", help="style covariance estimator", choices=("unbiased", "mle")
    )
    cost: float = param(1.0, 0.0, 1e6, "price per document (farms use the cheapest)")
    appeal: float = param(1.0, 0.0, 1e6, "brand appeal multiplying its market attractiveness")
    retrain_interval: int = param(12, 1, 10_000, "months between retrains")
    data: DataPolicy = param(None, help="training data policy", factory=DataPolicy)


@dataclass
class DemandConfig:
    """AI demand: documents per month that model users publish, split by market share."""

    adoption: AdoptionCurve = param(
        None,
        help="documents per month published by model users",
        factory=lambda: AdoptionCurve(start="2022-11", midpoint=10.0, rate=0.3, ceiling=6000.0),
    )
    quality_sensitivity: float = param(3.0, 0.0, 1000.0, "how strongly users follow capability")
    inertia: float = param(0.8, 0.0, 1.0, "share of last month's market share users keep")
    tokens_mean: float = param(450.0, 10.0, 1e6, "mean tokens of a model-written document")
    quality_mean: float = param(0.75, 0.0, 1.0, "mean quality of model output")
    workflows: list[Workflow] = param(
        None,
        help="how model users turn output into posts (default: all verbatim)",
        factory=list,
    )


@dataclass
class EditConfig:
    """Where a paraphrase's edits fall (:mod:`habsburg.ecosystem.edits`): spans of a mean length,
    optionally mixed with edits at random positions. The watermark evidence an edit of a fraction ε
    keeps depends on it: random edits keep (1 − ε)^(h+1), spans of mean length L about
    1 − ε(1 + 1/L) (h = 1)."""

    span_length: float = param(
        4.0, 1.0, 1000.0, "mean length of an edited span in tokens (1 = random single tokens)"
    )
    random_share: float = param(
        0.0, 0.0, 1.0, "share of the edit made at random positions instead of in spans"
    )


@dataclass
class FarmConfig:
    name: str = param("farm", help="farm name")
    sites: int = param(10, 1, 100_000, "sites the farm owns")
    output: AdoptionCurve = param(
        None,
        help="documents per month",
        factory=lambda: AdoptionCurve(start="2023-01", midpoint=10.0, rate=0.3, ceiling=1000.0),
    )
    paraphrase_share: float = param(0.3, 0.0, 1.0, "share of farm documents paraphrased")
    paraphrase_rate: float = param(0.25, 0.0, 1.0, "fraction ε of tokens a paraphrase changes")
    paraphrase_edits: EditConfig = param(
        None, help="where the paraphrase's edits fall (spans, random)", factory=EditConfig
    )
    link_spam: int = param(20, 0, 100_000, "spam links per farm site from other sites")
    quality_mean: float = param(0.45, 0.0, 1.0, "mean quality of farm documents")
    tokens_mean: float = param(400.0, 10.0, 1e6, "mean tokens per farm document")


@dataclass
class ClassifierScoreConfig:
    """An AI-text classifier's score model (:mod:`habsburg.ecosystem.detectors`), given by the
    published figures it is calibrated to. Default: DetectGPT in Krishna et al. 2023 (NeurIPS),
    70.3% detected at 1% FPR, 4.6% after DIPPER paraphrasing (L60/O60)."""

    name: str = param("detectgpt", help="detector name (keys its per-document score noise)")
    recall: float = param(
        0.703, 0.001, 0.999, "recall on fully synthetic, unedited text of reference_tokens"
    )
    reference_fpr: float = param(0.01, 1e-6, 0.5, "false-positive rate that recall is quoted at")
    reference_tokens: float = param(300.0, 1.0, 1e6, "document length that recall is quoted at")
    paraphrased_recall: float = param(
        0.046, 0.001, 0.999, "recall after a paraphrase of reference_paraphrase of the tokens"
    )
    reference_paraphrase: float = param(
        0.6, 0.01, 0.99, "paraphrase fraction that paraphrased_recall is quoted at"
    )
    length_exponent: float = param(
        0.5, 0.0, 2.0, "score separation grows as (tokens / reference_tokens)^this"
    )


@dataclass
class FilterConfig:
    """A scraper's filter pipeline."""

    watermark_detector: bool = param(
        True, help="drop documents whose watermark z-score exceeds the threshold"
    )
    watermark_threshold: float = param(4.0, 0.0, 100.0, "detector z-score threshold")
    classifier: bool = param(False, help="drop documents an AI-text classifier flags")
    classifier_fpr: float = param(
        0.05, 1e-6, 0.999, "classifier false-positive rate on human text (sets its score threshold)"
    )
    classifier_model: ClassifierScoreConfig = param(
        None, help="the classifier's score model", factory=lambda: ClassifierScoreConfig()
    )
    classifier_tpr: float = param(
        -1.0,
        -1.0,
        1.0,
        "OLD fixed detection rate (-1: unset); read as classifier_model.recall at classifier_fpr",
    )
    quality_threshold: float = param(0.2, 0.0, 1.0, "drop documents of lower quality")
    dedup: bool = param(True, help="near-duplicate filter")
    dedup_similarity: float = param(0.5, 0.0, 1.0, "copies at least this similar are duplicates")
    dedup_false_positive_rate: float = param(
        0.002, 0.0, 1.0, "rate originals are wrongly dropped as duplicates"
    )

    def __post_init__(self) -> None:
        if self.classifier_tpr >= 0:
            warnings.warn(
                f"filters.classifier_tpr = {self.classifier_tpr:g} changed meaning: the AI-text "
                "classifier is now a score model whose recall falls with paraphrase, shorter "
                "documents and lower synthetic fraction (habsburg.ecosystem.detectors). The value "
                "is read as its recall on fully synthetic, unparaphrased documents of "
                "classifier_model.reference_tokens tokens at classifier_fpr; set "
                "filters.classifier_model.* instead to silence this message.",
                UserWarning,
                stacklevel=2,
            )


@dataclass
class ScraperConfig:
    name: str = param("crawler", help="scraper name")
    budget_sites: int = param(150, 1, 10_000_000, "site visits per crawl")
    walk_length: int = param(10, 1, 10_000, "visits per random walk before a restart")
    docs_per_crawl: int = param(6000, 1, 1_000_000_000, "documents sampled per crawl (monthly)")
    recency_months: float = param(6.0, 0.1, 1000.0, "recency weighting scale (months)")
    window_months: int = param(24, 1, 10_000, "how far back a crawl looks")
    filters: FilterConfig = param(None, help="filter pipeline", factory=FilterConfig)
    aggregator_sites: int = param(3, 0, 100_000, "aggregator/mirror sites it runs")
    repost_share: float = param(0.05, 0.0, 1.0, "share of crawled documents it reposts")
    spin_share: float = param(0.5, 0.0, 1.0, "share of reposts spun (paraphrased)")
    spin_rate: float = param(0.2, 0.0, 1.0, "fraction of tokens spinning changes")
    spin_edits: EditConfig = param(
        None, help="where spinning's edits fall (spans, random)", factory=EditConfig
    )
    error_virality: float = param(
        1.0,
        0.0,
        100.0,
        "extra repost weight of documents with a wrong claim (false news spreads farther: Vosoughi et al. 2018)",
    )


@dataclass
class WatermarkConfig:
    gamma: float = param(0.25, 0.01, 0.99, "green-list share γ")
    delta: float = param(2.0, 0.0, 20.0, "green logit bias δ")
    entropy_a: float = param(3.3, 0.01, 1000.0, "Beta(a, b) spike-entropy factor: a")
    entropy_b: float = param(1.7, 0.01, 1000.0, "Beta(a, b) spike-entropy factor: b")
    context_width: int = param(
        1, 1, 8, "h: preceding tokens that seed a token's green list (edits there erase it)"
    )
    adoption: float = param(
        0.0, 0.0, 1.0, "share of non-watermarking labs' output watermarked (mandate compliance)"
    )


@dataclass
class MeasurementConfig:
    """The web study's AI-text detector (how studies measure the synthetic share)."""

    tpr: float = param(0.9, 0.0, 1.0, "detection rate on fully synthetic text")
    fpr: float = param(0.04, 0.0, 1.0, "false-positive rate on human text")
    threshold: float = param(
        0.5, 0.0, 1.0, "synthetic fraction above which a document counts as AI"
    )


@dataclass
class DetectorConfig:
    """A study's AI-text detector (Issue 11, :mod:`habsburg.model.instruments`).

    A document with synthetic fraction s reads ``floor + (ceiling − floor)·s`` before error; the
    estimate is that reading moved by Gaussian noise on the logit scale. ``threshold`` is the
    study's classification rule (estimated AI fraction above which a document counts as AI).
    """

    floor: float = param(0.01, 1e-6, 0.5, "reading of a purely human document before noise")
    ceiling: float = param(
        0.99, 0.5, 0.999999, "reading of a purely model-written document before noise"
    )
    noise: float = param(1.0, 0.0, 10.0, "standard deviation of the error on the logit scale")
    threshold: float = param(0.5, 0.0, 1.0, "estimated AI fraction classified as AI")


@dataclass
class InstrumentsConfig:
    """The published web studies, applied to the simulated web every month."""

    graphite: DetectorConfig = param(
        None,
        help="Graphite-style article classifier (Surfer: FPR 4.2%, FNR 0.6% at 50%)",
        factory=lambda: DetectorConfig(floor=0.151, ceiling=0.925, noise=1.0, threshold=0.5),
    )
    ahrefs: DetectorConfig = param(
        None,
        help="Ahrefs-style page estimator (bins of estimated AI share)",
        factory=lambda: DetectorConfig(floor=1e-4, ceiling=0.97, noise=1.0, threshold=0.5),
    )
    liang: DetectorConfig = param(
        None,
        help="Liang et al. 2025-style population estimator of LLM-modified text",
        factory=lambda: DetectorConfig(floor=1e-3, ceiling=0.999, noise=0.5, threshold=0.5),
    )
    liang_reference: float = param(
        0.5, 0.01, 1.0, "synthetic fraction of the study's fully LLM-modified reference text"
    )


@dataclass
class WebConfig:
    sites: int = param(400, 10, 10_000_000, "human-run sites")
    attachment: int = param(3, 1, 1000, "links per new site (Barabási–Albert m)")


@dataclass
class Intervention:
    """Settings changed at a given month (or step)."""

    at: str = param("", help="month the change applies (YYYY-MM); or use at_step")
    at_step: int = param(-1, -1, 10_000_000, "step the change applies")
    set: dict[str, Any] = param(None, help="setting path -> new value", factory=dict)
    note: str = param("", help="what this intervention represents")


@dataclass
class Scenario:
    """A complete scenario."""

    name: str = param("scenario", help="scenario name")
    description: str = param("", help="one paragraph: what it asks")
    seed: int = param(1, 0, 2**63 - 1, "random seed")
    start: str = param("2020-01", help="first month (YYYY-MM)")
    end: str = param("2030-12", help="last month (YYYY-MM)")
    chatbot_launch: str = param("2022-11", help="first mass-market chatbot (YYYY-MM)")
    world: WorldConfig = param(None, factory=WorldConfig)
    humans: HumanConfig = param(None, factory=HumanConfig)
    demand: DemandConfig = param(None, factory=DemandConfig)
    web: WebConfig = param(None, factory=WebConfig)
    watermark: WatermarkConfig = param(None, factory=WatermarkConfig)
    measurement: MeasurementConfig = param(None, factory=MeasurementConfig)
    instruments: InstrumentsConfig = param(None, factory=InstrumentsConfig)
    labs: list[LabConfig] = param(None, factory=list)
    models: list[ModelConfig] = param(None, factory=list)
    farms: list[FarmConfig] = param(None, factory=list)
    scrapers: list[ScraperConfig] = param(None, factory=list)
    interventions: list[Intervention] = param(None, factory=list)
    source: str = param("", help="file the scenario was read from")

    # --- time -----------------------------------------------------------------------------
    def month_to_step(self, month: str, where: str = "month") -> int:
        y0, m0 = parse_month(self.start, "start")
        y, m = parse_month(month, where)
        return (y - y0) * 12 + (m - m0)

    def step_to_month(self, step: int) -> str:
        y0, m0 = parse_month(self.start, "start")
        total = y0 * 12 + (m0 - 1) + step
        return f"{total // 12:04d}-{total % 12 + 1:02d}"

    @property
    def steps(self) -> int:
        return self.month_to_step(self.end, "end") + 1

    @property
    def launch_step(self) -> int:
        return self.month_to_step(self.chatbot_launch, "chatbot_launch")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _close(key: str, options) -> str:
    match = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _check_value(f: dataclasses.Field, hint: Any, value: Any, where: str) -> Any:
    """Type- and range-check one scalar value; returns it coerced (int -> float)."""
    meta = f.metadata
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ScenarioError(f"{where}: expected a finite number, got {value!r}")
    elif hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{where}: expected a string, got {value!r}")
    elif origin is list and typing.get_args(hint)[0] is str:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{where}: expected a list of strings, got {value!r}")
    elif origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: expected a table, got {value!r}")
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            raise ScenarioError(f"{where}: {value!r} is out of range; allowed [{low}, {high}]")
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ScenarioError(f"{where}: {value!r} is not allowed; choose one of {allowed}")
    if f.name in MONTH_FIELDS and hint is str:
        parse_month(value, where)
    if f.name == "at" and value:
        parse_month(value, where)
    return value


def build(cls, data: dict[str, Any], where: str):
    """Build dataclass ``cls`` from a mapping, checking keys, types and ranges."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ScenarioError(
                f"unknown key {path!r}{_close(key, fields)}; allowed: {', '.join(fields)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = build(hint, value, path)
        elif typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            item_cls = typing.get_args(hint)[0]
            if not isinstance(value, list):
                raise ScenarioError(
                    f"{path}: expected an array of tables ([[{key}]]), got {value!r}"
                )
            kwargs[key] = [build(item_cls, v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            kwargs[key] = _check_value(fields[key], hint, value, path)
    return cls(**kwargs)


def _validate_references(sc: Scenario, where: str) -> None:
    def names(items, kind):
        seen = set()
        for item in items:
            if item.name in seen:
                raise ScenarioError(f"{where}: duplicate {kind} name {item.name!r}")
            seen.add(item.name)
        return seen

    labs = names(sc.labs, "lab")
    models = names(sc.models, "model")
    scrapers = names(sc.scrapers, "scraper")
    names(sc.farms, "farm")
    if sc.steps < 1:
        raise ScenarioError(
            f"{where}: end ({sc.end}) must not be before start ({sc.start}); zero steps"
        )
    for i, m in enumerate(sc.models):
        key = f"models[{i}]"
        if m.lab not in labs:
            raise ScenarioError(f"{where}: {key}.lab {m.lab!r} is not a lab; labs: {sorted(labs)}")
        for s in m.data.scrapers:
            if s not in scrapers:
                raise ScenarioError(
                    f"{where}: {key}.data.scrapers names {s!r}{_close(s, scrapers)}; scrapers: {sorted(scrapers)}"
                )
        if m.data.distill_from and m.data.distill_from not in models:
            raise ScenarioError(
                f"{where}: {key}.data.distill_from {m.data.distill_from!r} is not a model; models: {sorted(models)}"
            )
        fractions = m.data.human_reservoir + m.data.sensor_fraction + m.data.distill_fraction
        if fractions > 1.0 + 1e-9:
            raise ScenarioError(
                f"{where}: {key}.data: human_reservoir + sensor_fraction + distill_fraction = {fractions:g} > 1"
            )
    for i, iv in enumerate(sc.interventions):
        key = f"interventions[{i}]"
        if (iv.at == "") == (iv.at_step < 0):
            raise ScenarioError(f"{where}: {key} needs exactly one of 'at' (YYYY-MM) or 'at_step'")
        step = iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at, f"{key}.at")
        if not 0 <= step < sc.steps:
            raise ScenarioError(
                f"{where}: {key} applies at step {step}, outside the run (0..{sc.steps - 1})"
            )
        if not iv.set:
            raise ScenarioError(f"{where}: {key}.set is empty; name at least one setting")
        for path, value in iv.set.items():
            check_setting(sc, path, value, f"{where}: {key}.set")
            if _fixed_at_start(path):
                raise ScenarioError(
                    f"{where}: {key}.set: {path!r} is fixed when the run starts and cannot be "
                    f"changed by an intervention (fixed: {', '.join(FIXED_AT_START)})"
                )


def _validate_mixes(sc: Scenario, where: str) -> None:
    """Workflow mixes name each workflow once with some weight; detectors read humans below
    machines."""
    for key, mix in (
        ("humans.workflows", sc.humans.workflows),
        ("demand.workflows", sc.demand.workflows),
    ):
        names = [w.name for w in mix]
        if len(set(names)) != len(names):
            raise ScenarioError(f"{where}: {key} names a workflow twice: {names}")
        if mix and sum(w.weight for w in mix) <= 0:
            raise ScenarioError(f"{where}: {key}: the weights sum to 0; give one a weight > 0")
    for name in ("graphite", "ahrefs", "liang"):
        d = getattr(sc.instruments, name)
        if d.floor >= d.ceiling:
            raise ScenarioError(
                f"{where}: instruments.{name}: floor ({d.floor:g}) must be below ceiling "
                f"({d.ceiling:g})"
            )


#: settings read only when a run is built (an intervention cannot change them)
FIXED_AT_START = (
    "name",
    "seed",
    "start",
    "end",
    "chatbot_launch",
    "world.*",
    "web.*",
    "humans.authors",
    "farms.*.sites",
    "farms.*.link_spam",
    "scrapers.*.aggregator_sites",
    "models.*.launch",
    "models.*.lab",
)


def _fixed_at_start(path: str) -> bool:
    parts = path.split(".")
    for pattern in FIXED_AT_START:
        pat = pattern.split(".")
        if pat[-1] == "*" and len(parts) >= len(pat) - 1 and pat[:-1] == parts[: len(pat) - 1]:
            return True
        if len(pat) == len(parts) and all(p in ("*", q) for p, q in zip(pat, parts, strict=True)):
            return True
    return False


def load_text(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: malformed TOML: {err}") from None
    return from_dict(data, source)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    try:
        sc = build(Scenario, data, "")
    except ScenarioError as err:
        raise ScenarioError(f"{source}: {err}") from None
    sc.source = source
    check_name(sc.name, f"{source}: name")
    _validate_references(sc, source)
    _validate_mixes(sc, source)
    return sc


#: a scenario name is a safe slug: it names the default results directory, so it can never steer
#: a path (no separators, no leading dot, no "..")
NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, where: str = "name") -> str:
    """``name`` if it is a safe slug (letters, digits, ``-``, ``_``, ``.``; no leading dot)."""
    if not NAME_RE.match(name):
        raise ScenarioError(
            f"{where}: {name!r} is not a valid scenario name; use 1-128 letters, digits, '-', '_' "
            "or '.', not starting with '.' (it names the results directory)"
        )
    return name


def load_file(path: str | Path) -> Scenario:
    path = Path(path)
    return load_text(read_text_file(path, "scenario file"), str(path))


# --------------------------------------------------------------------------------------------
# Setting paths: "watermark.adoption", "models.gpt-a.temperature", "models.*.data.mode"
# --------------------------------------------------------------------------------------------
def _resolve(sc: Scenario, path: str) -> list[tuple[Any, dataclasses.Field, Any]]:
    """Targets ``(object, field, type hint)`` a setting path names (``*`` matches every item)."""
    parts = path.split(".")
    objs: list[Any] = [sc]
    i = 0
    while True:
        if i >= len(parts):
            raise ScenarioError(f"setting path {path!r} names a section, not a value")
        key = parts[i]
        cls = type(objs[0])
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if key not in fields:
            raise ScenarioError(
                f"unknown setting path {path!r}: no key {key!r}{_close(key, fields)} in {cls.__name__}; keys: {', '.join(fields)}"
            )
        hint = _hints(cls)[key]
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            if i + 1 >= len(parts):
                raise ScenarioError(
                    f"setting path {path!r} must name an item: {key}.<name>.<setting>"
                )
            item = parts[i + 1]
            new = []
            for o in objs:
                items = getattr(o, key)
                chosen = items if item == "*" else [x for x in items if x.name == item]
                if not chosen:
                    avail = [x.name for x in items]
                    raise ScenarioError(
                        f"unknown setting path {path!r}: no {key} item {item!r}{_close(item, avail)}; items: {avail}"
                    )
                new.extend(chosen)
            objs, i = new, i + 2
        elif dataclasses.is_dataclass(hint):
            objs, i = [getattr(o, key) for o in objs], i + 1
        else:
            if i != len(parts) - 1:
                raise ScenarioError(f"setting path {path!r}: {key!r} is a value, not a section")
            return [(o, fields[key], hint) for o in objs]


def check_setting(sc: Scenario, path: str, value: Any, where: str = "") -> Any:
    """Validate that ``path`` names a setting and ``value`` is allowed there; returns the value."""
    try:
        targets = _resolve(sc, path)
        f, hint = targets[0][1], targets[0][2]
        if f.name == "name":
            raise ScenarioError(f"setting path {path!r}: names cannot be changed")
        return _check_value(f, hint, value, path)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}" if where else str(err)) from None


def set_setting(sc: Scenario, path: str, value: Any) -> None:
    """Set a validated value at ``path`` (used by interventions, sweeps and the viz)."""
    value = check_setting(sc, path, value)
    for obj, f, _ in _resolve(sc, path):
        setattr(obj, f.name, value)


def get_setting(sc: Scenario, path: str) -> Any:
    targets = _resolve(sc, path)
    return getattr(targets[0][0], targets[0][1].name)


def setting_spec(sc: Scenario, path: str) -> dict[str, Any]:
    """Declared range, choices, help and type of a setting (for sliders and sweep specs)."""
    obj, f, hint = _resolve(sc, path)[0]
    return {"path": path, "type": hint, "default": getattr(obj, f.name), **f.metadata}


__all__ = [
    "AdoptionCurve",
    "ClassifierScoreConfig",
    "DataPolicy",
    "DemandConfig",
    "DetectorConfig",
    "EditConfig",
    "FarmConfig",
    "FilterConfig",
    "HumanConfig",
    "InstrumentsConfig",
    "Intervention",
    "LabConfig",
    "MeasurementConfig",
    "ModelConfig",
    "Scenario",
    "ScenarioError",
    "ScraperConfig",
    "WatermarkConfig",
    "WebConfig",
    "Workflow",
    "WorldConfig",
    "build",
    "check_setting",
    "from_dict",
    "get_setting",
    "load_file",
    "load_text",
    "set_setting",
    "setting_spec",
]
