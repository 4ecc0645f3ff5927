"""The claims of the what-if studies' reports — a comparison's report (Markdown and HTML), its
figures and printed table, the text-mode comparison's report, a sweep's printed summary and a
sensitivity analysis's figure and printed table — checked against the Parquet/CSV tables they
read, recomputed independently (scipy's t quantile, numpy), on tiny comparisons, sweeps and
sensitivity analyses and on hand-made tables for the cases a claim depends on (one seed, NaN
outcomes, identical scenarios, an outcome where lower is better, a base mean of 0).

The second half holds the claims an audit found false (2026-12-05) and the text the reports
give in their place."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from scipy import stats
from tinyscenario import sensitivity_spec, tiny_dict, tiny_scenario

from habsburg.analysis.compare import paired_differences
from habsburg.cli import main
from habsburg.experiments import compare as K
from habsburg.experiments.outcomes import OUTCOMES
from habsburg.experiments.sensitivity import format_table
from habsburg.experiments.text_compare import TextComparison
from habsburg.reports.compare import comparison_reading, format_differences, write_comparison
from habsburg.reports.plots import compare_differences
from habsburg.reports.sensitivity import plot_indices
from habsburg.reports.text_compare import prepare_text_comparison_dir, write_text_comparison
from habsburg.scenarios.schema import from_dict

SWEEP_TINY = Path(__file__).parents[1] / "experiments" / "data" / "sweep_tiny.toml"


def _bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _sig(x: float) -> str:
    return f"{x:.4g}"


def _section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n\n", 1)[1].split("\n## ", 1)[0]


def _table(markdown: str, heading: str) -> pd.DataFrame:
    """A Markdown table of a report section, as strings."""
    lines = [x for x in _section(markdown, heading).splitlines() if x.startswith("|")]
    cells = [[c.strip() for c in x.strip("|").split(" | ")] for x in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def _paragraphs(markdown: str, heading: str) -> list[str]:
    return [p.strip() for p in _section(markdown, heading).split("\n\n") if p.strip()]


def _recompute(runs: pd.DataFrame, base: str, alt: str, outcome: str) -> dict:
    """The paired difference of ``outcome`` recomputed from a runs table: mean, the 95% t
    interval (scipy's quantile) and the means of both scenarios over the same pairs."""
    wide = runs.pivot(index="seed", columns="scenario", values=outcome)
    both = wide[[base, alt]].dropna()
    d = (both[alt] - both[base]).to_numpy()
    n = len(d)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    mean = d.mean() if n else np.nan
    return {
        "base": both[base].mean() if n else np.nan,
        "alt": both[alt].mean() if n else np.nan,
        "difference": mean,
        "low": mean - half,
        "high": mean + half,
        "pairs": n,
    }


def _close(cell: str, value: float) -> bool:
    """A report cell (four significant digits, n/a for NaN) shows ``value``."""
    if not np.isfinite(value):
        return cell == "n/a"
    return float(cell) == pytest.approx(value, rel=6e-4, abs=1e-12)


def _comparison(runs: pd.DataFrame, seeds: list[int], steps: int = 3) -> K.Comparison:
    """A comparison made by hand from a runs table (two scenarios, base first)."""
    names = list(dict.fromkeys(runs["scenario"]))
    series = pd.DataFrame(
        [
            {"scenario": s, "seed": seed, "step": step, "synthetic_share_new": 0.1 * step}
            for s in names
            for seed in seeds
            for step in range(steps)
        ]
    )
    outcomes = [c for c in runs.columns if c not in ("scenario", "seed")]
    return K.Comparison(
        base=names[0],
        scenarios=names,
        seeds=seeds,
        steps=steps,
        runs=runs,
        series=series,
        months=("2021-01", f"2021-{steps:02d}"),
        descriptions={n: OUTCOMES[n].description for n in [*outcomes, "synthetic_share_new"]},
    )


def _runs(base: dict[str, list[float]], alt: dict[str, list[float]], seeds: list[int]):
    rows = [
        {"scenario": "base", "seed": s, **{k: v[i] for k, v in base.items()}}
        for i, s in enumerate(seeds)
    ]
    rows += [
        {"scenario": "alt", "seed": s, **{k: v[i] for k, v in alt.items()}}
        for i, s in enumerate(seeds)
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# a tiny comparison, its report read back against its Parquet tables
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    base = tiny_scenario()
    mandate = from_dict(tiny_dict(name="mandate", watermark={"adoption": 1.0}), "mandate")
    result = K.compare(base, [mandate], seeds=3, steps=18, progress=False)
    differences = paired_differences(result.runs, result.base, 0.95, result.descriptions)
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    write_comparison(result, differences, out)
    return out, result


def test_comparison_tables_and_reading_are_the_parquet_tables_recomputed(compared):
    out, _ = compared
    runs = pd.read_parquet(out / "runs.parquet")
    markdown = (out / "report.md").read_text()
    table = _table(markdown, "Differences from the base")
    assert list(table["outcome"]) == list(K.SCALARS)
    resolved = []
    for row in table.itertuples(index=False):
        r = _recompute(runs, "tiny", "mandate", row.outcome)
        assert _close(row.base, r["base"]) and _close(row[3], r["alt"]), row
        assert _close(row.difference, r["difference"]), row
        low, high = row[5].strip("[]").split(", ")
        assert _close(low, r["low"]) and _close(high, r["high"]), row
        assert row.pairs == str(r["pairs"])
        excludes = bool(r["low"] > 0 or r["high"] < 0)
        assert row[7] == ("yes" if excludes else "")
        if excludes:
            word = "higher" if r["difference"] > 0 else "lower"
            resolved.append(f"{row.outcome} {word} ({row.difference}, CI {row[5]}")
    (reading,) = _paragraphs(markdown, "Reading")
    assert resolved, "the mandate resolves nothing: the check would read no direction word"
    assert reading.startswith(f"mandate vs tiny ({len(resolved)} of {len(table)} outcomes resolved")
    assert all(part in reading for part in resolved)
    assert reading.count(" higher (") + reading.count(" lower (") == len(resolved)
    # the first paragraph: seeds, months; the HTML says the same
    intro = markdown.split("\n\n")[1]
    seeds = ", ".join(map(str, sorted(set(runs["seed"]), key=list(runs["seed"]).index)))
    assert f"on the same 3 seeds ({seeds}) for 18 months (2020-01 to 2021-06)" in intro
    page = (out / "report.html").read_text()
    assert f"<p>{html.escape(reading)}</p>" in page and f"<p>{html.escape(intro)}</p>" in page
    # the runs table: every run's value of every outcome
    run_table = _table(markdown, "Runs").set_index("outcome")
    for r in runs.itertuples(index=False):
        for outcome in K.SCALARS:
            assert _close(run_table.loc[outcome, f"{r.scenario} {r.seed}"], getattr(r, outcome))


def test_printed_differences_are_the_table(compared):
    out, _ = compared
    d = pd.read_parquet(out / "differences.parquet")
    text = format_differences(d, "tiny", 3, "95%").splitlines()
    assert text[0] == "difference from tiny (paired over 3 seeds, 95% CI)"
    for r in d.itertuples(index=False):
        (line,) = [x for x in text if x.split() and x.split()[0] == r.outcome]
        star = " *" if r.excludes_zero else ""
        assert line.split(None, 1)[1].strip() == (
            f"{_sig(r.difference)}  [{_sig(r.ci_low)}, {_sig(r.ci_high)}]{star}".strip()
        )


def test_difference_figure_plots_the_table_relative_to_the_base_mean(compared):
    out, _ = compared
    d = pd.read_parquet(out / "differences.parquet")
    ax = compare_differences(d).axes[0]
    (bars,) = ax.containers
    points, _, (segments,) = bars.lines  # type: ignore[attr-defined]
    base = d["base_mean"].abs().where(d["base_mean"] != 0)  # relative to 0: not drawn
    x = np.asarray(points.get_xdata(), dtype=float)
    np.testing.assert_allclose(x, d["difference"] / base, equal_nan=True)
    drawn = np.isfinite((d["difference"] / base).to_numpy())
    segments = [np.asarray(s) for s in segments.get_segments()]  # one per outcome, empty if NaN
    assert [len(s) > 0 for s in segments] == drawn.tolist()
    spans = np.array([s[:, 0] for s in segments if len(s)])  # (low, high) of each drawn outcome
    np.testing.assert_allclose(spans[:, 0], (d["ci_low"] / base)[drawn], rtol=1e-9)
    np.testing.assert_allclose(spans[:, 1], (d["ci_high"] / base)[drawn], rtol=1e-9)
    assert ax.get_xlabel() == "difference from base, relative to the base mean (95% CI)"


# --------------------------------------------------------------------------------------------
# a sensitivity analysis: the figure and the printed table are sensitivity.csv
# --------------------------------------------------------------------------------------------
def test_sensitivity_figure_and_printed_table_are_the_csv(tmp_path, capsys):
    pytest.importorskip("SALib")
    spec = tmp_path / "sens.toml"
    spec.write_text(sensitivity_spec(SWEEP_TINY.as_posix(), steps=10, sobol=8, morris=4))
    out = tmp_path / "sens"
    assert main(["sensitivity", str(spec), "--serial", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split("\n\nindices:")[0].splitlines()
    table = pd.read_csv(out / "sensitivity.csv")
    assert printed[0].split() == list(table.columns)
    for line, row in zip(printed[1:], table.itertuples(index=False), strict=True):
        assert line.split() == [row.outcome, row.parameter, *(_sig(v) for v in row[2:])]
    fig = plot_indices(table, "tiny-sensitivity")
    axes = np.array(fig.axes).reshape(table["outcome"].nunique(), 2)
    for i, outcome in enumerate(dict.fromkeys(table["outcome"])):
        rows = table[table["outcome"] == outcome]
        sobol, morris = axes[i]
        assert sobol.get_title() == f"{outcome} — sobol"
        assert [t.get_text() for t in sobol.get_yticklabels()] == list(rows["parameter"])
        for bars, column in zip(_bars(sobol), ("S1", "ST"), strict=True):
            assert [b.get_width() for b in bars] == pytest.approx(rows[column].tolist())
            spans = [s[:, 0] for s in bars.errorbar.lines[2][0].get_segments()]  # type: ignore[union-attr]
            # SALib's *_conf is the half-width of the interval around the index
            assert [lo for lo, _ in spans] == pytest.approx(
                (rows[column] - rows[f"{column}_conf"]).tolist()
            )
            assert [hi for _, hi in spans] == pytest.approx(
                (rows[column] + rows[f"{column}_conf"]).tolist()
            )
        (bars,) = _bars(morris)
        assert [b.get_width() for b in bars] == pytest.approx(rows["mu_star"].tolist())
        spans = [s[:, 0] for s in bars.errorbar.lines[2][0].get_segments()]  # type: ignore[union-attr]
        assert [hi - lo for lo, hi in spans] == pytest.approx((2 * rows["mu_star_conf"]).tolist())
        assert morris.get_xlabel() == "Morris μ* (mean |elementary effect|)"
    assert fig.get_suptitle() == "Sensitivity: tiny-sensitivity"


# --------------------------------------------------------------------------------------------
# claims the reports got wrong (fixed): the correct text
# --------------------------------------------------------------------------------------------
def test_one_seed_is_one_seed_with_no_interval(tmp_path):
    """One seed: the reports said "the same 1 seeds", "paired over 1 seeds, 95% CI", "with 95% t
    intervals" and captioned "95% confidence intervals" and "pointwise 95% bands", none of
    which one seed has."""
    runs = _runs({"final_mean_tail_coverage": [0.3]}, {"final_mean_tail_coverage": [0.4]}, [5])
    result = _comparison(runs, [5])
    d = paired_differences(runs, "base", 0.95, result.descriptions)
    write_comparison(result, d, tmp_path / "one")
    markdown = (tmp_path / "one" / "report.md").read_text()
    intro = markdown.split("\n\n")[1]
    assert (
        "on the same 1 seed (5) for 3 months (2021-01 to 2021-03); differences are paired "
        "by seed, and one seed gives no interval." in intro
    )
    assert "t intervals" not in intro and "seeds" not in intro
    captions = re.findall(r"^\*(.*)\*$", markdown, re.M)
    assert captions == [
        "Paired differences from base (one seed: no intervals), relative to the base mean (not "
        "drawn where the base mean is 0).",
        "Monthly values of one seed (no bands).",
    ]
    assert format_differences(d, "base", 1, "95%").splitlines()[0] == (
        "difference from base (1 seed: no CI)"
    )
    text = TextComparison(
        "base", ["base", "alt"], [5], 2, runs, {"final_mean_tail_coverage": "tail coverage"}
    )
    out = prepare_text_comparison_dir(tmp_path / "text")
    write_text_comparison(text, d, out)
    intro = (out / "report.md").read_text().split("\n\n")[1]
    assert (
        "Each scenario ran on the same 1 replicate seed; differences are paired by seed, "
        "and one seed gives no interval." in intro
    )


def test_identical_scenarios_read_as_the_same_not_as_unresolved():
    """Every paired difference exactly 0: the reading said no outcome differed "clearly enough
    for a 95% interval to exclude zero with these seeds", as if more seeds could resolve it."""
    seeds = [1, 2, 3]
    values = {"final_mean_tail_coverage": [0.3, 0.31, 0.29], "largest_cascade": [2.0, 1.0, 3.0]}
    same = paired_differences(_runs(values, values, seeds), "base")
    assert (same["difference"] == 0).all() and (same["ci_high"] == 0).all()
    assert comparison_reading(same, "base", "95%") == [
        "alt: every outcome is the same as in base on every seed (all 2 paired differences are 0)."
    ]
    missing = dict(values, final_mean_capability=[np.nan] * 3)
    (line,) = comparison_reading(
        paired_differences(_runs(missing, missing, seeds), "base"), "base", "95%"
    )
    assert line == (
        "alt: every outcome is the same as in base on every seed where both runs have a value "
        "(all 2 paired differences are 0; 1 outcome has no paired value)."
    )
    one = {"largest_cascade": values["largest_cascade"], "a": [np.nan] * 3, "b": [np.nan] * 3}
    (line,) = comparison_reading(paired_differences(_runs(one, one, seeds), "base"), "base", "95%")
    assert line.endswith(
        "(the one outcome with a value differs by 0; 2 outcomes have no paired value)."
    )
    # differences that cancel (mean 0, not every pair 0) are not "the same"
    apart = dict(values, largest_cascade=[3.0, 0.0, 3.0])
    (line,) = comparison_reading(
        paired_differences(_runs(values, apart, seeds), "base"), "base", "95%"
    )
    assert line.startswith("alt: no outcome differs from base clearly enough")


def test_outcomes_without_an_interval_are_not_counted_as_unresolved():
    """An outcome NaN in every run has no interval: "1 of 3 outcomes resolved" read as if two
    had been measured and not resolved."""
    seeds = [1, 2, 3]
    base = {"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0], "c": [np.nan] * 3}
    alt = {"a": [2.0, 3.1, 3.9], "b": [1.5, 1.5, 3.0], "c": [np.nan] * 3}
    (line,) = comparison_reading(paired_differences(_runs(base, alt, seeds), "base"), "base", "95%")
    assert line.startswith(
        "alt vs base (1 of 3 outcomes resolved; 1 without an interval): a higher ("
    )
    alt["a"] = [1.0, 2.5, 3.0]
    (line,) = comparison_reading(paired_differences(_runs(base, alt, seeds), "base"), "base", "95%")
    assert line == (
        "alt: no outcome differs from base clearly enough for a 95% interval to exclude zero with "
        "these seeds (3 outcomes; 1 without an interval)."
    )


def test_capability_higher_says_lower_is_better(tmp_path):
    """Capability is a cross-entropy in nats, lower is better: the reading said
    "final_mean_capability higher" with nothing in the report saying that is worse (the
    comparison report showed no outcome's meaning or unit)."""
    seeds = [1, 2, 3]
    base = {"final_mean_capability": [5.0, 5.1, 5.2], "final_mean_tail_coverage": [0.3, 0.3, 0.3]}
    alt = {"final_mean_capability": [5.3, 5.5, 5.4], "final_mean_tail_coverage": [0.3, 0.3, 0.3]}
    runs = _runs(base, alt, seeds)
    result = _comparison(runs, seeds)
    d = paired_differences(runs, "base", 0.95, result.descriptions)
    r = _recompute(runs, "base", "alt", "final_mean_capability")
    (line,) = comparison_reading(d, "base", "95%")
    assert line == (
        "alt vs base (1 of 2 outcomes resolved): final_mean_capability higher "
        f"({_sig(r['difference'])}, CI [{_sig(r['low'])}, {_sig(r['high'])}]; lower is better)."
    )
    write_comparison(result, d, tmp_path / "cmp")
    outcomes = _table((tmp_path / "cmp" / "report.md").read_text(), "Outcomes")
    meaning = dict(zip(outcomes["outcome"], outcomes["meaning"], strict=True))
    assert meaning["final_mean_capability"] == (
        "mean capability (cross-entropy to p_H, nats; lower is better), last month"
    )
    assert meaning["synthetic_share_new"] == OUTCOMES["synthetic_share_new"].description


def test_difference_from_a_base_mean_of_zero_is_not_drawn_as_relative():
    """A base mean of 0 has no relative difference: the figure plotted the absolute difference
    (0.33 adoptions) as +33% "relative to the base mean"."""
    seeds = [1, 2, 3]
    base = {"cross_model_adoptions": [0.0, 0.0, 0.0], "largest_cascade": [1.0, 2.0, 1.0]}
    alt = {"cross_model_adoptions": [0.0, 1.0, 0.0], "largest_cascade": [2.0, 2.0, 2.0]}
    d = paired_differences(_runs(base, alt, seeds), "base")
    ax = compare_differences(d).axes[0]
    (bars,) = ax.containers
    x = np.asarray(bars.lines[0].get_xdata(), dtype=np.float64)  # type: ignore[attr-defined]
    assert np.isnan(x[0]) and x[1] == pytest.approx((2 / 3) / (4 / 3))
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "cross_model_adoptions (base mean 0: not drawn)",
        "largest_cascade",
    ]


def test_sweep_summary_prints_the_settings_it_ran(tmp_path, capsys):
    """The printed summary rounded the swept settings to four significant digits (12345 as
    1.234e+04, so 12344 and 12345 printed alike) and said "1 runs ran"."""
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        f'name = "one"\nscenario = "{SWEEP_TINY.as_posix()}"\nsteps = 4\nseeds = 1\n'
        'outcomes = ["final_synthetic_share_new"]\n[[parameters]]\n'
        'path = "demand.adoption.ceiling"\nvalues = [12345.0]\n'
    )
    assert main(["sweep", str(spec), "--serial", "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out.splitlines()
    results = pd.read_parquet(tmp_path / "one" / "results.parquet")
    assert printed[0].split() == ["demand.adoption.ceiling", "runs", "final_synthetic_share_new"]
    assert printed[1].split() == ["12345", "1", _sig(results["final_synthetic_share_new"].iloc[0])]
    assert printed[3].startswith("1 run ran, 0 already finished, 0 failed (")


def test_printed_sensitivity_indices_keep_small_effects():
    """Morris μ*, μ and σ are in the outcome's units: three decimals printed a share's μ* of
    0.00042 as 0.000."""
    table = pd.DataFrame(
        {
            "outcome": ["final_synthetic_share_stock"],
            "parameter": ["humans.error_rate"],
            "mu_star": [0.00042],
            "mu_star_conf": [0.00011],
            "mu": [-0.00042],
            "sigma": [0.0003],
        }
    )
    assert format_table(table).splitlines()[1].split() == [
        "final_synthetic_share_stock",
        "humans.error_rate",
        "0.00042",
        "0.00011",
        "-0.00042",
        "0.0003",
    ]
