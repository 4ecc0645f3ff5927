"""Sweeps: Dask and serial give the same numbers; resume, worker loss, failing runs, bad specs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from checksums import assert_checksummed, chunk_ends, flip_bit

from habsburg.cli import main
from habsburg.experiments.sweep import (
    SweepError,
    check_output,
    check_workers,
    connect,
    executors,
    load_results,
    load_spec,
    plan_scenarios,
    plan_spec,
    replicate_seeds,
    run_plan,
    run_sweep,
    spec_from_dict,
    with_scale,
    write_manifest,
)
from habsburg.experiments.sweep.storage import write_summary
from habsburg.experiments.versions import COMMIT, MODEL_CODE, model_code, result_versions
from habsburg.scenarios.library import load_scenario

pytest.importorskip("distributed")

#: before any local cluster started (its fork server's settings must not leak into this process)
ORIGINAL_JEMALLOC = "JE_ARROW_MALLOC_CONF" in os.environ

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
SPEC = f"""
name = "tiny-sweep"
scenario = "{TINY.as_posix()}"
seeds = 2
seed = 11
steps = 12
outcomes = ["final_synthetic_share_new", "final_mean_tail_coverage", "largest_cascade",
            "synthetic_share_new"]

[[parameters]]
path = "watermark.adoption"
values = [0.0, 1.0]

[[parameters]]
path = "demand.adoption.ceiling"
range = [200.0, 600.0]
num = 2
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny_sweep.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def plan(spec_file):
    return plan_spec(load_spec(spec_file))


@pytest.fixture(scope="module")
def serial(plan, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "sweep"
    result = run_sweep(plan, out, serial=True, progress=False)
    assert (result.ran, result.failed) == (len(plan.tasks), 0)
    return out


@pytest.fixture(scope="module")
def client():
    """One local cluster (2 single-threaded worker processes) shared by the Dask tests."""
    client = connect(workers=2)
    yield client
    cluster = client.cluster
    client.close()
    assert cluster is not None
    cluster.close()


def _same_results(a: Path, b: Path) -> None:
    for kind in ("runs", "series"):
        ta, tb = load_results(a, kind), load_results(b, kind)
        assert len(ta) and len(ta) == len(tb)
        ta, tb = (
            ta.drop(columns="seconds", errors="ignore"),
            tb.drop(columns="seconds", errors="ignore"),
        )
        pd.testing.assert_frame_equal(ta, tb, check_exact=True, obj=kind)


def test_plan_points_and_seeds(plan):
    assert len(plan.tasks) == 2 * 2 * 2
    assert [t.settings for t in plan.tasks[::2]] == [
        (("watermark.adoption", a), ("demand.adoption.ceiling", c))
        for a in (0.0, 1.0)
        for c in (200.0, 600.0)
    ]
    # common random numbers: every point runs the same two seeds, derived from the spec's seed
    seeds = replicate_seeds(11, 2)
    assert [t.seed for t in plan.tasks] == seeds * 4
    assert seeds != replicate_seeds(12, 2) and len(set(seeds)) == 2


def test_latin_and_sobol_samples_respect_ranges_and_types(tmp_path):
    base = {"scenario": str(TINY), "steps": 5}
    params = [
        {"path": "watermark.adoption", "range": [0.2, 0.4]},
        {"path": "models.*.retrain_interval", "range": [2, 5]},
        {"path": "models.*.data.mode", "values": ["replace", "accumulate"]},
    ]
    for method in ("latin", "sobol"):
        spec = spec_from_dict({**base, "method": method, "samples": 16, "parameters": params})
        points = spec.points()
        assert len(points) == 16
        adoption = np.array([p["watermark.adoption"] for p in points])
        interval = [p["models.*.retrain_interval"] for p in points]
        assert ((adoption >= 0.2) & (adoption <= 0.4)).all()
        assert all(isinstance(v, int) and 2 <= v <= 5 for v in interval)
        assert {p["models.*.data.mode"] for p in points} == {"replace", "accumulate"}
        # stratified: a Latin hypercube / Sobol sample covers each quarter of the range
        assert len(set(np.floor((adoption - 0.2) / 0.05 - 1e-9).clip(0, 3))) == 4
        assert spec.points() == points  # seeded


def test_dask_sweep_equals_serial_and_writes_dataset(spec_file, plan, serial, client, tmp_path):
    out = tmp_path / "dask"
    address = client.scheduler.address
    assert (
        main(["sweep", str(spec_file), "--scheduler", address, "--out", str(out), "--quiet"]) == 0
    )
    _same_results(serial, out)
    assert sorted(p.stem for p in (out / "runs").glob("*.parquet")) == [
        t.run_id for t in plan.tasks
    ]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["fingerprint"] == plan.fingerprint
    assert [r["seed"] for r in manifest["runs"]] == [t.seed for t in plan.tasks]
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == len(plan.tasks) and len(pd.read_csv(out / "results.csv")) == len(results)
    # the settings reach the model: more AI demand, more synthetic text; seeds differ
    by_ceiling = results.groupby("demand.adoption.ceiling")["final_synthetic_share_new"].mean()
    assert by_ceiling[600.0] > by_ceiling[200.0]
    assert results.groupby("point")["final_synthetic_share_new"].nunique().eq(2).all()
    series = pd.read_parquet(out / "series.parquet")
    assert len(series) == len(plan.tasks) * 12 and series["synthetic_share_new"].notna().all()


def test_a_scaled_sweep_runs_scaled_on_dask_workers(spec_file, client, tmp_path):
    """The scale reaches the workers: a scaled sweep on the cluster gives what it gives
    serially, and not what the unscaled sweep gives."""
    plan = plan_spec(with_scale(load_spec(spec_file), 1.5))
    plan.tasks = plan.tasks[:2]  # (one point, both seeds)
    plan.steps = 6
    on_dask = run_sweep(plan, tmp_path / "dask", client=client, progress=False)
    serially = run_sweep(plan, tmp_path / "serial", serial=True, progress=False)
    assert (on_dask.ran, on_dask.failed, serially.failed) == (2, 0, 0)
    _same_results(tmp_path / "serial", tmp_path / "dask")
    plain = plan_spec(load_spec(spec_file))
    plain.tasks, plain.steps = plain.tasks[:2], 6
    run_sweep(plain, tmp_path / "plain", serial=True, progress=False)
    scaled_cov = load_results(tmp_path / "dask")["final_mean_tail_coverage"].to_numpy()
    plain_cov = load_results(tmp_path / "plain")["final_mean_tail_coverage"].to_numpy()
    assert (scaled_cov != plain_cov).any()
    assert "scale" not in load_results(tmp_path / "plain").columns  # (unscaled rows as before)


def test_a_swept_scale_reaches_the_dask_workers(spec_file, client, tmp_path):
    """A swept scale travels in each task's settings: the workers run each point at its own
    factor, as the serial sweep does."""
    spec = load_spec(spec_file)
    raw = {k: v for k, v in spec.raw.items() if k not in ("parameters", "scenario")}
    plan = plan_spec(
        spec_from_dict(
            {
                **raw,
                "scenario": str(TINY),
                "steps": 6,
                "parameters": [{"path": "scale", "values": [1.0, 1.5]}],
            }
        )
    )
    on_dask = run_sweep(plan, tmp_path / "dask", client=client, progress=False)
    serially = run_sweep(plan, tmp_path / "serial", serial=True, progress=False)
    assert (on_dask.ran, on_dask.failed, serially.failed) == (4, 0, 0)
    _same_results(tmp_path / "serial", tmp_path / "dask")
    runs = load_results(tmp_path / "dask").sort_values(["replicate", "scale"])
    coverage = runs["final_mean_tail_coverage"].to_numpy().reshape(2, 2)
    assert (coverage[:, 0] != coverage[:, 1]).any()  # (1.5x is not the 1x run)


def test_local_cluster_listens_on_loopback_only(client):
    """Scheduler, workers, nannies and dashboard accept connections from this machine only."""
    psutil = pytest.importorskip("psutil")
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert "127.0.0.1" in client.dashboard_link
    pids = [os.getpid(), *client.run(os.getpid).values()]
    listening = [
        c.laddr
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and {a.ip for a in listening} == {"127.0.0.1"}, listening


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(),
    reason="no fork server on this platform (local clusters spawn their workers)",
)
def test_local_cluster_workers_are_forked_from_a_preloaded_single_threaded_server(client):
    """Workers come from the fork server (not spawned by the nannies in this process), with
    habsburg already imported and one BLAS thread; this process's environment is untouched."""
    parents = client.run(os.getppid)
    assert os.getpid() not in parents.values()
    preloaded = client.run(lambda: "habsburg.experiments.sweep.executors" in sys.modules)
    assert all(preloaded.values()), preloaded
    env = client.run(lambda: os.environ.get("OPENBLAS_NUM_THREADS"))
    assert set(env.values()) == {"1"}
    # (Dask's nannies set the BLAS thread counts in this process themselves; the jemalloc
    # setting is habsburg's alone and must not stay behind)
    assert ("JE_ARROW_MALLOC_CONF" in os.environ) == ORIGINAL_JEMALLOC


def test_sweep_on_a_local_cluster_warns_of_no_fork_with_threads(spec_file, tmp_path):
    """Python 3.12+ warns when a multi-threaded process forks: the fork server must not be one
    (OpenBLAS and pyarrow's jemalloc would each start a thread)."""
    out = tmp_path / "local"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "habsburg.cli", "sweep", str(spec_file)),
            *("--workers", "2", "--out", str(out), "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "multi-threaded" not in proc.stderr and "deadlock" not in proc.stderr, proc.stderr
    assert len(list((out / "runs").glob("*.parquet"))) == 8


def test_worker_killed_mid_sweep_loses_no_run(plan, serial, client, tmp_path):
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])
            time.sleep(0.02)

    thread = threading.Thread(target=kill_a_busy_worker)
    thread.start()
    result = run_sweep(plan, tmp_path / "killed", client=client, progress=False)
    thread.join()
    assert killed and killed[0] not in client.run(os.getpid).values()  # it really died
    assert (result.ran, result.failed) == (len(plan.tasks), 0)
    _same_results(serial, tmp_path / "killed")


def test_resume_after_interruption_redoes_no_finished_run(
    spec_file, plan, serial, tmp_path, capsys
):
    out = tmp_path / "resumed"
    cmd = [sys.executable, "-m", "habsburg.cli", "sweep", str(spec_file), "--serial", "--quiet"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # the harshest interruption: no cleanup at all
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert 3 <= len(before) < len(plan.tasks)

    assert main(["sweep", str(spec_file), "--serial", "--out", str(out), "--quiet"]) == 2
    ran = []
    real = executors.execute_run

    def counted(task, *args, **kwargs):
        ran.append(task.run_id)
        return real(task, *args, **kwargs)

    executors.execute_run = counted
    capsys.readouterr()
    try:
        code = main(["sweep", str(spec_file), "--serial", "--resume", "--out", str(out)])
    finally:
        executors.execute_run = real
    assert code == 0
    assert sorted(ran) == sorted({t.run_id for t in plan.tasks} - {n[:-8] for n in before})
    # the summary it prints: the points' outcomes, then what ran and what was already there
    printed = capsys.readouterr().out
    assert f"{len(ran)} runs ran, {len(before)} already finished, 0 failed" in printed
    assert f"results: {out}/results.parquet" in printed
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert {k: after[k] for k in before} == before  # finished runs were not rewritten
    assert not list(out.rglob(".*.tmp-*"))
    _same_results(serial, out)


def test_resume_refuses_runs_made_with_other_versions_of_the_packages_results_depend_on(
    plan, tmp_path
):
    """A seed gives the same run only with the same numpy, Mesa, ... (README: numpy 2.5's
    binomial draws differ from 2.4's): resuming a sweep begun in another environment would mix
    runs of the two in one table, so it is refused, naming the package; versions that do not
    change the numbers (pandas, the Python patch level) are not compared."""
    out = tmp_path / "sweep"
    write_manifest(plan, out)
    assert check_output(plan, out, resume=True) == set()  # the same environment: resumable
    manifest = json.loads((out / "sweep.json").read_text())
    # (and the commit of a checkout, recorded for citing: the same code at another commit)
    manifest["versions"].update(pandas="0.1", pyarrow="1.0", python="3.0.0")
    manifest["versions"][COMMIT] = "000000000000"
    (out / "sweep.json").write_text(json.dumps(manifest))
    assert check_output(plan, out, resume=True) == set()
    here = manifest["versions"]["numpy"]
    manifest["versions"]["numpy"] = "2.4.6" if here != "2.4.6" else "2.5.5"
    (out / "sweep.json").write_text(json.dumps(manifest))
    with pytest.raises(
        SweepError, match=rf"run with numpy {manifest['versions']['numpy']} \(here {here}\)"
    ):
        check_output(plan, out, resume=True)
    # begun by other code of the model (a checkout at another commit): named with its commit
    manifest["versions"]["numpy"] = here
    manifest["versions"][MODEL_CODE] = "0123456789abcdef"
    (out / "sweep.json").write_text(json.dumps(manifest))
    with pytest.raises(
        SweepError,
        match=rf"run with {MODEL_CODE} 0123456789abcdef \(git commit 000000000000; here "
        rf"{model_code()}\)",
    ):
        check_output(plan, out, resume=True)
    del manifest["versions"]  # (a manifest that recorded none is trusted, as before)
    (out / "sweep.json").write_text(json.dumps(manifest))
    assert check_output(plan, out, resume=True) == set()


def _worker_with_other_model_code(other: bool, probe: bool = False) -> None:
    """(Run on every Dask worker) make its runs (and with ``probe`` what it tells a client that
    asks for its versions) report another model code, or undo that."""
    import habsburg.experiments.sweep.executors as ex
    import habsburg.experiments.versions as v

    real = getattr(v, "_real_result_versions", v.result_versions)
    v._real_result_versions = real  # type: ignore[attr-defined]

    def another() -> dict[str, str]:
        return {**real(), v.MODEL_CODE: "0123456789abcdef"}

    setattr(ex, "result_versions", another if other else real)  # noqa: B010
    setattr(v, "result_versions", another if other and probe else real)  # noqa: B010


def test_runs_from_a_worker_of_another_environment_are_not_kept(plan, client, tmp_path):
    """Workers report the versions and model code they ran with; a run from a worker started
    from another environment or checkout (e.g. at another commit, behind a remote scheduler) is
    a failed run naming the difference, not a row the manifest would mislabel."""
    outputs = run_plan(plan, client=client)
    assert len(outputs) == len(plan.tasks) and all(o.error is None for o in outputs)
    assert all(o.versions == result_versions() for o in outputs)  # what each worker ran with
    client.run(_worker_with_other_model_code, True)
    try:
        out = tmp_path / "mixed"
        result = run_sweep(plan, out, client=client, progress=False)
    finally:
        client.run(_worker_with_other_model_code, False)
    assert (result.ran, result.failed) == (len(plan.tasks), len(plan.tasks))
    assert len(result.results) == 0
    errors = result.failures["error"]
    assert errors.str.contains(
        f"ran on a worker with {MODEL_CODE} 0123456789abcdef (", regex=False
    ).all()
    assert errors.str.contains(
        f"here {model_code()}): a seed gives the same run", regex=False
    ).all()
    # the same workers as they were: the failed runs are run again and kept
    again = run_sweep(plan, out, client=client, resume=True, progress=False)
    assert (again.ran, again.failed) == (len(plan.tasks), 0)


def test_a_cluster_whose_workers_run_another_environment_is_refused_before_any_run(
    plan, spec_file, client, tmp_path, capsys
):
    """Asked for their versions first, workers of another environment or checkout (behind
    ``--scheduler`` or a given client) are refused before any run, naming the worker and the
    difference."""
    check_workers(client, "the test's cluster")  # the same environment: accepted
    address = client.scheduler.address
    client.run(_worker_with_other_model_code, True, True)
    try:
        with pytest.raises(SweepError) as err:
            check_workers(client, "the test's cluster")
        message = str(err.value)
        assert "the Dask worker tcp://127.0.0.1:" in message and "the test's cluster" in message
        assert f"runs {MODEL_CODE} 0123456789abcdef (" in message, message
        assert f"here {model_code()}): a seed gives the same run" in message
        with pytest.raises(SweepError, match="of the given Dask client runs"):
            run_sweep(plan, tmp_path / "given", client=client, progress=False)
        out = tmp_path / "cli"
        argv = ["sweep", str(spec_file), "--scheduler", address, "--out", str(out), "--quiet"]
        assert main(argv) == 2
        err_text = capsys.readouterr().err
        assert f"of the Dask scheduler at --scheduler {address} runs {MODEL_CODE}" in err_text
        assert "Traceback" not in err_text
    finally:
        client.run(_worker_with_other_model_code, False)
    for refused in (tmp_path / "given", tmp_path / "cli"):  # no run started
        assert not list(refused.glob("runs/*.parquet")), refused
    check_workers(client, "the test's cluster")  # as they were


def test_failing_run_is_recorded_and_the_sweep_goes_on(plan, tmp_path, monkeypatch):
    real = executors.simulate

    def flaky(scenario, **kwargs):
        if scenario.watermark.adoption == 1.0 and scenario.demand.adoption.ceiling == 600.0:
            raise FloatingPointError("boom in the model")
        return real(scenario, **kwargs)

    monkeypatch.setattr(executors, "simulate", flaky)
    out = tmp_path / "flaky"
    result = run_sweep(plan, out, serial=True, progress=False)
    assert (result.ran, result.failed) == (len(plan.tasks), 2)
    failures = result.failures
    assert sorted(failures["run_id"]) == ["p00003-s000", "p00003-s001"]
    assert failures["error"].str.contains("FloatingPointError: boom").all()
    assert failures["traceback"].str.contains("flaky").all()
    assert len(result.results) == len(plan.tasks) - 2

    monkeypatch.setattr(executors, "simulate", real)
    again = run_sweep(plan, out, serial=True, resume=True, progress=False)
    assert (again.ran, again.skipped, again.failed) == (2, len(plan.tasks) - 2, 0)
    assert not list((out / "errors").glob("*.json"))


def _spec(**changes) -> dict:
    data = {
        "scenario": str(TINY),
        "steps": 5,
        "parameters": [{"path": "watermark.adoption", "values": [0.0, 1.0]}],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"parameters": [{"path": "watermark.adoptoin", "values": [0.5]}]},
            "did you mean 'adoption'",
        ),
        (
            {"parameters": [{"path": "models.m9.temperature", "values": [1.0]}]},
            "no models item 'm9'",
        ),
        (
            {"parameters": [{"path": "watermark.adoption", "values": []}]},
            r"values: expected a non-empty list",
        ),
        ({"parameters": [{"path": "watermark.adoption", "values": [2.0]}]}, r"out of range"),
        (
            {"parameters": [{"path": "watermark.adoption", "range": [0, 1]}]},
            "needs 'values' or 'range' with 'num'",
        ),
        ({"parameters": []}, "at least one"),
        ({"outcomes": ["tail"]}, "unknown outcome 'tail'"),
        ({"method": "sobol", "samples": 10}, "power of two"),
        ({"seeds": 0}, r"bad\.toml: seeds: 0 is out of range; allowed \[1, "),
        ({"method": "random"}, r"method: 'random' is not allowed; choose one of 'grid'"),
        ({"parameters": [{"path": "watermark.adoption", "valuez": [1]}]}, "did you mean 'values'"),
        (
            {"parameters": [{"path": "models.*.data.mode", "values": ["copy"]}]},
            r"parameters\[0\]\.values: models\.\*\.data\.mode: 'copy' is not allowed",
        ),
        ({"parameters": [{"path": "models.*.launch"}]}, "has no declared choices"),
        ({"stepz": 3}, "did you mean 'steps'"),
        ({"name": ".."}, r"name: '\.\.' is not a valid sweep name"),  # (results/sweeps/..)
        ({"name": "a/b"}, r"name: 'a/b' is not a valid sweep name"),
        ({"seeds": 600_000}, r"parameters × seeds make 1,200,000 runs, more than 1,000,000"),
        (
            {"parameters": [{"path": "watermark.adoption", "values": [0.5]}] * 2},
            "parameters: 'watermark.adoption' is listed twice",
        ),
        (  # a grid point that would run twice (0.5 and 0.50 are one value)
            {"parameters": [{"path": "watermark.adoption", "values": [0.5, 0.9, 0.50]}]},
            r"bad\.toml: parameters\[0\]\.values: 0\.5 is listed twice; a grid runs each value once",
        ),
        (
            {"parameters": [{"path": "models.*.data.mode", "values": ["replace", "replace"]}]},
            r"parameters\[0\]\.values: 'replace' is listed twice",
        ),
        (  # a [set] value every point overrides (it was never used)
            {"set": {"watermark.adoption": 0.3}},
            r"bad\.toml: set: 'watermark\.adoption' is also swept \(parameters\[0\]\)",
        ),
        ({"scenario": "no-such-scenario"}, "unknown scenario"),
        (
            {"parameters": [{"path": "watermark.adoption", "values": [0.5], "range": [0, 1]}]},
            r"parameters\[0\]: give either 'values' or 'range' \(\+ 'num'\), not both",
        ),
        (
            {"parameters": [{"path": "watermark.adoption", "range": [0.5, 0.5], "num": 3}]},
            r"parameters\[0\]: range \[0\.5, 0\.5\] is empty; widen it or set num = 1",
        ),
        (
            {
                "method": "latin",
                "samples": 8,
                "parameters": [{"path": "watermark.adoption", "range": [0, 1], "num": 3}],
            },
            r"parameters\[0\]\.num: only a grid takes 'num'",
        ),
        (
            {"parameters": [{"path": "watermark.adoption", "range": [0.9, 0.1], "num": 2}]},
            r"parameters\[0\]\.range: range \[0\.9, 0\.1\] of 'watermark\.adoption': low is above",
        ),
        ({"method": "latin"}, r"bad\.toml: method 'latin' needs 'samples' >= 1"),
        ({"scale": 0.0}, r"bad\.toml: 'scale' must be a finite number > 0, got 0\.0"),
        ({"scale": float("nan")}, r"bad\.toml: scale: expected a finite number, got nan"),
        ({"set": {"watermark.adoptoin": 0.3}}, r"bad\.toml: set: .*did you mean 'adoption'"),
        ({"set": {"demand.adoption.ceiling": -5.0}}, r"bad\.toml: set: .*out of range"),
        (  # a whole-scenario check names models by index; the note names the [set] key
            {
                "set": {
                    "humans.authors": 50,
                    "models.*.data.human_reservoir": 0.7,
                    "models.m2.data.sensor_fraction": 0.5,
                }
            },
            # (the spec's set named once before the base scenario's source, once in the note)
            r"bad\.toml: set: [^()]+: models\[1\]\.data\.human_reservoir \+ .* > 1 \(model 'm2'.*\) "
            r"\(from the spec's \[set\] 'models\.\*\.data\.human_reservoir'; from the spec's "
            r"\[set\] 'models\.m2\.data\.sensor_fraction'\)$",
        ),
    ],
)
def test_bad_spec_is_a_named_error(changes, message):
    with pytest.raises(SweepError, match=message):
        spec_from_dict(_spec(**changes), "bad.toml")


def test_a_directory_of_user_files_is_refused_without_a_useless_hint(spec_file, tmp_path, capsys):
    """``habsburg sweep --force`` is about memory: the refusal does not suggest it for writing
    beside a user's files (the examples' and sensitivity's did, and were refused again)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for extra in ([], ["--force"]):
        assert main(["sweep", str(spec_file), "--serial", "--out", str(mine), *extra]) == 2
        err = capsys.readouterr().err
        assert "is not a sweep directory" in err and "--force" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_bad_spec_or_scheduler_fails_before_any_run(spec_file, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.replace('"watermark.adoption"', '"watermark.adoptoin"'))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "a"), "--serial"]) == 2
    assert "parameters[0].path" in capsys.readouterr().err
    assert (
        main(
            ["sweep", str(spec_file), "--scheduler", "localhost:8786", "--out", str(tmp_path / "b")]
        )
        == 2
    )
    assert "not a Dask scheduler address" in capsys.readouterr().err
    # without a port (Dask's internal error, exit 3) or with an impossible one (a 10 s wait)
    for address in ("tcp://localhost", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0"):
        argv = ["sweep", str(spec_file), "--scheduler", address, "--out", str(tmp_path / "b")]
        assert main(argv) == 2, address
        err = capsys.readouterr().err
        assert f"--scheduler {address!r} is not a Dask scheduler address" in err, err
        assert "a port in 1..65535" in err
    plan = plan_spec(load_spec(spec_file))
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        run_sweep(plan, tmp_path / "c", scheduler="tcp://127.0.0.1:9", connect_timeout=1.0)
    assert not any(tmp_path.glob("[abc]"))  # nothing written, no run started


def test_a_point_whose_scenario_is_refused_is_named_once(tmp_path):
    """A point whose settings make a scenario the schema refuses (here an ``end`` before a
    model's launch) is named in the error once: the message said "point 0: point 0:"."""
    spec = spec_from_dict(
        _spec(parameters=[{"path": "end", "values": ["2022-04", "2023-01"]}]), "bad.toml"
    )
    with pytest.raises(SweepError) as err:
        plan_spec(spec)
    assert str(err.value).startswith(
        "bad.toml: point 0: models[1].launch (2022-05) is after the run's last month "
        "(end = 2022-04)"
    )
    assert str(err.value).count("point 0") == 1
    base = load_scenario(TINY)
    with pytest.raises(SweepError) as err:  # replicate settings (compare --posterior)
        plan_scenarios("compare", {"a": base}, replicate_settings=[{"end": "2022-04"}])
    assert str(err.value).startswith("compare: scenario 'a', replicate 0: models[1].launch")
    with pytest.raises(SweepError, match=r"^compare: scenario 'a', replicate 0: .*out of range"):
        plan_scenarios("compare", {"a": base}, replicate_settings=[{"watermark.adoption": 2.0}])


def test_points_that_end_before_any_model_is_deployed_are_named_before_any_run(tmp_path, capsys):
    """A sweep's months may end before its models launch: its model outcomes are NaN there. The
    sweep still runs (its other outcomes mean something) but says so before any run; which
    points are early is read per point from the settings that move months or launches."""
    spec = tmp_path / "early.toml"
    spec.write_text(
        SPEC.replace("steps = 12", "steps = 3").replace(
            'path = "watermark.adoption"\nvalues = [0.0, 1.0]',
            'path = "models.m1.launch"\nvalues = ["2022-02", "2022-05"]',
        )
    )
    plan = plan_spec(load_spec(spec))
    early = plan.undeployed()
    # the points where m1 launches in 2022-05 (m2 too): 2 of 4, each once
    assert sorted(dict(e.task.settings)["demand.adoption.ceiling"] for e in early) == [200.0, 600.0]
    assert {dict(e.task.settings)["models.m1.launch"] for e in early} == {"2022-05"}
    assert str(early[0]).startswith("the runs of 3 months (2022-01 to 2022-03) with models.m1")
    assert "the first, 'm1', launches in 2022-05" in str(early[0])
    assert early[0].outcomes == ("final_mean_tail_coverage",)
    assert plan.undeployed(["final_synthetic_share_new", "synthetic_share_new"]) == []

    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--serial", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (
        "note: the runs of 3 months (2022-01 to 2022-03) with models.m1.launch = '2022-05'" in err
    )
    assert "(and 1 more of the 4 design points): final_mean_tail_coverage will be NaN" in err
    results = load_results(out)
    launch = results["models.m1.launch"]
    assert results.loc[launch == "2022-05", "final_mean_tail_coverage"].isna().all()
    assert results.loc[launch == "2022-02", "final_mean_tail_coverage"].notna().all()
    # none of it with --quiet, nor when every point deploys a model
    assert main(["sweep", str(spec), "--serial", "--quiet", "--out", str(tmp_path / "q")]) == 0
    assert "note:" not in capsys.readouterr().err
    spec.write_text(spec.read_text().replace('"2022-05"]', '"2022-03"]'))
    assert main(["sweep", str(spec), "--serial", "--out", str(tmp_path / "late")]) == 0
    assert "end before any model is deployed" not in capsys.readouterr().err


def test_resume_refuses_a_damaged_manifest_or_run_file_naming_it(plan, tmp_path):
    """A sweep directory damaged from outside is refused on --resume with the file named: a
    manifest that is not JSON, or JSON but not an object (they raised JSONDecodeError and
    AttributeError), and a finished run's file cut short (it counted as finished, the other
    runs ran, and the table failed at the end)."""
    out = tmp_path / "sweep"
    write_manifest(plan, out)
    good = (out / "sweep.json").read_text()
    (out / "sweep.json").write_text(good[:40])
    with pytest.raises(SweepError, match=r"sweep.json' is not a readable sweep manifest"):
        check_output(plan, out, resume=True)
    (out / "sweep.json").write_bytes(b"\xff\xfe")  # not UTF-8
    with pytest.raises(SweepError, match=r"sweep.json' is not a readable sweep manifest"):
        check_output(plan, out, resume=True)
    (out / "sweep.json").write_text("[1, 2]")
    with pytest.raises(
        SweepError, match=r"holds a JSON list, not the sweep manifest habsburg writes"
    ):
        check_output(plan, out, resume=True)
    (out / "sweep.json").write_text(good)
    first = plan.tasks[0].run_id
    run, series = (out / kind / f"{first}.parquet" for kind in ("runs", "series"))
    pd.DataFrame({"x": [1.0]}).to_parquet(run)
    pd.DataFrame({"month": ["2020-01"]}).to_parquet(series)
    assert check_output(plan, out, resume=True) == {first}  # whole: finished
    whole = run.read_bytes()
    run.write_bytes(whole[: len(whole) // 2])
    refused = r"1 file\(s\) of finished runs in .* are missing or cannot be read"
    with pytest.raises(SweepError, match=rf"{refused} \(runs/{first}.parquet\)"):
        check_output(plan, out, resume=True)
    # the run's series (the plan records one), written before its runs/ file: cut or missing
    run.write_bytes(whole)
    series.write_bytes(series.read_bytes()[:-20])
    with pytest.raises(SweepError, match=rf"{refused} \(series/{first}.parquet\)"):
        check_output(plan, out, resume=True)
    series.unlink()
    with pytest.raises(SweepError, match=rf"{refused} \(series/{first}.parquet\)"):
        check_output(plan, out, resume=True)


def test_a_run_file_damaged_inside_its_data_is_named_when_the_table_is_read(tmp_path):
    """Damage past the footer the resume check reads (a data page) was an internal error when
    the sweep's table was read at its end; it names the file and how to run that run again."""
    out = tmp_path / "sweep"
    (out / "runs").mkdir(parents=True)
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(out / "runs" / "p00000-s000.parquet")
    file = out / "runs" / "p00001-s000.parquet"
    pd.DataFrame({"x": [3.0, 4.0]}).to_parquet(file)
    assert load_results(out)["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    column = pq.read_metadata(file).row_group(0).column(0)
    data = bytearray(file.read_bytes())
    start = column.data_page_offset
    data[start : start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    file.write_bytes(bytes(data))
    with pytest.raises(SweepError, match=r"p00001-s000.parquet' cannot be read .*damaged") as err:
        load_results(out)
    assert (
        f"delete runs/p00001-s000.parquet (and series/p00001-s000.parquet, if any) in {str(out)!r}"
        in str(err.value)
    )
    assert "with --resume to run that run again" in str(err.value)


def test_resume_refuses_a_finished_run_whose_values_fail_their_checksums(plan, tmp_path):
    """A bit flipped inside a finished run's values was read as another number (it passed the
    footer check, and its table held the wrong value); its pages now carry checksums, which the
    check before resuming verifies, so the run is named before any other run starts."""
    from habsburg.experiments.files import atomic_write_parquet

    out = tmp_path / "sweep"
    write_manifest(plan, out)
    first = plan.tasks[0].run_id
    run, series = (out / kind / f"{first}.parquet" for kind in ("runs", "series"))
    atomic_write_parquet(pd.DataFrame({"run_id": [first], "outcome": [0.25]}), run)
    atomic_write_parquet(pd.DataFrame({"step": [0, 1], "outcome": [0.5, 0.75]}), series)
    assert assert_checksummed(run) == 2 and assert_checksummed(series) == 2
    assert check_output(plan, out, resume=True) == {first}
    refused = r"1 file\(s\) of finished runs in .* are missing or cannot be read"
    for file in (run, series):
        before = flip_bit(file, dict(chunk_ends(file))["outcome"])
        with pytest.raises(SweepError, match=rf"{refused} \({file.parent.name}/{first}.parquet\)"):
            check_output(plan, out, resume=True)
        with pytest.raises(SweepError, match=rf"{first}.parquet' cannot be read \(.*CRC"):
            load_results(out, file.parent.name)
        file.write_bytes(before)
    assert load_results(out)["outcome"].tolist() == [0.25]


def test_habsburg_verify_reads_a_sweeps_run_files_and_tables(plan, serial, tmp_path, capsys):
    """`habsburg verify` of a sweep: its runs/ and series/ files and its tables read whole;
    a finished run's file damaged inside its values is named (exit 1); its results.parquet
    and series.parquet compared with its run files (out of date, or not theirs)."""
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(serial, out)
    files = sorted(out.rglob("*.parquet"))
    assert main(["verify", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith(f"{out}: habsburg sweep of tiny-sweep, started ")
    assert f"  {len(files)} tables, " in report and "every page checked" in report
    runs = sorted((out / "runs").glob("*.parquet"))
    assert f"  runs: {len(runs)} of {len(runs)} finished\n" in report
    assert "  1 other file: present, each as written (its digest as recorded)\n" in report
    whole = flip_bit(runs[-1], dict(chunk_ends(runs[-1]))["final_mean_tail_coverage"])
    assert main(["verify", str(out), "--quiet"]) == 1
    assert f"{runs[-1]}: damaged (" in capsys.readouterr().err
    runs[-1].write_bytes(whole)
    # a finished run's files gone: the tables that hold it are no longer the runs' own
    last, series = runs[-1].read_bytes(), (out / "series" / runs[-1].name).read_bytes()
    runs[-1].unlink()
    (out / "series" / runs[-1].name).unlink()
    assert main(["verify", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    n = len(runs)
    assert (
        f"{out / 'results.parquet'}: not the table of the sweep's finished runs ({n} rows, where "
        f"the {n - 1} files in runs/ hold {n - 1}): changed since" in err
    )
    assert f"{out / 'series.parquet'}: not the table of the sweep's finished runs (" in err
    # a sweep stopped after its last session's tables were written, with a run finished since:
    # out of date, not damage (the tables are the runs' own but one)
    write_summary(plan, out, 0.0)
    runs[-1].write_bytes(last)
    (out / "series" / runs[-1].name).write_bytes(series)
    assert main(["verify", str(out)]) == 0
    report = capsys.readouterr().out
    assert f"  results.parquet: {n - 1} of the {n} finished runs (written before the" in report
    assert f"  series.parquet: {n - 1} of the {n} finished runs" in report
    # a value changed in the table: a problem, not out of date
    table = pd.read_parquet(out / "results.parquet")
    table.loc[0, "final_mean_tail_coverage"] += 0.5
    table.to_parquet(out / "results.parquet", index=False)
    # and results.csv, whose digest the sweep's manifest took as it wrote it, changed too
    csv = out / "results.csv"
    csv.write_text(csv.read_text().replace(",", ";", 1))
    assert main(["verify", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "results.parquet: not the table of the sweep's finished runs (" in err
    assert f"{csv}: changed since habsburg wrote it (its SHA-256 is not the one" in err
    # a run not finished yet, in a sweep stopped before its first tables: not damage; counted,
    # and how to finish it said
    for name in ("results.parquet", "results.csv", "series.parquet"):
        (out / name).unlink()
    runs[-1].unlink()
    (out / "series" / runs[-1].name).unlink()
    assert main(["verify", str(out)]) == 0
    report = capsys.readouterr().out
    assert f"runs: {n - 1} of {n} finished; the rest run with the" in report
    assert report.count(f"(not finished: {runs[-1].stem})") == 1  # (which one, by its id)


def test_habsburg_verify_reads_an_intact_sweeps_run_files_once(serial, tmp_path, monkeypatch):
    """The run files of a sweep whose tables gather them are read once, as their pages are
    checked: the comparison uses the tables read there (reading every run file again through
    pandas was 0.7 s of a 200-run sweep's 0.9 s `verify`). A table that does not gather them
    is still compared as the sweep reads them (the test above)."""
    import shutil

    import habsburg.experiments.verify as verify

    out = tmp_path / "sweep"
    shutil.copytree(serial, out)
    assert list((out / "series").glob("*.parquet"))  # (both tables compared)

    def again(folder, read=None):
        raise AssertionError(f"{folder} read a second time")

    monkeypatch.setattr(verify, "read_run_files", again)
    found = verify.verify_results_dir(out)
    assert found.problems == [] and found.out_of_date == []
    # a table that is not theirs takes the slow comparison (here: the second read)
    table = pd.read_parquet(out / "results.parquet")
    table.loc[0, "final_mean_tail_coverage"] += 0.5
    table.to_parquet(out / "results.parquet", index=False)
    with pytest.raises(AssertionError, match=r"runs read a second time"):
        verify.verify_results_dir(out)


def test_habsburg_verify_of_a_sweep_loads_no_simulator(serial, tmp_path):
    """Comparing a sweep's tables with its run files reads them without the sweep package,
    which loads the simulator (Mesa, networkx: ~0.6 s of a small sweep's 1.2 s `verify`)."""
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(serial, out)
    code = (
        "import sys\n"
        "from habsburg.cli import main\n"
        f"assert main(['verify', {str(out)!r}, '--quiet']) == 0\n"
        "print([m for m in ('mesa', 'networkx', 'habsburg.experiments.sweep') "
        "if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.timeout(60)  # (a hang guard, not a speed goal: the pairwise scan took minutes)
def test_a_grids_values_are_checked_for_repeats_in_one_pass():
    """``1`` and ``1.0`` are one value, ``true`` and ``1`` two; a list value is compared with
    the other lists. 200,000 values are one pass (the pairwise scan took 11 s for 20,000 values
    and hung on 100,000, in abstract and text sweeps alike; found by the text sweep fuzz test)."""
    from habsburg.experiments.sweep.spec import check_distinct

    check_distinct([1, 2.0, True, "1", [1], [2], {"a": 1}], "v")
    for values, shown in (
        ([1, 1.0], "1.0"),
        ([True, False, True], "True"),
        (["a", "b", "a"], "'a'"),
        ([[1], [2], [1]], "[1]"),
    ):
        with pytest.raises(SweepError, match=rf"v: {re.escape(shown)} is listed twice"):
            check_distinct(values, "v")
    check_distinct([i / 7 for i in range(200_000)], "v")
