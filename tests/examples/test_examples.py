"""Each example study runs in ``--quick`` mode as a user would run it (a subprocess) and writes
the table and figure it promises."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scriptload import load_script
from signals import signal_when_ready

from habsburg.scenarios.errors import UserError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.slow


def run_example(script: str, out: Path, *args: str) -> str:
    return finished_example(script, out, *args).stdout


def finished_example(script: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def written(out: Path, stem: str) -> pd.DataFrame:
    png = out / f"{stem}.png"
    assert png.stat().st_size > 1000, f"{png} is empty"
    return pd.read_csv(out / f"{stem}.csv")


def test_watermark_adoption(tmp_path):
    stdout = run_example("watermark_adoption.py", tmp_path)
    runs = written(tmp_path, "watermark_adoption")
    assert sorted(runs["adoption"]) == [0.0, 0.5, 0.95]
    for column in ("synthetic_after_filters", "filter_recall", "tail_coverage"):
        assert runs[column].between(0, 1).all(), column
    # A mandate the crawlers can detect must raise the filters' recall.
    recall = runs.set_index("adoption")["filter_recall"]
    assert recall[0.95] > recall[0.0]
    # the conclusion printed is the one the table supports (the default target: 1/3 synthetic)
    enough = runs.groupby("adoption")["synthetic_after_filters"].mean() <= 1 / 3
    if enough.any():
        smallest = enough.index[enough].min()
        assert f"under 33% synthetic: {smallest:.0%}" in stdout, stdout
    else:
        assert "No adoption level in [0.0, 0.5, 0.95] keeps filtered crawls under 33%" in stdout


def test_reservoir_vs_collapse(tmp_path):
    stdout = run_example("reservoir_vs_collapse.py", tmp_path)
    monthly = written(tmp_path, "reservoir_vs_collapse")
    assert monthly["arm"].nunique() == 4
    final = monthly.groupby("arm").tail(1).set_index("arm")["mean_fact_accuracy"]
    # Human data in the closed loop keeps more facts right than none.
    assert final["closed loop, reservoir 50%"] > final["closed loop, reservoir 0%"]
    assert "Smallest reservoir" in stdout


def test_late_reintroduction(tmp_path):
    stdout = run_example("late_reintroduction.py", tmp_path)
    monthly = written(tmp_path, "late_reintroduction")
    assert set(monthly["arm"]) == {"open web (baseline)", "closed loop", "reintroduced 2026-01"}
    end = monthly.groupby("arm").tail(1).set_index("arm")["mean_tail_coverage"]
    assert end["reintroduced 2026-01"] > end["closed loop"]
    assert "months to recover" in stdout


def test_library_tour(tmp_path):
    run_example("library_tour.py", tmp_path, "replace_only")
    table = written(tmp_path, "library_tour").set_index("scenario")
    assert list(table.index) == ["baseline", "replace_only"]
    assert table["tail coverage"].between(0, 1).all()


def test_scale_study(tmp_path):
    """The quick study (two factors, both decodings, two seeds), and one arm of it again with
    each run's store on disk: the same rows (it was a test of its own, which ran the in-memory
    arm a second time)."""
    out = tmp_path / "memory"
    stdout = run_example("scale_study.py", out)
    runs = pd.read_csv(out / "scale_study.csv")
    assert (out / "scale_study.png").stat().st_size > 1000
    assert len(runs) == 8  # 2 factors x 2 decodings x 2 seeds
    docs = runs.groupby("factor")["documents"].mean()
    assert docs[0.3] > 2.5 * docs[0.1]  # the scaled web is larger
    # Switching top-p off must reach the tails that the calibrated cut leaves out.
    tail = runs.groupby("decoding")["mean_tail_coverage"].mean()
    assert tail["top-p off"] > tail["calibrated"]
    table = (out / "scale_study.md").read_text()
    assert "slope per 10×" in table and table.count("| calibrated |") == 2 + 3 + 3
    assert table.count("| 0.1× → 0.3× |") == 6  # the change to the next factor, per arm and outcome
    assert "scale_study.md" in stdout

    # one arm again (seed 1, calibrated decoding), each run's store on disk: the same rows
    stores = tmp_path / "stores"
    stores.mkdir()
    (stores / "mine.txt").write_text("a user's file")
    arm = ("--seeds", "1", "--decoding", "calibrated", "--store-dir", str(stores))
    run_example("scale_study.py", tmp_path / "disk", *arm)
    on_disk = pd.read_csv(tmp_path / "disk" / "scale_study.csv")
    in_memory = runs[(runs["decoding"] == "calibrated") & (runs["seed"] == on_disk["seed"][0])]
    assert len(on_disk) == 2 and list(on_disk["decoding"]) == ["calibrated", "calibrated"]
    pd.testing.assert_frame_equal(on_disk, in_memory.reset_index(drop=True))
    # each run's column files were in a private directory inside it, removed at the end
    assert [p.name for p in stores.iterdir()] == ["mine.txt"]


def test_an_interrupted_scale_study_resumes_from_the_runs_it_kept(tmp_path):
    """SIGTERM as soon as the first run is kept: the study stops its other run at once (its
    store files removed), keeps the finished one and says so; starting over beside it is refused;
    ``--resume`` runs only the rest (a kept row, marked here, is used as kept) and writes the
    uninterrupted study's table."""
    arm = ("--factors", "0.1", "--seeds", "3", "--decoding", "calibrated", "--workers", "2")
    # (--resume with nothing kept: every run runs, and the study says so)
    first = finished_example("scale_study.py", tmp_path / "whole", *arm, "--resume")
    assert f"note: --resume: {tmp_path / 'whole'} holds no interrupted study" in first.stderr
    whole = pd.read_csv(tmp_path / "whole" / "scale_study.csv")
    stores = tmp_path / "stores"
    stores.mkdir()
    (stores / "mine.txt").write_text("a user's file")
    study = ["scale_study.py", "--quick", *arm, "--store-dir", str(stores)]
    # The other runs take a few seconds, which a loaded machine may let pass before the signal
    # lands: then the study simply finished, and a fresh attempt is made, up to three.
    for attempt in range(3):
        out = tmp_path / f"cut{attempt}"
        kept = out / ".habsburg-scale-study-runs"
        status, err = signal_when_ready(
            [sys.executable, str(EXAMPLES / study[0]), *study[1:], "--out", str(out)],
            lambda: kept.is_dir() and any(kept.glob("*.json")),  # noqa: B023 (called now)
            signal.SIGTERM,
            env={"MPLBACKEND": "Agg"},
            timeout=170,
        )
        if status != 0:
            break
    assert status == 130, err
    (line,) = [t for t in err.strip().splitlines() if t.startswith("habsburg:")]
    files = sorted(kept.glob("*.json"))
    assert f"the runs that finished ({len(files)}) are kept in {kept}/" in line, line
    again = ["python", str(EXAMPLES / study[0]), *study[1:], "--out", str(out), "--resume"]
    assert line.endswith(f"run only the rest with: {shlex.join(again)}"), line
    assert 1 <= len(files) < 3
    assert [p.name for p in stores.iterdir()] == ["mine.txt"]  # the stopped runs' files are gone
    assert not (out / "scale_study.csv").exists()

    refused = subprocess.run(
        [sys.executable, str(EXAMPLES / study[0]), *study[1:], "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    row = json.loads(files[0].read_text())
    json_row = {**row, "documents": -1}  # a mark: the resumed study must use the kept row
    files[0].write_text(json.dumps(json_row))
    run_example("scale_study.py", out, *arm, "--store-dir", str(stores), "--resume")
    resumed = pd.read_csv(out / "scale_study.csv")
    marked = resumed["seed"] == row["seed"]
    assert (resumed.loc[marked, "documents"] == -1).all()
    expected = whole.copy()
    expected.loc[expected["seed"] == row["seed"], "documents"] = -1
    pd.testing.assert_frame_equal(resumed, expected)
    assert not kept.exists() and [p.name for p in stores.iterdir()] == ["mine.txt"]


def _example_module(name: str):
    return load_script(EXAMPLES / f"{name}.py")


def test_ema_prim_keeps_its_experiments_when_prim_finds_no_box(tmp_path, monkeypatch, capsys):
    """The experiments are stubbed (a full EMA run takes minutes); PRIM, asked about them, finds
    no box: the example says so and keeps what it ran, writing no box files."""
    pytest.importorskip("ema_workbench")
    prim = _example_module("ema_prim")
    experiments = pd.DataFrame({"watermark.adoption": [0.1, 0.5, 0.9, 0.3]})
    outcomes = {
        "final_mean_tail_coverage": np.array([0.2, 0.3, 0.4, 0.5]),
        "final_synthetic_share_new": np.array([0.5, 0.5, 0.5, 0.5]),
        "final_mean_fact_accuracy": np.array([0.9, 0.9, 0.9, 0.9]),
    }
    asked = []
    monkeypatch.setattr(prim, "perform_experiments", lambda *a, **k: (experiments, outcomes))
    monkeypatch.setattr(prim, "parameter_frame", lambda frame, model: frame)
    monkeypatch.setattr(prim, "find_box", lambda x, y, **k: asked.append((x, y)))
    out = tmp_path / "prim"
    monkeypatch.setattr(sys, "argv", ["ema_prim.py", "--quick", "--out", str(out)])
    prim.main()
    assert "PRIM found no box" in capsys.readouterr().out
    assert asked[0][1].tolist() == [True, False, False, False]  # the worst quartile
    assert sorted(p.name for p in out.iterdir()) == [
        "experiments.csv",
        "manifest.json",
        "outcomes.csv",
    ]
    pd.testing.assert_frame_equal(pd.read_csv(out / "experiments.csv"), experiments)


def test_scale_study_run_keeps_its_store_in_a_private_directory(tmp_path, monkeypatch):
    study = _example_module("scale_study")
    seen = []
    simulate = study.simulate

    def spy(scenario, **kw):
        model = simulate(scenario, **kw)
        seen.append((kw["store_dir"].parent, sorted(p.name for p in kw["store_dir"].iterdir())))
        return model

    monkeypatch.setattr(study, "simulate", spy)
    row = study.one_run(0.1, "calibrated", 1, "2020-06", str(tmp_path))
    assert seen[0][0] == tmp_path and "site.1.bin" in seen[0][1]
    assert list(tmp_path.iterdir()) == [] and row["documents"] > 0


def test_scale_study_resumes_only_runs_made_with_the_same_versions(tmp_path):
    """A kept row records the package versions; one made with another numpy is refused on
    resume, naming it (a seed gives the same run only with the same numpy), and a kept row is
    refused without --resume."""
    study = _example_module("scale_study")
    job = (0.1, "calibrated", 1, "2025-06")
    kept = tmp_path / study.KEPT
    kept.mkdir()
    row = {"factor": 0.1, "decoding": "calibrated", "seed": 1, "end": "2025-06", "documents": 5}
    row |= dict.fromkeys(study.OUTCOMES, 0.5)
    versions = study.package_versions()
    study.job_file(kept, job).write_text(json.dumps({**row, "versions": versions}))
    (got,) = study.kept_runs(kept, [job], resume=True).values()
    assert got == {k: v for k, v in row.items() if k != "end"}
    with pytest.raises(UserError, match="pass --resume"):
        study.kept_runs(kept, [job], resume=False)
    other = {**versions, "numpy": "1.26.4"}
    study.job_file(kept, job).write_text(json.dumps({**row, "versions": other}))
    with pytest.raises(UserError, match=rf"made with numpy 1.26.4 \(here {versions['numpy']}\)"):
        study.kept_runs(kept, [job], resume=True)
    # a row edited by hand: not an object, an outcome that is not a number, one missing
    outcome = next(iter(study.OUTCOMES))
    for edited, message in (
        ([row], "is not the row of its run"),
        ({**row, outcome: "high"}, f"{outcome} is 'high', not a number"),
        ({k: v for k, v in row.items() if k != outcome}, f"{outcome} is None, not a number"),
        ({**row, "documents": True}, "documents is True, not a number"),
    ):
        study.job_file(kept, job).write_text(json.dumps(edited))
        with pytest.raises(UserError, match=message):
            study.kept_runs(kept, [job], resume=True)


def test_scale_study_refuses_runs_too_large_for_the_machine_before_work(tmp_path, monkeypatch):
    from habsburg.experiments import limits
    from habsburg.scenarios.errors import LimitError

    study = _example_module("scale_study")
    out = tmp_path / "out"
    monkeypatch.setattr(limits, "available_memory", lambda: 4 * 2**30)
    with pytest.raises(LimitError, match=r"--factors 10: .* \(2 runs at once\).*--store-dir DIR"):
        study.main(["--factors", "1", "10", "--workers", "2", "--out", str(out)])
    stores = tmp_path / "stores"
    usage = shutil.disk_usage(tmp_path)._replace(free=3 * 2**30)
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(
        LimitError,
        match=r"--factors 10: .*columns in --store-dir '[^']+' \(2 runs at once\), more",
    ):
        study.main(
            ["--factors", "10", "--workers", "2", "--store-dir", str(stores), "--out", str(out)]
        )
    assert not out.exists()
    # --force runs past the check (here only to the check of the output directory)
    (out / "x").mkdir(parents=True)
    with pytest.raises(UserError, match=re.escape(str(out))):
        study.main(["--factors", "10", "--force", "--out", str(out)])


def test_scale_study_changes_between_factors_are_welch_intervals():
    study = _example_module("scale_study")
    tail = {1.0: [0.30, 0.31, 0.29], 3.0: [0.34, 0.36], 30.0: [0.35]}
    runs = pd.DataFrame(
        [
            {"decoding": "calibrated", "factor": f, "mean_tail_coverage": v}
            | {"mean_fact_accuracy": 0.9, "mean_capability": 5.0}
            for f, values in tail.items()
            for v in values
        ]
    )
    # each factor's mean and t-interval; none for one seed or for seeds that all agree
    table = study.summary(runs).set_index("factor")
    y = np.array(tail[1.0])
    assert (table.loc[1.0, "mean_tail_coverage_lo"], table.loc[1.0, "mean_tail_coverage_hi"]) == (
        pytest.approx(stats.t.interval(0.95, y.size - 1, loc=y.mean(), scale=stats.sem(y)))
    )
    assert np.isnan(table.loc[30.0, "mean_tail_coverage_lo"])  # one seed
    assert np.isnan(table.loc[1.0, "mean_fact_accuracy_hi"])  # 0.9 at every seed
    steps = study.changes(runs).set_index(["outcome", "from"])
    row = steps.loc[("mean_tail_coverage", 1.0)]
    x, y = np.array(tail[3.0]), np.array(tail[1.0])
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, dof) * np.sqrt(vx + vy)
    assert row["change"] == pytest.approx(0.05)
    assert (row["lo"], row["hi"]) == pytest.approx((0.05 - half, 0.05 + half))
    assert row["per_decade"] == pytest.approx(0.05 / np.log10(3))  # 0.48 decades
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(0.05 / np.sqrt(vx + vy), dof))
    # one seed at 30x, and outcomes that do not vary: a change without an interval
    last = steps.loc[("mean_tail_coverage", 3.0)]
    assert last["change"] == pytest.approx(0.0) and np.isnan(last["lo"])
    assert np.isnan(steps.loc[("mean_fact_accuracy", 1.0), "p_value"])
    # fact accuracy is 0.9 in every run: a zero slope with no interval, printed as such
    effect = study.slopes(runs).set_index("outcome")
    assert effect.loc["mean_fact_accuracy", "slope_per_decade"] == 0.0
    assert np.isnan(effect.loc["mean_fact_accuracy", "lo"])
    fit = stats.linregress(np.log10(runs["factor"]), runs["mean_tail_coverage"])
    assert effect.loc["mean_tail_coverage", "p_value"] == pytest.approx(fit.pvalue)
    text = study.markdown(
        study.summary(runs), study.slopes(runs), [1, 2, 3], "2030-12", study.changes(runs)
    )
    assert "nan" not in text
    assert "| calibrated | fact accuracy | 6 | +0.0000 | — | — |" in text
    assert "—: no interval or p-value" in text
    # one side all equal (tail coverage 1.0 at every seed): Welch's test with that side's
    # variance 0, and no warning from scipy
    runs.loc[runs["factor"] == 3.0, "mean_tail_coverage"] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = study.changes(runs).set_index(["outcome", "from"]).loc[("mean_tail_coverage", 1.0)]
    y = np.array(tail[1.0])
    half = stats.t.ppf(0.975, y.size - 1) * y.std(ddof=1) / np.sqrt(y.size)
    assert (row["lo"], row["hi"]) == pytest.approx((1.0 - y.mean() - half, 1.0 - y.mean() + half))
    # runs that differ only in the last bits are not silenced: there scipy's warning says the
    # interval is numerically unsound, and the study passes it on
    runs.loc[runs["factor"] == 3.0, "mean_tail_coverage"] = [0.9287, 0.9287 + 1e-15]
    with pytest.warns(RuntimeWarning, match="Precision loss"):
        study.changes(runs)


@pytest.mark.parametrize(
    ("flag", "value"),
    # (NaN and inf were internal errors, exit 3; 10^12 seeds ran out of memory naming --steps)
    [
        ("--factors", "0"),
        ("--factors", "nan"),
        ("--factors", "inf"),
        ("--seeds", "10**12"),
        ("--seeds", "0"),
        ("--workers", "0"),
    ],
)
def test_scale_study_refuses_bad_flags_before_work(tmp_path, flag, value):
    value = str(10**12) if value == "10**12" else value
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "scale_study.py"), flag, value, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"argument {flag}: must be" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_scale_study_refuses_a_factor_given_twice_before_work(tmp_path):
    """``--factors 1 3 1`` ran the 1x runs twice, and each seed's run counted twice in the 1x
    mean's interval (identical pairs: too narrow)."""
    argv = [sys.executable, str(EXAMPLES / "scale_study.py"), "--factors", "1", "3", "1"]
    proc = subprocess.run(
        [*argv, "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "--factors: 1 given more than once" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "script",
    [
        "watermark_adoption.py",
        "reservoir_vs_collapse.py",
        "late_reintroduction.py",
        "library_tour.py",
        "ema_prim.py",
        "scale_study.py",
    ],
)
def test_examples_refuse_a_directory_of_user_files_before_work(tmp_path, script):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(mine)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(mine) in proc.stderr and "--force" not in proc.stdout
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_examples_refuse_bad_arguments_before_any_run(tmp_path, monkeypatch):
    """``library_tour.py NAME`` simulated the baseline before naming an unknown NAME, and
    ``watermark_adoption.py --threshold -5`` started its runs before the setting refused it."""
    from habsburg.scenarios.errors import ScenarioError

    tour = _example_module("library_tour")

    def forbidden(*args, **kwargs):
        raise AssertionError("a run started before the arguments were checked")

    monkeypatch.setattr(tour, "simulate", forbidden)
    with pytest.raises(ScenarioError, match="unknown scenario 'no_such_scenario'"):
        tour.main(["--quick", "no_such_scenario", "--out", str(tmp_path / "tour")])
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "watermark_adoption.py"),
            "--quick",
            "--threshold",
            "-5",
            "--out",
            str(tmp_path / "wm"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "argument --threshold: must be a number in [0, 100], got '-5'" in proc.stderr
    assert not (tmp_path / "wm").exists()
    pytest.importorskip("ema_workbench")
    proc = subprocess.run(  # (an internal error, or out of memory naming flags it lacks)
        [sys.executable, str(EXAMPLES / "ema_prim.py"), "--quick", "--scenarios", str(10**23)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "argument --scenarios: must be an integer in [1, 100000]" in (
        proc.stderr
    )
