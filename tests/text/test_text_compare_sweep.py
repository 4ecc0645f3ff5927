"""``habsburg compare`` and ``habsburg sweep`` of text scenarios, on the small test corpus."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from smallcorpus import LOOP

import habsburg.experiments.text_compare as text_compare_module
from habsburg.analysis.compare import paired_differences
from habsburg.cli import main
from habsburg.experiments.text_compare import text_compare
from habsburg.experiments.text_outcomes import TEXT_OUTCOMES
from habsburg.experiments.text_sweep import load_text_sweep_spec, run_text_sweep
from habsburg.experiments.versions import MODEL_CODE, package_versions
from habsburg.reports.text_compare import prepare_text_comparison_dir, write_text_comparison
from habsburg.scenarios.errors import ScenarioError, UserError
from habsburg.scenarios.text_schema import check_text_comparison, spec_is_text


@pytest.fixture
def scenario_files(tmp_path):
    loop = tmp_path / "loop.toml"
    loop.write_text(LOOP.format(name="loop", policy="replace"))
    keep = tmp_path / "keep.toml"
    keep.write_text(LOOP.format(name="keep", policy="accumulate"))
    return loop, keep


@pytest.fixture
def small_installed(monkeypatch, small_corpus):
    """The CLI's runs use the small corpus instead of the installed extra."""
    monkeypatch.setattr(text_compare_module, "load_installed_corpus", lambda **_: small_corpus)


def test_compare_pairs_text_runs(scenario_files, small_corpus, tmp_path):
    loop, keep = scenario_files
    result = text_compare(loop, [keep], seeds=2, corpus=small_corpus)
    runs = result.runs
    assert list(runs["scenario"]) == ["loop", "loop", "keep", "keep"]
    assert set(TEXT_OUTCOMES) <= set(runs.columns)
    # both scenarios ran on the same two replicate seeds
    assert list(runs["seed"][:2]) == list(runs["seed"][2:]) == result.seeds
    assert np.isfinite(runs["final_heldout_perplexity"]).all()
    assert runs["mean_watermark_z"].isna().all()  # no model watermarks
    # the closed loop forgets more human text than accumulating does, run by run
    loop_ppl = runs.loc[runs.scenario == "loop", "final_heldout_perplexity"].to_numpy()
    keep_ppl = runs.loc[runs.scenario == "keep", "final_heldout_perplexity"].to_numpy()
    assert (loop_ppl > keep_ppl).all()
    d = paired_differences(runs, result.base, 0.95, result.descriptions)
    row = d[d.outcome == "final_heldout_perplexity"].iloc[0]
    assert row.pairs == 2 and row.difference == pytest.approx((keep_ppl - loop_ppl).mean())
    out = prepare_text_comparison_dir(tmp_path / "cmp")
    report = write_text_comparison(result, d, out)
    assert "final_heldout_perplexity" in report.read_text()
    versions = json.loads((out / "manifest.json").read_text())["versions"]
    assert versions == package_versions()  # (a text comparison recorded none)
    assert f"model code {versions[MODEL_CODE]}" in report.read_text().split("## Provenance")[1]
    assert len(pd.read_parquet(out / "runs.parquet")) == 4


def test_compare_refuses_mixed_modes():
    assert check_text_comparison(["text_closed_loop", "text_reservoir"]) is True
    assert check_text_comparison(["baseline"]) is False
    with pytest.raises(UserError, match="cannot mix text scenarios"):
        check_text_comparison(["text_closed_loop", "baseline"])


def test_cli_compare_text(scenario_files, small_installed, tmp_path, capsys):
    loop, keep = scenario_files
    out = tmp_path / "cmp"
    code = main(["compare", str(loop), str(keep), "--seeds", "2", "--out", str(out), "--quiet"])
    assert code == 0
    d = pd.read_parquet(out / "differences.parquet")
    assert set(d["outcome"]) == set(TEXT_OUTCOMES)
    assert (out / "report.html").is_file()
    assert main(["compare", "text_closed_loop", "baseline", "--out", str(tmp_path / "x")]) == 2
    assert "cannot mix" in capsys.readouterr().err


def test_cli_compare_text_with_a_seed(scenario_files, small_installed, tmp_path):
    from habsburg.experiments.seeds import replicate_seeds

    loop, keep = scenario_files
    out = tmp_path / "seeded"
    argv = ["compare", str(loop), str(keep), "--seeds", "2", "--seed", "41", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs["seed"]) == replicate_seeds(41, 2) * 2  # not the scenarios' own seed 3


def write_spec(tmp_path, body: str):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "tsweep"\nscenario = "loop.toml"\nseeds = 2\nseed = 5\n' + body)
    return spec


GRID = """
[set]
generations = 3
[[parameters]]
path = "models.*.temperature"
values = [0.7, 1.3]
[[parameters]]
path = "models.m.policy"
values = ["replace", "accumulate"]
"""


def test_text_sweep_grid(scenario_files, small_corpus, tmp_path):
    spec_path = write_spec(tmp_path, GRID)
    assert spec_is_text(spec_path)
    spec = load_text_sweep_spec(spec_path)
    assert len(spec.points) == 4 and spec.runs == 8
    assert spec.scenarios[1].models[0].policy == "accumulate"
    assert spec.scenarios[2].models[0].temperature == 1.3
    assert spec.scenarios[0].generations == 3
    result = run_text_sweep(spec, tmp_path / "out", corpus=small_corpus)
    table = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(table) == 8
    assert {"point", "seed", "models.*.temperature", "models.m.policy"} <= set(table.columns)
    assert set(table["seed"]) == set(spec.seeds)
    # replicate seeds are shared by every point: same seed, same corpus split, different setting
    assert table.groupby("seed")["point"].nunique().eq(4).all()
    assert np.isfinite(result.results["final_ngram_share"]).all()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[parameters]]\npath = "models.*.temprature"\nvalues = [1.0]\n',
            "did you mean 'temperature'",
        ),
        ('[[parameters]]\npath = "humans.nope"\nvalues = [1]\n', "humans.nope"),
        ('[[parameters]]\npath = "models.x.top_p"\nvalues = [0.5]\n', "'x'"),
        ('[[parameters]]\npath = "models.*.top_p"\nvalues = [2.0]\n', r"models\[0\].top_p"),
        (  # a [set] value refused names the [set] key it came from
            '[set]\n"models.m.top_p" = 2.0\n[[parameters]]\npath = "generations"\nvalues = [2]\n',
            r"spec\.toml: models\[0\].top_p: 2.0 is outside \[0.01, 1.0\] \(from the "
            r"spec's \[set\] 'models.m.top_p'\)$",
        ),
        ('[[parameters]]\npath = "models.*.policy"\nvalues = ["copy"]\n', "not one of"),
        ('method = "sobol"\n[[parameters]]\npath = "generations"\nvalues = [2]\n', "method"),
    ],
)
def test_text_sweep_bad_spec_names_key_and_file(scenario_files, tmp_path, body, message):
    spec_path = write_spec(tmp_path, body)
    with pytest.raises(ScenarioError, match=message) as err:
        load_text_sweep_spec(spec_path)
    assert str(spec_path) in str(err.value)


@pytest.mark.parametrize("name", ["../up", "..", ".hidden"])
def test_a_misnamed_text_sweep_spec_is_named(scenario_files, tmp_path, name):
    """The name picks ``results/sweeps/NAME``: ``..`` passed the old check and wrote the sweep
    into ``results/`` itself; refused now as an abstract sweep's name is."""
    misnamed = write_spec(tmp_path, GRID).read_text().replace('"tsweep"', f'"{name}"')
    (tmp_path / "spec.toml").write_text(misnamed)
    with pytest.raises(ScenarioError) as err:
        load_text_sweep_spec(tmp_path / "spec.toml")
    assert f"spec.toml: name: {name!r} is not a valid sweep name" in str(err.value), err.value


def test_cli_sweep_text(scenario_files, small_installed, tmp_path, capsys):
    spec_path = write_spec(tmp_path, GRID)
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec_path), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out / "results.parquet")) == 8
    printed = capsys.readouterr().out  # each point's outcomes, then the runs and where they are
    assert "models.*.temperature" in printed
    assert "8 text runs (" in printed and f"results: {out}/results.parquet" in printed


AXIS = '[[parameters]]\npath = "generations"\nvalues = [2, 3]\n'


@pytest.mark.parametrize(
    ("top", "body", "message"),
    [
        ("seeds = 0", AXIS, "seeds: expected an integer >= 1, got 0"),
        ("seeds = true", AXIS, "seeds: expected an integer >= 1, got True"),
        ("seed = -1", AXIS, r"seed: expected an integer in \[0, 9223372036854775807\] .*got -1"),
        ("seed = 9223372036854775808", AXIS, "seed: expected an integer in "),
        (
            "seeds = 1",
            '[[parameters]]\npath = "generations"\nrange = [2, 4]\nnum = 1000000000000\n',
            r"parameters\[0\]\.num: 1,000,000,000,000 points, more than a text sweep runs",
        ),
        (  # (counted before the grid is made: 1,000 axes of two values never end)
            "seeds = 1",
            "".join(f'[[parameters]]\npath = "x{i}"\nvalues = [1, 2]\n' for i in range(1000)),
            r"parameters × seeds make about 10\^301 runs, more than 10,000",
        ),
        ('outcomes = ["nope"]', AXIS, "outcomes: 'nope' is not a text outcome; allowed: "),
        ("seeds = 1", "", r"name at least one \[\[parameters\]\]"),
        ("parameters = [1]", "", r"parameters\[0\]: must be a table with path and values"),
        (
            "seeds = 1",
            '[[parameters]]\npath = "generations"\nvals = [2]\n',
            r"parameters\[0\]: unknown key 'vals'; allowed: path, values, range, num",
        ),
        ("seeds = 1", "[[parameters]]\nvalues = [2]\n", "'path' must name a setting"),
        (
            "seeds = 1",
            '[[parameters]]\npath = "generations"\nvalues = []\n',
            r"parameters\[0\]\.values: must be a non-empty array, got \[\]",
        ),
        (
            "seeds = 1",
            '[[parameters]]\npath = "generations"\nrange = [2, 4]\n',
            "give 'values', or a numeric 'range' = \\[low, high\\] and 'num'",
        ),
        ("seeds = 1", AXIS + AXIS, "parameters: 'generations' is listed twice"),
        ("seeds = 5001", AXIS, "make 10,002 runs, more than 10,000"),
        (
            "seeds = 1",
            '[[parameters]]\npath = "models.top_p"\nvalues = [0.5]\n',
            r"'models' is not a table \(name an entry: '\*', an index or a name",
        ),
        (
            "seeds = 1",
            '[[parameters]]\npath = "models.3.top_p"\nvalues = [0.5]\n',
            r"'3' is not '\*', an index below 1 or a name \(m\)",
        ),
        ("seeds = 1", '[set]\n"humanz.documents" = 1\n' + AXIS, "unknown key 'humanz' in path"),
        (  # a grid point that would run twice
            "seeds = 1",
            '[[parameters]]\npath = "generations"\nvalues = [2, 3, 2]\n',
            r"parameters\[0\]\.values: 2 is listed twice; a grid runs each value once",
        ),
        (  # a [set] value every point overrides (it was never used)
            "seeds = 1",
            '[set]\n"generations" = 3\n' + AXIS,
            r"set: 'generations' is also swept \(parameters\[0\]\)",
        ),
    ],
)
def test_text_sweep_spec_errors_name_the_file_and_the_key(
    scenario_files, tmp_path, top, body, message
):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(f'name = "tsweep"\nscenario = "loop.toml"\n{top}\n{body}')
    with pytest.raises(ScenarioError, match=message) as err:
        load_text_sweep_spec(spec_path)
    assert str(spec_path) in str(err.value)


def test_a_text_sweep_axis_may_be_a_range(scenario_files, tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        'name = "tsweep"\nscenario = "loop.toml"\n[[parameters]]\npath = "generations"\n'
        "range = [2, 4]\nnum = 3\n[[parameters]]\n"
        'path = "models.m.temperature"\nrange = [0.5, 1.0]\nnum = 2\n'
    )
    spec = load_text_sweep_spec(spec_path)
    got = [(s.generations, s.models[0].temperature) for s in spec.scenarios]
    assert got == [(2, 0.5), (2, 1.0), (3, 0.5), (3, 1.0), (4, 0.5), (4, 1.0)]
