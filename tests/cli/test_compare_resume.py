"""``habsburg compare --resume``: a comparison keeps each finished run in its results directory
until it is written, so an interrupted comparison is finished without running those runs again,
with the same tables as an uninterrupted one; bad resumes are refused before any run."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest
from signals import interrupt_after_writes, signal_when_ready
from tinyscenario import MINI

from habsburg.cli import main
from habsburg.experiments import compare as K
from habsburg.experiments.sweep import executors
from habsburg.experiments.versions import MODEL_CODE, package_versions
from habsburg.scenarios import load_scenario

MORE = MINI.replace('name = "mini"', 'name = "more"').replace("authors = 30", "authors = 60")
TABLES = ("runs.parquet", "series.parquet", "differences.parquet")


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    (cli_dir / "more.toml").write_text(MORE)
    return cli_dir


def compare(*args: str) -> int:
    return main(["compare", "mini.toml", "more.toml", "--seeds", "3", "--steps", "5", *args])


@pytest.fixture
def executed(monkeypatch):
    """The (scenario, seed) of every run the serial executor starts."""
    started: list[tuple[str, int]] = []
    real = executors.execute_run

    def counting(task, *args, **kwargs):
        started.append((task.scenario, task.seed))
        return real(task, *args, **kwargs)

    monkeypatch.setattr(executors, "execute_run", counting)
    return started


def test_an_interrupted_comparison_resumes_to_the_uninterrupted_tables(
    workdir, monkeypatch, capsys, executed
):
    assert compare("--out", "whole", "--quiet") == 0
    assert not (workdir / "whole" / K.KEPT_RUNS).exists()  # removed once the tables are written
    assert len(executed) == 6

    with monkeypatch.context() as m:
        interrupt_after_writes(m, 4)
        assert compare("--out", "cut") == 130
    err = capsys.readouterr().err
    kept = workdir / "cut" / K.KEPT_RUNS
    assert f"the runs that finished (4) are kept in cut/{K.KEPT_RUNS}/" in err
    # the command line that finishes it, as typed (the output given, --resume added)
    again = "habsburg compare mini.toml more.toml --seeds 3 --steps 5 --out cut --resume"
    assert f"finish the comparison with: {again}\n" in err, err
    assert "Traceback" not in err
    assert len(list((kept / "runs").glob("*.parquet"))) == 4
    assert not (workdir / "cut" / "runs.parquet").exists()  # no report of half a comparison

    # another command's results are not written beside them (a run's rerun would remove them)
    assert main(["run", "mini.toml", "--out", "cut", "--no-report", "--quiet"]) == 2
    assert "holds the results of `habsburg compare`" in capsys.readouterr().err
    # starting over beside the kept runs is refused, naming them; nothing is run or removed
    executed.clear()
    assert compare("--out", "cut", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"'cut/{K.KEPT_RUNS}' holds 4 finished runs" in err and "--resume" in err
    assert executed == [] and len(list((kept / "runs").glob("*.parquet"))) == 4

    assert compare("--out", "cut", "--resume", "--quiet") == 0
    # only the runs not finished before the interruption: the last two of "more"
    seeds = pd.read_parquet(workdir / "whole" / "runs.parquet")["seed"].tolist()[:3]
    assert executed == [("more", seeds[1]), ("more", seeds[2])]  # (replicate order)
    for name in TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(workdir / "cut" / name),
            pd.read_parquet(workdir / "whole" / name),
            check_exact=True,
        )
    assert not kept.exists()


def test_the_python_api_resumes_from_the_kept_directory(tmp_path, workdir, executed):
    mini, more = load_scenario("mini.toml"), load_scenario("more.toml")
    whole = K.compare(mini, [more], seeds=2, steps=4, progress=False)
    kept = tmp_path / "kept"
    first = K.compare(mini, [more], seeds=2, steps=4, progress=False, keep=kept)
    assert (kept / "sweep.json").is_file()  # kept until the caller discards it
    executed.clear()
    again = K.compare(mini, [more], seeds=2, steps=4, progress=False, keep=kept, resume=True)
    assert executed == []  # every run was kept
    for result in (first, again):
        pd.testing.assert_frame_equal(result.runs, whole.runs, check_exact=True)
        pd.testing.assert_frame_equal(result.series, whole.series, check_exact=True)
    K.discard_kept_runs(kept)
    assert not kept.exists()


@pytest.mark.parametrize(
    "changed",
    [("--seeds", "2"), ("--steps", "4"), ("--seed", "5"), ("--scale", "2")],
    ids=lambda a: a[0],
)
def test_resuming_another_comparisons_runs_is_refused_before_any_run(
    workdir, monkeypatch, capsys, executed, changed
):
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 1)
        assert compare("--out", "cut", "--quiet") == 130
    capsys.readouterr()
    kept = workdir / "cut" / K.KEPT_RUNS
    executed.clear()
    argv = ["compare", "mini.toml", "more.toml", "--seeds", "3", "--steps", "5", "--out", "cut"]
    flag, value = changed
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    assert main([*argv, "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"the runs kept in 'cut/{K.KEPT_RUNS}' are of another comparison" in err
    assert "Traceback" not in err
    assert executed == [] and len(list((kept / "runs").glob("*.parquet"))) == 1
    if flag == "--scale":  # other scenarios (scaled ones are named NAME-xF)
        assert (
            "(other scenarios: mini, more were run, this comparison runs mini-x2, more-x2)" in err
        )
    else:  # the same scenarios: the kinds of difference a fingerprint covers
        assert "(its scenarios, seeds, months, scale or posterior draws differ)" in err


def test_resuming_after_a_scenario_file_changed_names_the_settings(
    workdir, monkeypatch, capsys, executed
):
    """A scenario file edited (or the base of a file that starts from another recalibrated)
    since the comparison began: the refusal names what differs, not only that something does."""
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 1)
        assert compare("--out", "cut", "--quiet") == 130
    capsys.readouterr()
    (workdir / "more.toml").write_text(MORE.replace("authors = 60", "authors = 70"))
    assert compare("--out", "cut", "--quiet", "--resume") == 2
    err = capsys.readouterr().err
    assert (
        "are of another comparison (settings that differ: more.humans.authors: 60 → 70): run "
        "that comparison with --resume" in err
    ), err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (b'{"fingerprint": ', "is not a readable record of the kept runs"),
        (b"\xff\xfe", "is not a readable record of the kept runs"),
        (b"[1, 2]", "holds a JSON list, not the record of the kept runs"),
    ],
    ids=["cut-short", "not-utf8", "a-list"],
)
def test_a_damaged_record_of_kept_runs_is_refused_naming_it(
    workdir, monkeypatch, capsys, executed, damage, message
):
    """A damaged ``sweep.json`` of the kept runs was read as "another comparison"'s."""
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 1)
        assert compare("--out", "cut", "--quiet") == 130
    record = workdir / "cut" / K.KEPT_RUNS / "sweep.json"
    record.write_bytes(damage)
    capsys.readouterr()
    executed.clear()
    assert compare("--out", "cut", "--resume", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"--resume: 'cut/{K.KEPT_RUNS}/sweep.json' {message}" in err, err
    assert "another comparison" not in err and "Traceback" not in err
    assert executed == [] and record.read_bytes() == damage


def test_resuming_runs_made_with_another_mesa_is_refused(workdir, monkeypatch, capsys, executed):
    """The kept runs' manifest records the versions; a seed gives the same run only with the
    same versions of the packages the numbers depend on, so runs kept under another Mesa are not
    paired with runs made here."""
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 2)
        assert compare("--out", "cut", "--quiet") == 130
    manifest_path = workdir / "cut" / K.KEPT_RUNS / "sweep.json"
    manifest = json.loads(manifest_path.read_text())
    here = manifest["versions"]["mesa"]
    manifest["versions"]["mesa"] = "3.0.0"
    manifest_path.write_text(json.dumps(manifest))
    capsys.readouterr()
    executed.clear()
    assert compare("--out", "cut", "--resume", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"was run with mesa 3.0.0 (here {here})" in err and "Traceback" not in err
    assert executed == []


def test_resume_with_nothing_kept_runs_every_run(workdir, capsys, executed):
    assert compare("--out", "fresh", "--resume") == 0
    err = capsys.readouterr().err
    assert "holds no interrupted comparison; every run runs" in err
    assert len(executed) == 6 and (workdir / "fresh" / "report.md").is_file()
    # the comparison's manifest and report say what made its numbers (they said nothing)
    versions = json.loads((workdir / "fresh" / "manifest.json").read_text())["versions"]
    assert versions == package_versions()
    made = (workdir / "fresh" / "report.md").read_text().split("## Provenance", 1)[1]
    assert f"habsburg {versions['habsburg']} (model code {versions[MODEL_CODE]}" in made


def test_an_interruption_before_any_run_keeps_nothing(workdir, monkeypatch, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(K, "run_sweep", stop)
    assert compare("--out", "early") == 130
    err = capsys.readouterr().err
    assert "run the same command again" in err and "--resume" not in err
    assert not (workdir / "early" / K.KEPT_RUNS).exists()


def test_a_failed_run_keeps_the_finished_ones_and_resume_runs_only_it(
    workdir, monkeypatch, capsys, executed
):
    real = executors.execute_run

    def failing(task, *args, **kwargs):
        if task.scenario == "more" and task.replicate == 1:  # (as execute_run reports a raise)
            return executors.RunOutput.failed(task, MemoryError("a worker ran out of memory"), 0.1)
        return real(task, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(executors, "execute_run", failing)
        assert compare("--out", "cut", "--quiet") == 3  # an internal error, as before
    err = capsys.readouterr().err
    kept = workdir / "cut" / K.KEPT_RUNS
    assert "a worker ran out of memory" in err
    assert f"the finished runs are kept in cut/{K.KEPT_RUNS}: --resume runs the failed" in err
    assert len(list((kept / "runs").glob("*.parquet"))) == 5
    executed.clear()
    assert compare("--out", "cut", "--resume", "--quiet") == 0
    assert len(executed) == 1 and executed[0][0] == "more"
    assert not kept.exists() and (workdir / "cut" / "report.md").is_file()


def test_a_foreign_directory_of_the_kept_name_is_left_alone(workdir, capsys):
    kept = workdir / "cut" / K.KEPT_RUNS
    kept.mkdir(parents=True)
    (kept / "notes.txt").write_text("mine")
    assert compare("--out", "cut", "--resume", "--quiet") == 2
    err = capsys.readouterr().err
    assert "is not a comparison's kept runs" in err
    assert (kept / "notes.txt").read_text() == "mine"


def test_resume_is_refused_for_text_scenarios(workdir, capsys):
    argv = ["compare", "text_closed_loop", "text_closed_loop", "--resume", "--out", "t"]
    assert main(argv) == 2
    assert "--resume does not apply to text scenarios" in capsys.readouterr().err


TINY = Path(__file__).parents[1] / "experiments" / "data" / "sweep_tiny.toml"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_comparison_then_resume_gives_the_same_report_tables(signum, workdir, capsys):
    """A real signal to ``python -m habsburg.cli compare`` as soon as its first run is kept."""
    (workdir / "b.toml").write_text(
        TINY.read_text()
        .replace('name = "sweep-tiny"', 'name = "tiny-b"', 1)
        .replace("authors = 200", "authors = 250")
    )
    argv = ["compare", str(TINY), "b.toml", "--seeds", "3", "--steps", "30", "--quiet"]
    assert main([*argv, "--out", "whole"]) == 0
    # The rest of the comparison takes about two seconds, which a loaded machine may let pass
    # before the signal lands: then it simply finished, and a fresh attempt is made, up to three.
    for attempt in range(3):
        out = workdir / f"cut{attempt}"
        kept = out / K.KEPT_RUNS / "runs"
        status, err = signal_when_ready(
            [sys.executable, "-m", "habsburg.cli", *argv, "--out", str(out)],
            lambda: kept.is_dir() and any(kept.glob("*.parquet")),  # noqa: B023 (called now)
            signum,
        )
        if status != 0:
            break
    assert status == 130, err
    (line,) = err.strip().splitlines()
    assert line.startswith("habsburg: interrupted; the ") and "--resume" in line, line
    done = len(list(kept.glob("*.parquet")))
    assert f"the runs that finished ({done}) are kept in {out / K.KEPT_RUNS}/" in line
    assert sorted(p.name for p in out.iterdir()) == [K.KEPT_RUNS]  # no table, no temporary
    assert main([*argv, "--out", str(out), "--resume"]) == 0
    for name in TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / name), pd.read_parquet(workdir / "whole" / name), check_exact=True
        )
    assert not (out / K.KEPT_RUNS).exists()


def test_scenarios_that_end_before_any_model_is_deployed_are_named_before_any_run(workdir, capsys):
    """``--steps`` short of the first launch: the comparison runs (its synthetic shares mean
    something) and says first that the model outcomes will be NaN, naming the scenario."""
    argv = ["compare", "mini.toml", "more.toml", "--seeds", "2", "--steps", "2", "--out", "early"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert (
        "note: the runs of 2 months (2020-01 to 2020-02) of 'mini' end before any model is "
        "deployed; the first, 'm', launches in 2020-03 (and 1 more of the 2 scenarios): "
        "final_mean_tail_coverage, " in err
    ), err
    runs = pd.read_parquet(workdir / "early" / "runs.parquet")
    assert runs["final_mean_tail_coverage"].isna().all()
    assert runs["final_synthetic_share_new"].notna().all()
    assert main([*argv[:-1], "late", "--steps", "3"]) == 0  # launched in month 3: no note
    assert "end before any model is deployed" not in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["runs", "series"])
def test_resuming_over_a_damaged_kept_run_is_refused_naming_it(
    workdir, monkeypatch, capsys, executed, kind
):
    """A kept run's file cut short after it was written counted as finished: the other runs
    ran and the comparison's tables failed at the end (exit 3; its series file too). It is
    refused first."""
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 1)
        assert compare("--out", "cut", "--quiet") == 130
    capsys.readouterr()
    kept = workdir / "cut" / K.KEPT_RUNS
    (run_file,) = (kept / kind).glob("*.parquet")
    run_file.write_bytes(run_file.read_bytes()[:100])
    executed.clear()
    assert compare("--out", "cut", "--resume", "--quiet") == 2
    err = capsys.readouterr().err
    assert f"1 file(s) of finished runs in 'cut/{K.KEPT_RUNS}' are missing or cannot" in err
    assert f"{kind}/{run_file.name}" in err and "Traceback" not in err
    assert executed == []


def test_a_comparison_that_fails_before_any_run_leaves_no_empty_directory(
    workdir, monkeypatch, capsys
):
    """A comparison that fails before its first run (a Dask scheduler out of reach: "cannot
    reach the Dask scheduler", after its 10 s timeout) left its new, empty --out behind; a
    directory that was there before stays, and so do kept runs to resume from."""
    from habsburg.scenarios.errors import UserError

    def unreachable(base, alternatives, *, keep, **kwargs):
        keep.mkdir(parents=True, exist_ok=True)  # (as run_sweep does before the executor)
        raise UserError("cannot reach the Dask scheduler at --scheduler tcp://127.0.0.1:1")

    monkeypatch.setattr(K, "compare", unreachable)
    assert compare("--out", "new", "--quiet") == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (workdir / "new").exists()
    (workdir / "there").mkdir()  # (the user's, empty)
    assert compare("--out", "there", "--quiet") == 2
    assert (workdir / "there").is_dir() and not any((workdir / "there").iterdir())
