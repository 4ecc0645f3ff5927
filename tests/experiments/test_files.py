"""Safe output directories, atomic writers, results-directory checks and limits before work."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from tinyscenario import tiny_scenario

from habsburg.experiments import files
from habsburg.experiments.files import (
    add_results,
    add_to_manifest,
    atomic_write_parquet,
    atomic_write_text,
    deferred_signals,
    output_owners,
    owned_files,
    prepare_output_dir,
    save_outputs,
    write_results_dir,
)
from habsburg.experiments.limits import check_limits, project
from habsburg.experiments.results_check import check_results_dir, read_table
from habsburg.experiments.versions import MODEL_CODE, model_code
from habsburg.scenarios.errors import (
    LimitError,
    OutputPathError,
    ResultsDirError,
    ResultsVersionError,
)


def _fill(tmp: Path) -> None:
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp / "t.parquet")
    (tmp / "figures").mkdir()
    (tmp / "figures" / "a.png").write_bytes(b"png")


def test_prepare_accepts_new_empty_and_own_directories(tmp_path):
    assert prepare_output_dir(tmp_path / "a" / "b", command="run").is_dir()
    (tmp_path / "empty").mkdir()
    prepare_output_dir(tmp_path / "empty", command="run")
    write_results_dir(tmp_path / "empty", _fill, {"seed": 1}, command="run")
    prepare_output_dir(tmp_path / "empty", command="run")  # its own output now
    (tmp_path / "resumable").mkdir()
    (tmp_path / "resumable" / ".checkpoint.pkl").write_bytes(b"x")  # an interrupted run
    prepare_output_dir(tmp_path / "resumable", command="run")
    assert not list(tmp_path.rglob(".habsburg-probe-*"))


def test_prepare_refuses_foreign_directories_files_and_clashes(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("n")
    (tmp_path / "mine" / "manifest.json").write_text('{"author": "me"}')  # not habsburg's
    with pytest.raises(OutputPathError, match=r"mine.*--force"):
        prepare_output_dir(tmp_path / "mine", command="compare")
    # a command whose --force does not write beside other files (or that has none) says only
    # what works: its hint sent users to a --force that was refused the same way
    for command in ("sweep", "sensitivity", "examples"):
        with pytest.raises(OutputPathError) as err:
            prepare_output_dir(tmp_path / "mine", command=command, can_force=False)
        assert "choose a new or empty directory (habsburg" in str(err.value)
        assert "--force" not in str(err.value)
    # --force writes beside a user's files, but the manifest would replace theirs: refused
    for command in ("compare", "validate", "sweep"):
        with pytest.raises(OutputPathError, match=r"holds manifest\.json, which habsburg did not"):
            prepare_output_dir(tmp_path / "mine", command=command, force=True)
    (tmp_path / "mine" / "manifest.json").rename(tmp_path / "mine" / "sweep.json")
    with pytest.raises(OutputPathError, match=r"holds sweep\.json, which habsburg did not"):
        prepare_output_dir(tmp_path / "mine", command="run", force=True)
    (tmp_path / "mine" / "sweep.json").rename(tmp_path / "mine" / "my.json")
    prepare_output_dir(tmp_path / "mine", command="compare", force=True)
    with pytest.raises(OutputPathError, match=r"notes\.txt"):
        prepare_output_dir(tmp_path / "mine", command="compare", force=True, expect=["notes.txt"])
    (tmp_path / "f").write_text("f")
    with pytest.raises(OutputPathError, match="existing file"):
        prepare_output_dir(tmp_path / "f", command="run", force=True)
    with pytest.raises(OutputPathError, match="cannot be created"):
        prepare_output_dir(tmp_path / "f" / "sub", command="run")


def test_an_output_directory_checked_without_being_made(tmp_path):
    """``create=False`` checks a new path (its nearest existing parent writable) and makes
    nothing; a path under a file is still refused."""
    out = tmp_path / "a" / "b"
    assert prepare_output_dir(out, command="run", create=False) == out
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputPathError, match=r"cannot be created: '.*/f' is not a directory"):
        prepare_output_dir(tmp_path / "f" / "sub", command="run", create=False)
    assert (tmp_path / "f").read_text() == "x"


def _results_of(directory: Path, command: str) -> Path:
    """A results directory as ``command`` leaves it (its manifest names the command)."""
    write_results_dir(directory, _fill, {"habsburg_command": command}, command=command)
    return directory


def test_output_owners_read_every_kind_of_manifest(tmp_path):
    assert output_owners(tmp_path / "new") == set() and output_owners(tmp_path) == set()
    assert output_owners(_results_of(tmp_path / "run", "run")) == {"run"}
    calibration = tmp_path / "cal"
    write_results_dir(calibration, _fill, {"command": "calibrate"}, command="calibrate")
    assert output_owners(calibration) == {"calibrate"}  # calibrate names itself "command"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"written_by": "habsburg", "runs": {}}))
    assert output_owners(sweep) == {"sweep"}
    analysis = tmp_path / "sensitivity"  # a sensitivity analysis marks its directory, then
    analysis.mkdir()  # runs its sweep there
    add_to_manifest(analysis, [], command="sensitivity")
    (analysis / "sweep.json").write_text(json.dumps({"written_by": "habsburg", "runs": {}}))
    assert output_owners(analysis) == {"sweep", "sensitivity"}
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "sweep.json").write_text('{"author": "me"}')  # not habsburg's
    assert output_owners(tmp_path / "theirs") == set()
    old = tmp_path / "old"
    write_results_dir(old, _fill, {"seed": 1}, command="run")  # before manifests named it
    assert output_owners(old) == set()


@pytest.mark.parametrize(
    ("owner", "command"),
    [("run", "compare"), ("compare", "run"), ("run", "calibrate"), ("validate", "run")],
)
def test_another_commands_results_are_never_replaced(tmp_path, owner, command):
    """``habsburg compare --out results/baseline`` replaced a run's tables with a comparison's:
    habsburg's own files, but another command's results. Refused before any work, even with
    --force, and the results are untouched."""
    out = _results_of(tmp_path / "r", owner)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for force in (False, True):
        with pytest.raises(OutputPathError, match=rf"results of `habsburg {owner}`.*another --out"):
            prepare_output_dir(out, command=command, force=force)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    prepare_output_dir(out, command=owner)  # its own command may write there again


def test_a_sweep_is_never_replaced_by_a_run_and_sensitivity_keeps_its_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"written_by": "habsburg", "runs": {}}))
    for command in ("run", "compare", "sensitivity"):
        with pytest.raises(OutputPathError, match=r"results of `habsburg sweep`"):
            prepare_output_dir(sweep, command=command)
    prepare_output_dir(sweep, command="sweep")  # a resume
    analysis = tmp_path / "sensitivity"
    prepare_output_dir(analysis, command="sensitivity")
    add_to_manifest(analysis, [], command="sensitivity")  # as the analysis marks it first
    prepare_output_dir(analysis, command="sweep")  # then runs its sweep there
    (analysis / "sweep.json").write_text(json.dumps({"written_by": "habsburg", "runs": {}}))
    prepare_output_dir(analysis, command="sensitivity")  # and may run again
    with pytest.raises(OutputPathError, match=r"results of `habsburg s"):
        prepare_output_dir(analysis, command="run")


def test_examples_share_their_directory(tmp_path):
    save_outputs(tmp_path, {"a.csv": lambda p: p.write_text("a")}, command="examples")
    assert output_owners(tmp_path) == {"examples"}
    # another example may write there, beside the first one's file (kept as it was)
    assert prepare_output_dir(tmp_path, command="examples", expect=["b.csv"]) == tmp_path
    save_outputs(tmp_path, {"b.csv": lambda p: p.write_text("b")}, command="examples")
    assert (tmp_path / "a.csv").read_text() == "a" and (tmp_path / "b.csv").read_text() == "b"
    assert {"a.csv", "b.csv", "manifest.json"} <= owned_files(tmp_path)
    # ... and may replace an example's file, but never one of the same name a user wrote there
    prepare_output_dir(tmp_path, command="examples", expect=["a.csv"])
    (tmp_path / "c.csv").write_text("mine")
    with pytest.raises(OutputPathError, match=r"c\.csv"):
        prepare_output_dir(tmp_path, command="examples", expect=["c.csv"])
    assert (tmp_path / "c.csv").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_prepare_refuses_an_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputPathError, match="not writable"):
        prepare_output_dir(locked, command="run")


def test_results_dir_replaces_only_its_own_files_manifest_last(tmp_path):
    out = prepare_output_dir(tmp_path / "out", command="run")
    (out / "user.txt").write_text("mine")
    written = write_results_dir(out, _fill, {"seed": 1}, command="run")
    assert written == ["figures/a.png", "t.parquet"]
    assert owned_files(out) >= {"figures/a.png", "t.parquet", "manifest.json"}
    assert "user.txt" not in owned_files(out)
    # a later write without figures: the old figure (habsburg's) goes, the user's file stays
    write_results_dir(out, lambda t: (t / "u.parquet").write_bytes(b"1"), {}, command="run")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "manifest.json",
        "u.parquet",
        "user.txt",
    ]
    assert (out / "user.txt").read_text() == "mine"
    add_to_manifest(out, ["report.md"])
    assert "report.md" in json.loads((out / "manifest.json").read_text())["files"]


def test_a_failing_fill_leaves_the_directory_as_it_was(tmp_path):
    out = prepare_output_dir(tmp_path / "out", command="run")
    write_results_dir(out, _fill, {"seed": 1}, command="run")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def half(tmp: Path) -> None:
        (tmp / "t.parquet").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_results_dir(out, half, {"seed": 2}, command="run")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_killed_writes_temporary_directory_is_removed_by_the_next_write(tmp_path):
    """A write killed outright (SIGKILL, power loss) leaves its temporary directory in the
    results directory; the next write of that directory removes it, and nothing of the
    user's, not even a file whose name starts like a temporary directory's."""
    out = prepare_output_dir(tmp_path / "out", command="run")
    write_results_dir(out, _fill, {"seed": 1}, command="run")
    stale = out / f"{files.TMP_PREFIX}k1ll3d"
    (stale / "figures").mkdir(parents=True)
    (stale / "t.parquet").write_bytes(b"half a table")
    (stale / "figures" / "a.png").write_bytes(b"half a figure")
    lookalike = out / f"{files.TMP_PREFIX}notes.txt"
    lookalike.write_text("mine")
    (out / "user.txt").write_text("also mine")

    write_results_dir(out, _fill, {"seed": 2}, command="run")
    assert not stale.exists()
    assert lookalike.read_text() == "mine" and (out / "user.txt").read_text() == "also mine"
    assert pd.read_parquet(out / "t.parquet")["x"].tolist() == [1, 2]
    assert not [p for p in out.iterdir() if p.is_dir() and p.name.startswith(files.TMP_PREFIX)]


def test_atomic_writers_leave_no_temporary_file(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    atomic_write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "t.parquet")
    with pytest.raises(ZeroDivisionError):
        files.atomic_write(tmp_path / "a.txt", lambda p: 1 / 0)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "t.parquet"]


def test_signals_are_deferred_while_files_move(tmp_path):
    import signal

    done = []
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("moved")  # still runs: the interrupt waits for the block's end
    assert done == ["moved"]


@pytest.fixture
def results(tmp_path):
    out = prepare_output_dir(tmp_path / "run", command="run")
    write_results_dir(out, _fill, {"versions": {"habsburg": "0.1.0"}}, command="run")
    return out


def test_check_results_dir_names_each_kind_of_damage(results):
    assert check_results_dir(results)["written_by"] == "habsburg"
    assert read_table(results / "t.parquet")["x"].tolist() == [1, 2]
    data = (results / "t.parquet").read_bytes()
    (results / "t.parquet").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ResultsDirError, match=r"t\.parquet: damaged table"):
        check_results_dir(results)
    with pytest.raises(ResultsDirError, match=r"t\.parquet: damaged table"):
        read_table(results / "t.parquet")
    (results / "t.parquet").unlink()
    with pytest.raises(ResultsDirError, match=r"table t\.parquet is missing"):
        check_results_dir(results)
    with pytest.raises(ResultsDirError, match=r"table other\.parquet is missing"):
        check_results_dir(results, tables=["other"])
    manifest = results / "manifest.json"
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**record, "format": 99}))
    with pytest.raises(ResultsVersionError, match="format 99"):
        check_results_dir(results)
    manifest.write_text(json.dumps({**record, "complete": False}))
    with pytest.raises(ResultsDirError, match="interrupted"):
        check_results_dir(results)
    manifest.write_bytes(b"\x00\x01")
    with pytest.raises(ResultsDirError, match="cannot read the manifest"):
        check_results_dir(results)
    manifest.unlink()
    with pytest.raises(ResultsDirError, match=r"no manifest\.json"):
        check_results_dir(results)
    with pytest.raises(ResultsDirError, match="does not exist"):
        check_results_dir(results / "nope")


def test_limits_project_documents_and_refuse_with_the_setting_to_lower():
    sc = tiny_scenario()
    p = project(sc)
    # measured: the tiny scenario publishes 49,822 documents over its 48 months
    assert 45_000 < p.documents < 60_000
    assert p.contributors[0][0] == "humans.authors"
    assert check_limits(sc, available=2**40).documents == p.documents
    with pytest.raises(LimitError, match=r"humans\.authors.*--steps.*--force"):
        check_limits(sc, available=2**20)
    check_limits(sc, available=2**20, force=True)
    sc.world.facts, sc.world.values_per_fact = 10_000_000, 1000  # fact beliefs dominate
    with pytest.raises(LimitError, match=r"world\.facts x world\.values_per_fact"):
        check_limits(sc, available=2**34)


def test_save_outputs_records_its_files_and_keeps_others(tmp_path):
    out = prepare_output_dir(tmp_path / "examples", command="examples", expect=["a.csv"])
    save_outputs(out, {"a.csv": lambda p: p.write_text("1")}, command="examples")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["written_by"] == "habsburg" and manifest["files"] == ["a.csv"]
    # what wrote them: the example scripts' and EMA's outputs recorded none of it
    assert manifest["versions"][MODEL_CODE] == model_code() and manifest["versions"]["numpy"]
    assert manifest["command"] == " ".join(sys.argv)
    # another script adds its files beside; a rerun replaces its own
    prepare_output_dir(out, command="examples", expect=["b.png"])
    save_outputs(out, {"b.png": lambda p: p.write_bytes(b"png")}, command="examples")
    save_outputs(out, {"a.csv": lambda p: p.write_text("2")}, command="examples")
    assert (out / "a.csv").read_text() == "2"
    assert json.loads((out / "manifest.json").read_text())["files"] == ["a.csv", "b.png"]
    (out / "mine.csv").write_text("user")
    with pytest.raises(OutputPathError, match=r"mine\.csv"):
        save_outputs(out, {"mine.csv": lambda p: p.write_text("x")}, command="examples")
    assert (out / "mine.csv").read_text() == "user"


def test_a_shared_directory_keeps_what_wrote_each_file(tmp_path, monkeypatch):
    """Scripts of different command lines (or versions) writing into one directory: the
    manifest's ``writers`` keeps each one's record beside the files it wrote last (the top-level
    ``versions``/``command`` name only the last writer)."""
    out = prepare_output_dir(tmp_path / "shared", command="examples", expect=["a.csv", "b.csv"])
    monkeypatch.setattr(sys, "argv", ["examples/one.py"])
    save_outputs(out, {"a.csv": lambda p: p.write_text("1")}, command="examples")
    save_outputs(out, {"b.csv": lambda p: p.write_text("1")}, command="examples")
    monkeypatch.setattr(sys, "argv", ["examples/two.py", "--seeds", "3"])
    save_outputs(out, {"c.png": lambda p: p.write_bytes(b"png")}, command="examples")

    def writers() -> dict[str, list[str]]:
        data = json.loads((out / "manifest.json").read_text())
        assert all(w["versions"][MODEL_CODE] == model_code() for w in data["writers"])
        return {w["command"]: w["files"] for w in data["writers"]}

    # the same writer twice is one entry; the second its own
    assert writers() == {
        "examples/one.py": ["a.csv", "b.csv"],
        "examples/two.py --seeds 3": ["c.png"],
    }
    # a file written again moves to its new writer; a writer left with none goes
    save_outputs(out, {"a.csv": lambda p: p.write_text("2")}, command="examples")
    assert writers() == {
        "examples/one.py": ["b.csv"],
        "examples/two.py --seeds 3": ["a.csv", "c.png"],
    }
    save_outputs(out, {"b.csv": lambda p: p.write_text("2")}, command="examples")
    assert writers() == {"examples/two.py --seeds 3": ["a.csv", "b.csv", "c.png"]}
    # another version of the model code is another writer, though the command line is the same
    data = json.loads((out / "manifest.json").read_text())
    data["writers"][0]["versions"][MODEL_CODE] = "0000000000000000"
    (out / "manifest.json").write_text(json.dumps(data))
    save_outputs(out, {"c.png": lambda p: p.write_bytes(b"png2")}, command="examples")
    data = json.loads((out / "manifest.json").read_text())
    assert [(w["versions"][MODEL_CODE], w["files"]) for w in data["writers"]] == [
        ("0000000000000000", ["a.csv", "b.csv"]),
        (model_code(), ["c.png"]),
    ]
    # entries that are not writer records (a hand-edited manifest) are dropped, not trusted
    data["writers"] = [{"command": "x"}, "junk", {"files": "a.csv"}]
    (out / "manifest.json").write_text(json.dumps(data))
    save_outputs(out, {"a.csv": lambda p: p.write_text("3")}, command="examples")
    assert writers() == {"examples/two.py --seeds 3": ["a.csv"]}


def test_a_report_added_to_a_run_names_its_writer_beside_the_runs_versions(tmp_path, monkeypatch):
    out = prepare_output_dir(tmp_path / "out", command="run")
    write_results_dir(out, _fill, {"versions": {"habsburg": "0.0.1"}}, command="run")
    monkeypatch.setattr(sys, "argv", ["habsburg", "report", str(out)])
    add_results(out, lambda t: (t / "report.md").write_text("# r"), command="report")
    data = json.loads((out / "manifest.json").read_text())
    assert data["versions"] == {"habsburg": "0.0.1"}  # what made the numbers, kept
    [writer] = data["writers"]
    assert writer["files"] == ["report.md"] and writer["command"] == f"habsburg report {out}"
    assert writer["versions"][MODEL_CODE] == model_code()
    # the run written again (its report not among its files) leaves no writer of the old report
    write_results_dir(out, _fill, {}, command="run")
    assert "writers" not in json.loads((out / "manifest.json").read_text())


def test_a_users_file_in_the_way_of_a_results_folder_is_kept(tmp_path):
    """A user's file named like a folder the results need (``figures``) is a clash: nothing is
    written or replaced, and the message names it."""
    out = prepare_output_dir(tmp_path / "out", command="run")
    (out / "figures").write_text("my notes")
    with pytest.raises(OutputPathError, match=r"already holds figures, which habsburg did not"):
        write_results_dir(out, _fill, {"seed": 1}, command="run")
    assert sorted(p.name for p in out.iterdir()) == ["figures"]
    assert (out / "figures").read_text() == "my notes"


def test_a_foreign_manifest_is_never_replaced_when_files_are_recorded(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"name": "my project"}')
    with pytest.raises(OutputPathError, match=r"manifest\.json' was not written by habsburg"):
        add_to_manifest(out, ["figure.png"], command="example")
    assert (out / "manifest.json").read_text() == '{"name": "my project"}'
    # a damaged habsburg manifest is not ours either: refused the same way
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(OutputPathError, match="was not written by habsburg"):
        add_to_manifest(out, ["figure.png"])
    # without any manifest, one is started, naming the command
    (out / "manifest.json").unlink()
    add_to_manifest(out, ["figure.png"], command="example")
    started = json.loads((out / "manifest.json").read_text())
    assert started["files"] == ["figure.png"] and started["habsburg_command"] == "example"


def test_compare_into_a_run_directory_is_refused_before_any_work(tiny_run_dir, capsys, monkeypatch):
    from habsburg.cli import main

    def forbidden(*a, **k):
        raise AssertionError("a run started")

    # (what a comparison runs its runs with: they may run in worker processes)
    monkeypatch.setattr("habsburg.experiments.compare.run_sweep", forbidden)
    before = {p: p.stat().st_mtime_ns for p in tiny_run_dir.rglob("*")}
    scenario = Path(__file__).parent / "data" / "compare_tiny.toml"
    argv = ["compare", str(scenario), str(scenario), "--seeds", "2", "--out", str(tiny_run_dir)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of `habsburg run`" in err and "Traceback" not in err
    assert {p: p.stat().st_mtime_ns for p in tiny_run_dir.rglob("*")} == before
