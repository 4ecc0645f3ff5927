"""EMA Workbench adapter: parameters from the schema, outcomes equal to sweep runs, PRIM."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "ipyparallel not installed"
    ema_workbench = pytest.importorskip("ema_workbench")

from habsburg.experiments.ema import (
    ema_model,
    ema_parameter,
    find_box,
    parameter_frame,
    seeded_sampling,
)
from habsburg.experiments.sweep import RunTask, execute_run, point_scenario
from habsburg.scenarios.errors import LimitError
from habsburg.scenarios.schema import ScenarioError, load_file

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
STEPS = 10
OUTCOMES = ["final_synthetic_share_new", "final_mean_tail_coverage", "synthetic_share_new"]


@pytest.fixture(scope="module")
def tiny():
    return load_file(TINY)


def _experiments(tiny, scenarios: int, seed: int):
    model = ema_model(
        tiny,
        {"demand.adoption.ceiling": (0.0, 800.0), "humans.error_rate": None},
        {"watermark.adoption": None, "models.*.data.mode": None},
        OUTCOMES,
        steps=STEPS,
    )
    with ema_workbench.SequentialEvaluator(model) as evaluator:
        exps, outs = ema_workbench.perform_experiments(
            model, scenarios=scenarios, policies=1, evaluator=evaluator, **seeded_sampling(seed)
        )
    return model, exps, outs


@pytest.fixture(scope="module")
def experiments(tiny):
    return _experiments(tiny, 12, tiny.seed)


def test_a_seed_reproduces_the_sampled_experiments(tiny):
    """EMA samples scenarios and policies afresh on every call unless seeded (ema-workbench 2.5
    from numpy's global generator, 3.x from a new one): with ``seeded_sampling`` the same seed
    gives the same experiments and outcomes, another seed other experiments."""
    names = ["demand_adoption_ceiling", "humans_error_rate", "watermark_adoption"]
    _, first, outs = _experiments(tiny, 3, 11)
    _, again, outs_again = _experiments(tiny, 3, 11)
    _, other, _ = _experiments(tiny, 3, 12)
    pd.testing.assert_frame_equal(first[names], again[names])
    np.testing.assert_array_equal(outs["synthetic_share_new"], outs_again["synthetic_share_new"])
    assert not np.allclose(first[names].to_numpy(float), other[names].to_numpy(float))


def test_parameters_follow_the_schema(tiny):
    p = ema_parameter(tiny, "watermark.adoption")
    assert isinstance(p, ema_workbench.RealParameter)
    assert (p.lower_bound, p.upper_bound) == (0.0, 1.0)  # the declared range
    p = ema_parameter(tiny, "models.*.retrain_interval", (2, 8))
    assert isinstance(p, ema_workbench.IntegerParameter) and p.name == "models_all_retrain_interval"
    assert isinstance(ema_parameter(tiny, "models.*.data.dedup"), ema_workbench.BooleanParameter)
    modes = ema_parameter(tiny, "models.*.data.mode")
    assert isinstance(modes, ema_workbench.CategoricalParameter)
    assert {c.value for c in modes.categories} == {"replace", "accumulate", "accumulate_subsample"}


@pytest.mark.parametrize(
    ("path", "bounds", "message"),
    [
        ("watermark.adoptoin", None, "did you mean 'adoption'"),
        ("watermark.adoption", (0.0, 2.0), "out of range"),
        ("watermark.adoption", (0.5, 0.5), "empty"),
        ("models.*.data.distill_from", None, "needs a list"),
        ("models.*.name", None, "names cannot be changed"),
    ],
)
def test_bad_parameters_are_named_errors(tiny, path, bounds, message):
    with pytest.raises(ScenarioError, match=message):
        ema_parameter(tiny, path, bounds)


def test_experiments_are_sweep_runs(tiny, experiments):
    _, exps, outs = experiments
    assert len(exps) == 12
    assert outs["synthetic_share_new"].shape == (12, STEPS)
    assert np.isfinite(outs["final_synthetic_share_new"]).all()
    # experiment 3 again, as a sweep run with the same settings and seed: same numbers
    row = exps.iloc[3]
    settings = (
        ("demand.adoption.ceiling", float(row["demand_adoption_ceiling"])),
        ("humans.error_rate", float(row["humans_error_rate"])),
        ("watermark.adoption", float(row["watermark_adoption"])),
        ("models.*.data.mode", str(row["models_all_data_mode"])),
    )
    run = execute_run(RunTask("check", 0, 0, tiny.seed, settings), tiny, OUTCOMES, STEPS)
    assert run.scalars["final_synthetic_share_new"] == outs["final_synthetic_share_new"][3]
    assert run.series is not None
    np.testing.assert_array_equal(run.series["synthetic_share_new"], outs["synthetic_share_new"][3])


def test_prim_finds_the_demand_driven_box(experiments):
    model, exps, outs = experiments
    share = outs["final_synthetic_share_new"]
    box = find_box(parameter_frame(exps, model), share > np.median(share), threshold=0.8)
    assert box is not None
    stats, limits = box.inspect(style="data")[0]
    assert "demand_adoption_ceiling" in limits.index  # more AI demand, more synthetic text
    low = limits.loc["demand_adoption_ceiling"].iloc[0]
    assert low > 100.0 and stats["density"] >= 0.8


def test_replications_run_on_derived_seeds(tiny):
    model = ema_model(
        tiny,
        ["watermark.adoption"],
        outcomes=["final_synthetic_share_new"],
        steps=4,
        replications=2,
    )
    seeds = [r["seed"] for r in model.replications]
    assert len(set(seeds)) == 2
    with pytest.raises(ScenarioError, match="listed twice"):
        ema_model(tiny, ["watermark.adoption"], ["watermark.adoption"], steps=4)


@pytest.mark.parametrize("case", [True, False])
def test_prim_of_a_single_case_is_no_box(experiments, case):
    """Every experiment of interest, or none (one experiment, or outcomes all equal): nothing
    to separate, so no box, where EMA's PRIM failed an assertion (``ema_prim.py
    --scenarios 1 --policies 1`` ended in an internal error)."""
    model, exps, _ = experiments
    x = parameter_frame(exps, model)
    assert find_box(x, np.full(len(x), case)) is None


def test_scaled_experiments_are_scaled_sweep_runs_with_their_stores_in_files(
    tiny, tmp_path, monkeypatch
):
    """``scale`` runs each experiment as a sweep run scaled after its settings; ``store_dir``
    keeps its store in files in a private directory of the experiment's own (EMA may run
    several in one directory), removed when it ends: the user's files there are left alone,
    and the numbers are the in-memory run's."""
    import habsburg.experiments.ema as ema_mod

    stores = tmp_path / "stores"
    stores.mkdir()
    (stores / "ema").write_text("the user's")  # the name a sweep run's directory would take
    used = []

    def spy(task, base, outcomes, steps=None, scale=None, store_dir=None):
        used.append((scale, Path(store_dir)))
        assert Path(store_dir).parent == stores and Path(store_dir).is_dir()
        return execute_run(task, base, outcomes, steps, scale, store_dir)

    monkeypatch.setattr(ema_mod, "execute_run", spy)
    model = ema_model(
        tiny,
        {"demand.adoption.ceiling": (0.0, 800.0)},
        {"watermark.adoption": None},
        OUTCOMES,
        steps=STEPS,
        scale=2,
        store_dir=stores,
    )
    with ema_workbench.SequentialEvaluator(model) as evaluator:
        exps, outs = ema_workbench.perform_experiments(
            model, scenarios=2, policies=1, evaluator=evaluator, **seeded_sampling(3)
        )
    assert [s for s, _ in used] == [2.0, 2.0] and used[0][1] != used[1][1]
    assert [p.name for p in stores.iterdir()] == ["ema"]  # the experiments' directories gone
    assert (stores / "ema").read_text() == "the user's"
    row = exps.iloc[1]
    settings = (
        ("demand.adoption.ceiling", float(row["demand_adoption_ceiling"])),
        ("watermark.adoption", float(row["watermark_adoption"])),
    )
    task = RunTask("check", 0, 0, tiny.seed, settings)
    scaled = execute_run(task, tiny, OUTCOMES, STEPS, scale=2)  # in memory
    assert scaled.series is not None
    np.testing.assert_array_equal(
        scaled.series["synthetic_share_new"], outs["synthetic_share_new"][1]
    )
    unscaled = execute_run(task, tiny, OUTCOMES, STEPS)
    assert unscaled.series is not None
    assert not np.array_equal(
        unscaled.series["synthetic_share_new"], outs["synthetic_share_new"][1]
    )


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf"), 2e6, "2"])
def test_a_bad_scale_is_refused(tiny, scale):
    with pytest.raises(ScenarioError, match=r"EMA model: scale must be a finite number > 0"):
        ema_model(tiny, ["watermark.adoption"], steps=4, scale=scale)


def test_a_store_dir_that_is_a_file_is_refused(tiny, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScenarioError, match=r"store_dir .*file.* is not a directory"):
        ema_model(tiny, ["watermark.adoption"], steps=4, store_dir=tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


def test_a_model_refused_after_its_store_dir_was_checked_makes_no_directory(tiny, tmp_path):
    """A model refused after its ``store_dir`` was checked leaves no directory behind."""
    with pytest.raises(ScenarioError, match="name at least one uncertainty or lever"):
        ema_model(tiny, [], steps=4, store_dir=tmp_path / "new" / "stores")
    assert not (tmp_path / "new").exists()


def test_ranges_whose_largest_experiment_would_not_fit_are_refused(tiny, monkeypatch):
    """The corner of the ranges that needs the most memory is named (more AI demand publishes
    more documents; the watermark's adoption moves no document count), unless ``force``."""
    import habsburg.experiments.limits as limits

    ranges = {"demand.adoption.ceiling": (0.0, 800.0), "watermark.adoption": None}

    def need(ceiling: float) -> int:
        settings = [("demand.adoption.ceiling", ceiling)]
        return limits.project(point_scenario(tiny, settings, 3), STEPS).memory_bytes

    assert need(800.0) > need(100.0)
    between = (need(800.0) + need(100.0)) / 2 / limits.MEMORY_SHARE
    monkeypatch.setattr(limits, "available_memory", lambda: int(between))
    with pytest.raises(LimitError) as err:
        ema_model(tiny, ranges, steps=STEPS, scale=3)
    message = str(err.value)
    assert "at scale 3 with demand.adoption.ceiling = 800.0" in message, message
    assert "give a store_dir" in message and "force=True" in message
    ema_model(tiny, ranges, steps=STEPS, scale=3, force=True)  # tried anyway
    ema_model(tiny, {"demand.adoption.ceiling": (0.0, 100.0)}, steps=STEPS, scale=3)  # fits


def test_experiments_that_run_at_once_are_counted_in_memory_and_disk(tiny, tmp_path, monkeypatch):
    """EMA's multiprocessing evaluator runs one experiment per process: ``processes`` of the
    largest one must fit the memory, and with a ``store_dir`` their store columns the free disk
    there (an experiment writes no tables)."""
    import habsburg.experiments.limits as limits

    ranges = {"demand.adoption.ceiling": (0.0, 800.0)}
    worst = point_scenario(tiny, [("demand.adoption.ceiling", 800.0)], 3)
    memory = limits.project(worst, STEPS).memory_bytes
    # room for one of the largest experiments and not for two
    monkeypatch.setattr(limits, "available_memory", lambda: int(1.5 * memory / limits.MEMORY_SHARE))
    ema_model(tiny, ranges, steps=STEPS, scale=3)
    with pytest.raises(LimitError) as err:
        ema_model(tiny, ranges, steps=STEPS, scale=3, processes=2)
    message = str(err.value)
    assert "2 experiments at once need more than" in message, message
    assert "demand.adoption.ceiling = 800.0" in message and "run fewer at once" in message
    ema_model(tiny, ranges, steps=STEPS, scale=3, processes=2, force=True)
    # on disk: the crawl window in memory, every month's columns in store_dir
    monkeypatch.setattr(limits, "available_memory", lambda: None)  # (memory unknown: not checked)
    columns = limits.project(worst, STEPS, on_disk=True).store_bytes
    free = int(1.5 * columns / limits.DISK_SHARE)
    usage = limits.shutil.disk_usage

    def disk_usage(path):
        return usage(path)._replace(free=free) if str(path) == str(tmp_path) else usage(path)

    monkeypatch.setattr(limits.shutil, "disk_usage", disk_usage)
    ema_model(tiny, ranges, steps=STEPS, scale=3, store_dir=tmp_path, processes=1)
    with pytest.raises(LimitError) as err:
        ema_model(tiny, ranges, steps=STEPS, scale=3, store_dir=tmp_path, processes=2)
    message = str(err.value)
    assert "of store columns in store_dir" in message and str(tmp_path) in message, message
    assert "2 experiments at once need more than" in message and "larger disk" in message
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("processes", [0, -2, 1.5, "2", True, None])
def test_a_bad_processes_is_refused(tiny, processes):
    with pytest.raises(ScenarioError, match=r"EMA model: processes must be a whole number >= 1"):
        ema_model(tiny, ["watermark.adoption"], steps=4, processes=processes)
