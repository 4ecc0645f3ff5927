"""The words of a run report: a plain-language reading, one paragraph per question, and the
summary table, both written from the key figures of
:func:`habsburg.analysis.run_analysis.key_figures`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from habsburg.analysis import tails
from habsburg.reports.document import count, num, pct, ratio, signed_nats, signed_pp
from habsburg.scenarios.targets import WEB_STUDY, WEB_STUDY_NAME

if TYPE_CHECKING:
    from collections.abc import Callable


def reading(k: dict) -> list[str]:
    """A short plain-language reading of the run, one paragraph per question."""
    return [
        *_web_reading(k["web"]),
        *_convergence_reading(k["convergence"]),
        *_cascades_reading(k["cascades"]),
        *_filters_reading(k["filters"]),
        *_tails_reading(k["tails"]),
    ]


def _web_reading(web: dict) -> list[str]:
    """The synthetic share of new documents and of the whole web."""
    text = (
        f"By {web['end_month']}, {pct(web['end_true'], 0)} of new documents are model-written "
        f"(a detector would measure {pct(web['end_measured'], 0)}); "
        f"{pct(web['stock_true'], 0)} of everything ever published is."
    )
    if web["at"]:
        parts = [
            f"{pct(m, 0)} at +{offset} months ({month}; measured web: {pct(WEB_STUDY[offset], 0)})"
            for offset, (month, _, m) in web["at"].items()
        ]
        text += " The detector-measured share of new documents was " + " and ".join(parts) + "."
    return [text]


def _convergence_reading(c: dict) -> list[str]:
    """Are the models converging, and who trains on whom."""
    out = []
    if "end_js" in c:
        if c["end_js"] < c["peak_js"] * 0.9:
            trend = "ended closer together than at their most distinct"
        elif c["end_js"] > c["first_js"] * 1.1:
            trend = "ended further apart than when two of them first coexisted"
        else:
            trend = "ended about as far apart as when two of them first coexisted"
        text = (
            f"Convergence: the deployed models' concept distributions {trend} — mean pairwise "
            f"Jensen–Shannon divergence {num(c['first_js'], 4)} nats "
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
    return out


def _cascades_reading(e: dict) -> list[str]:
    """How errors spread."""
    out = []
    if e.get("errors"):
        text = (
            f"Errors: {count(e['errors'])} wrong fact values were published; "
            f"{count(e['believed'])} came to be believed by a model and {count(e['multi'])} by two "
            f"or more."
        )
        if e["believed"]:
            b = e["biggest"]
            models = f"{b['models']} model{'s' if b['models'] != 1 else ''}"
            cross = (
                f"{num(e['median_to_cross'], 0)} months for a model-made error to reach another "
                "model"
                if np.isfinite(e["median_to_cross"])
                else "no model-made error reached another model"
            )
            text += (
                f" The biggest cascade reached {models} and {count(b['documents'])} "
                f"documents: error {b['error_id']} (fact {b['fact']}), patient zero "
                f"{b['origin']} in {b['origin_month']}. Humans started "
                f"{pct(e['human_share_all'], 0)} of all errors and "
                f"{pct(e['human_share_multi'], 0)} of those two or more models believe; the "
                f"median error a model learned took {num(e['median_to_adoption'], 0)} months from "
                f"first appearance, and {cross}."
            )
        out.append(text)
    return out


def _filters_reading(f: dict) -> list[str]:
    """Do the AI filters work (and, if it was run, the counterfactual)."""
    out = []
    if "precision" in f:
        flagged = (
            f"the AI filters flagged {pct(f['recall'], 0)} of AI documents at "
            f"{pct(f['precision'], 0)} precision, wrongly removing {count(f['human_lost'])} human "
            f"documents ({pct(f['fpr'])} of them)"
            if f["precision"] is not None and np.isfinite(f["precision"])  # (NaN: none flagged)
            else "no AI filter flagged any document"
        )
        text = (
            f"Filters (since the chatbot launch, all scrapers): {flagged}; the synthetic share of "
            f"crawled data went from {pct(f['before'], 0)} before filtering to "
            f"{pct(f['after'], 0)} after."
        )
        aucs = {g: v for g, v in f["aucs"].items() if np.isfinite(v)}  # (NaN: one class only)
        if "all AI documents" in aucs:
            text += (
                f" The watermark z-test alone has an ROC AUC of {num(aucs['all AI documents'], 2)}"
            )
            marked, other = aucs.get("watermarking labs"), aucs.get("non-watermarking labs")
            if marked is not None and other is not None:  # (one group: every lab or none marks)
                text += (
                    f" over all AI text, {num(marked, 2)} over the output of labs that watermark and "
                    f"{num(other, 2)} over the others'"
                )
                if marked >= 0.8 and other < 0.6:  # (a mandate marks the others' output too)
                    text += ": it finds what is watermarked and little else"
            text += "."
        out.append(text)
    if "short_sets" in f:
        out.append(_short_sets_reading(f["short_sets"]))
    if "counterfactual" in f:
        cf = f["counterfactual"].set_index("outcome")

        def eff(name: str, fmt: Callable[[float | None], str]) -> str:
            return fmt(cf.at[name, "effect"]) if name in cf.index else "n/a"

        out.append(
            "Counterfactual (same seed, AI filters off): with the filters on, tail coverage is "
            f"{eff('final_mean_tail_coverage', signed_pp)}, fact accuracy "
            f"{eff('final_mean_fact_accuracy', signed_pp)} and capability (cross-entropy to "
            f"p_H: lower is better) {eff('final_mean_capability', signed_nats)} at the end of "
            "the run"
            + (
                "."
                if cf.get("reproduces_run", pd.Series([True])).all()
                else " (both arms are fresh runs: the installed code no longer reproduces this "
                "run exactly)."
            )
        )
    return out


def _short_sets_reading(short: pd.DataFrame) -> str:
    """The models whose training sets fell short of their budget."""
    parts = [
        f"{r.model} a median {pct(r.median_share, 0)} of its {count(r.budget)}-document budget "
        f"(at least {pct(r.min_share, 0)}, {r.short_sets} of {r.sets} sets short)"
        for r in short.itertuples()
    ]
    return (
        "Training sets short of their budget (the crawls a model could draw from held fewer "
        "documents, after the filters and deduplication, than its budget asked for): "
        + "; ".join(parts)
        + ". A smaller set has fewer claims per fact (`lineage.fact_claims_median`), so its "
        "facts are easier to get wrong."
    )


def _tails_reading(t: dict) -> list[str]:
    """What the generations lost."""
    out = []
    if t:
        tk, sv = t["tail_known"], t["survival"]
        phases = [p for p in tails.PHASES if p in tk]
        complete, models = t.get("phase_models", (1, 1))
        if complete == models:
            who = "the average lineage"
        elif complete:  # the all-models means are over the lineages that reached every phase
            who = (
                f"the average of the {count(complete)} lineages (of {count(models)}) that "
                f"reached {phases[-1]}"
            )
        else:
            who = "the average lineage to reach each phase"
        text = (
            f"Lost tails: of the {count(t['tail_total'])} rare (tail) concepts, {who} can "
            "still produce " + ", ".join(f"{count(tk[p])} in {p}" for p in phases)
        )
        if "generation 2+" in sv:
            text += (
                f" ({pct(sv['generation 2+'], 0)} of what generation 0 knew survives into "
                "generations 2+)"
            )
        text += "."
        ex, fa, sv2 = t["excess_nats"], t["fact_accuracy"], t["style_variance_ratio"]
        first, lastp = phases[0], phases[-1]
        if first == lastp:  # generation 0 only: nothing to compare it with yet
            text += (
                f" {first.capitalize()}: capability loss {num(ex[first], 3)} nats over the "
                f"entropy of p_H, fact accuracy {pct(fa[first])}, style variance "
                f"{num(sv2[first], 2)} of human."
            )
        else:
            text += (
                f" From {first} to {lastp}: capability loss {num(ex[first], 3)} → "
                f"{num(ex[lastp], 3)} nats over the entropy of p_H, fact accuracy "
                f"{pct(fa[first])} → {pct(fa[lastp])}, style variance {num(sv2[first], 2)} → "
                f"{num(sv2[lastp], 2)} of human."
            )
        out.append(text)
    return out


def summary_rows(k: dict) -> list[tuple[str, str, str]]:
    """The summary table: (topic, measure, value)."""
    rows = []
    web = k["web"]
    for offset, (month, true, measured) in web["at"].items():
        rows.append(
            (
                "web",
                f"synthetic share of new documents, +{offset} months ({month})",
                f"true {pct(true)}, measured {pct(measured)} "
                f"({WEB_STUDY_NAME} {pct(WEB_STUDY[offset], 0)})",
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
                f"z-test at z > {p['threshold']:g}"
                + (f" (from {p['since']}; z > {p['before']:g} before)" if "since" in p else "")
                + ": TPR / FPR",
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
            complete, models = t.get("phase_models", (1, 1))
            if 0 < complete < models:
                label += f" (mean of the {complete} models with every phase)"
            rows.append(
                (
                    "tails",
                    f"{label}: " + " / ".join(p for p in tails.PHASES if p in values),
                    " / ".join(fmt(values[p]) for p in tails.PHASES if p in values),
                )
            )
    return rows
