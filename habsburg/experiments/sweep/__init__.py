"""Parameter sweeps: a grid or a sample of settings × seeds, run serially or on Dask, one Parquet
file per run.

A sweep spec (TOML) names a base scenario, parameters (setting paths, validated as the scenario
schema's typed parameters) with grids, ranges or a Latin-hypercube / Sobol sample, the outcomes to
record (:mod:`habsburg.experiments.outcomes`) and a number of seeds. Every run is a pure function
of (scenario, settings, seed), so the same run gives the same numbers serially, on a local
cluster, or on any worker of a remote one. One module per concern:

``spec``           the spec file's declarations and its axes (swept settings)
``plan``           the runs: points × replicate seeds, or scenarios × seeds (comparisons)
``executors``      one run, and where runs execute (serial, Dask)
``storage``        the sweep directory: one file per run, the manifest, the summary tables
``orchestration``  running a plan on an executor into storage

The package's names load their module when first named (PEP 562): a spec is read and checked
without the executors, which load the simulator (Mesa, networkx), so a spec with an error in it
is refused before they load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from habsburg import lazy_names

if TYPE_CHECKING:
    from habsburg.experiments.options import (
        MAX_RUNS,
        SweepError,
        check_executor_options,
        check_scheduler_address,
    )
    from habsburg.experiments.seeds import replicate_seeds
    from habsburg.experiments.sweep.executors import (
        DaskExecutor,
        RunOutput,
        SerialExecutor,
        check_workers,
        close_client,
        connect,
        execute_run,
        open_executor,
    )
    from habsburg.experiments.sweep.orchestration import (
        SweepResult,
        point_summary,
        run_plan,
        run_sweep,
        run_tasks,
    )
    from habsburg.experiments.sweep.plan import (
        RunTask,
        SweepPlan,
        native,
        plan_points,
        plan_scenarios,
        plan_spec,
        point_scenario,
    )
    from habsburg.experiments.sweep.spec import (
        Axis,
        SweepSpec,
        load_spec,
        spec_from_dict,
        with_scale,
    )
    from habsburg.experiments.sweep.storage import (
        MANIFEST,
        check_output,
        finished_runs,
        load_failures,
        load_results,
        write_manifest,
        write_run_output,
    )

_LAZY = {
    "MAX_RUNS": "habsburg.experiments.options",
    "SweepError": "habsburg.experiments.options",
    "check_executor_options": "habsburg.experiments.options",
    "check_scheduler_address": "habsburg.experiments.options",
    "replicate_seeds": "habsburg.experiments.seeds",
    "DaskExecutor": "habsburg.experiments.sweep.executors",
    "RunOutput": "habsburg.experiments.sweep.executors",
    "SerialExecutor": "habsburg.experiments.sweep.executors",
    "check_workers": "habsburg.experiments.sweep.executors",
    "close_client": "habsburg.experiments.sweep.executors",
    "connect": "habsburg.experiments.sweep.executors",
    "execute_run": "habsburg.experiments.sweep.executors",
    "open_executor": "habsburg.experiments.sweep.executors",
    "SweepResult": "habsburg.experiments.sweep.orchestration",
    "point_summary": "habsburg.experiments.sweep.orchestration",
    "run_plan": "habsburg.experiments.sweep.orchestration",
    "run_sweep": "habsburg.experiments.sweep.orchestration",
    "run_tasks": "habsburg.experiments.sweep.orchestration",
    "RunTask": "habsburg.experiments.sweep.plan",
    "SweepPlan": "habsburg.experiments.sweep.plan",
    "native": "habsburg.experiments.sweep.plan",
    "plan_points": "habsburg.experiments.sweep.plan",
    "plan_scenarios": "habsburg.experiments.sweep.plan",
    "plan_spec": "habsburg.experiments.sweep.plan",
    "point_scenario": "habsburg.experiments.sweep.plan",
    "Axis": "habsburg.experiments.sweep.spec",
    "SweepSpec": "habsburg.experiments.sweep.spec",
    "load_spec": "habsburg.experiments.sweep.spec",
    "spec_from_dict": "habsburg.experiments.sweep.spec",
    "with_scale": "habsburg.experiments.sweep.spec",
    "MANIFEST": "habsburg.experiments.sweep.storage",
    "check_output": "habsburg.experiments.sweep.storage",
    "finished_runs": "habsburg.experiments.sweep.storage",
    "load_failures": "habsburg.experiments.sweep.storage",
    "load_results": "habsburg.experiments.sweep.storage",
    "write_manifest": "habsburg.experiments.sweep.storage",
    "write_run_output": "habsburg.experiments.sweep.storage",
}

__all__ = [
    "MANIFEST",
    "MAX_RUNS",
    "Axis",
    "DaskExecutor",
    "RunOutput",
    "RunTask",
    "SerialExecutor",
    "SweepError",
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "check_executor_options",
    "check_output",
    "check_scheduler_address",
    "check_workers",
    "close_client",
    "connect",
    "execute_run",
    "finished_runs",
    "load_failures",
    "load_results",
    "load_spec",
    "native",
    "open_executor",
    "plan_points",
    "plan_scenarios",
    "plan_spec",
    "point_scenario",
    "point_summary",
    "replicate_seeds",
    "run_plan",
    "run_sweep",
    "run_tasks",
    "spec_from_dict",
    "with_scale",
    "write_manifest",
    "write_run_output",
]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)
