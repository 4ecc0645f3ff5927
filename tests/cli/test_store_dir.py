"""``habsburg run --store-dir``: the store's columns in files (only the months crawls reach in
memory) give the same results, leave nothing behind, resume from a checkpoint, and bad uses are
refused before any work."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from resultdirs import assert_same_tables
from tinyscenario import MINI

from habsburg.cli import main
from habsburg.experiments import limits
from habsburg.experiments import run as run_module
from habsburg.scenarios import load_scenario
from habsburg.scenarios.errors import LimitError

#: MINI over two years with a 3-month crawl window, so the on-disk store drops old months
LONG = MINI.replace('end = "2020-06"', 'end = "2021-12"') + "window_months = 3\n"


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    (cli_dir / "long.toml").write_text(LONG)
    return cli_dir


def run(*args: str) -> int:
    return main(["run", "long.toml", "--no-report", "--quiet", *args])


def test_store_on_disk_gives_the_same_tables_and_leaves_only_the_users_files(workdir):
    scratch = workdir / "scratch"
    scratch.mkdir()
    (scratch / "mine.txt").write_text("user")
    assert run("--out", "memory") == 0
    assert run("--out", "disk", "--store-dir", "scratch") == 0
    # the store's private directory is gone; the user's file is untouched
    assert [p.name for p in scratch.iterdir()] == ["mine.txt"]
    assert (scratch / "mine.txt").read_text() == "user"
    manifest = json.loads((workdir / "disk" / "manifest.json").read_text())
    assert manifest["store_on_disk"] is True and manifest["documents"] > 1000
    for table in ("documents", "error_claims", "model_metrics", "crawls", "training_sources"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(workdir / "memory" / f"{table}.parquet"),
            pd.read_parquet(workdir / "disk" / f"{table}.parquet"),
        )


def test_a_missing_store_dir_is_created_and_left_empty(workdir):
    assert run("--out", "out", "--steps", "4", "--store-dir", "new/dir") == 0
    assert (workdir / "new" / "dir").is_dir() and not any((workdir / "new" / "dir").iterdir())


def interrupt_after_month(monkeypatch, month: int) -> None:
    """Ctrl-C as the run finishes month ``month`` (its progress, shown or not, is updated),
    before that month's checkpoint."""
    done = []

    def update(self, n: int = 1) -> None:
        done.append(n)
        if len(done) == month:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_module._NoProgress, "update", update)


def interrupted_on_disk(workdir, monkeypatch) -> tuple[str, ...]:
    """Run LONG in memory (to ``memory``), then on disk with checkpoints every 3 months (to
    ``disk``, its store in ``scratch``) interrupted after month 7; the on-disk run's arguments."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(workdir / "config"))
    assert run("--out", "memory") == 0
    args = ("--out", "disk", "--store-dir", "scratch", "--checkpoint-every", "3")
    with monkeypatch.context() as m:
        interrupt_after_month(m, 7)
        assert run(*args) == 130
    return args


def test_a_checkpointed_run_with_its_store_on_disk_resumes_to_the_same_tables(
    workdir, capsys, monkeypatch
):
    """Interrupted after month 7 with checkpoints every 3 months, the run keeps its column files
    (the checkpoint refers to them) and says how to resume; starting over without --resume, or
    resuming without the files' --store-dir, is refused before any work; the resumed run gives
    the uninterrupted run's tables and then removes the files."""
    args = interrupted_on_disk(workdir, monkeypatch)
    err = capsys.readouterr().err
    (kept,) = (workdir / "scratch").iterdir()
    assert kept.name.startswith("habsburg-store-run-") and any(kept.iterdir())
    assert (
        f"checkpoint after month 6 kept in disk/.checkpoint.pkl (its document store in {kept})"
        in err
    )
    assert "--store-dir scratch --checkpoint-every 3" in err and err.rstrip().endswith("--resume")

    def refused(*more: str) -> str:
        assert run("--out", "disk", *more) == 2
        return capsys.readouterr().err

    assert "holds the document store of an interrupted run" in refused(*args[2:])
    assert f"resume it with --store-dir {str(workdir / 'scratch')!r}" in refused("--resume")
    elsewhere = refused("--store-dir", "other", "--resume")
    assert f"refers to the document store files in {kept}" in elsewhere
    assert not any((workdir / "other").iterdir())  # (nothing left where it was refused)
    with monkeypatch.context() as m:  # a failure after the checkpoint keeps the files, and says so

        def disk_full(*a, **k):
            raise OSError(28, "No space left on device")

        m.setattr(run_module, "write_tables", disk_full)
        assert run(*args, "--resume") != 0
        assert (
            f"the document store of this run stays in {kept} for --resume"
            in capsys.readouterr().err
        )
        assert any(kept.iterdir())
    checked = []

    def check_limits(*a, free_disk=None, **k):  # the files rewritten in place count as free
        checked.append((free_disk, shutil.disk_usage(kept).free + run_module.disk_bytes(kept)))
        return real_check_limits(*a, free_disk=free_disk, **k)

    real_check_limits = run_module.check_limits
    monkeypatch.setattr(run_module, "check_limits", check_limits)
    assert run(*args, "--resume") == 0
    ((given, expected),) = checked
    assert given is not None and abs(given - expected) < 2**24
    assert not kept.exists() and not (workdir / "disk/.checkpoint.pkl").exists()
    assert_same_tables(workdir / "memory", workdir / "disk")


def test_an_in_memory_checkpoint_does_not_resume_with_a_store_dir(workdir, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(workdir / "config"))
    with monkeypatch.context() as m:
        interrupt_after_month(m, 4)
        assert run("--out", "out", "--checkpoint-every", "2") == 130
    capsys.readouterr()
    assert run("--out", "out", "--store-dir", "scratch", "--resume") == 2
    assert (
        "kept its document store in memory; resume it without --store-dir"
        in capsys.readouterr().err
    )
    assert not any((workdir / "scratch").iterdir())
    assert run("--out", "out", "--resume") == 0


@pytest.mark.parametrize("damage", ["moved", "truncated"])
def test_a_checkpoints_column_file_gone_or_cut_is_named_and_nothing_is_removed(
    workdir, capsys, monkeypatch, damage
):
    """A column file the checkpoint refers to, moved away or cut short: ``--resume`` refuses
    (exit 2, an error naming the file and what to do, no traceback), removes nothing (the
    checkpoint and every column file stay as they were), and resumes to the uninterrupted run's
    tables once the file is back."""
    args = interrupted_on_disk(workdir, monkeypatch)
    capsys.readouterr()
    (kept,) = (workdir / "scratch").iterdir()
    files = sorted(p for p in kept.iterdir() if p.stat().st_size > 0)
    victim = files[len(files) // 2]
    original = victim.read_bytes()
    if damage == "moved":
        victim.rename(workdir / "elsewhere.bin")
    else:
        victim.write_bytes(original[: len(original) // 2])
    checkpoint = workdir / "disk" / ".checkpoint.pkl"
    before = {p: p.read_bytes() for p in [checkpoint, *kept.iterdir()]}

    assert run(*args, "--resume") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(line.startswith("habsburg: ") for line in err.strip().splitlines())
    assert "error: cannot resume from checkpoint 'disk/.checkpoint.pkl'" in err
    assert repr(str(victim)) in err and "restore them, or delete the checkpoint" in err
    assert f"the document store of this run stays in {kept} for --resume" in err
    if damage == "truncated":
        assert f"{len(original) // 2:,} bytes, the checkpoint needs" in err
    assert {p: p.read_bytes() for p in [checkpoint, *kept.iterdir()]} == before

    if damage == "moved":
        (workdir / "elsewhere.bin").rename(victim)
    else:
        victim.write_bytes(original)
    assert run(*args, "--resume") == 0
    assert not kept.exists() and not checkpoint.exists()
    assert_same_tables(workdir / "memory", workdir / "disk")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store-dir", "afile"], "is not a directory"),
        (["--store-dir", "afile", "--checkpoint-every", "2"], "is not a directory"),
    ],
)
def test_bad_store_dir_is_refused_before_any_work(workdir, capsys, monkeypatch, args, message):
    def forbidden(*a, **k):
        raise AssertionError("the simulation started before --store-dir was checked")

    monkeypatch.setattr("habsburg.experiments.run.simulate", forbidden)
    (workdir / "afile").write_text("x")
    assert run("--out", "out", *args) == 2
    err = capsys.readouterr().err
    assert message in err and "--store-dir" in err and "Traceback" not in err
    assert not (workdir / "out").exists()


def test_limits_on_disk_count_the_crawl_window_in_memory_and_the_store_on_disk(tmp_path):
    sc = load_scenario("baseline")
    memory, disk = limits.project(sc), limits.project(sc, on_disk=True)
    assert disk.documents == memory.documents and disk.store_bytes == memory.store_bytes
    # 26 of 132 months resident: well under half the in-memory projection's store part
    assert disk.memory_bytes - limits.BASE_BYTES < 0.3 * (memory.memory_bytes - limits.BASE_BYTES)
    # the store's bytes per document come from the narrow column types (a baseline run's store
    # measured 80.9 B per document, with one two-byte code per fact claim)
    assert 75 < limits.store_bytes_per_document(sc) < 95
    with pytest.raises(LimitError, match=r"--store-dir .*free there.*--force"):
        limits.check_limits(sc, store_dir=tmp_path, free_disk=2**20, available=2**40)
    limits.check_limits(sc, store_dir=tmp_path, free_disk=2**20, available=2**40, force=True)
    # the disk for the store and the result tables; only the store's for a run that writes none
    disk = limits.project(sc, on_disk=True)
    free = int((disk.store_bytes + 0.5 * disk.documents * limits.RESULT_BYTES) / 0.9)
    with pytest.raises(LimitError, match=r"of results, more than"):
        limits.check_limits(sc, store_dir=tmp_path, free_disk=free, available=2**40)
    limits.check_limits(sc, store_dir=tmp_path, free_disk=free, available=2**40, results=False)
    with pytest.raises(LimitError, match=r"store columns in --store-dir '[^']+', more than"):
        limits.check_limits(sc, store_dir=tmp_path, free_disk=free // 2, results=False)
    # a run too big for memory is pointed at --store-dir
    with pytest.raises(LimitError, match=r"--store-dir DIR"):
        limits.check_limits(sc, available=2**28)
