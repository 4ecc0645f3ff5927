"""The claims of a run report's reading and summary table, checked against the run's own
Parquet tables recomputed independently (pandas, scipy), on tiny runs built for the conditions
a claim depends on (no watermarking lab, every lab watermarking, a watermark mandate, models that
end at their most distinct, a run ending before any model deploys, ...).

The second half of the file holds the claims an audit found false (2026-12-05) and the text
the report gives in their place."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from tinyscenario import TINY, tiny_dict

from habsburg.analysis.compare import paired_differences
from habsburg.analysis.results import Run
from habsburg.analysis.run_analysis import analyse, key_figures
from habsburg.experiments.run import run_scenario
from habsburg.reports.compare import comparison_reading
from habsburg.reports.reading import reading, summary_rows
from habsburg.scenarios.schema import from_dict


class Reported:
    """A finished tiny run: its directory, key figures, reading and summary rows."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.k = key_figures(analyse(Run(out)))
        self.lines = reading(self.k)
        self.rows = summary_rows(self.k)
        self.manifest = json.loads((out / "manifest.json").read_text())

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.out / f"{name}.parquet")

    def paragraph(self, start: str) -> str:
        found = [t for t in self.lines if t.startswith(start)]
        assert len(found) == 1, (start, self.lines)
        return found[0]

    def row(self, measure_start: str) -> str:
        found = [v for _, m, v in self.rows if m.startswith(measure_start)]
        assert len(found) == 1, (measure_start, self.rows)
        return found[0]

    @property
    def launch_step(self) -> int:
        first = str(self.table("model_metrics")["month"].iloc[0])
        launch = self.manifest["scenario"]["chatbot_launch"]
        (y, m), (y0, m0) = (map(int, launch.split("-")), map(int, first.split("-")))
        return (y - y0) * 12 + (m - m0)


def _run(factory, name: str, steps: int | None = None, **overrides) -> Reported:
    out = factory.mktemp(name) / name
    run_scenario(from_dict(tiny_dict(**overrides), "tiny"), out=out, steps=steps)
    return Reported(out)


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _z_auc(r: Reported, which: str = "all") -> float:
    """The watermark z-test's ROC AUC as the Mann–Whitney U / (n⁺ n⁻): AI documents (all, or of
    the labs that do / do not watermark by the scenario's labs) against human ones."""
    sc = r.manifest["scenario"]
    z = r.table("z_samples")
    model = r.table("documents")[["id", "model"]].set_index("id")["model"]
    z["model"] = model.reindex(z["document"]).to_numpy()
    marks = {lab["name"]: lab.get("watermarks", False) for lab in sc["labs"]}
    marking = [i for i, m in enumerate(sc["models"]) if marks[m["lab"]]]
    ai = z["synthetic_fraction"] >= sc["measurement"]["threshold"]
    pos = {"all": ai, "marking": ai & z["model"].isin(marking)}.get(
        which, ai & ~z["model"].isin(marking)
    )
    u = stats.mannwhitneyu(z.loc[pos, "z"], z.loc[~ai, "z"]).statistic
    return float(u / (pos.sum() * (~ai).sum()))


# --------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _run(tmp_path_factory, "tiny")


@pytest.fixture(scope="module")
def no_watermarks(tmp_path_factory):
    labs = [{"name": "north", "watermarks": False}, {"name": "south", "watermarks": False}]
    return _run(tmp_path_factory, "nowm", labs=labs)


@pytest.fixture(scope="module")
def all_watermark(tmp_path_factory):
    labs = [{"name": "north", "watermarks": True}, {"name": "south", "watermarks": True}]
    return _run(tmp_path_factory, "allwm", labs=labs)


@pytest.fixture(scope="module")
def mandate(tmp_path_factory):
    """A watermark mandate (as the library's watermark_mandate): from 2021-04 90% of the output
    of labs that do not watermark is watermarked, and the scrapers flag from z ≥ 3."""
    change = {"watermark.adoption": 0.9, "scrapers.*.filters.watermark_threshold": 3.0}
    return _run(tmp_path_factory, "mandate", interventions=[{"at": "2021-04", "set": change}])


@pytest.fixture(scope="module")
def ends_apart(tmp_path_factory):
    """Ends in 2021-08: the models are at their most distinct in the last month."""
    return _run(tmp_path_factory, "apart", end="2021-08")


@pytest.fixture(scope="module")
def first_generation(tmp_path_factory):
    """Two models, ending before any retrains: one JS value, generation 0 only."""
    models = [TINY["models"][0], dict(TINY["models"][1], launch="2021-02")]
    return _run(tmp_path_factory, "gen0", models=models, farms=[], end="2021-05")


@pytest.fixture(scope="module")
def unfiltered(tmp_path_factory):
    scrapers = [
        dict(s, filters={"watermark_detector": False, "classifier": False})
        for s in TINY["scrapers"]
    ]
    return _run(tmp_path_factory, "nofilt", scrapers=scrapers)


@pytest.fixture(scope="module")
def late_model(tmp_path_factory):
    """The third model launches in 2023-10 and is never retrained before the end (2023-12)."""
    models = [*TINY["models"][:2], dict(TINY["models"][2], launch="2023-10")]
    return _run(tmp_path_factory, "late", models=models)


@pytest.fixture(scope="module")
def before_launch(tmp_path_factory):
    """Ten months: the run ends before the chatbot launch (no model deployed)."""
    return _run(tmp_path_factory, "early", steps=10)


# --------------------------------------------------------------------------------------------
# claims the report gets right
# --------------------------------------------------------------------------------------------
def test_web_sentence_reads_model_metrics(tiny):
    mm = tiny.table("model_metrics")
    end = mm.iloc[-1]
    text = tiny.paragraph("By ")
    assert text.startswith(
        f"By {end['month']}, {_pct(end['synthetic_share_new'], 0)} of new documents are "
        f"model-written (a detector would measure {_pct(end['synthetic_share_new_measured'], 0)})"
        f"; {_pct(end['synthetic_share_stock'], 0)} of everything ever published is."
    )
    at12 = mm[mm["step"] == tiny.launch_step + 12].iloc[0]
    assert at12["month"] == "2022-01"  # launch 2021-01
    assert f"{_pct(at12['synthetic_share_new_measured'], 0)} at +12 months (2022-01;" in text
    assert tiny.row("synthetic share of new documents, +12 months (2022-01)").startswith(
        f"true {_pct(at12['synthetic_share_new'])}, "
        f"measured {_pct(at12['synthetic_share_new_measured'])}"
    )


def test_filters_sentence_matches_the_crawls_since_launch(tiny):
    c = tiny.table("crawls")
    c = c[c["step"] >= tiny.launch_step]
    tp, fp, fn, tn = (c[x].sum() for x in ("tp", "fp", "fn", "tn"))
    before = (c["synthetic_before"].fillna(0) * c["sampled"]).sum() / c["sampled"].sum()
    after = (c["synthetic_after"].fillna(0) * c["kept"]).sum() / c["kept"].sum()
    assert c["human_lost"].sum() == fp  # the human documents lost are the false positives
    text = tiny.paragraph("Filters")
    assert (
        f"flagged {_pct(tp / (tp + fn), 0)} of AI documents at {_pct(tp / (tp + fp), 0)} "
        f"precision, wrongly removing {fp:,} human documents ({_pct(fp / (fp + tn))} of them); "
        f"the synthetic share of crawled data went from {_pct(before, 0)} before filtering to "
        f"{_pct(after, 0)} after."
    ) in text
    assert tiny.row("precision / recall / FPR") == (
        f"{_pct(tp / (tp + fp))} / {_pct(tp / (tp + fn))} / {_pct(fp / (fp + tn))}"
    )


def test_watermark_aucs_are_the_mann_whitney_statistic(tiny):
    all_ai, marking, other = (_z_auc(tiny, w) for w in ("all", "marking", "other"))
    text = tiny.paragraph("Filters")
    assert (
        f"ROC AUC of {all_ai:.2f} over all AI text, {marking:.2f} over the output of labs that "
        f"watermark and {other:.2f} over the others': it finds what is watermarked and little else."
    ) in text
    assert tiny.row("watermark ROC AUC, all AI documents") == f"{all_ai:.3f}"
    assert tiny.row("watermark ROC AUC, watermarking labs") == f"{marking:.3f}"
    assert tiny.row("watermark ROC AUC, non-watermarking labs") == f"{other:.3f}"
    assert other < 0.6 < 0.9 < marking  # here the z-test does find little but watermarks


def test_cascade_sentence_matches_the_error_registry(tiny):
    errors, adoptions = tiny.table("errors"), tiny.table("adoptions")
    claims = tiny.table("error_claims")
    models = adoptions.groupby("error_id")["model"].nunique()
    docs = claims.groupby("error_id")["document"].nunique()
    size = pd.DataFrame({"models": models, "docs": docs}).fillna(0)
    size["id"] = size.index
    top = size.sort_values(["models", "docs", "id"], ascending=[False, False, True]).iloc[0]
    origin = errors.set_index("error_id").loc[int(top["id"])]
    mm = tiny.table("model_metrics")
    months = dict(zip(mm["step"], mm["month"], strict=True))
    first = adoptions.groupby("error_id")["step"].min()
    to_first = (first - errors.set_index("error_id")["step"].reindex(first.index)).median()
    human = errors["origin_kind"].astype(str) == "human"

    text = tiny.paragraph("Errors")
    assert text.startswith(
        f"Errors: {len(errors):,} wrong fact values were published; {(models >= 1).sum():,} "
        f"came to be believed by a model and {(models >= 2).sum():,} by two or more."
    )
    assert f"and {int(top['docs']):,} documents: error {int(top['id'])} " in text
    assert f"(fact {origin['fact']}), patient zero author {origin['origin_producer']} in " in text
    assert f"in {months[origin['step']]}." in text
    assert f"Humans started {_pct(human.mean(), 0)} of all errors" in text
    assert f"took {to_first:.0f} months from first appearance" in text


def test_convergence_numbers_and_direction(tiny):
    mm = tiny.table("model_metrics")
    js = mm["mean_pairwise_js"].dropna()  # the simulation's own figure, month by month
    first, peak, end = js.iloc[0], js.max(), js.iloc[-1]
    assert end < 0.9 * peak  # so "closer together" is the right word
    text = tiny.paragraph("Convergence")
    assert "ended closer together than at their most distinct" in text
    assert (
        f"divergence {first:.4f} nats when two models first coexisted, {peak:.4f} at its peak, "
        f"{end:.4f} at the end."
    ) in text

    # the closest pair at the end, from the concept distributions (natural-log JS)
    cd = tiny.table("concept_distributions")
    models = cd[cd["model"] != "human"]
    latest = models[models["generation"] == models.groupby("model")["generation"].transform("max")]
    q = {m: g.sort_values("concept")["probability"].to_numpy() for m, g in latest.groupby("model")}
    pairs = {(a, b): jensenshannon(q[a], q[b]) ** 2 for a in q for b in q if a < b}
    (a, b), value = min(pairs.items(), key=lambda kv: kv[1])
    assert f"The closest pair at the end is {a} and {b} ({value:.4f})." in text


def test_tails_sentence_matches_lineage_and_distributions(tiny):
    concepts = tiny.table("concepts").sort_values("concept")
    tail = concepts["tail"].to_numpy(dtype=bool)
    p = concepts["p_human"].to_numpy()
    entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
    cd = tiny.table("concept_distributions")
    cd = cd[(cd["model"] != "human") & cd["concept"].isin(np.flatnonzero(tail))]
    known = (cd["probability"] > 0).groupby([cd["model"], cd["generation"]]).sum().reset_index()
    lineage = tiny.table("lineage")

    def phase_means(df: pd.DataFrame, col: str) -> list[float]:
        ph = np.minimum(df["generation"], 2)
        return df.groupby([df["model"], ph])[col].mean().unstack().mean().tolist()

    k0, k1, k2 = phase_means(known, "probability")
    c0, _, c2 = phase_means(lineage, "capability")
    a0, _, a2 = phase_means(lineage, "fact_accuracy")
    text = tiny.paragraph("Lost tails")
    assert (
        f"of the {tail.sum()} rare (tail) concepts, the average lineage can still produce "
        f"{k0:.0f} in generation 0, {k1:.0f} in generation 1, {k2:.0f} in generation 2+"
    ) in text
    assert (
        f"capability loss {c0 - entropy:.3f} → {c2 - entropy:.3f} nats over the entropy of p_H, "
        f"fact accuracy {_pct(a0)} → {_pct(a2)}"
    ) in text


def test_short_training_sets_sentence(tiny):
    lineage = tiny.table("lineage")
    share = (lineage["documents"] / lineage["budget"]).groupby(lineage["model"])
    short = share.median()[share.median() < 0.95]
    text = tiny.paragraph("Training sets short")
    for model, median in short.items():
        budget = lineage.loc[lineage["model"] == model, "budget"].iloc[-1]
        assert f"{model} a median {_pct(median, 0)} of its {budget:,}-document budget" in text
    named = re.findall(r"(?:: |; )(\S+) a median", text)
    assert sorted(named) == sorted(short.index)


def test_no_watermarking_lab_makes_no_watermark_claim(no_watermarks):
    text = no_watermarks.paragraph("Filters")
    assert text.endswith(
        f"The watermark z-test alone has an ROC AUC of {_z_auc(no_watermarks):.2f}."
    )
    assert "little else" not in text
    groups = [m.removeprefix("watermark ROC AUC, ") for _, m, _ in no_watermarks.rows]
    assert "watermarking labs" not in groups


def test_a_run_ending_before_any_model_deploys(before_launch):
    mm = before_launch.table("model_metrics")
    assert (mm["synthetic_share_new"] == 0).all()  # so "0%" is exact, not a rounded share
    assert [t.split(" ")[0] for t in before_launch.lines] == ["By", "Errors:"]
    assert before_launch.lines[0].startswith(f"By {mm['month'].iloc[-1]}, 0% of new documents")
    assert before_launch.row("watermark ROC AUC, all AI documents") == "n/a"  # one class only
    assert before_launch.row("believed by 1+ / 2+ models") == "0 / 0"


def test_comparison_reading_direction_words_follow_the_differences():
    seeds = [1, 2, 3, 4]
    base = pd.DataFrame({"scenario": "base", "seed": seeds, "up": [1.0, 2, 3, 4]})
    base["down"], base["same"] = [5.0, 6, 7, 8], [1.0, 2, 3, 4]
    alt = base.assign(scenario="alt", up=base["up"] + [1.0, 1.2, 0.9, 1.1])
    alt["down"] = base["down"] - [2.0, 2.1, 1.9, 2.2]
    alt["same"] = base["same"] + [0.5, -0.5, 0.4, -0.4]
    d = paired_differences(pd.concat([base, alt], ignore_index=True), "base")
    (text,) = comparison_reading(d, "base", "95%")
    diff = alt["down"] - base["down"]
    half = stats.t.ppf(0.975, 3) * diff.std(ddof=1) / 2
    assert text.startswith("alt vs base (2 of 3 outcomes resolved): up higher (1.05, CI [")
    assert f"down lower ({diff.mean():.4g}, CI [{diff.mean() - half:.4g}, " in text
    assert "same" not in text


# --------------------------------------------------------------------------------------------
# claims the report got wrong (fixed): the correct text
# --------------------------------------------------------------------------------------------
def test_no_little_else_claim_when_every_lab_watermarks(all_watermark):
    text = all_watermark.paragraph("Filters")
    assert f"ROC AUC of {_z_auc(all_watermark):.2f}" in text
    assert "little else" not in text


def test_no_little_else_claim_when_the_z_test_finds_the_other_labs_output(mandate):
    assert _z_auc(mandate, "other") > 0.8  # recomputed: the z-test finds their output too
    assert "little else" not in mandate.paragraph("Filters")


def test_operating_point_is_the_threshold_the_scrapers_used(mandate):
    months = mandate.table("model_metrics")["month"]
    assert (months >= "2021-04").mean() > 0.5  # z ≥ 3 was in force most of the run
    assert any(
        m.startswith("z-test at z > 3 (from 2021-04; z > 4 before):") for _, m, _ in mandate.rows
    ), [m for _, m, _ in mandate.rows if m.startswith("z-test")]


def test_models_ending_at_their_most_distinct(ends_apart):
    js = ends_apart.table("model_metrics")["mean_pairwise_js"].dropna()
    assert js.iloc[-1] == js.max() > 1.1 * js.iloc[0]  # recomputed: they diverged to the end
    text = ends_apart.paragraph("Convergence")
    assert "further apart" in text
    assert "than at their most distinct" not in text


def test_no_trend_sentence_is_grammatical(first_generation):
    assert "about as far apart than" not in first_generation.paragraph("Convergence")


def test_no_comparison_of_generation_0_with_itself(first_generation):
    assert set(first_generation.table("lineage")["generation"]) == {0}
    assert "From generation 0 to generation 0" not in first_generation.paragraph("Lost tails")


def test_a_small_chain_share_is_not_shown_as_zero(ends_apart):
    ts = ends_apart.table("training_sources")
    latest = ts[ts["generation"] == ts.groupby("model")["generation"].transform("max")]
    w = latest.set_index(["source_model", "model"])["share"]
    path, _ = ends_apart.k["convergence"]["heaviest_chain"]
    hops = path.split(" → ")
    weight = np.prod([w[(a, b)] for a, b in itertools.pairwise(hops)])
    assert 0 < weight < 5e-5  # recomputed: a non-zero share that rounds to 0.00%
    text = ends_apart.paragraph("Who trains on whom")
    assert f"the heaviest chain is {path} (0.00%" not in text


def test_a_one_model_cascade_is_singular(tiny):
    assert tiny.k["cascades"]["biggest"]["models"] == 1
    assert "reached 1 model and" in tiny.paragraph("Errors")


def test_no_ai_filter_sentence_without_ai_filters(unfiltered):
    assert unfiltered.table("crawls")[["tp", "fp"]].to_numpy().sum() == 0  # nothing flagged
    text = unfiltered.paragraph("Filters")
    assert "n/a precision" not in text
    assert "flagged 0% of AI documents" not in text


def test_tails_sentence_compares_phases_over_the_lineages_that_reached_them(late_model):
    """A model still in generation 0 is left out of the all-models means (it would move the
    generation 0 mean, not the later ones), and the sentence and the summary say so."""
    lineage = late_model.table("lineage")
    phase = np.minimum(lineage["generation"], 2)
    reached = phase.groupby(lineage["model"]).nunique()
    complete = reached[reached == 3].index
    assert 0 < len(complete) < len(reached)  # the run is the case the test is about
    mine = lineage[lineage["model"].isin(complete)]
    a0, _, a2 = (
        mine.groupby([mine["model"], phase[mine.index]])["fact_accuracy"].mean().unstack().mean()
    )
    text = late_model.paragraph("Lost tails")
    assert (
        f"the average of the {len(complete)} lineages (of {len(reached)}) that reached generation 2+"
        in text
    )
    assert f"fact accuracy {_pct(a0)} → {_pct(a2)}" in text
    assert late_model.row(f"fact accuracy (mean of the {len(complete)} models with every phase)")
