"""The figures of a run report, in order, each with its caption: which figures the run's data
allows, drawn by :mod:`habsburg.reports.plots` from a :class:`RunAnalysis`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis import cascades as casc
from habsburg.analysis import tails
from habsburg.analysis.results import BANDS_TABLE
from habsburg.analysis.run_analysis import RunAnalysis
from habsburg.reports import plots
from habsburg.reports.plots.detection import detector_roc
from habsburg.scenarios.targets import WEB_STUDY, WEB_STUDY_NAME, WEB_STUDY_PLATEAU


def web_study_points() -> str:
    """The web study's measurements in words: "Graphite: ~36% at +12 months, ~48% at +24, then
    ~50%"."""
    points = [f"~{share:.0%} at +{m}" for m, share in WEB_STUDY.items()]
    points[0] += " months"
    return f"{WEB_STUDY_NAME}: {', '.join(points)}, then ~{WEB_STUDY_PLATEAU:.0%}"


def posterior_bands(a: RunAnalysis) -> pd.DataFrame | None:
    """The run's posterior forecast bands (``bands.parquet``, written by ``habsburg run
    --posterior``), or None when the run has none."""
    if not a.run.has(BANDS_TABLE):
        return None
    bands = a.run.table(BANDS_TABLE)
    return bands if len(bands) else None


def make_figures(a: RunAnalysis, out_dir: Path) -> list[tuple[Path, str]]:
    """Draw every figure the run's data allows into ``out_dir``; returns (path, caption)."""
    made: list[tuple[Path, str]] = []

    def add(name: str, fig: Figure, caption: str) -> None:
        made.append((plots.save(fig, out_dir / f"{len(made) + 1:02d}-{name}.png"), caption))

    mm = a.model_metrics
    bands = posterior_bands(a)
    band = (
        f" Shaded: the 5–95% band of {int(bands['draws'].max())} runs with settings drawn from "
        "the calibration posterior (each on its own seed)."
        if bands is not None
        else ""
    )
    add(
        "synthetic-share",
        plots.synthetic_share(mm, a.run.launch_month, bands),
        "Synthetic share of new documents (true and detector-measured) and of the whole web, "
        f"against the measured web curve ({web_study_points()}).{band}",
    )
    if plots.has_instruments(mm):
        add(
            "study-instruments",
            plots.study_instruments(mm, bands),
            "The published web studies as instruments applied to the simulated web every month "
            "(each with its own detector and rule), against their published values: filled "
            "diamonds are calibration targets (months up to 2024-12), open circles out-of-sample "
            f"predictions; bars: Ahrefs-style bins of new pages in the month Ahrefs measured.{band}",
        )
    if len(a.pairs):
        add(
            "convergence",
            plots.convergence(a.pairs, mm, a.style),
            "Top: JS divergence between every pair of deployed models (grey), their mean (blue) "
            "and the mean distance to human writing p_H (dashed). Middle: systemic-failure ratio "
            "(homogenization). Bottom: style distances (2-Wasserstein between the models' "
            "Gaussian style distributions).",
        )
    if len(a.js_end) > 1:
        add(
            "js-matrix",
            plots.js_heatmap(a.js_end, f"JS divergence at the end ({mm['month'].iloc[-1]})"),
            "Pairwise Jensen–Shannon divergence (nats) between the models deployed at the end "
            "of the run and the human reference p_H.",
        )
    if a.graph.number_of_edges():
        add(
            "training-graph",
            plots.training_graph(a.graph, a.paths),
            "Who trains on whose output (each model's latest generation): arrow width is the "
            "share of the target's training data the source model wrote; the heaviest chain of "
            "two or more hops is red.",
        )
    if len(a.cascades) and (a.cascades["models"] > 0).any():
        add(
            "cascades",
            plots.cascade_overview(a.cascades, a.origins),
            "Left: complementary CDF of cascade sizes (models that came to believe an error, "
            "documents carrying it). Middle: months from an error's first appearance to its first "
            "model adoption and first cross-model adoption. Right: who started the errors.",
        )
        top = casc.biggest(a.cascades, 1).iloc[0]
        graph = casc.cascade_graph(
            int(top["error_id"]),
            a.run.table("errors"),
            a.run.table("adoptions"),
            a.run.table("error_claims"),
            a.run.names,
            group_authors=True,
        )
        add(
            "biggest-cascade",
            plots.cascade_graph(
                graph,
                f"Biggest cascade: error {int(top['error_id'])} (fact {int(top['fact'])}), "
                f"patient zero {top['origin']}",
            ),
            "The biggest cascade: its origin, everyone who published it (authors merged into one "
            "node) and the models that came to believe it, with arrows from the publishers whose "
            "documents came before each adoption.",
        )
    if len(a.filters_time):
        add(
            "filters",
            plots.filter_performance(a.filters_time, a.step_month),
            "Precision, recall and false-positive rate of each scraper's AI filters (watermark "
            "z-test and AI-text classifier) against ground truth, by month; black: all scrapers.",
        )
        add(
            "training-data",
            plots.training_data(a.filters_time, a.step_month),
            "Synthetic share of what scrapers collect, before (dotted) and after (solid) "
            "filtering, and human documents the filters wrongly removed each month.",
        )
    if len(a.roc):
        add(
            "roc",
            plots.roc(a.roc, a.operating_point or None),
            "ROC curve of the watermark z-test over detector thresholds, from the z-scores of "
            "sampled crawled documents: all AI documents, and split by whether a watermarking "
            "lab wrote them; red dot: where the scrapers operated (the threshold in force each "
            "month).",
        )
    if len(a.extra.get("detection_roc", ())):
        add(
            "detector-roc",
            detector_roc(a.extra["detection_roc"]),
            "ROC curves of the watermark z-test and the AI-text classifier split by document: "
            "pure model text, hybrids (partly model-written) and paraphrased or spun text, each "
            "against human documents. Paraphrase and dilution pull both detectors toward chance; "
            "the z-test sees only watermarked text (unwatermarked model output scores like human "
            "text), the classifier sees all model text but less of it in hybrids.",
        )
    if a.counterfactual is not None:
        add(
            "counterfactual",
            plots.counterfactual(a.counterfactual),
            "End-of-run outcomes with the AI filters on (this run) and off (same seed).",
        )
    if a.models_trained:
        cd = a.run.table("concept_distributions")
        concepts = a.run.table("concepts")
        model = a.lineage_model
        assert model is not None  # set whenever models trained
        add(
            "rank-frequency",
            plots.rank_frequency(
                tails.rank_frequency(cd, model), tails.ratio_to_human(cd, concepts, model), model
            ),
            f"Left: rank-frequency (Zipf) curves of every generation of {model} (the longest "
            "lineage) against p_H; each curve ends where the generation's support ends. Right: "
            "the generation's probability mass over p_H's, in bins of p_H rank.",
        )
        add(
            "tail-survival",
            plots.tail_survival(a.survival),
            "Tail concepts each lineage can still produce, by generation (shaded: generation 0 "
            "and 1), and the share of generation 0's tail still known.",
        )
        add(
            "generations",
            plots.generation_quality(a.quality),
            "Collapse symptoms per generation: capability loss (cross-entropy to p_H minus its "
            "entropy), fact accuracy on all and on tail facts, and style variance relative to "
            "humans (lost variance).",
        )
    return made
