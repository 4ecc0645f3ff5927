"""Run reports: figures, Markdown and self-contained HTML, every number read from the run."""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tinyscenario import tiny_scenario

from habsburg.cli import main
from habsburg.experiments.run import run_scenario
from habsburg.reports.report import write_report


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    """The tiny scenario's results directory as ``habsburg run`` writes it: the report is
    written by ``finish`` before the results move into place."""
    out = tmp_path_factory.mktemp("reported") / "tiny"
    run_scenario(tiny_scenario(), out=out, finish=write_report)
    return out


def copy_run(src, dst):
    """A private copy of a run (the shared fixture must stay untouched)."""
    shutil.copytree(src, dst)
    return dst


def test_run_writes_a_report_with_figures(reported_run):
    md = (reported_run / "report.md").read_text()
    page = (reported_run / "report.html").read_text()
    figures = sorted((reported_run / "figures").glob("*.png"))
    assert len(figures) >= 8
    for fig in figures:
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figures/{fig.name}" in md
    # self-contained: every figure embedded, nothing linked
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert "figures/" not in page
    for heading in ("## Reading", "## Summary", "## Figures"):
        assert heading in md


def test_report_numbers_are_read_from_the_runs_parquet(reported_run):
    run = reported_run
    md = (run / "report.md").read_text()
    read = lambda name: pd.read_parquet(run / f"{name}.parquet")  # noqa: E731
    mm, errors, adoptions, crawls = (
        read("model_metrics"),
        read("errors"),
        read("adoptions"),
        read("crawls"),
    )

    assert f"new {100 * mm['synthetic_share_new'].iloc[-1]:.1f}%" in md
    assert f"| wrong fact values published | {len(errors):,} |" in md
    biggest = adoptions.groupby("error_id")["model"].nunique().max()
    assert re.search(rf"\| biggest cascade \| {biggest} models", md)

    manifest = json.loads((run / "manifest.json").read_text())
    launch = tiny_scenario().launch_step
    assert manifest["scenario"]["chatbot_launch"] == tiny_scenario().chatbot_launch
    c = crawls[crawls["step"] >= launch]
    precision = c["tp"].sum() / (c["tp"].sum() + c["fp"].sum())
    recall = c["tp"].sum() / (c["tp"].sum() + c["fn"].sum())
    assert f"| {100 * precision:.1f}% / {100 * recall:.1f}% /" in md

    # ROC AUC of the z-test equals the Mann–Whitney statistic U / (n⁺ n⁻)
    z = read("z_samples")
    ai = z["synthetic_fraction"] >= manifest["scenario"]["measurement"]["threshold"]
    u = stats.mannwhitneyu(z.loc[ai, "z"], z.loc[~ai, "z"]).statistic
    assert f"watermark ROC AUC, all AI documents | {u / (ai.sum() * (~ai).sum()):.3f} |" in md


def test_report_regenerates_from_the_parquet_files(reported_run, tmp_path):
    """Rebuilt from a copy of the run with one number changed in its Parquet, the report is the
    same except exactly where that number is shown."""
    run = copy_run(reported_run, tmp_path / "run")
    before = (run / "report.md").read_text().splitlines()
    names = sorted(p.name for p in (run / "figures").glob("*.png"))
    mm = pd.read_parquet(run / "model_metrics.parquet")
    old = mm["synthetic_share_new"].iloc[-1]
    mm.loc[mm.index[-1], "synthetic_share_new"] = 0.123456
    mm.to_parquet(run / "model_metrics.parquet", index=False)
    for name in ("report.md", "report.html"):
        (run / name).unlink()
    shutil.rmtree(run / "figures")

    assert write_report(run) == run / "report.md"
    after = (run / "report.md").read_text().splitlines()
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
    assert len(changed) == 2  # the reading and the summary row
    for b, a in changed:
        assert f"{100 * old:.0f}%" in b or f"{100 * old:.1f}%" in b
        assert "12%" in a or "12.3%" in a
    assert sorted(p.name for p in (run / "figures").glob("*.png")) == names
    # listed in the manifest: a later `habsburg run --out` into the directory may replace them
    listed = set(json.loads((run / "manifest.json").read_text())["files"])
    assert {"report.md", "report.html", *(f"figures/{n}" for n in names)} <= listed


def test_report_of_a_run_that_ended_before_any_model(tmp_path):
    out = tmp_path / "early"
    run_scenario(
        tiny_scenario(), steps=6, out=out, finish=write_report
    )  # the chatbot arrives at month 12
    md = (out / "report.md").read_text()
    assert "## Summary" in md and "synthetic share at the end" in md
    assert "tail concepts known" not in md  # no model, no generations
    assert len(list((out / "figures").glob("*.png"))) >= 1


def test_report_cli_with_counterfactual(reported_run, tmp_path, capsys):
    run = copy_run(reported_run, tmp_path / "run")
    assert main(["report", str(run), "--counterfactual", "--quiet"]) == 0
    cf = pd.read_parquet(run / "filter_counterfactual.parquet").set_index("outcome")
    assert cf.loc["mean_filter_recall", "filters_off"] == 0.0
    # the filters-on arm is a fresh run of the same seed: it reproduces the run itself
    assert cf["reproduces_run"].all()
    mm = pd.read_parquet(run / "model_metrics.parquet")
    assert cf.loc["final_mean_tail_coverage", "filters_on"] == mm["mean_tail_coverage"].iloc[-1]
    md = (run / "report.md").read_text()
    assert "Counterfactual (same seed, AI filters off)" in md
    effect = cf.loc["final_mean_fact_accuracy", "effect"]
    assert f"fact accuracy {100 * effect:+.2f} percentage points" in md
    assert any("counterfactual" in p.name for p in (run / "figures").glob("*.png"))
    assert np.isfinite(cf["effect"]).any()


@pytest.mark.parametrize("kind", ["missing", "a-file", "not-a-run", "bad-manifest"])
def test_report_cli_names_bad_run_dirs(kind, tmp_path, capsys):
    path = tmp_path / "dir"
    if kind == "a-file":
        path.write_text("a user's file")
    elif kind != "missing":
        path.mkdir()
    if kind == "bad-manifest":
        (path / "manifest.json").write_text("{not json")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    expected = {
        "missing": "does not exist",
        "a-file": "is a file, not a results directory",
        "not-a-run": "no manifest.json",
        "bad-manifest": "cannot read",
    }
    assert expected[kind] in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"scenario": 5}, "scenario: expected the run's scenario (an object), got 5"),
        ({"seed": "x"}, "seed: expected an integer, got 'x'"),
        ({"steps": 1.5}, "steps: expected an integer, got 1.5"),
        ({"versions": []}, None),  # (read as unknown: the report is written)
        (
            {"scenario": {"chatbot_launch": 7}},
            "scenario: chatbot_launch: expected a string, got 7 (the scenario the run recorded)",
        ),
    ],
)
def test_report_names_a_hand_edited_manifest(reported_run, tmp_path, capsys, edit, message):
    """The manifest is a file users open: a field the analysis reads with another type was an
    internal error (``AttributeError``); it is named now, before any analysis."""
    run = copy_run(reported_run, tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, **edit}))
    status = main(["report", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    if message is None:
        assert status == 0, err
    else:
        assert status == 2 and f"{run / 'manifest.json'}: {message}" in err, err


@pytest.mark.parametrize("owner", ["compare", "calibrate", "sweep"])
def test_report_names_the_command_whose_results_it_was_given(owner, tmp_path, capsys):
    """A comparison's, calibration's or sweep's directory is not a run: the error names the
    command (it said a table was missing, or that the directory had no manifest)."""
    path = tmp_path / "dir"
    path.mkdir()
    if owner == "sweep":
        (path / "sweep.json").write_text(json.dumps({"written_by": "habsburg", "runs": {}}))
    else:
        key = "command" if owner == "calibrate" else "habsburg_command"
        manifest = {"written_by": "habsburg", "format": 2, key: owner, "files": []}
        (path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"holds the results of `habsburg {owner}`, not of a run" in err
    assert "Traceback" not in err and not (path / "report.md").exists()


@pytest.mark.slow
def test_report_on_a_baseline_run_has_at_least_eight_figures(tmp_path, capsys):
    out = tmp_path / "baseline"
    assert (
        main(["run", "baseline", "--steps", "48", "--out", str(out), "--quiet", "--no-report"]) == 0
    )
    assert main(["report", str(out)]) == 0
    assert "report.md" in capsys.readouterr().out
    assert len(list((out / "figures").glob("*.png"))) >= 8
    # the study instruments against the published points (Graphite, Liang et al., Ahrefs)
    assert len(list((out / "figures").glob("*-study-instruments.png"))) == 1
    assert "calibration targets" in (out / "report.md").read_text()


def test_study_instruments_figure_marks_targets_apart_from_out_of_sample():
    from matplotlib.container import ErrorbarContainer

    from habsburg.reports.plots.studies import AHREFS, SERIES, study_instruments
    from habsburg.scenarios.measurements import MEASUREMENTS

    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    mm = pd.DataFrame({"month": months, **{k: 0.3 for k in (*SERIES, *AHREFS)}})
    fig = study_instruments(mm)
    ax = fig.axes[0]
    # one errorbar container per published point
    drawn = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    graphite = [m for m in MEASUREMENTS if m.series == "graphite_ai_share"]
    assert len(drawn) == len(ax.containers) == len(graphite)
    filled = [c.lines[0].get_markerfacecolor() != "white" for c in drawn]
    assert filled == [m.calibration_target for m in graphite]


def test_the_report_names_training_sets_short_of_their_budget(reported_run):
    """The tiny scenario's model ``c`` (``replace``: the crawls since its last retrain only)
    gets far less than its 2,000-document budget; the reading says so from ``lineage``."""
    lineage = pd.read_parquet(reported_run / "lineage.parquet")
    c = lineage[lineage["model"] == "c"]
    assert (c["budget"] == 2000).all()
    share = c["documents"] / c["budget"]
    assert share.median() < 0.5
    md = (reported_run / "report.md").read_text()
    [line] = [x for x in md.splitlines() if x.startswith("Training sets short of their budget")]
    expected = f"c a median {100 * share.median():.0f}% of its 2,000-document budget"
    assert expected in line
    assert f"at least {100 * share.min():.0f}%" in line
    for full in ("a", "b"):  # their sets fill their budgets
        assert (lineage.loc[lineage["model"] == full, "documents"] == 2500).all()
        assert f"{full} a median" not in line


def test_the_report_says_what_made_its_numbers(reported_run, tmp_path):
    """A report names habsburg's version, the code of its model (and the checkout's commit) and
    the versions a seed's numbers depend on, from the run's manifest; a results directory from
    before versions were recorded gets no such section."""
    from habsburg.experiments.versions import COMMIT, MODEL_CODE, model_code, source_commit
    from habsburg.reports.document import provenance

    versions = json.loads((reported_run / "manifest.json").read_text())["versions"]
    assert versions[MODEL_CODE] == model_code() and versions.get(COMMIT) == source_commit()
    md = (reported_run / "report.md").read_text()
    made = md.split("## Provenance", 1)[1]
    assert f"habsburg {versions['habsburg']} (model code {model_code()}" in made
    assert f"Mesa {versions['mesa']}" in made and f"numpy {versions['numpy']}" in made
    assert "pandas" not in made  # (it does not change the numbers)
    assert "Provenance" in (reported_run / "report.html").read_text()
    # the manifest's versions, not this process's: a report rewritten later says what ran
    run = copy_run(reported_run, tmp_path / "old")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["versions"] = {**versions, "habsburg": "0.0.1", MODEL_CODE: "0123456789abcdef"}
    manifest["versions"].pop(COMMIT, None)
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(run)]) == 0
    made = (run / "report.md").read_text().split("## Provenance", 1)[1]
    assert "habsburg 0.0.1 (model code 0123456789abcdef) on Python" in made
    del manifest["versions"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(run)]) == 0
    assert "Provenance" not in (run / "report.md").read_text()
    assert provenance(None) is None and provenance({"numpy": "2.4.6"}) is None
    assert provenance({"habsburg": "1.0", COMMIT: "a1b2c3d4e5f6+modified"}) == (
        "Made with habsburg 1.0 (git commit a1b2c3d4e5f6+modified). A seed gives the same "
        "numbers only with the same versions and model code (manifest.json lists them)."
    )


def test_the_report_never_replaces_or_removes_a_users_files(reported_run, tmp_path, capsys):
    """``habsburg report`` wrote report.md/html and figures/*.png over whatever was there and
    first removed every figures/*.png, a user's too. Now: a user's file where the report goes
    refuses it before any work, naming the file; a user's other figures stay; habsburg's own
    earlier figures are replaced, and one the report no longer draws is removed and forgotten."""
    run = copy_run(reported_run, tmp_path / "run")
    mine = run / "figures" / "my_plot.png"
    mine.write_bytes(b"a user's figure")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"].append("figures/99-retired.png")  # an earlier report's figure
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "figures" / "99-retired.png").write_bytes(b"habsburg's old figure")
    before = (run / "figures" / "01-synthetic-share.png").read_bytes()
    (run / "figures" / "01-synthetic-share.png").write_bytes(b"stale")
    assert main(["report", str(run), "--quiet"]) == 0
    assert mine.read_bytes() == b"a user's figure"
    assert (run / "figures" / "01-synthetic-share.png").read_bytes() == before
    assert not (run / "figures" / "99-retired.png").exists()
    listed = json.loads((run / "manifest.json").read_text())["files"]
    assert "figures/99-retired.png" not in listed and "figures/my_plot.png" not in listed
    assert "figures/01-synthetic-share.png" in listed and "report.md" in listed
    assert not [p for p in run.iterdir() if p.name.startswith(".habsburg-tmp-")]

    def forbidden(*args, **kwargs):
        raise AssertionError("the report's work started")

    for name in ("report.md", "report.html", "filter_counterfactual.parquet", "figures"):
        other = copy_run(reported_run, tmp_path / f"user-{name}")
        target = other / name
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        target.write_text("the user's")
        manifest = json.loads((other / "manifest.json").read_text())
        manifest["files"] = [f for f in manifest["files"] if not f.startswith(name)]
        (other / "manifest.json").write_text(json.dumps(manifest))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("habsburg.reports.report.analyse", forbidden)
            patch.setattr("habsburg.experiments.counterfactual.rerun_counterfactual", forbidden)
            assert main(["report", str(other), "--counterfactual"]) == 2, name
        err = capsys.readouterr().err
        assert f"already holds {name}, which habsburg did not write" in err, err
        assert target.read_text() == "the user's" and "Traceback" not in err


@pytest.mark.parametrize(
    ("x", "shown"),
    [
        (40.391, "40.39"),
        (99.994, "99.99"),
        (99.996, "100.0"),
        (999.41, "999.4"),  # the baseline's systemic-failure maximum (was "999")
        (999.96, "1,000"),
        (12345.6, "12,346"),
        (-250.04, "-250.0"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_a_ratio_keeps_four_significant_digits_up_to_a_thousand(x, shown):
    from habsburg.reports.document import ratio

    assert ratio(x) == shown


def test_the_counterfactual_figure_draws_outcomes_undefined_in_a_run():
    """An outcome undefined (NaN) in one arm or both -- the filters-off run of a very small
    scenario had no crawl in its last month -- has no dot there and says so; the axis is zoomed
    on the values there are. Its NaN axis limits ended `habsburg report --counterfactual` (and
    every later report of that run) in an internal error."""
    from habsburg.reports.plots.filters import counterfactual

    nan = float("nan")
    table = pd.DataFrame(
        {
            "outcome": ["final_mean_capability", "final_training_synthetic_after", "final_x"],
            "filters_on": [14.55, 0.34, nan],
            "filters_off": [14.52, nan, nan],
            "effect": [0.03, nan, nan],
        }
    )
    fig = counterfactual(table)
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert texts == [["on − off: +0.03"], ["off: undefined"], ["on and off: undefined"]]
    lo, hi = fig.axes[1].get_ylim()
    assert np.isfinite([lo, hi]).all() and lo < 0.34 < hi and hi - lo < 0.1
    fig.savefig(io.BytesIO(), format="png")  # (drawing it raised before)
