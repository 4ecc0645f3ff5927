"""The report of a run: figures (PNG in ``figures/``), ``report.md`` and a self-contained
``report.html`` (figures embedded), with a summary table and a plain-language reading.

Every number is read from the run's own files (its Parquet tables and ``manifest.json``), so a
report can be rebuilt at any time with ``habsburg report RUN_DIR``; ``habsburg run`` writes one
at the end of each run through :func:`write_report`.
"""

from __future__ import annotations

from habsburg.scenarios.errors import UserError

import json
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from habsburg.analysis import cascades as casc
from habsburg.analysis import convergence as conv
from habsburg.analysis import filters as filt
from habsburg.analysis import tails
from habsburg.reports import plots
from habsburg.reports.document import (
    FIGURES,
    Document,
    count,
    num,
    pct,
    ratio,
    signed_nats,
    signed_pp,
    write_document,
)

COUNTERFACTUAL_FILE = "filter_counterfactual.parquet"


def _user_error(message: str) -> Exception:
    return UserError(message)


# --------------------------------------------------------------------------------------------
# Reading a run
# --------------------------------------------------------------------------------------------
class Run:
    """A results directory written by ``habsburg run``: its manifest and (lazily) its tables."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        manifest = self.dir / "manifest.json"
        if not self.dir.is_dir():
            raise _user_error(f"RUN_DIR {str(run_dir)!r} does not exist or is not a directory")
        if not manifest.is_file():
            raise _user_error(
                f"RUN_DIR {str(run_dir)!r} is not a run directory: it has no manifest.json "
                f"(`habsburg run NAME --out DIR` writes one)"
            )
        try:
            self.manifest = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise _user_error(f"{manifest}: cannot read the manifest: {err}") from None
        self._tables: dict[str, pd.DataFrame] = {}

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """``name.parquet`` of the run (an empty frame when the run has no rows for it)."""
        key = name if columns is None else f"{name}:{','.join(columns)}"
        if key not in self._tables:
            path = self.dir / f"{name}.parquet"
            if not path.is_file():
                raise _user_error(
                    f"{self.dir}: {path.name} is missing; rerun the scenario to rebuild the run"
                )
            self._tables[key] = pd.read_parquet(path, columns=columns)
        return self._tables[key]

    def has(self, name: str) -> bool:
        return (self.dir / f"{name}.parquet").is_file()

    @property
    def scenario(self) -> dict:
        return self.manifest.get("scenario", {})

    @property
    def name(self) -> str:
        return str(self.manifest.get("scenario_name", self.scenario.get("name", "run")))

    @property
    def launch_month(self) -> str:
        return str(self.scenario.get("chatbot_launch", "2022-11"))

    @property
    def ai_threshold(self) -> float:
        return float(self.scenario.get("measurement", {}).get("threshold", 0.5))

    @property
    def z_threshold(self) -> float:
        """The watermark-detector threshold the scrapers use (the most common one)."""
        values = [
            s.get("filters", {}).get("watermark_threshold", 4.0)
            for s in self.scenario.get("scrapers", [])
        ]
        return float(pd.Series(values).mode().iloc[0]) if values else 4.0

    @property
    def names(self) -> casc.ActorNames:
        return casc.ActorNames.from_scenario(self.scenario)

    def watermarking_models(self) -> list[int]:
        """Ids of the models whose lab watermarks all its output."""
        labs = {lab["name"]: lab.get("watermarks", False) for lab in self.scenario.get("labs", [])}
        return [i for i, m in enumerate(self.scenario.get("models", [])) if labs.get(m["lab"])]


# --------------------------------------------------------------------------------------------
# The analysis of a run
# --------------------------------------------------------------------------------------------
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


def analyse(run: Run) -> RunAnalysis:
    """Compute every analysis table of a run (fast: seconds for the baseline)."""
    mm = run.table("model_metrics")
    step_month = dict(zip(mm["step"].astype(int), mm["month"].astype(str), strict=True))
    launch = _month_index(run.launch_month, str(mm["month"].iloc[0])) if len(mm) else 0

    cd = run.table("concept_distributions")
    concepts = run.table("concepts")
    steps = mm["step"].to_numpy()
    pairs = conv.js_over_time(cd, steps)
    last = int(steps.max()) if steps.size else 0
    js_end = conv.js_at_step(cd, last)
    style = (
        conv.style_distances_over_time(run.table("style_distributions"), steps)
        if run.has("style_distributions")
        else None
    )
    graph = conv.training_graph(run.table("training_sources"))
    paths = conv.heaviest_paths(graph, k=50) if graph.number_of_edges() else _empty_paths()

    names = run.names
    errors = run.table("errors")
    cascades = (
        casc.cascade_table(errors, run.table("adoptions"), run.table("error_claims"), names)
        if len(errors)
        else pd.DataFrame(columns=["error_id", "models", "documents", "origin_kind", "made_by"])
    )
    origins = casc.origin_shares(cascades) if len(cascades) else pd.DataFrame()

    crawls = run.table("crawls")
    if len(crawls):
        filters_total = filt.by_scraper(crawls, since_step=launch)
        filters_time = filt.over_time(crawls)
    else:  # a scenario without scrapers
        filters_total = filters_time = pd.DataFrame(columns=["scraper", "step"])
    z = run.table("z_samples")
    if len(z):
        models_of_docs = run.table("documents", ["id", "model"])
        doc_model = np.full(int(models_of_docs["id"].max()) + 1, -1, dtype=np.int64)
        doc_model[models_of_docs["id"].to_numpy()] = models_of_docs["model"].to_numpy()
        marked = np.isin(doc_model[z["document"].to_numpy()], run.watermarking_models())
        z = z.assign(source=np.where(marked, "watermarking labs", "non-watermarking labs"))
        roc = filt.watermark_roc(z, ai_threshold=run.ai_threshold, by="source")
        point = filt.operating_point(z, run.z_threshold, ai_threshold=run.ai_threshold)
    else:
        roc, point = pd.DataFrame(columns=["threshold", "tpr", "fpr", "group"]), {}
    aucs = {g: filt.auc(c) for g, c in roc.groupby("group", sort=False)}

    survival = tails.tail_survival(cd, concepts)
    lineage = run.table("lineage")
    quality = tails.generation_quality(lineage, concepts) if len(lineage) else pd.DataFrame()
    lineage_model = None
    if len(quality):
        most = quality.groupby("model")["generation"].max()
        lineage_model = str(most.sort_index().idxmax())
    counterfactual = (
        pd.read_parquet(run.dir / COUNTERFACTUAL_FILE)
        if (run.dir / COUNTERFACTUAL_FILE).is_file()
        else None
    )
    return RunAnalysis(
        run=run,
        model_metrics=mm,
        step_month=step_month,
        launch_step=launch,
        pairs=pairs,
        js_end=js_end,
        style=style,
        graph=graph,
        paths=paths,
        cascades=cascades,
        origins=origins,
        filters_total=filters_total,
        filters_time=filters_time,
        roc=roc,
        aucs=aucs,
        operating_point=point,
        survival=survival,
        quality=quality,
        lineage_model=lineage_model,
        counterfactual=counterfactual,
    )


def _empty_paths() -> pd.DataFrame:
    return pd.DataFrame(columns=["path", "hops", "weight", "source", "target"])


def _month_index(month: str, start: str) -> int:
    y, m = (int(x) for x in month.split("-"))
    y0, m0 = (int(x) for x in start.split("-"))
    return (y - y0) * 12 + (m - m0)


# --------------------------------------------------------------------------------------------
# Key figures and the plain-language reading
# --------------------------------------------------------------------------------------------
def key_figures(a: RunAnalysis) -> dict[str, dict[str, object]]:
    """The headline numbers by topic (raw values; the report formats them)."""
    mm, launch = a.model_metrics, a.launch_step
    k: dict[str, dict[str, object]] = {}
    at = {}
    for label, offset in (("+12", 12), ("+24", 24)):
        row = mm[mm["step"] == launch + offset]
        if len(row):
            at[label] = (
                str(row["month"].iloc[0]),
                float(row["synthetic_share_new"].iloc[0]),
                float(row["synthetic_share_new_measured"].iloc[0]),
            )
    end = mm.iloc[-1]
    k["web"] = {
        "at": at,
        "end_month": str(end["month"]),
        "end_true": float(end["synthetic_share_new"]),
        "end_measured": float(end["synthetic_share_new_measured"]),
        "stock_true": float(end["synthetic_share_stock"]),
        "documents": int(end["documents"]),
    }

    between = a.pairs[a.pairs["model_b"] != conv.HUMAN] if len(a.pairs) else a.pairs
    conv_k: dict[str, object] = {}
    if len(between):
        mean = between.groupby("step")["js"].mean()
        conv_k.update(
            first_step=int(mean.index[0]),
            first_js=float(mean.iloc[0]),
            end_step=int(mean.index[-1]),
            end_js=float(mean.iloc[-1]),
            peak_js=float(mean.max()),
            peak_step=int(mean.idxmax()),
        )
        to_h = a.pairs[a.pairs["model_b"] == conv.HUMAN].groupby("step")["js"].mean()
        conv_k["end_js_human"] = float(to_h.iloc[-1])
        conv_k["first_js_human"] = float(to_h.loc[mean.index[0]])
        closest = between[between["step"] == mean.index[-1]].nsmallest(1, "js").iloc[0]
        conv_k["closest_pair"] = (closest["model_a"], closest["model_b"], float(closest["js"]))
    sfr = mm["systemic_failure_ratio"].dropna()
    if len(sfr):
        conv_k["sfr_end"] = float(sfr.iloc[-1])
        conv_k["sfr_max"] = float(sfr.max())
    if a.style is not None and len(a.style):
        sb = a.style[a.style["model_b"] != conv.HUMAN]
        sh = a.style[a.style["model_b"] == conv.HUMAN]
        if len(sb):
            conv_k["style_w2_end"] = float(sb[sb["step"] == sb["step"].max()]["w2"].mean())
            conv_k["style_w2_human_end"] = float(sh[sh["step"] == sh["step"].max()]["w2"].mean())
    direct = a.paths[a.paths["hops"] == 1]
    chains = a.paths[a.paths["hops"] >= 2]
    if len(direct):
        conv_k["heaviest_edge"] = (direct.iloc[0]["path"], float(direct.iloc[0]["weight"]))
    if len(chains):
        conv_k["heaviest_chain"] = (chains.iloc[0]["path"], float(chains.iloc[0]["weight"]))
    k["convergence"] = conv_k

    c = a.cascades
    casc_k: dict[str, object] = {"errors": len(c)}
    if len(c):
        believed = c[c["models"] >= 1]
        casc_k.update(
            believed=len(believed),
            multi=int((c["models"] >= 2).sum()),
            human_share_all=casc.human_share(c),
            human_share_multi=casc.human_share(c, 2),
            median_to_adoption=float(c["months_to_first_adoption"].median()),
            median_to_cross=float(c["months_to_cross_model"].median()),
            cross_errors=int(c["first_cross_model"].notna().sum()),
        )
        top = casc.biggest(c, 1).iloc[0]
        casc_k["biggest"] = {
            "error_id": int(top["error_id"]),
            "fact": int(top["fact"]),
            "models": int(top["models"]),
            "documents": int(top["documents"]),
            "publishers": int(top["publishers"]),
            "origin": str(top["origin"]),
            "origin_kind": str(top["origin_kind"]),
            "origin_month": a.step_month.get(int(top["origin_step"]), str(top["origin_step"])),
        }
        casc_k["most_documents"] = int(c["documents"].max())
    k["cascades"] = casc_k

    total = a.filters_total[a.filters_total["scraper"] == "all"]
    filt_k: dict[str, object] = {}
    if len(total):
        t = total.iloc[0]
        filt_k.update(
            precision=float(t["precision"]),
            recall=float(t["recall"]),
            fpr=float(t["false_positive_rate"]),
            before=float(t["synthetic_before"]),
            after=float(t["synthetic_after"]),
            human_lost=int(t["human_lost"]),
            sampled=int(t["sampled"]),
        )
    filt_k["aucs"] = a.aucs
    filt_k["point"] = a.operating_point
    if a.counterfactual is not None:
        filt_k["counterfactual"] = a.counterfactual
    k["filters"] = filt_k

    tails_k: dict[str, object] = {}
    if a.models_trained:
        s = tails.by_phase(a.survival, "tail_known").loc["all models"]
        sv = tails.by_phase(a.survival, "survival").loc["all models"]
        tails_k["tail_total"] = int(a.survival["tail_total"].iloc[0])
        tails_k["tail_known"] = s.to_dict()
        tails_k["survival"] = sv.to_dict()
        for col in ("excess_nats", "fact_accuracy", "tail_fact_accuracy", "style_variance_ratio"):
            tails_k[col] = tails.by_phase(a.quality, col).loc["all models"].to_dict()
        tails_k["generations"] = len(a.quality)
        tails_k["deepest"] = (a.lineage_model, int(a.quality["generation"].max()))
    k["tails"] = tails_k
    return k


def reading(k: dict) -> list[str]:
    """A short plain-language reading of the run, one paragraph per question."""
    out = []
    web = k["web"]
    text = (
        f"By {web['end_month']}, {pct(web['end_true'], 0)} of new documents are model-written "
        f"(a detector would measure {pct(web['end_measured'], 0)}); "
        f"{pct(web['stock_true'], 0)} of everything ever published is."
    )
    if web["at"]:
        parts = [
            f"{pct(m, 0)} at {label} months ({month}; measured web: {pct(ref, 0)})"
            for (label, (month, _, m)), (_, ref) in zip(
                web["at"].items(), plots.GRAPHITE_POINTS, strict=False
            )
        ]
        text += " The detector-measured share of new documents was " + " and ".join(parts) + "."
    out.append(text)

    c = k["convergence"]
    if "end_js" in c:
        trend = (
            "closer together"
            if c["end_js"] < c["peak_js"] * 0.9
            else ("further apart" if c["end_js"] > c["first_js"] * 1.1 else "about as far apart")
        )
        text = (
            f"Convergence: the deployed models' concept distributions ended {trend} than at their "
            f"most distinct — mean pairwise Jensen–Shannon divergence {num(c['first_js'], 4)} nats "
            f"when two models first coexisted, {num(c['peak_js'], 4)} at its peak, "
            f"{num(c['end_js'], 4)} at the end. Meanwhile their mean distance to human writing "
            f"p_H went from {num(c['first_js_human'], 4)} to {num(c['end_js_human'], 4)} nats. "
            f"The closest pair at the end is {c['closest_pair'][0]} and {c['closest_pair'][1]} "
            f"({num(c['closest_pair'][2], 4)})."
        )
        if "style_w2_end" in c:
            text += (
                f" Style: the models' style distributions are {num(c['style_w2_end'], 3)} apart "
                f"(mean 2-Wasserstein distance) and {num(c['style_w2_human_end'], 3)} from the "
                f"human style."
            )
        if "sfr_end" in c:
            text += (
                f" They fail the same facts {ratio(c['sfr_end'])}× as often as independent "
                f"models would (systemic-failure ratio; 1 = independent)."
            )
        out.append(text)
    if "heaviest_edge" in c:
        path, w = c["heaviest_edge"]
        src, dst = path.split(" → ")
        text = f"Who trains on whom: {src} wrote {pct(w)} of {dst}'s latest training data"
        if "heaviest_chain" in c:
            text += (
                f"; the heaviest chain is {c['heaviest_chain'][0]} "
                f"({pct(c['heaviest_chain'][1], 2)} of the last model's data passed along it)"
            )
        out.append(text + ".")

    e = k["cascades"]
    if e.get("errors"):
        text = (
            f"Errors: {count(e['errors'])} wrong fact values were published; "
            f"{count(e['believed'])} came to be believed by a model and {count(e['multi'])} by two "
            f"or more."
        )
        if e["believed"]:
            b = e["biggest"]
            text += (
                f" The biggest cascade reached {b['models']} models and {count(b['documents'])} "
                f"documents: error {b['error_id']} (fact {b['fact']}), patient zero "
                f"{b['origin']} in {b['origin_month']}. Humans started "
                f"{pct(e['human_share_all'], 0)} of all errors and "
                f"{pct(e['human_share_multi'], 0)} of those two or more models believe; the "
                f"median error a model learned took {num(e['median_to_adoption'], 0)} months from "
                f"first appearance, and {num(e['median_to_cross'], 0)} months for a model-made "
                f"error to reach another model."
            )
        out.append(text)

    f = k["filters"]
    if "precision" in f:
        text = (
            f"Filters (since the chatbot launch, all scrapers): the AI filters flagged "
            f"{pct(f['recall'], 0)} of AI documents at {pct(f['precision'], 0)} precision, "
            f"wrongly removing {count(f['human_lost'])} human documents "
            f"({pct(f['fpr'])} of them); the synthetic share of crawled data went from "
            f"{pct(f['before'], 0)} before filtering to {pct(f['after'], 0)} after."
        )
        aucs = f["aucs"]
        if aucs:
            text += f" The watermark z-test alone has an ROC AUC of {num(aucs.get('all AI documents'), 2)}"
            if "watermarking labs" in aucs:
                text += (
                    f" over all AI text but {num(aucs['watermarking labs'], 2)} over the output of "
                    f"labs that watermark: it finds what is watermarked and little else"
                )
            text += "."
        out.append(text)
    if "counterfactual" in f:
        cf = f["counterfactual"].set_index("outcome")

        def eff(name, fmt):
            return fmt(cf.at[name, "effect"]) if name in cf.index else "n/a"

        out.append(
            "Counterfactual (same seed, AI filters off): with the filters on, tail coverage is "
            f"{eff('final_mean_tail_coverage', signed_pp)}, fact accuracy "
            f"{eff('final_mean_fact_accuracy', signed_pp)} and capability "
            f"{eff('final_mean_capability', signed_nats)} at the end of the run"
            + (
                "."
                if cf.get("reproduces_run", pd.Series([True])).all()
                else " (both arms are fresh runs: the installed code no longer reproduces this "
                "run exactly)."
            )
        )

    t = k["tails"]
    if t:
        tk, sv = t["tail_known"], t["survival"]
        phases = [p for p in tails.PHASES if p in tk]
        text = (
            f"Lost tails: of the {count(t['tail_total'])} rare (tail) concepts, the average "
            "lineage can still produce " + ", ".join(f"{count(tk[p])} in {p}" for p in phases)
        )
        if "generation 2+" in sv:
            text += (
                f" ({pct(sv['generation 2+'], 0)} of what generation 0 knew survives into "
                "generations 2+)"
            )
        text += "."
        ex, fa, sv2 = t["excess_nats"], t["fact_accuracy"], t["style_variance_ratio"]
        first, lastp = phases[0], phases[-1]
        text += (
            f" From {first} to {lastp}: capability loss {num(ex[first], 3)} → {num(ex[lastp], 3)} "
            f"nats over the entropy of p_H, fact accuracy {pct(fa[first])} → {pct(fa[lastp])}, "
            f"style variance {num(sv2[first], 2)} → {num(sv2[lastp], 2)} of human."
        )
        out.append(text)
    return out


def summary_rows(k: dict) -> list[tuple[str, str, str]]:
    """The summary table: (topic, measure, value)."""
    rows = []
    web = k["web"]
    for label, (month, true, measured) in web["at"].items():
        ref = dict(zip(("+12", "+24"), (s for _, s in plots.GRAPHITE_POINTS), strict=True))
        rows.append(
            (
                "web",
                f"synthetic share of new documents, {label} months ({month})",
                f"true {pct(true)}, measured {pct(measured)} (Graphite {pct(ref.get(label), 0)})",
            )
        )
    rows.append(
        (
            "web",
            f"synthetic share at the end ({web['end_month']})",
            f"new {pct(web['end_true'])} (measured {pct(web['end_measured'])}), whole web "
            f"{pct(web['stock_true'])}",
        )
    )
    c = k["convergence"]
    if "end_js" in c:
        rows.append(
            (
                "convergence",
                "mean pairwise JS divergence (first / peak / end)",
                f"{num(c['first_js'], 4)} / {num(c['peak_js'], 4)} / {num(c['end_js'], 4)} nats",
            )
        )
        rows.append(
            (
                "convergence",
                "mean JS to p_H (first / end)",
                f"{num(c['first_js_human'], 4)} / {num(c['end_js_human'], 4)} nats",
            )
        )
    if "sfr_end" in c:
        rows.append(
            (
                "convergence",
                "systemic-failure ratio (end / max)",
                f"{ratio(c['sfr_end'])} / {ratio(c['sfr_max'])}",
            )
        )
    if "style_w2_end" in c:
        rows.append(
            (
                "convergence",
                "style W2 at the end: between models / to humans",
                f"{num(c['style_w2_end'], 3)} / {num(c['style_w2_human_end'], 3)}",
            )
        )
    if "heaviest_edge" in c:
        rows.append(
            (
                "convergence",
                "heaviest training link",
                f"{c['heaviest_edge'][0]} ({pct(c['heaviest_edge'][1])})",
            )
        )
    if "heaviest_chain" in c:
        rows.append(
            (
                "convergence",
                "heaviest training chain",
                f"{c['heaviest_chain'][0]} ({pct(c['heaviest_chain'][1], 2)})",
            )
        )
    e = k["cascades"]
    rows.append(("cascades", "wrong fact values published", count(e.get("errors", 0))))
    if e.get("errors"):
        rows.append(
            (
                "cascades",
                "believed by 1+ / 2+ models",
                f"{count(e['believed'])} / {count(e['multi'])}",
            )
        )
        if e["believed"]:
            b = e["biggest"]
            rows.append(
                (
                    "cascades",
                    "biggest cascade",
                    f"{b['models']} models, {count(b['documents'])} documents: error {b['error_id']}, "
                    f"patient zero {b['origin']} ({b['origin_month']})",
                )
            )
            rows.append(
                (
                    "cascades",
                    "errors begun by humans (all / 2+ models)",
                    f"{pct(e['human_share_all'])} / {pct(e['human_share_multi'])}",
                )
            )
            rows.append(
                (
                    "cascades",
                    "median months to first / cross-model adoption",
                    f"{num(e['median_to_adoption'], 0)} / {num(e['median_to_cross'], 0)}",
                )
            )
    f = k["filters"]
    if "precision" in f:
        rows.append(
            (
                "filters",
                "precision / recall / FPR since launch",
                f"{pct(f['precision'])} / {pct(f['recall'])} / {pct(f['fpr'])}",
            )
        )
        rows.append(
            (
                "filters",
                "synthetic share of crawls before → after",
                f"{pct(f['before'])} → {pct(f['after'])}",
            )
        )
        rows.append(("filters", "human documents lost", count(f["human_lost"])))
    for group, value in f.get("aucs", {}).items():
        rows.append(("filters", f"watermark ROC AUC, {group}", num(value, 3)))
    p = f.get("point") or {}
    if p:
        rows.append(
            (
                "filters",
                f"z-test at z ≥ {p['threshold']:g}: TPR / FPR",
                f"{pct(p['tpr'])} / {pct(p['fpr'], 2)}",
            )
        )
    if "counterfactual" in f:
        for r in f["counterfactual"].head(6).itertuples(index=False):
            rows.append(
                (
                    "filters",
                    f"counterfactual: {r.outcome} (on / off / effect)",
                    f"{num(r.filters_on, 4)} / {num(r.filters_off, 4)} / {num(r.effect, 4)}",
                )
            )
    t = k["tails"]
    if t:
        for key, label, fmt in (
            (
                "tail_known",
                f"tail concepts known (of {count(t['tail_total'])})",
                lambda x: num(x, 0),
            ),
            ("survival", "share of generation 0's tail still known", pct),
            ("excess_nats", "capability loss (nats over H(p_H))", lambda x: num(x, 3)),
            ("fact_accuracy", "fact accuracy", pct),
            ("tail_fact_accuracy", "fact accuracy on tail facts", pct),
            ("style_variance_ratio", "style variance / human", lambda x: num(x, 3)),
        ):
            values = t[key]
            rows.append(
                (
                    "tails",
                    f"{label}: " + " / ".join(p for p in tails.PHASES if p in values),
                    " / ".join(fmt(values[p]) for p in tails.PHASES if p in values),
                )
            )
    return rows


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def make_figures(a: RunAnalysis, out_dir: Path) -> list[tuple[Path, str]]:
    """Draw every figure the run's data allows into ``out_dir``; returns (path, caption)."""
    from matplotlib.figure import Figure

    made: list[tuple[Path, str]] = []

    def add(name: str, fig: Figure, caption: str) -> None:
        made.append((plots.save(fig, out_dir / f"{len(made) + 1:02d}-{name}.png"), caption))

    mm = a.model_metrics
    add(
        "synthetic-share",
        plots.synthetic_share(mm, a.run.launch_month),
        "Synthetic share of new documents (true and detector-measured) and of the whole web, "
        "against the measured web curve (Graphite: ~36% at +12 months, ~48% at +24, then ~50%).",
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
            "lab wrote them; red dot: the threshold the scrapers use.",
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


# --------------------------------------------------------------------------------------------
# The run report
# --------------------------------------------------------------------------------------------
def _tables_section(doc: Document, a: RunAnalysis) -> None:
    if len(a.cascades) and (a.cascades["models"] > 0).any():
        doc.heading("Biggest cascades", 3)
        top = casc.biggest(a.cascades, 8)
        doc.table(
            pd.DataFrame(
                {
                    "error": top["error_id"],
                    "fact": top["fact"],
                    "patient zero": top["origin"],
                    "since": [a.step_month.get(int(s), str(s)) for s in top["origin_step"]],
                    "models": top["models"],
                    "documents": top["documents"],
                    "publishers": top["publishers"],
                    "months to first adoption": [
                        num(x, 0) for x in top["months_to_first_adoption"]
                    ],
                }
            )
        )
    if len(a.filters_total):
        doc.heading("AI filters by scraper (since the chatbot launch)", 3)
        f = a.filters_total
        doc.table(
            pd.DataFrame(
                {
                    "scraper": f["scraper"],
                    "sampled": [count(x) for x in f["sampled"]],
                    "precision": [pct(x) for x in f["precision"]],
                    "recall": [pct(x) for x in f["recall"]],
                    "FPR": [pct(x, 2) for x in f["false_positive_rate"]],
                    "synthetic before": [pct(x) for x in f["synthetic_before"]],
                    "synthetic after": [pct(x) for x in f["synthetic_after"]],
                    "human documents lost": [count(x) for x in f["human_lost"]],
                }
            )
        )
    if a.models_trained:
        doc.heading("Generations: generation 0 / 1 / 2+ (mean over a lineage's generations)", 3)
        parts = []
        for frame, col, label, fmt in (
            (a.survival, "tail_known", "tail concepts known", lambda x: num(x, 0)),
            (a.survival, "survival", "share of generation 0's tail known", pct),
            (a.quality, "excess_nats", "capability loss (nats)", lambda x: num(x, 3)),
            (a.quality, "fact_accuracy", "fact accuracy", pct),
            (a.quality, "style_variance_ratio", "style variance / human", lambda x: num(x, 3)),
        ):
            t = tails.by_phase(frame, col)
            part = pd.DataFrame({"measure": label, "model": t.index})
            for p in tails.PHASES:
                part[p] = [fmt(x) for x in t[p]] if p in t else "n/a"
            parts.append(part)
        doc.table(pd.concat(parts, ignore_index=True))


def build_report(run: Run, figures: list[tuple[Path, str]], k: dict, a: RunAnalysis) -> Document:
    m = run.manifest
    doc = Document(f"habsburg report: {run.name}")
    doc.paragraph(
        f"Scenario {run.name}, seed {m.get('seed')}, {m.get('steps')} months "
        f"({m.get('first_month')} to {m.get('last_month')}), "
        f"{count(m.get('documents'))} documents. Every number below is read from this run's "
        f"Parquet files."
    )
    doc.heading("Reading")
    for text in reading(k):
        doc.paragraph(text)
    doc.heading("Summary")
    doc.table(pd.DataFrame(summary_rows(k), columns=["topic", "measure", "value"]))
    _tables_section(doc, a)
    doc.heading("Figures")
    for path, caption in figures:
        doc.figure(path, caption)
    return doc


def write_report(run_dir: Path) -> Path:
    """Analyse a finished run and write ``figures/*.png``, ``report.md`` and ``report.html``
    into it; returns the path of ``report.md``."""
    run = Run(run_dir)
    a = analyse(run)
    fig_dir = run.dir / FIGURES
    if fig_dir.is_dir():
        for old in fig_dir.glob("*.png"):
            old.unlink()
    figures = make_figures(a, fig_dir)
    k = key_figures(a)
    return write_document(build_report(run, figures, k, a), run.dir)


def run_counterfactual(run_dir: Path, *, progress: bool = False) -> pd.DataFrame:
    """Rerun a finished run's scenario on its seed twice, with the AI filters on and off, and
    store the outcomes side by side in ``filter_counterfactual.parquet`` (the report shows them).

    Both arms are fresh runs of the installed code, so the effect is the filters' alone even if
    the code changed since the run; ``reproduces_run`` says whether the filters-on arm equals
    the run's own ``model_metrics``.
    """
    from habsburg.experiments.outcomes import outcome_tables, read_outcome_tables
    from habsburg.experiments.run import simulate
    from habsburg.scenarios.schema import from_dict

    run = Run(run_dir)
    scenario = from_dict(run.scenario, f"{run.dir}/manifest.json")
    seed = int(run.manifest.get("seed", scenario.seed))
    steps = int(run.manifest.get("steps", scenario.steps))
    on = outcome_tables(simulate(scenario, seed=seed, steps=steps, progress=progress))
    stored = read_outcome_tables(run.dir).model_metrics
    numeric = [c for c in stored.columns if c != "month"]
    same = on.model_metrics.shape == stored.shape and np.allclose(
        on.model_metrics[numeric].to_numpy(float), stored[numeric].to_numpy(float), equal_nan=True
    )
    table = filt.filter_counterfactual(
        scenario, seed=seed, steps=steps, with_filters=on, progress=progress
    )
    table["reproduces_run"] = bool(same)
    table.to_parquet(run.dir / COUNTERFACTUAL_FILE, index=False)
    return table
