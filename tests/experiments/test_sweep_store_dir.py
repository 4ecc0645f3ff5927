"""``habsburg sweep --store-dir`` / ``sensitivity --store-dir``: each run's store in files in a
private directory (for points larger than memory), the same results, nothing left behind."""

from collections import namedtuple
from pathlib import Path

import pandas as pd
import pytest

from habsburg.cli import main
from habsburg.ecosystem.ondisk import OnDiskStore
from habsburg.experiments.sweep import executors

pytest.importorskip("distributed")

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
SPEC = f"""
name = "disk-sweep"
scenario = "{TINY.as_posix()}"
seeds = 2
steps = 8
outcomes = ["final_synthetic_share_new", "final_mean_tail_coverage", "synthetic_share_new"]

[[parameters]]
path = "watermark.adoption"
values = [0.0, 1.0]
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def _results(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "results.parquet").drop(columns="seconds")
    return frame.sort_values("run_id").reset_index(drop=True)


def test_runs_keep_their_store_on_disk_and_give_the_same_results(spec, tmp_path, monkeypatch):
    store_dir = tmp_path / "stores"
    seen = []
    simulate = executors.simulate

    def spy(*args, **kwargs):
        model = simulate(*args, **kwargs)
        seen.append((kwargs["store_dir"], model.internet.store))
        return model

    monkeypatch.setattr(executors, "simulate", spy)
    argv = ["sweep", str(spec), "--serial", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "disk"), "--store-dir", str(store_dir)]) == 0
    assert len(seen) == 4
    for directory, store in seen:  # a private directory of the run's, in the sweep's, in DIR
        assert isinstance(store, OnDiskStore) and directory.parent.parent == store_dir
    assert len({directory for directory, _ in seen}) == 4
    assert list(store_dir.iterdir()) == []  # every run's files removed, and the sweep's own
    assert main([*argv, "--out", str(tmp_path / "memory")]) == 0
    assert len(seen) == 8 and not any(isinstance(store, OnDiskStore) for _, store in seen[4:])
    pd.testing.assert_frame_equal(_results(tmp_path / "disk"), _results(tmp_path / "memory"))


def test_a_dask_sweep_on_disk_equals_the_serial_one(spec, tmp_path):
    store_dir = tmp_path / "stores"
    disk, serial = tmp_path / "disk", tmp_path / "serial"
    argv = ["sweep", str(spec), "--quiet"]
    assert main([*argv, "--workers", "2", "--out", str(disk), "--store-dir", str(store_dir)]) == 0
    assert main([*argv, "--serial", "--out", str(serial)]) == 0
    pd.testing.assert_frame_equal(_results(disk), _results(serial))
    assert list(store_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:9"], "--store-dir is for runs on this machine"),
        (["--store-dir", "FILE"], "is not a directory"),
    ],
)
def test_store_dir_options_are_checked_before_any_run(spec, tmp_path, capsys, extra, message):
    (tmp_path / "FILE").write_text("a user's file")
    argv = ["sweep", str(spec), "--out", str(tmp_path / "out"), "--quiet"]
    if "--store-dir" not in extra:
        extra = [*extra, "--store-dir", str(tmp_path / "stores")]
    extra = [str(tmp_path / "FILE") if e == "FILE" else e for e in extra]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "FILE").read_text() == "a user's file"


def test_a_sweep_whose_stores_outgrow_the_disk_is_refused(spec, tmp_path, capsys, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: Usage(2**30, 2**30 - 2**16, 2**16))
    out = tmp_path / "out"
    argv = ["sweep", str(spec), "--workers", "2", "--out", str(out), "--quiet"]
    assert main([*argv, "--store-dir", str(tmp_path / "stores")]) == 2
    err = capsys.readouterr().err
    assert "of store columns in --store-dir" in err and "(2 runs at once), more than" in err
    assert not out.exists()


def test_a_text_sweep_refuses_store_dir(tmp_path, capsys):
    spec = tmp_path / "t.toml"
    spec.write_text(
        'name = "t"\nscenario = "text_closed_loop"\nseeds = 1\n'
        '[[parameters]]\npath = "generations"\nvalues = [2]\n'
    )
    argv = ["sweep", str(spec), "--out", str(tmp_path / "o"), "--store-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "--store-dir does not apply to a text sweep" in capsys.readouterr().err


def test_compare_keeps_its_runs_stores_on_disk_with_the_same_numbers(tmp_path, monkeypatch):
    base = Path(__file__).parent / "data" / "compare_tiny.toml"
    store_dir = tmp_path / "stores"
    seen = []
    simulate = executors.simulate

    def spy(*args, **kwargs):
        model = simulate(*args, **kwargs)
        seen.append(isinstance(model.internet.store, OnDiskStore))
        return model

    monkeypatch.setattr(executors, "simulate", spy)
    argv = ["compare", str(base), str(base), "--seeds", "2", "--steps", "6", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "disk"), "--store-dir", str(store_dir)]) == 0
    assert seen == [True] * 4 and list(store_dir.iterdir()) == []
    assert main([*argv, "--out", str(tmp_path / "memory")]) == 0
    assert seen[4:] == [False] * 4
    for table in ("runs", "series"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "disk" / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "memory" / f"{table}.parquet"),
        )


def test_a_text_comparison_refuses_store_dir(tmp_path, capsys):
    argv = ["compare", "text_closed_loop", "text_closed_loop", "--store-dir", str(tmp_path)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert "--store-dir does not apply to text scenarios" in capsys.readouterr().err


def test_workers_of_on_disk_runs_have_no_dask_memory_limit():
    """A 100× comparison on disk lost its first two runs after ~7 minutes: Dask's nanny
    restarts a worker whose resident size passes 95% of its share (~11 GB here), and the
    column files' pages count in it. Workers of runs with file stores get no Dask limit;
    others keep Dask's."""
    from habsburg.experiments.sweep.executors import close_client, connect

    for file_stores in (False, True):
        client = connect(workers=1, file_stores=file_stores)
        try:
            limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        finally:
            close_client(client)
        assert limits == [0] if file_stores else limits[0] > 0


def test_a_retried_run_first_removes_what_its_killed_attempt_left(spec, tmp_path, monkeypatch):
    """A worker killed mid-run leaves its run's store files (its cleanup never runs); the
    retry, in the same directory of the run's, removes them first, so a sweep holds at most
    one run's files per run on disk, and none once each run has ended."""
    from habsburg.experiments.sweep import load_spec, plan_spec

    plan = plan_spec(load_spec(spec))
    task = plan.tasks[0]
    left = tmp_path / "stores" / task.run_id
    left.mkdir(parents=True)
    (left / "concepts.1.bin").write_bytes(b"\0" * 4096)  # a killed attempt's column file
    seen = []
    simulate = executors.simulate

    def spy(*args, **kwargs):
        seen.append(sorted(p.name for p in kwargs["store_dir"].iterdir()))
        return simulate(*args, **kwargs)

    monkeypatch.setattr(executors, "simulate", spy)
    out = executors.execute_run(
        task, plan.base, plan.outcomes, plan.steps, store_dir=str(tmp_path / "stores")
    )
    assert out.error is None and seen == [[]]
    assert list((tmp_path / "stores").iterdir()) == []
