"""``habsburg calibrate SPEC.toml``: likelihood-free calibration of a scenario's uncertain
settings to the published web measurements, with uncertainty (Issue 11).

ABC-SMC (Sisson et al. 2007; Beaumont et al. 2009) with pyabc (Schälte et al. 2022, JOSS): each
generation's particles are run by :class:`~habsburg.experiments.calibration.sampler.SeededSampler`
on Dask (a local cluster of single-threaded worker processes bound to 127.0.0.1 by default,
``scheduler`` for a running one) or serially, with the same particles either way and after a
resume. The
distance is the root mean square, over the targets, of (simulated − published) / published
half-width (:mod:`habsburg.experiments.calibration.simulator`), so a distance of 1 is a run at
the edge of the published uncertainty. pyabc keeps every generation in an SQLite history inside
the output directory, so a killed calibration resumes at the generation it reached.

Only points measured up to 2024-12 are targets (the spec refuses later ones); the posterior-
predictive runs go to the scenario's end, and every published point, fitted or not, is tabled
against their 90% interval with its role (:mod:`habsburg.experiments.calibration.outputs`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from habsburg.experiments.calibration.outputs import (
    BAND_SERIES,
    CALIBRATED_FROM,
    band_frame,
    calibrated_scenario,
    effective_sample_size,
    forecast_bands,
    pairplot,
    posterior_summary,
    prediction_table,
)
from habsburg.experiments.calibration.simulator import (
    Simulator,
    StandardizedDistance,
    observed,
    settings_of,
    target_key,
)
from habsburg.experiments.calibration.spec import CalibrationError, CalibrationSpec
from habsburg.experiments.changes import describe_changes
from habsburg.experiments.files import (
    atomic_write_json,
    atomic_write_parquet,
    deferred_signals,
    prepare_output_dir,
    write_results_dir,
)
from habsburg.experiments.options import check_executor_options, default_workers
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.sweep.executors import (
    check_workers,
    close_client,
    connect,
)
from habsburg.experiments.sweep.plan import point_scenario
from habsburg.experiments.versions import (
    MODEL_CODE,
    RESULT_PACKAGES,
    installed_version,
    package_versions,
    version_changes,
)
from habsburg.scenarios.errors import LimitError
from habsburg.scenarios.measurements import MEASUREMENTS
from habsburg.scenarios.schema import Scenario, get_setting
from habsburg.scenarios.writer import scenario_toml

if TYPE_CHECKING:
    from types import ModuleType

    from distributed import Client
    from pyabc import Distribution, History

#: pyabc's SQLite history (internal: resume state, kept beside the results)
DB_NAME = ".habsburg-abc.db"
#: fingerprint of the spec the history belongs to, and the versions it was begun with
STATE_NAME = ".habsburg-abc.json"
#: the packages that make a calibration's model and sampler: a history is resumed only with the
#: versions of these it was begun with (another habsburg, or other code of its model in a
#: checkout, may be another model; another pyabc, another algorithm or history format)
MODEL_PACKAGES = ("habsburg", MODEL_CODE, "pyabc")
#: the other packages a run's numbers depend on: a history begun with other versions of these is
#: resumed (the same model, other random numbers) with a note, and the results record both
NUMBER_PACKAGES = tuple(p for p in RESULT_PACKAGES if p not in MODEL_PACKAGES)


@dataclass
class CalibrationResult:
    out: Path
    posterior: pd.DataFrame
    summary: pd.DataFrame
    diagnostics: pd.DataFrame
    predictions: pd.DataFrame
    scenario: Scenario
    files: list[str]


def require_pyabc() -> ModuleType:
    try:
        import pyabc
    except ImportError:
        raise CalibrationError(
            "calibration needs the 'calibrate' extra (pyabc) and, for Dask, the 'sweep' extra: "
            "pip install 'habsburg[calibrate,sweep]'"
        ) from None
    return pyabc


def fingerprint(spec: CalibrationSpec) -> str:
    """What a resumed history must share with the spec: scenario, priors, targets, ABC
    settings that shape the generations (:func:`fingerprinted`), hashed."""
    return hashlib.sha256(json.dumps(fingerprinted(spec), sort_keys=True).encode()).hexdigest()


def fingerprinted(spec: CalibrationSpec) -> dict[str, Any]:
    """What :func:`fingerprint` hashes, as plain JSON data (recorded with a history, so a
    refusal to resume it can name what moved)."""
    data = spec.scenario.to_dict()
    data.pop("source", None)
    abc = asdict(spec.abc)
    abc.pop("generations")
    abc.pop("predictive_runs")
    abc.pop("min_epsilon")
    if abc["quantile"] == 0.5:  # the median, the schedule of every history begun before the key
        abc.pop("quantile")
    payload = {
        "scenario": data,
        "end": spec.end,
        "priors": [asdict(p) for p in spec.priors],
        "targets": [target_key(m) + f"={m.value}" for m in spec.targets],
        "abc": abc,
    }
    return json.loads(json.dumps(payload, sort_keys=True, default=str))


def result_files(spec: CalibrationSpec) -> list[str]:
    """The files a calibration of ``spec`` writes into its output directory (refused up front
    where a user's file has the name: :func:`~habsburg.experiments.files.prepare_output_dir`)."""
    return [
        "posterior.parquet",
        "posterior_summary.csv",
        "diagnostics.csv",
        "posterior_pairs.png",
        f"{spec.scenario.name}-calibrated.toml",
        "posterior_predictive.parquet",
        "forecast_bands.csv",
        "predictions.csv",
    ]


def calibration_versions() -> dict[str, str]:
    """The versions a calibration records: a results manifest's, and pyabc's."""
    return package_versions() | {"pyabc": installed_version("pyabc")}


def check_history(
    out: Path, key: str, spec: CalibrationSpec | None = None
) -> dict[str, Any] | None:
    """The versions the history in ``out`` was begun with (None if it records none, from before
    they were kept), after refusing (:class:`CalibrationError`) a history of another spec than
    the one whose :func:`fingerprint` is ``key`` (naming what differs from ``spec`` when the
    history records it), or one begun with other versions of :data:`MODEL_PACKAGES`."""
    try:
        held = json.loads((out / STATE_NAME).read_text())
    except (OSError, ValueError):
        held = None
    if not isinstance(held, dict) or held.get("fingerprint") != key:
        kept = held.get("fingerprinted") if isinstance(held, dict) else None
        moved = (
            describe_changes(kept, fingerprinted(spec))
            if isinstance(kept, dict) and spec is not None
            else ""
        )
        raise CalibrationError(
            f"{out} holds a calibration of another spec (or scenario)"
            + (f": {moved}" if moved else "")
            + "; pass --restart to discard it, or choose another --out"
        )
    begun = held.get("versions")
    changes = version_changes(begun, MODEL_PACKAGES)
    if changes:
        raise CalibrationError(
            f"{out} holds a calibration begun with {', '.join(changes)}: its generations and "
            "the rest would come from two versions of the model or of the sampler; finish it "
            "with the versions it started with, pass --restart to discard its generations, or "
            "choose another --out"
        )
    return begun if isinstance(begun, dict) else None


def finished_generations(out: Path) -> int | str:
    """How many generations the history in ``out`` holds (``"?"`` if it cannot be read: pyabc
    keeps each generation in its SQLite tables, written in one transaction)."""
    import sqlite3

    try:
        uri = f"{(out / DB_NAME).resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            return int(db.execute("select count(*) from populations where t >= 0").fetchone()[0])
    except (sqlite3.Error, TypeError):
        return "?"


#: per thread, whether a held database call is under way (one calls another: only the
#: outermost holds)
_holding = threading.local()


def _held(function: Any) -> Any:
    """``function`` with Ctrl-C and SIGTERM held until the outermost held call returns (then
    raised): a call made inside another is not a place to stop either."""

    @functools.wraps(function)
    def holding(*args: Any, **kwargs: Any) -> Any:
        if getattr(_holding, "on", False):
            return function(*args, **kwargs)
        _holding.on = True
        try:
            with deferred_signals():
                return function(*args, **kwargs)
        finally:
            _holding.on = False

    return holding


@contextlib.contextmanager
def interrupts_between_database_calls(history_class: type) -> Iterator[None]:
    """Within the block, every database call of pyabc's ``History`` (each method and property
    its ``with_session`` decorator wraps: open a session, query or write and commit, close it)
    holds Ctrl-C and SIGTERM until it returns (:func:`~habsburg.experiments.files.deferred_signals`);
    the interrupt is raised then, between database calls.

    An interrupt raised inside one left a session open or half committed: ``ABCSMC.run``'s
    ``finally`` then marks the history done, which either failed (``InvalidRequestError``: the
    command ended as an internal error, exit 3, instead of an interruption) or waited on the
    leaked session's lock for pyabc's 120 s database timeout before it could end (of SIGTERMs
    sent right after a generation was written, 2 of 6 ended as internal errors and 1 of 8 more
    hung; with the calls held, 40 of 40 ended as interruptions and resumed)."""
    saved: dict[str, Any] = {}
    for name, attr in list(vars(history_class).items()):
        if isinstance(attr, property) and hasattr(attr.fget, "__wrapped__"):
            setter = attr.fset if attr.fset is None else _held(attr.fset)
            saved[name] = attr
            setattr(
                history_class, name, property(_held(attr.fget), setter, attr.fdel, attr.__doc__)
            )
        elif inspect.isfunction(attr) and hasattr(attr, "__wrapped__"):
            saved[name] = attr
            setattr(history_class, name, _held(attr))
    try:
        yield
    finally:
        for name, attr in saved.items():
            setattr(history_class, name, attr)


def _prior(pyabc: ModuleType, spec: CalibrationSpec) -> Distribution:
    rvs = {}
    for p in spec.priors:
        if p.law == "loguniform":
            rvs[p.path] = pyabc.RV("loguniform", p.low, p.high)
        else:
            rvs[p.path] = pyabc.RV("uniform", p.low, p.high - p.low)
    return pyabc.Distribution(**rvs)


def _progress_logging(on: bool) -> None:
    """pyabc reports each generation (threshold, acceptance, ESS, timing) on its "ABC" logger."""
    logging.getLogger("ABC").setLevel(logging.INFO if on else logging.WARNING)
    for name in ("ABC.Sampler", "ABC.History", "ABC.Distance", "ABC.Epsilon", "ABC.Population"):
        logging.getLogger(name).setLevel(logging.WARNING)


def diagnostics(history: History) -> pd.DataFrame:
    """Per generation: threshold, simulations, accepted particles, acceptance rate, ESS."""
    pops = history.get_all_populations()
    rows = []
    for _, row in pops[pops["t"] >= 0].iterrows():
        t = int(row["t"])
        _, w = history.get_distribution(m=0, t=t)
        rows.append(
            {
                "generation": t,
                "epsilon": float(row["epsilon"]),
                "simulations": int(row["samples"]),
                "particles": int(row["particles"]),
                "acceptance_rate": float(row["particles"]) / max(int(row["samples"]), 1),
                "effective_sample_size": effective_sample_size(np.asarray(w)),
            }
        )
    return pd.DataFrame(rows)


class _BandRun:
    """A posterior-predictive run to the scenario's end (picklable, for Dask)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def __call__(self, values: dict[str, float], seed: int) -> pd.DataFrame:
        model = self.simulator.run(values, steps=self.simulator.scenario.steps, seed=seed)
        metrics = model.datacollector.get_model_vars_dataframe()
        keep = sorted(set(BAND_SERIES) | {m.series for m in MEASUREMENTS})
        return metrics[[c for c in keep if c in metrics]].reset_index(drop=True)


def largest_particle(spec: CalibrationSpec) -> tuple[Scenario, dict[str, Any]]:
    """The scenario, and its settings, of the particle projected to need the most memory: the
    worst corner of the prior ranges (:func:`habsburg.experiments.limits.worst_corner`)."""
    from habsburg.experiments.limits import worst_corner

    def make(values: dict[str, Any]) -> Scenario:
        return point_scenario(spec.scenario, list(settings_of(spec.priors, values).items()))

    scenario, values = worst_corner({p.path: (p.low, p.high) for p in spec.priors}, make)
    return scenario, settings_of(spec.priors, values)


def check_calibration_limits(
    spec: CalibrationSpec, runs: int = 1, *, force: bool = False, available: int | None = None
) -> None:
    """Refuse (:class:`LimitError`), before any work, a calibration whose largest particle
    (:func:`largest_particle`) would not fit this machine's memory with ``runs`` simulations at
    once; the message names the prior ranges' corner. ``force`` skips the refusal."""
    from habsburg.experiments.limits import gib, memory_shortfall, project

    if force:
        return
    scenario, settings = largest_particle(spec)
    p = project(scenario)
    can = memory_shortfall(p, runs, available)
    if can is None:
        return
    corner = ", ".join(f"{k} = {v:g}" for k, v in settings.items())
    raise LimitError(
        f"{spec.source}: a particle at {corner} (the corner of the prior ranges that needs the "
        f"most memory) is projected to publish ~{p.documents:,} documents and need "
        f"~{gib(p.memory_bytes * runs)} of memory"
        + (f" ({runs} simulations at once)" if runs > 1 else "")
        + f", more than the {gib(can)} this machine can give; narrow the prior ranges"
        + (", use fewer --workers" if runs > 1 else "")
        + " or pass --force to try anyway"
    )


def calibrate(
    spec: CalibrationSpec,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    client: Any = None,
    restart: bool = False,
    force: bool = False,
    progress: bool = False,
) -> CalibrationResult:
    """Run (or resume) the ABC-SMC calibration of ``spec`` and write its results into ``out``."""
    check_executor_options(scheduler=scheduler, workers=workers, serial=serial, client=client)
    local = not serial and client is None and scheduler is None  # a cluster started here
    check_calibration_limits(spec, (workers or default_workers()) if local else 1, force=force)
    pyabc = require_pyabc()
    out = prepare_output_dir(out, command="calibrate", force=force, expect=result_files(spec))
    db, state = out / DB_NAME, out / STATE_NAME
    key = fingerprint(spec)
    if restart:
        db.unlink(missing_ok=True)
        state.unlink(missing_ok=True)
    begun = None
    if not restart and db.exists():
        begun = check_history(out, key, spec)
        mixed = version_changes(begun, NUMBER_PACKAGES)
        if mixed:  # the same model and sampler: its particles stay draws of the same posterior
            print(
                f"note: {out} holds a calibration begun with {', '.join(mixed)}: its "
                "generations from here on are simulated with this environment's versions (the "
                "same model, other random numbers); the manifest records both",
                file=sys.stderr,
            )
    _progress_logging(progress)
    simulator = Simulator(
        spec.scenario, spec.priors, spec.targets, spec.end_step, spec.abc.window, spec.abc.seed
    )
    from habsburg.experiments.calibration.sampler import SeededSampler  # (needs pyabc)

    opened = None
    if serial:
        sampler = SeededSampler(spec.abc.seed)
    else:
        if client is not None:
            check_workers(client, "the given Dask client")
        opened = None if client is not None else connect(scheduler, workers)
        # the same particles as serially: each proposal seeded from its number
        sampler = SeededSampler(spec.abc.seed, client or opened)
    sampler.show_progress = progress
    try:
        # (an interrupt lands between pyabc's database calls, never inside one)
        with interrupts_between_database_calls(pyabc.History):
            np.random.seed(spec.abc.seed)  # noqa: NPY002  (pyabc samples from the global generator)
            initial = spec.abc.initial_epsilon or "from_sample"
            schedule = functools.partial(pyabc.epsilon.QuantileEpsilon, alpha=spec.abc.quantile)
            abc = pyabc.ABCSMC(
                simulator,
                _prior(pyabc, spec),
                StandardizedDistance(spec.targets),
                population_size=spec.abc.population,
                sampler=sampler,
                eps=schedule(initial_epsilon=initial),
            )
            url = f"sqlite:///{db}"
            if db.exists():
                try:
                    abc.load(url, 1)
                    done = abc.history.max_t + 1
                except Exception as err:  # (pyabc's and SQLAlchemy's errors alike)
                    raise CalibrationError(
                        f"{db} holds no calibration history pyabc can read ({err}); pass --restart "
                        "to discard it, or choose another --out"
                    ) from None
            else:
                begun = calibration_versions()
                atomic_write_json(
                    state,
                    {
                        "fingerprint": key,
                        "spec": spec.source,
                        "versions": begun,
                        "fingerprinted": fingerprinted(spec),
                    },
                )
                with deferred_signals():  # (creates the history: its first rows)
                    abc.new(url, observed(spec.targets))
                done = 0
            if done:  # resumed: the next threshold is the quantile of the last generation's
                # distances, as it is without the interruption (pyabc starts a run from a
                # numeric initial threshold at whatever generation it resumes)
                abc.eps = schedule(initial_epsilon="from_sample")
            remaining = spec.abc.generations - done
            if remaining > 0:
                abc.run(minimum_epsilon=spec.abc.min_epsilon, max_nr_populations=remaining)
            history = abc.history
            frame, w = history.get_distribution(m=0, t=history.max_t)
            posterior = frame.reset_index(drop=True)[[p.path for p in spec.priors]]
            posterior["weight"] = np.asarray(w) / np.sum(w)
            diag = diagnostics(history)
            bands = _predictive(posterior, simulator, spec, client or opened)
    finally:
        if opened is not None:
            close_client(opened)
    return _write(spec, out, posterior, diag, bands, begun)


def _predictive(
    posterior: pd.DataFrame,
    simulator: Simulator,
    spec: CalibrationSpec,
    client: Client | None,
) -> list[tuple[dict, pd.DataFrame]]:
    n = spec.abc.predictive_runs
    if n == 0:
        return []
    rng = np.random.default_rng(spec.abc.seed)
    picks = rng.choice(len(posterior), size=n, p=posterior["weight"].to_numpy())
    draws = [{p.path: float(posterior[p.path].iloc[i]) for p in spec.priors} for i in picks]
    # draw i on replicate seed i: fresh simulator noise, not the particle's accepted ABC run
    # again (its seed is the particle's), so a particle drawn twice gives two replicates
    seeds = replicate_seeds(spec.abc.seed, n)
    run = _BandRun(simulator)
    if client is None:
        return [(d, run(d, s)) for d, s in zip(draws, seeds, strict=True)]
    futures = client.map(run, draws, seeds, pure=False)
    return list(zip(draws, client.gather(futures), strict=True))


def _write(
    spec: CalibrationSpec,
    out: Path,
    posterior: pd.DataFrame,
    diag: pd.DataFrame,
    bands: list[tuple[dict, pd.DataFrame]],
    begun: dict[str, Any] | None = None,
) -> CalibrationResult:
    """Write the results into ``out``; ``begun``: the versions the history was begun with
    (recorded beside this environment's, which simulated the generations since)."""
    summary = posterior_summary(posterior, spec.priors)
    point = settings_of(
        spec.priors, dict(zip(summary["parameter"], summary["median"], strict=True))
    )
    name = f"{spec.scenario.name}-calibrated"
    calibrated = calibrated_scenario(spec.scenario, point, name)
    header = (
        f"{name}: scenario {spec.scenario.name!r} with the posterior medians of an ABC-SMC "
        f"calibration\n(habsburg calibrate {spec.source}; targets up to 2024-12: "
        + ", ".join(sorted({m.study for m in spec.targets}))
        + ")"
    )
    runs = [frame for _, frame in bands]
    predictions = (
        prediction_table(runs, spec.scenario, spec.abc.window, spec.targets) if runs else None
    )
    if predictions is None:
        predictions = pd.DataFrame()

    def fill(tmp: Path) -> None:
        atomic_write_parquet(posterior, tmp / "posterior.parquet")
        summary.to_csv(tmp / "posterior_summary.csv", index=False)
        diag.to_csv(tmp / "diagnostics.csv", index=False)
        pairplot(posterior, spec.priors, tmp / "posterior_pairs.png")
        (tmp / f"{name}.toml").write_text(scenario_toml(calibrated, header))
        if runs:
            long = pd.concat(
                [band_frame(i, d, f, spec.scenario) for i, (d, f) in enumerate(bands)],
                ignore_index=True,
            )
            atomic_write_parquet(long, tmp / "posterior_predictive.parquet")
            forecast_bands(long).to_csv(tmp / "forecast_bands.csv", index=False)
            predictions.to_csv(tmp / "predictions.csv", index=False)

    files = write_results_dir(
        out,
        fill,
        {
            "command": "calibrate",
            "spec": spec.source,
            "scenario": spec.scenario.name,
            "parameters": [p.path for p in spec.priors],
            # the fitted settings' values in the scenario calibrated (where the fit started):
            # a scenario run with --posterior keeps a fitted setting it sets to another value
            CALIBRATED_FROM: {p.path: get_setting(spec.scenario, p.path) for p in spec.priors},
            "targets": [target_key(m) for m in spec.targets],
            "versions": calibration_versions(),
            "history_versions": begun,
        },
        command="calibrate",
    )
    return CalibrationResult(out, posterior, summary, diag, predictions, calibrated, files)
