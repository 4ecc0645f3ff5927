"""The sections of a scenario as typed dataclasses: every setting declared once, with its range
and a one-line help (:func:`~habsburg.scenarios.declare.param`). :mod:`habsburg.scenarios.schema`
builds and validates them from TOML; typed parameters, sweeps and the viz read the declarations."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

from habsburg.scenarios.declare import MAX_SEED, param, parse_month


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
    values_per_fact: int = param(
        8, 2, 127, "possible values per fact V (one true; stored in a byte)"
    )
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
    drift_toward: str = param(
        "synthetic",
        help="what authors' interests drift toward: 'synthetic', the concept mix of the month's "
        "synthetic documents at drift_rate times the month's synthetic share (no drift on a web "
        "without AI text); 'internet', the month's whole concept mix at drift_rate (the design's "
        "wording, under which niche communities also converge on each other)",
        choices=("synthetic", "internet"),
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
        "", help="model whose outputs are distilled into this one, possibly itself ('' for none)"
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
    link_farm_size: int = param(
        0, 0, 100_000, "sites per link farm (all linked to each other); 0: all the farm's sites"
    )
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
    times: dict[str, Any] = param(
        None, help="setting path -> factor its value that month is multiplied by", factory=dict
    )
    note: str = param("", help="what this intervention represents")


@dataclass
class Scenario:
    """A complete scenario."""

    name: str = param("scenario", help="scenario name")
    description: str = param("", help="one paragraph: what it asks")
    seed: int = param(1, 0, MAX_SEED, "random seed")
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
