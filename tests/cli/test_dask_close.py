"""A Dask local cluster that fails to close after its runs are over does not cost the command
its results: seen once on a loaded machine (2026-12-05), a ``TimeoutError`` from the cluster's
shutdown ended a 44-minute 100× comparison whose four runs had all finished, with
"habsburg: error: " (an empty message) and exit 2, before its tables were written."""

from __future__ import annotations

import pytest

from habsburg.cli import main
from habsburg.experiments.sweep.executors import close_client

pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


class _Failing:
    def __init__(self, error: BaseException | None, cluster: object = None) -> None:
        self.error, self.cluster, self.closed = error, cluster, 0

    def close(self) -> None:
        self.closed += 1
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("error", [TimeoutError(), RuntimeError("loop closed")])
def test_a_failed_close_is_a_note_not_an_error(capsys, error):
    cluster = _Failing(error)
    client = _Failing(None, cluster)
    close_client(client)
    assert (client.closed, cluster.closed) == (1, 1)  # each closed once (a retry can hang)
    err = capsys.readouterr().err
    assert f"closing the Dask local cluster failed ({type(error).__name__}" in err


def test_a_comparison_whose_cluster_fails_to_close_writes_its_results(workdir, capsys, monkeypatch):
    import distributed

    real = distributed.LocalCluster.close

    def close_then_time_out(self, *args, **kwargs):
        real(self, *args, **kwargs)  # (the processes do go: no process is left behind)
        raise TimeoutError

    monkeypatch.setattr(distributed.LocalCluster, "close", close_then_time_out)
    argv = ["compare", "mini.toml", "mini.toml", "--seeds", "1", "--steps", "2", "--workers", "1"]
    assert main([*argv, "--out", "cmp", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "closing the Dask local cluster failed (TimeoutError)" in err
    for name in ("runs.parquet", "differences.parquet", "report.md", "manifest.json"):
        assert (workdir / "cmp" / name).is_file(), name


def test_a_failed_close_kills_the_worker_processes_it_left(capsys, monkeypatch):
    """A close that fails before the workers are stopped (the close itself raising at once)
    left their processes running after the command, and in a Python session after the call."""
    import time

    import distributed

    from habsburg.experiments.sweep.executors import connect

    client = connect(workers=1)
    cluster = client.cluster
    assert cluster is not None
    pids = [w.process.process.pid for w in cluster.workers.values()]
    real = distributed.LocalCluster.close

    def fail_at_once(self, *args, **kwargs):
        raise TimeoutError

    monkeypatch.setattr(distributed.LocalCluster, "close", fail_at_once)
    try:
        close_client(client)
        err = capsys.readouterr().err
        assert "closing the Dask local cluster failed (TimeoutError)" in err
        assert "1 Dask worker process the failed close left running were killed" in err
        deadline = time.monotonic() + 30
        alive = pids
        while alive and time.monotonic() < deadline:
            alive = [p for p in pids if _running(p)]
            time.sleep(0.1)
        assert pids and not alive, alive
    finally:
        monkeypatch.setattr(distributed.LocalCluster, "close", real)
        cluster.close()


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (not gone, not a zombie waiting to be reaped)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
