"""The analysis of one finished run: every table its report shows (:func:`analyse`) and the
headline numbers by topic (:func:`key_figures`), computed from the run's own Parquet files.

Raw values only: formatting them into prose, tables and figures is :mod:`habsburg.reports`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from habsburg.analysis import cascades as casc
from habsburg.analysis import convergence as conv
from habsburg.analysis import detection, tails
from habsburg.analysis import filters as filt
from habsburg.analysis.results import COUNTERFACTUAL_TABLE, Run
from habsburg.scenarios.targets import WEB_STUDY

#: columns of the empty tables of a run without errors, trained models or scrapers
CASCADE_COLUMNS = ["error_id", "models", "documents", "origin_kind", "made_by"]
PATH_COLUMNS = ["path", "hops", "weight", "source", "target"]
ROC_COLUMNS = ["threshold", "tpr", "fpr", "group"]


@dataclass
class RunAnalysis:
    """Everything the report shows, computed from a :class:`Run`'s tables."""

    run: Run
    model_metrics: pd.DataFrame
    step_month: dict[int, str]
    launch_step: int
    # convergence
    pairs: pd.DataFrame
    js_end: pd.DataFrame
    style: pd.DataFrame | None
    graph: nx.DiGraph
    paths: pd.DataFrame
    # cascades
    cascades: pd.DataFrame
    origins: pd.DataFrame
    # filters
    filters_total: pd.DataFrame
    filters_time: pd.DataFrame
    roc: pd.DataFrame
    aucs: dict[str, float]
    operating_point: dict[str, float]
    # tails and capability
    survival: pd.DataFrame
    quality: pd.DataFrame
    lineage_model: str | None
    counterfactual: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    @property
    def models_trained(self) -> bool:
        return len(self.quality) > 0


def month_index(month: str, start: str) -> int:
    """Months from ``start`` to ``month`` (both ``YYYY-MM``)."""
    y, m = (int(x) for x in month.split("-"))
    y0, m0 = (int(x) for x in start.split("-"))
    return (y - y0) * 12 + (m - m0)


def labelled_z_samples(run: Run) -> pd.DataFrame:
    """The run's ``z_samples`` with column ``source``: whether a watermarking lab's model wrote
    the document ("watermarking labs") or not ("non-watermarking labs")."""
    z = run.table("z_samples")
    sampled = z["document"].to_numpy()
    # only the sampled documents are read (a 100× run has 200 M)
    docs = run.rows("documents", "id", sampled, ["id", "model"])
    order = np.argsort(docs["id"].to_numpy())
    ids, models = docs["id"].to_numpy()[order], docs["model"].to_numpy()[order]
    doc_model = np.full(sampled.size, -1, dtype=np.int64)
    if ids.size:
        at = np.minimum(np.searchsorted(ids, sampled), ids.size - 1)
        known = ids[at] == sampled
        doc_model[known] = models[at[known]]
    marked = np.isin(doc_model, run.watermarking_models())
    return z.assign(source=np.where(marked, "watermarking labs", "non-watermarking labs"))


def analyse(run: Run) -> RunAnalysis:
    """Compute every analysis table of a run (fast: seconds for the baseline)."""
    mm = run.table("model_metrics")
    step_month = dict(zip(mm["step"].astype(int), mm["month"].astype(str), strict=True))
    launch = month_index(run.launch_month, str(mm["month"].iloc[0])) if len(mm) else 0

    cd = run.table("concept_distributions")
    concepts = run.table("concepts")
    steps = mm["step"].to_numpy()
    pairs = conv.js_over_time(cd, steps)
    last = int(steps.max()) if steps.size else 0
    style = (
        conv.style_distances_over_time(run.table("style_distributions"), steps)
        if run.has("style_distributions")
        else None
    )
    graph = conv.training_graph(run.table("training_sources"))
    paths = (
        conv.heaviest_paths(graph, k=50)
        if graph.number_of_edges()
        else pd.DataFrame(columns=PATH_COLUMNS)
    )

    errors = run.table("errors")
    cascades = (
        casc.cascade_table(
            errors,
            run.table("adoptions"),
            run.table("error_claims", list(casc.CLAIM_COLUMNS)),
            run.names,
        )
        if len(errors)
        else pd.DataFrame(columns=CASCADE_COLUMNS)
    )

    crawls = run.table("crawls")
    if len(crawls):
        filters_total = filt.by_scraper(crawls, since_step=launch)
        filters_time = filt.over_time(crawls)
    else:  # a scenario without scrapers
        filters_total = filters_time = pd.DataFrame(columns=["scraper", "step"])
    if len(run.table("z_samples")):
        z = labelled_z_samples(run)
        roc = filt.watermark_roc(z, ai_threshold=run.ai_threshold, by="source")
        detection_roc = detection.roc_by_group(z)
        history = run.z_threshold_history()
        point = filt.operating_point(
            z, history[-1][1], ai_threshold=run.ai_threshold, history=history
        )
        if len(history) > 1:  # changed by an intervention: since when, and what it was before
            point["since"] = step_month.get(history[-1][0], f"month {history[-1][0]}")
            point["before"] = history[-2][1]
    else:
        roc, point = pd.DataFrame(columns=ROC_COLUMNS), {}
        detection_roc = pd.DataFrame(columns=detection.ROC_COLUMNS)

    lineage = run.table("lineage")
    quality = tails.generation_quality(lineage, concepts) if len(lineage) else pd.DataFrame()
    lineage_model = None
    if len(quality):
        most = quality.groupby("model")["generation"].max()
        lineage_model = str(most.sort_index().idxmax())
    return RunAnalysis(
        run=run,
        model_metrics=mm,
        step_month=step_month,
        launch_step=launch,
        pairs=pairs,
        js_end=conv.js_at_step(cd, last),
        style=style,
        graph=graph,
        paths=paths,
        cascades=cascades,
        origins=casc.origin_shares(cascades) if len(cascades) else pd.DataFrame(),
        filters_total=filters_total,
        filters_time=filters_time,
        roc=roc,
        aucs={g: filt.auc(c) for g, c in roc.groupby("group", sort=False)},
        operating_point=point,
        survival=tails.tail_survival(cd, concepts),
        quality=quality,
        lineage_model=lineage_model,
        counterfactual=(run.table(COUNTERFACTUAL_TABLE) if run.has(COUNTERFACTUAL_TABLE) else None),
        extra={"detection_roc": detection_roc},
    )


# --------------------------------------------------------------------------------------------
# Key figures: the headline numbers by topic
# --------------------------------------------------------------------------------------------
def key_figures(a: RunAnalysis) -> dict[str, dict[str, object]]:
    """The headline numbers by topic (raw values; the report formats them)."""
    return {
        "web": _web(a),
        "convergence": _convergence(a),
        "cascades": _cascades(a),
        "filters": _filters(a),
        "tails": _tails(a),
    }


def _web(a: RunAnalysis) -> dict[str, object]:
    """Synthetic shares at the end and at the months the web study measured (``at``: months
    after the launch -> (month, true share, detector-measured share))."""
    mm, launch = a.model_metrics, a.launch_step
    at = {}
    for offset in WEB_STUDY:
        row = mm[mm["step"] == launch + offset]
        if len(row):
            at[offset] = (
                str(row["month"].iloc[0]),
                float(row["synthetic_share_new"].iloc[0]),
                float(row["synthetic_share_new_measured"].iloc[0]),
            )
    end = mm.iloc[-1]
    return {
        "at": at,
        "end_month": str(end["month"]),
        "end_true": float(end["synthetic_share_new"]),
        "end_measured": float(end["synthetic_share_new_measured"]),
        "stock_true": float(end["synthetic_share_stock"]),
        "documents": int(end["documents"]),
    }


def _convergence(a: RunAnalysis) -> dict[str, object]:
    k: dict[str, object] = {}
    between = a.pairs[a.pairs["model_b"] != conv.HUMAN] if len(a.pairs) else a.pairs
    if len(between):
        mean, to_h = conv.means_over_time(a.pairs, "js")
        k.update(
            first_step=int(mean.index[0]),
            first_js=float(mean.iloc[0]),
            end_step=int(mean.index[-1]),
            end_js=float(mean.iloc[-1]),
            peak_js=float(mean.max()),
            peak_step=int(mean.idxmax()),
        )
        k["end_js_human"] = float(to_h.iloc[-1])
        k["first_js_human"] = float(to_h.loc[mean.index[0]])
        closest = between[between["step"] == mean.index[-1]].nsmallest(1, "js").iloc[0]
        k["closest_pair"] = (closest["model_a"], closest["model_b"], float(closest["js"]))
    sfr = a.model_metrics["systemic_failure_ratio"].dropna()
    if len(sfr):
        k["sfr_end"] = float(sfr.iloc[-1])
        k["sfr_max"] = float(sfr.max())
    if a.style is not None and len(a.style):
        sb, sh = conv.means_over_time(a.style, "w2")
        if len(sb):
            k["style_w2_end"] = float(sb.iloc[-1])
            k["style_w2_human_end"] = float(sh.iloc[-1]) if len(sh) else float("nan")
    direct = a.paths[a.paths["hops"] == 1]
    chains = a.paths[a.paths["hops"] >= 2]
    if len(direct):
        k["heaviest_edge"] = (direct.iloc[0]["path"], float(direct.iloc[0]["weight"]))
    if len(chains):
        k["heaviest_chain"] = (chains.iloc[0]["path"], float(chains.iloc[0]["weight"]))
    return k


def _cascades(a: RunAnalysis) -> dict[str, object]:
    c = a.cascades
    k: dict[str, object] = {"errors": len(c)}
    if not len(c):
        return k
    k.update(
        believed=int((c["models"] >= 1).sum()),
        multi=int((c["models"] >= 2).sum()),
        human_share_all=casc.human_share(c),
        human_share_multi=casc.human_share(c, 2),
        median_to_adoption=float(c["months_to_first_adoption"].median()),
        median_to_cross=float(c["months_to_cross_model"].median()),
        cross_errors=int(c["first_cross_model"].notna().sum()),
    )
    top = casc.biggest(c, 1).iloc[0]
    k["biggest"] = {
        "error_id": int(top["error_id"]),
        "fact": int(top["fact"]),
        "models": int(top["models"]),
        "documents": int(top["documents"]),
        "publishers": int(top["publishers"]),
        "origin": str(top["origin"]),
        "origin_kind": str(top["origin_kind"]),
        "origin_month": a.step_month.get(int(top["origin_step"]), str(top["origin_step"])),
    }
    k["most_documents"] = int(c["documents"].max())
    return k


def _filters(a: RunAnalysis) -> dict[str, object]:
    total = a.filters_total[a.filters_total["scraper"] == "all"]
    k: dict[str, object] = {}
    if len(total):
        t = total.iloc[0]
        k.update(
            precision=float(t["precision"]),
            recall=float(t["recall"]),
            fpr=float(t["false_positive_rate"]),
            before=float(t["synthetic_before"]),
            after=float(t["synthetic_after"]),
            human_lost=int(t["human_lost"]),
            sampled=int(t["sampled"]),
        )
    k["aucs"] = a.aucs
    k["point"] = a.operating_point
    short = filt.short_training_sets(a.run.table("lineage"))
    if len(short):
        k["short_sets"] = short
    if a.counterfactual is not None:
        k["counterfactual"] = a.counterfactual
    return k


def _tails(a: RunAnalysis) -> dict[str, object]:
    k: dict[str, object] = {}
    if not a.models_trained:
        return k
    k["tail_total"] = int(a.survival["tail_total"].iloc[0])
    k["tail_known"] = tails.by_phase(a.survival, "tail_known").loc["all models"].to_dict()
    k["survival"] = tails.by_phase(a.survival, "survival").loc["all models"].to_dict()
    for col in ("excess_nats", "fact_accuracy", "tail_fact_accuracy", "style_variance_ratio"):
        k[col] = tails.by_phase(a.quality, col).loc["all models"].to_dict()
    k["phase_models"] = tails.phase_models(a.quality)
    k["generations"] = len(a.quality)
    k["deepest"] = (a.lineage_model, int(a.quality["generation"].max()))
    return k
