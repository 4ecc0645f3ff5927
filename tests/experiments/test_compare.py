"""Paired what-if comparisons: the t interval, pairing by seed, a sweep over scenarios (serial and
Dask give the same runs), files, CLI."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from habsburg.analysis.compare import paired_differences
from habsburg.analysis.stats import band, paired_ci
from habsburg.cli import main
from habsburg.experiments import compare as K
from habsburg.experiments.seeds import replicate_seeds
from habsburg.reports.compare import comparison_reading, format_differences, write_comparison
from habsburg.scenarios.library import load_scenario

DATA = Path(__file__).parent / "data"
BASE = DATA / "compare_tiny.toml"


def test_paired_ci_covers_a_known_difference_at_its_level():
    rng = np.random.default_rng(0)
    true, n, reps = 0.3, 6, 4000
    seed_effect = rng.normal(0, 5.0, (reps, n))  # large, shared by both arms: pairing removes it
    base = seed_effect + rng.normal(0, 1, (reps, n))
    alt = seed_effect + true + rng.normal(0, 1, (reps, n))
    covered = [
        paired_ci(a - b)[1] <= true <= paired_ci(a - b)[2] for a, b in zip(alt, base, strict=True)
    ]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


def test_band_is_the_t_interval_per_month():
    """(The t interval itself is tested in tests/analysis/test_stats.py; here: the cases a
    comparison's figure meets, no spread and a month only one run reached.)"""
    runs = np.array([[1.0, 2.0, np.nan], [3.0, 2.0, np.nan], [5.0, 2.0, 4.0]])
    mean, low, high = band(runs)
    assert mean.tolist() == [3.0, 2.0, 4.0]
    half = stats.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)
    assert (low[0], high[0]) == pytest.approx((3.0 - half, 3.0 + half))
    assert low[1] == high[1] == 2.0  # no spread
    assert np.isnan(low[2]) and np.isnan(high[2])  # a single run: no interval


def test_paired_differences_pair_runs_by_seed():
    seeds = [1, 2, 3, 4]
    base = {"final_mean_fact_accuracy": [0.9, 0.5, 0.7, 0.8]}
    rows = [
        {"scenario": "base", "seed": s, "final_mean_fact_accuracy": v}
        for s, v in zip(seeds, base["final_mean_fact_accuracy"], strict=True)
    ] + [
        # runs listed in another order: the pairing must follow the seed, not the row
        {"scenario": "alt", "seed": s, "final_mean_fact_accuracy": v + 0.05}
        for s, v in reversed(list(zip(seeds, base["final_mean_fact_accuracy"], strict=True)))
    ]
    for name in K.SCALARS:
        for r in rows:
            r.setdefault(name, 1.0)
    d = paired_differences(pd.DataFrame(rows), "base").set_index("outcome")
    row = d.loc["final_mean_fact_accuracy"]
    assert row["difference"] == pytest.approx(0.05)
    assert row["ci_low"] == pytest.approx(0.05) and row["ci_high"] == pytest.approx(0.05)
    assert row["excludes_zero"] and row["pairs"] == 4
    assert d.loc["final_mean_capability", "difference"] == 0.0
    assert not d.loc["final_mean_capability", "excludes_zero"]


def test_the_reading_of_one_seed_says_there_is_no_interval():
    """One pair of runs has a difference but no interval: the reading says so (it said no
    outcome differed "clearly enough ... with these seeds"), and with three pairs it reads the
    intervals as before."""
    rows = []
    for seed, shift in zip([1, 2, 3], [0.05, 0.06, 0.07], strict=True):
        rows += [
            {"scenario": "base", "seed": seed, "final_mean_fact_accuracy": 0.8},
            {"scenario": "alt", "seed": seed, "final_mean_fact_accuracy": 0.8 + shift},
        ]
    for r in rows:
        for name in K.SCALARS:
            r.setdefault(name, 1.0)
    frame = pd.DataFrame(rows)
    one = paired_differences(frame[frame["seed"] == 1], "base")
    assert (one["pairs"] == 1).all() and one["ci_low"].isna().all()
    (line,) = comparison_reading(one, "base", "95%")
    assert "no 95% interval" in line and "--seeds" in line and "clearly enough" not in line
    (line,) = comparison_reading(paired_differences(frame, "base"), "base", "95%")
    assert line.startswith("alt vs base (1 of") and "final_mean_fact_accuracy higher" in line


def test_rows_on_fewer_pairs_than_seeds_say_so():
    """An outcome NaN in some runs rests on fewer pairs than the seeds: the printed table says
    how many; with no pair at all the reading says there is nothing to read (it said "one
    pair of runs gives a difference")."""
    rows = []
    for seed in (1, 2, 3):
        rows += [
            {"scenario": "base", "seed": seed, "a": 1.0, "b": 1.0 if seed > 1 else np.nan},
            {"scenario": "alt", "seed": seed, "a": 1.0 + seed / 10, "b": 2.0},
        ]
    d = paired_differences(pd.DataFrame(rows), "base")
    text = format_differences(d, "base", 3, "95%")
    (b_line,) = [x for x in text.splitlines() if x.strip().startswith("b ")]
    (a_line,) = [x for x in text.splitlines() if x.strip().startswith("a ")]
    assert b_line.endswith("(2 of 3 pairs)") and "pairs" not in a_line
    missing = pd.DataFrame(
        [{"scenario": s, "seed": 1, "a": np.nan if s == "base" else 1.0} for s in ("base", "alt")]
    )
    (line,) = comparison_reading(paired_differences(missing, "base"), "base", "95%")
    assert line.startswith("alt: no pair of runs has a value") and "one pair" not in line


def test_comparing_a_scenario_with_itself_gives_exact_zeros(tmp_path):
    """Same seeds, same scenario: every paired difference is exactly 0 (runs reproduce)."""
    base = load_scenario(BASE)
    result = K.compare(base, [copy.deepcopy(base)], seeds=2, steps=14, progress=False)
    assert result.scenarios == ["compare-tiny", "compare-tiny-2"]
    assert result.seeds == replicate_seeds(11, 2)  # the sweeps' replicate seeds
    d = paired_differences(result.runs, result.base).dropna(subset=["difference"])
    assert len(d) > 0 and (d["difference"] == 0).all() and (d["ci_high"] == 0).all()


def test_compare_writes_parquet_and_report(tmp_path):
    base = load_scenario(BASE)
    alt = copy.deepcopy(base)
    alt.name = "no-filters"
    for s in alt.scrapers:
        s.filters.watermark_detector = s.filters.classifier = False
    out = tmp_path / "cmp"
    result = K.compare(base, [alt], seeds=3, steps=18, progress=False)
    differences = paired_differences(result.runs, result.base, 0.95, result.descriptions)
    write_comparison(result, differences, out)
    runs = pd.read_parquet(out / "runs.parquet")
    seeds = replicate_seeds(11, 3)
    assert sorted(map(tuple, runs[["scenario", "seed"]].to_numpy())) == sorted(
        (name, seed) for name in ("compare-tiny", "no-filters") for seed in seeds
    )
    series = pd.read_parquet(out / "series.parquet")
    assert len(series) == 6 * 18 and set(K.SERIES) <= set(series.columns)
    diffs = pd.read_parquet(out / "differences.parquet")
    pd.testing.assert_frame_equal(diffs, differences)
    # recompute one difference from runs.parquet
    wide = runs.pivot(index="seed", columns="scenario", values="mean_filter_recall")
    mean, low, high, _ = paired_ci((wide["no-filters"] - wide["compare-tiny"]).to_numpy())
    row = diffs.set_index("outcome").loc["mean_filter_recall"]
    assert (row["difference"], row["ci_low"], row["ci_high"]) == pytest.approx((mean, low, high))
    assert row["excludes_zero"] and row["difference"] < 0  # filters off: recall 0
    assert row["meaning"] == K.OUTCOMES["mean_filter_recall"].description
    report = (out / "report.md").read_text()
    assert "95% CI" in report and "mean_filter_recall" in report
    assert f"[{low:.4g}, {high:.4g}]" in report
    assert len(list((out / "figures").glob("*.png"))) == 2
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_compare_on_dask_equals_serial(tmp_path):
    """A comparison is a sweep over scenarios: a local Dask cluster gives the same runs."""
    pytest.importorskip("distributed")
    base = load_scenario(BASE)
    alt = copy.deepcopy(base)
    alt.watermark.adoption = 1.0
    serial = K.compare(base, [alt], seeds=2, steps=6, progress=False)
    dask = K.compare(base, [alt], seeds=2, steps=6, progress=False, workers=2)
    pd.testing.assert_frame_equal(serial.runs, dask.runs)
    pd.testing.assert_frame_equal(serial.series, dask.series)
    plan = K.comparison_plan(base, [alt], seeds=2, steps=6)
    assert [(t.scenario, t.seed) for t in plan.tasks] == [
        (label, s) for label in ("compare-tiny", "compare-tiny-2") for s in replicate_seeds(11, 2)
    ]


@pytest.mark.slow
def test_compare_cli_with_five_seeds(tmp_path, capsys):
    alt = tmp_path / "mandate.toml"
    alt.write_text(
        BASE.read_text().replace('name = "compare-tiny"', 'name = "mandate"')
        + "\n[watermark]\nadoption = 1.0\n"
    )
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            str(BASE),
            str(alt),
            "--seeds",
            "5",
            "--steps",
            "20",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out  # the table habsburg compare prints
    assert "difference from compare-tiny (paired over 5 seeds, 95% CI)" in printed
    recall = next(line for line in printed.splitlines() if "mean_filter_recall" in line)
    assert recall.startswith("  mean_filter_recall") and recall.endswith("] *")
    diffs = pd.read_parquet(out / "differences.parquet")
    assert (diffs["pairs"] == 5).all()
    assert diffs["ci_low"].notna().any()
    # every model watermarks: the filters catch far more of the synthetic text
    assert diffs.set_index("outcome").loc["mean_filter_recall", "excludes_zero"]
    assert "95% CI" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", str(BASE), str(BASE), "--seeds", "0"], "--seeds must be at least 1"),
        (  # (it hung building the plan of 2e12 runs)
            ["compare", str(BASE), str(BASE), "--seeds", "1000000000000"],
            "--seeds 1000000000000: 2,000,000,000,000 runs of 2 scenarios; a comparison may "
            "plan at most 1,000,000 runs",
        ),
        (
            ["compare", str(BASE), str(BASE), "--scheduler", "tcp://localhost"],
            "with a port in 1..65535",
        ),
        (["compare", str(BASE), "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["compare", str(BASE), str(BASE), "--steps", "999"], "--steps must be between 1 and 24"),
        (["compare", str(BASE), "missing.toml"], "scenario file 'missing.toml' does not exist"),
        (
            ["compare", str(BASE), str(BASE), "--scheduler", "localhost:1"],
            "not a Dask scheduler address",
        ),
        (["compare", str(BASE), str(BASE), "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_compare_cli_bad_input_names_the_problem(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _variant(path: Path, name: str = "compare-tiny", **months: str) -> Path:
    """The comparison scenario's file written to ``path`` under ``name``, with other months
    (``start``, ``end``)."""
    text = BASE.read_text().replace('name = "compare-tiny"', f'name = "{name}"')
    for key, month in months.items():
        text = re.sub(rf'^{key} = "[0-9-]+"$', f'{key} = "{month}"', text, flags=re.MULTILINE)
    path.write_text(text)
    return path


def test_scenarios_starting_in_other_months_are_refused(tmp_path, capsys):
    """Month N of a run that starts two years earlier is another calendar month: the pairs
    compared 2022-12 with 2020-12 without a word. Refused before any run, both starts named."""
    early = _variant(tmp_path / "early.toml", "early", start="2019-01")
    out = tmp_path / "cmp"
    assert main(["compare", str(BASE), str(early), "--seeds", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        "'early' starts in 2019-01 and the base 'compare-tiny' in 2021-01: a paired comparison "
        "reads every scenario at the same month of its run" in err
    )
    assert "Traceback" not in err and not out.exists()


def test_a_longer_scenario_cut_to_the_shortest_is_said(tmp_path, capsys):
    """Without --steps every scenario runs the shortest one's months: the longer one is not
    read at its own end, which the command says; the report names the months."""
    base = load_scenario(BASE)
    longer = copy.deepcopy(base)
    longer.name, longer.end = "longer", base.step_to_month(base.steps + 5)
    assert K.cut_short(base, [longer], base.steps) == [
        f"longer runs to {base.end}, not to its end ({longer.end}): every scenario is read at "
        "the same month (--steps chooses it)"
    ]
    assert K.cut_short(base, [longer], 6) == [  # --steps 6 cuts both
        f"{sc.name} runs to {base.step_to_month(5)}, not to its end ({sc.end}): every "
        "scenario is read at the same month (--steps chooses it)"
        for sc in (base, longer)
    ]
    assert K.cut_short(base, [copy.deepcopy(base)], base.steps) == []
    result = K.compare(base, [longer], seeds=1, steps=3, progress=False)
    assert result.months == (base.start, base.step_to_month(2))
    write_comparison(result, paired_differences(result.runs, result.base), tmp_path / "cmp")
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert f"for 3 months ({base.start} to {base.step_to_month(2)})" in report


def test_compare_cli_says_which_scenario_it_cuts(tmp_path, capsys):
    short = _variant(tmp_path / "short.toml", end="2021-06")
    longer = _variant(tmp_path / "longer.toml", "longer", end="2021-08")
    out = tmp_path / "cmp"
    assert main(["compare", str(short), str(longer), "--seeds", "1", "--out", str(out)]) == 0
    assert (
        "note: longer runs to 2021-06, not to its end (2021-08): every scenario is read at the "
        "same month (--steps chooses it)" in capsys.readouterr().err
    )
    assert "for 6 months (2021-01 to 2021-06)" in (out / "report.md").read_text()
