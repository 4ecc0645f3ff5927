"""Forecast bands from a calibration's posterior (Issue 11, item 4).

``habsburg run SCENARIO --posterior CALIB_DIR`` runs, next to the single run, ``draws`` runs of
the scenario whose settings are drawn from the calibration's posterior
(:func:`~habsburg.experiments.calibration.outputs.posterior_settings`), draw ``i`` on replicate
seed ``i`` (:func:`~habsburg.experiments.seeds.replicate_seeds`). The runs are a sweep plan
executed like any sweep (serially or on Dask). Per month and metric the band is the 5%, 50% and
95% quantile over the draws (``bands.parquet``: month, metric, q05, q50, q95, draws), so a reader
sees how much of a forecast is calibration uncertainty (and seed noise) rather than one curve.

The same posterior ensemble pairs the arms of a comparison: replicate ``r`` of every scenario
runs on draw ``r``'s settings (:func:`habsburg.experiments.sweep.plan_scenarios`). A draw sets a
fitted setting only where the scenario has the calibrated value (:func:`own_settings`): a
scenario that sets one to another value (a what-if's premise) keeps it, and one that scales it
(``[times]`` in a file that starts from another) scales each draw (:func:`scaled_settings`).

The band computation (:func:`band_table`) is pure numpy/pandas on the draws' series; reading and
checking the posterior directory comes first, so a bad ``--posterior`` fails before any run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from habsburg.experiments.calibration.outputs import CALIBRATED_FROM, posterior_settings
from habsburg.experiments.files import read_manifest
from habsburg.experiments.outcomes import BAND_OUTCOMES
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.sweep import (
    SweepPlan,
    plan_points,
    run_plan,
)
from habsburg.scenarios.errors import HabsburgError, UserError
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    _validate_references,
    changes,
    check_setting,
    get_setting,
    set_setting,
    setting_spec,
)

#: the table a run directory gains (read by the report through ``Run.table``)
BANDS_TABLE = "bands"
#: file of the posterior a calibration writes
POSTERIOR_FILE = "posterior.parquet"
#: the posterior's summary a calibration writes (parameter, mean, median, ...)
SUMMARY_FILE = "posterior_summary.csv"
#: what a damaged calibration directory's error tells the user to do
RECALIBRATE = "run `habsburg calibrate` again into another --out"
#: the series banded (the run's model metrics of the same names)
BAND_METRICS: tuple[str, ...] = BAND_OUTCOMES
#: the band's quantiles (a 90% band around the median)
QUANTILES = (0.05, 0.5, 0.95)
COLUMNS = ["month", "metric", "q05", "q50", "q95", "draws"]


class PosteriorError(UserError):
    """A ``--posterior`` directory that holds no usable calibration posterior."""


def check_posterior_dir(directory: str | Path) -> Path:
    """The calibration directory ``directory``, checked before any work: it exists and holds a
    readable ``posterior.parquet`` with a ``weight`` column of non-negative weights that sum
    to more than zero and at least one parameter column."""
    path = Path(directory)
    where = f"--posterior {directory}"
    if not path.is_dir():
        raise PosteriorError(
            f"{where}: no such directory; give the output directory of `habsburg calibrate`"
        )
    file = path / POSTERIOR_FILE
    if not file.is_file():
        raise PosteriorError(
            f"{where}: no {POSTERIOR_FILE} in it; give the output directory of a finished "
            "`habsburg calibrate` run"
        )
    try:
        posterior = pd.read_parquet(file, page_checksum_verification=True)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise PosteriorError(f"{where}: {POSTERIOR_FILE} is not readable Parquet ({err})") from None
    if "weight" not in posterior:
        raise PosteriorError(f"{where}: {POSTERIOR_FILE} has no 'weight' column")
    params = [c for c in posterior.columns if c != "weight"]
    if not params:
        raise PosteriorError(f"{where}: {POSTERIOR_FILE} has no parameter columns")
    w = pd.to_numeric(posterior["weight"], errors="coerce").to_numpy(dtype=float)
    if not len(w) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise PosteriorError(
            f"{where}: {POSTERIOR_FILE} needs finite non-negative weights with a positive sum"
        )
    bad = [c for c in params if not pd.api.types.is_numeric_dtype(posterior[c])]
    if bad:
        raise PosteriorError(f"{where}: {POSTERIOR_FILE}: non-numeric parameter columns {bad}")
    return path


def draw_settings(
    directory: str | Path, scenario: Scenario, n: int, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` settings drawn from the posterior in ``directory`` for ``scenario`` (integer
    settings rounded, as the calibration ran them): each draw without the fitted settings the
    scenario sets itself (:func:`own_settings`) and times the factor of those it scales
    (:func:`scaled_settings`). A parameter that is not a setting of the scenario, and a scaled
    draw outside its setting's range, are a :class:`PosteriorError`."""
    if n < 1:
        raise PosteriorError(f"--draws must be at least 1, got {n}")
    path = check_posterior_dir(directory)
    draws = posterior_settings(path, n, seed=seed)
    integer = {}
    for key in draws[0]:
        try:
            integer[key] = setting_spec(scenario, key)["type"] is int
        except ScenarioError as err:
            raise PosteriorError(
                f"--posterior {directory}: parameter {key!r} is not a setting of scenario "
                f"{scenario.name!r} ({err})"
            ) from None
    fitted = _fitted(scenario, calibrated_values(path), directory)
    out = []
    for i, d in enumerate(draws):
        settings = {}
        for key, v in d.items():
            rule = fitted.get(key)
            factor = 1.0 if rule is None else rule.factor
            if factor is None:
                continue  # (the scenario's own value)
            value = round(v) if integer[key] else float(v)
            if factor != 1.0:  # (as the file scales the base's value, a draw's rounded one)
                value = round(value * factor) if integer[key] else value * factor
                try:
                    check_setting(scenario, key, value)
                except ScenarioError as err:
                    raise PosteriorError(
                        f"--posterior {directory}: {rule.why if rule else key} takes draw {i}'s "
                        f"{key} = {v:.6g} to {value:.6g}, which the setting does not allow "
                        f"({err}); give {scenario.name} a smaller factor, or the value itself "
                        "in [set] (every draw then keeps it)"
                    ) from None
            settings[key] = value
        scaled = [fitted[k].why for k in settings if k in fitted and fitted[k].factor != 1.0]
        if scaled:  # (a scaled draw may break a check of the whole scenario: a share over 1)
            trial = copy.deepcopy(scenario)
            try:
                for key, value in settings.items():
                    set_setting(trial, key, value)
                _validate_references(trial, scenario.name)
            except ScenarioError as err:
                raise PosteriorError(
                    f"--posterior {directory}: {'; '.join(scaled)} takes draw {i} where "
                    f"{scenario.name} is not valid: {err}; give a smaller factor, or the value "
                    "itself in [set] (every draw then keeps it)"
                ) from None
        out.append(settings)
    return out


def calibrated_values(directory: str | Path) -> dict[str, list[Any]] | None:
    """Per fitted setting of the calibration in ``directory``, the values that mean "the
    calibrated value": the calibrated scenario's own (where the fit started: recorded in its
    manifest, or read from its spec file for a directory written before that was recorded) and
    the posterior median (a scenario written at the medians, such as ``baseline_calibrated``).
    ``None`` when where the fit started cannot be told (an older directory whose spec moved)."""
    path = Path(directory)
    manifest = read_manifest(path) or {}
    start = manifest.get(CALIBRATED_FROM)
    if start is not None and not (
        isinstance(start, dict) and all(_is_number(v) for v in start.values())
    ):
        raise PosteriorError(
            f"--posterior {directory}: {path / 'manifest.json'}: {CALIBRATED_FROM}: expected "
            "each fitted setting's value where the fit started (a setting path and a finite "
            f"number), got {start!r:.60}: not as `habsburg calibrate` writes it; {RECALIBRATE}"
        )
    if start is None:
        try:  # (the spec path as the calibration was given it: relative to where it ran)
            from habsburg.experiments.calibration.spec import load_spec

            spec = load_spec(str(manifest.get("spec", "")))
            start = {p.path: get_setting(spec.scenario, p.path) for p in spec.priors}
        except (HabsburgError, OSError, ValueError):
            return None
    summary = _medians(path, directory)
    return {
        key: [value, *([float(summary[key])] if key in summary else [])]
        for key, value in start.items()
    }


def _is_number(value: object) -> bool:
    """A finite number (a setting's value as a calibration records it), not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _medians(path: Path, directory: str | Path) -> pd.Series:
    """The posterior median of each fitted setting, by path, from the calibration's
    ``posterior_summary.csv`` (none without that file); a :class:`PosteriorError` naming the
    file when it is not the table `habsburg calibrate` writes (no ``parameter`` or ``median``
    column, a median that is not a number, a parameter named twice): a hand-edited summary was
    an internal error of ``--posterior``."""
    file = path / SUMMARY_FILE
    if not file.is_file():
        return pd.Series(dtype=float)
    where = f"--posterior {directory}: {file}"
    try:
        table = pd.read_csv(file)
        medians = table.set_index("parameter")["median"]
        values = pd.to_numeric(medians, errors="raise").astype(float)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PosteriorError(
            f"{where}: not the summary `habsburg calibrate` writes (a 'parameter' and a numeric "
            f"'median' column): {err!s:.80}; {RECALIBRATE}"
        ) from None
    twice = sorted(map(str, values.index[values.index.duplicated()].unique()))
    if twice:
        raise PosteriorError(f"{where}: parameter {twice[0]!r} has two rows; {RECALIBRATE}")
    return values


@dataclasses.dataclass(frozen=True)
class Fitted:
    """How the posterior's draws set one fitted setting of a scenario."""

    #: the scenario's value
    value: Any
    #: the values that mean "the calibrated value" (:func:`calibrated_values`)
    calibrated: list[Any]
    #: each draw times this; ``None``: the scenario's own value, kept in every draw
    factor: float | None
    #: the line of a scenario file that makes it so (``""``: the value says so)
    why: str = ""


def own_settings(directory: str | Path, scenario: Scenario) -> dict[str, tuple[Any, list[Any]]]:
    """The fitted settings ``scenario`` sets itself, which a posterior draw must not replace:
    those a file it was read through sets in ``[set]`` or adds with an item (whatever the
    value), and those whose value is none of the calibrated values (:func:`calibrated_values`;
    for a setting a file scales, the base's value), such as a whole copy's premise
    (``assisted_drift``'s assistant ceiling of 0.95, where the calibration fitted the real
    web's, 0.2-0.8). By path: the scenario's value and the calibrated ones."""
    fitted = _fitted(scenario, calibrated_values(directory), directory)
    return {k: (f.value, f.calibrated) for k, f in fitted.items() if f.factor is None}


def scaled_settings(directory: str | Path, scenario: Scenario) -> dict[str, float]:
    """The fitted settings a file ``scenario`` was read through multiplies (``[times]``) and
    that are calibrated in its base, by path: the product of the factors, by which each
    posterior draw is multiplied (a what-if that doubles the AI demand doubles every draw's)."""
    fitted = _fitted(scenario, calibrated_values(directory), directory)
    return {k: f.factor for k, f in fitted.items() if f.factor not in (None, 1.0)}


def _fitted(
    scenario: Scenario, values: dict[str, list[Any]] | None, directory: str | Path
) -> dict[str, Fitted]:
    """Each fitted setting of ``scenario`` (of :func:`calibrated_values`, read once) and how a
    draw sets it; ``{}`` when the directory cannot tell (every draw sets every setting)."""
    if values is None:
        return {}
    out = {}
    for key, calibrated in values.items():
        try:
            mine = get_setting(scenario, key)
            integer = setting_spec(scenario, key)["type"] is int
        except ScenarioError:
            continue  # (named by draw_settings: not a setting of the scenario)
        factor, why = _changed_by_files(scenario, key, directory)
        if factor is None or not isinstance(mine, (int, float)):
            out[key] = Fitted(mine, calibrated, None, why)
            continue
        base = mine / factor if factor else math.nan  # (the value before the files scale it)
        if not any(
            isinstance(v, (int, float))
            # (an integer setting's median counts rounded, as the draws are)
            and (
                math.isclose(base, v, rel_tol=1e-9)
                or (integer and math.isfinite(v) and round(v) == base)
            )
            for v in calibrated
        ):
            out[key] = Fitted(mine, calibrated, None)
        else:
            out[key] = Fitted(mine, calibrated, factor, why)
    return out


def _changed_by_files(
    scenario: Scenario, key: str, directory: str | Path
) -> tuple[float | None, str]:
    """What the files ``scenario`` was read through (:func:`~habsburg.scenarios.schema.changes`)
    do to fitted setting ``key``: the product of their ``[times]`` factors, or ``None`` when one
    sets it (``[set]``, or an item added with it); and the last such line. A line that changes
    only some of the settings ``key`` names (``models.a.x`` where ``models.*.x`` is fitted) is a
    :class:`PosteriorError`: a draw sets them alike."""
    factor: float | None = 1.0
    why = ""
    for source, tables in changes(scenario):
        lines = [("times", path, value, path) for path, value in tables["times"].items()]
        lines += [
            ("add", path, None, f"{path}.{item.get('name')}")
            for path, items in tables["add"].items()
            for item in items
            if isinstance(item, dict)
        ]
        lines += [("set", path, value, path) for path, value in tables["set"].items()]
        for table, path, value, prefix in lines:
            covered = _covers(prefix, key, whole=table != "add")
            if covered is None:
                raise PosteriorError(
                    f"--posterior {directory}: {source}: [{table}] {path!r} changes some of the "
                    f"settings the calibration fits as {key!r}, and a posterior draw sets them "
                    "alike; change all of them (with '*') or none"
                )
            if covered:
                if table == "times" and factor is not None:
                    factor *= value
                    why = f"[times] {path!r} = {value!r} in {source}"
                else:
                    factor = None
                    why = (
                        f"[set] {path!r} in {source}"
                        if table == "set"
                        else f"[[add.{path}]] {prefix.rsplit('.', 1)[1]!r} in {source}"
                    )
    return factor, why


def _covers(path: str, key: str, whole: bool = True) -> bool | None:
    """Whether a file's setting path (or, not ``whole``, an item's path ``models.a``) names
    every setting the fitted path ``key`` names (``True``), none (``False``) or some (``None``:
    ``models.a.x`` against ``models.*.x``); a ``*`` stands for every item of a list."""
    mine, theirs = path.split("."), key.split(".")
    if len(mine) > len(theirs) or (whole and len(mine) != len(theirs)):
        return False
    some = False
    for a, b in zip(mine, theirs, strict=False):
        if a == b or a == "*":
            continue
        if b != "*":
            return False
        some = True
    return None if some else True


def own_settings_note(directory: str | Path, scenario: Scenario) -> str:
    """A note for the user on the fitted settings ``scenario`` sets itself (they keep its value
    in every draw) and those it scales (each draw multiplied), or when the directory cannot
    tell (every draw sets every fitted setting); "" otherwise."""
    values = calibrated_values(directory)
    if values is None:
        return (
            f"{directory} does not record where its calibration started and its spec cannot "
            f"be read: every draw sets every fitted setting of {scenario.name}, including any "
            "it changes itself"
        )
    fitted = _fitted(scenario, values, directory)
    own = {k: f for k, f in fitted.items() if f.factor is None}
    scaled = {k: f for k, f in fitted.items() if f.factor not in (None, 1.0)}
    notes = []
    if own:
        kept = "; ".join(
            f"{key} = {f.value!r} (calibrated: {', '.join(f'{v:.6g}' for v in f.calibrated)}"
            + (f"; {f.why}" if f.why else "")
            + ")"
            for key, f in own.items()
        )
        notes.append(
            f"{scenario.name} sets {kept} itself: its runs keep "
            f"{'it' if len(own) == 1 else 'them'}, and the posterior's draws set the other "
            "fitted settings"
        )
    if scaled:
        times = "; ".join(f"{key} by {f.factor:g} ({f.why})" for key, f in scaled.items())
        notes.append(f"{scenario.name} multiplies {times}: its runs multiply each draw's value")
    return ". ".join(notes)


def posterior_plan(
    scenario: Scenario,
    settings: Sequence[Mapping[str, Any]],
    *,
    seed: int | None = None,
    steps: int | None = None,
    outcomes: Sequence[str] = BAND_OUTCOMES,
) -> SweepPlan:
    """The runs of a band: draw ``i``'s settings on replicate seed ``i`` of ``seed`` (default:
    the scenario's); every draw's scenario is validated here, before any run."""
    plan = plan_points(
        f"{scenario.name}-posterior",
        scenario,
        [dict(s) for s in settings],
        seeds=1,
        outcomes=outcomes,
        steps=steps,
        where="--posterior",
    )
    seeds = replicate_seeds(scenario.seed if seed is None else seed, len(plan.tasks))
    plan.tasks = [
        dataclasses.replace(t, run_id=f"d{i:04d}", replicate=i, seed=s)
        for i, (t, s) in enumerate(zip(plan.tasks, seeds, strict=True))
    ]
    return plan


def band_table(series: pd.DataFrame, metrics: Sequence[str] = BAND_METRICS) -> pd.DataFrame:
    """Per month and metric, the 5/50/95% quantiles over the draws of ``series`` (long: one row
    per draw and month, columns ``month`` and the metrics); ``draws`` counts the draws with a
    value (months where a metric is undefined in every draw are left out)."""
    present = [m for m in metrics if m in series]
    if not present or not len(series):
        return pd.DataFrame(columns=COLUMNS)
    months = pd.unique(series["month"])
    order = {m: i for i, m in enumerate(months)}
    idx = series["month"].map(order).to_numpy()
    rows = []
    for metric in present:
        values = series[metric].to_numpy(dtype=np.float64)
        for i, month in enumerate(months):
            v = values[idx == i]
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            q05, q50, q95 = np.quantile(v, QUANTILES)
            rows.append((month, metric, q05, q50, q95, v.size))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["draws"] = out["draws"].astype(np.int32)
    return out


def run_posterior_draws(
    plan: SweepPlan,
    *,
    progress: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Run the draws of ``plan`` (:func:`posterior_plan`; serially unless a Dask ``client``,
    ``scheduler`` or ``workers`` is given) and return their series (``draw``, ``step``,
    ``month``, the band metrics); a failed draw is an error (a band needs every draw)."""
    outputs = run_plan(plan, progress=progress, client=client, scheduler=scheduler, workers=workers)
    for out in outputs:
        if out.error is not None:
            raise RuntimeError(
                f"posterior draw {out.task.replicate} (seed {out.task.seed}) failed: "
                f"{out.error}\n{out.traceback}"
            )
    outputs.sort(key=lambda o: o.task.replicate)
    return pd.concat(
        [o.series.assign(draw=o.task.replicate) for o in outputs if o.series is not None],
        ignore_index=True,
    )
