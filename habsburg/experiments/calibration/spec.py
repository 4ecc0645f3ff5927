"""Calibration specs: the TOML a user writes, checked by the scenario schema's own code.

A spec names a base scenario, the uncertain settings to estimate (setting paths with a prior
range), the published measurements to fit (all calibration targets by default, or some studies,
or explicit ``[[targets]]`` for tests on data the model simulated itself) and the ABC-SMC
settings. Its keys are declared with :func:`~habsburg.scenarios.schema.param` and read by
:func:`~habsburg.scenarios.schema.build`, so a typo gets the usual "unknown key ... did you
mean ... allowed: ..." message naming the file; a target measured after
:data:`~habsburg.scenarios.measurements.CALIBRATION_CUTOFF` is refused (it is evidence, not a
target).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from habsburg.experiments.options import read_spec
from habsburg.scenarios.inputs import is_file
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.measurements import (
    CALIBRATION_CUTOFF,
    MEASUREMENTS,
    Measurement,
    calibration_targets,
)
from habsburg.scenarios.parameters import INTEGER, parameter
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    build,
    check_name,
    param,
    parse_month,
)

PRIORS = ("uniform", "loguniform")


class CalibrationError(ScenarioError):
    """A user error in a calibration spec or its options (printed without a traceback, exit 2)."""


@dataclass
class ParameterDeclaration:
    """One ``[[parameters]]`` table: a setting and its prior."""

    path: str = param("", help="setting path, e.g. 'demand.adoption.ceiling'")
    range: list[float] = param(None, help="[low, high] of the prior (default: declared range)")
    prior: str = param("uniform", help="prior law over the range", choices=PRIORS)


@dataclass
class TargetDeclaration:
    """One ``[[targets]]`` table: a data point to fit instead of the published ones."""

    series: str = param("", help="simulated series (a model metric), e.g. 'graphite_ai_share'")
    month: str = param("", help="month of the measurement (YYYY-MM, at most the cutoff)")
    value: float = param(0.0, -1e12, 1e12, "measured value")
    half_width: float = param(0.05, 1e-9, 1e12, "uncertainty: half-width of its interval")


@dataclass
class AbcDeclaration:
    """The ``[abc]`` table: ABC-SMC settings (pyabc)."""

    population: int = param(40, 4, 1_000_000, "particles per generation")
    generations: int = param(5, 1, 1000, "SMC generations (populations)")
    min_epsilon: float = param(0.0, 0.0, 1e12, "stop when the distance threshold reaches this")
    initial_epsilon: float = param(
        0.0, 0.0, 1e12, "first generation's distance threshold (0: from a prior sample)"
    )
    quantile: float = param(
        0.5,
        0.05,
        0.95,
        "each later threshold: this weighted quantile of the generation before's distances "
        "(0.5: the median; higher: a slower schedule, more generations to the same threshold)",
    )
    window: int = param(1, 0, 24, "months averaged on each side of a target month")
    predictive_runs: int = param(50, 0, 100_000, "posterior-predictive runs (to the scenario end)")
    seed: int = param(1, 0, 2**32 - 1, "seed of the sampler and of the simulations' seeds")


@dataclass
class SpecDeclaration:
    """A calibration spec file."""

    name: str = param("", help="calibration name (default: the file name)")
    description: str = param("", help="what is calibrated and why")
    scenario: str = param("baseline", help="library scenario or scenario file (beside the spec)")
    end: str = param("", help="last simulated month of each ABC run (default: last target)")
    studies: list[str] = param(None, help="published studies to fit (default: all targets)")
    parameters: list[ParameterDeclaration] = param(None, factory=list)
    targets: list[TargetDeclaration] = param(None, factory=list)
    abc: AbcDeclaration = param(None, factory=AbcDeclaration)


@dataclass(frozen=True)
class Prior:
    """A parameter to estimate: setting path, prior law and range, integer or real."""

    path: str
    low: float
    high: float
    law: str = "uniform"
    integer: bool = False


@dataclass(frozen=True)
class CalibrationSpec:
    name: str
    description: str
    scenario: Scenario
    end: str
    priors: tuple[Prior, ...]
    targets: tuple[Measurement, ...]
    abc: AbcDeclaration
    source: str = "<spec>"

    @property
    def end_step(self) -> int:
        return self.scenario.month_to_step(self.end, "end")


def _month_ok(month: str, where: str) -> str:
    if parse_month(month, where) > parse_month(CALIBRATION_CUTOFF, "cutoff"):
        raise CalibrationError(
            f"{where}: {month} is after {CALIBRATION_CUTOFF}; calibrate only to data published "
            f"for months up to {CALIBRATION_CUTOFF} (later points are out-of-sample predictions)"
        )
    return month


def _targets(decl: SpecDeclaration, where: str) -> tuple[Measurement, ...]:
    if decl.targets:
        if decl.studies:
            raise CalibrationError(f"{where}: give either 'studies' or [[targets]], not both")
        from habsburg.model.reporters import MODEL_METRICS  # (the simulator: only for [[targets]])

        out = []
        for i, t in enumerate(decl.targets):
            key = f"{where}: targets[{i}]"
            if not t.series or not t.month:
                raise CalibrationError(f"{key}: needs 'series' and 'month'")
            if t.series not in MODEL_METRICS:
                raise CalibrationError(
                    f"{key}.series: unknown series {t.series!r}; series: {sorted(MODEL_METRICS)}"
                )
            _month_ok(t.month, f"{key}.month")
            out.append(
                Measurement(
                    "spec",
                    t.series,
                    t.month,
                    t.value,
                    where,
                    "",
                    t.value - t.half_width,
                    t.value + t.half_width,
                )
            )
        return tuple(out)
    known = sorted({m.study for m in MEASUREMENTS})
    fit = sorted({m.study for m in calibration_targets()})
    chosen = decl.studies if decl.studies is not None else fit
    for s in chosen:
        if s not in known:
            raise CalibrationError(f"{where}: studies: unknown study {s!r}; studies: {known}")
        if s not in fit:
            raise CalibrationError(
                f"{where}: studies: {s!r} published only after {CALIBRATION_CUTOFF}; it is "
                f"out-of-sample, not a target (calibration targets: {fit})"
            )
    return tuple(m for m in calibration_targets() if m.study in chosen)


def _priors(decl: SpecDeclaration, sc: Scenario, where: str) -> tuple[Prior, ...]:
    if not decl.parameters:
        raise CalibrationError(f"{where}: no [[parameters]]; name at least one setting to estimate")
    out, seen = [], set()
    for i, p in enumerate(decl.parameters):
        key = f"{where}: parameters[{i}]"
        if p.path in seen:
            raise CalibrationError(f"{key}: {p.path!r} is listed twice")
        seen.add(p.path)
        try:
            typed = parameter(sc, p.path, key)
            low, high = typed.bounds(p.range, key)
        except CalibrationError:
            raise
        except ScenarioError as err:
            raise CalibrationError(str(err)) from None
        if not low < high:
            raise CalibrationError(f"{key}: range [{low}, {high}] of {p.path!r} is empty")
        if p.prior == "loguniform" and low <= 0:
            raise CalibrationError(f"{key}: a loguniform prior needs low > 0, got {low}")
        out.append(Prior(p.path, float(low), float(high), p.prior, typed.kind == INTEGER))
    return tuple(out)


def spec_from_dict(
    data: dict[str, Any], source: str = "<spec>", base: Path | None = None
) -> CalibrationSpec:
    """Validate a spec mapping (``base``: directory scenario files are relative to)."""
    try:
        decl = build(SpecDeclaration, data, "")
    except ScenarioError as err:
        raise CalibrationError(f"{source}: {err}") from None
    name = decl.scenario
    candidate = (base / name) if base is not None else None
    try:
        sc = load_scenario(candidate if candidate is not None and is_file(candidate) else name)
    except ScenarioError as err:  # (named neither the spec file nor its key)
        raise CalibrationError(f"{source}: scenario: {err}") from None
    targets = _targets(decl, source)
    if not targets:
        raise CalibrationError(f"{source}: no targets to fit")
    last = max(targets, key=lambda m: parse_month(m.month, "month")).month
    end = _month_ok(decl.end, f"{source}: end") if decl.end else last
    if parse_month(end, "end") < parse_month(last, "month"):
        raise CalibrationError(f"{source}: end {end} is before the last target month {last}")
    if not 0 <= sc.month_to_step(end, "end") < sc.steps:
        raise CalibrationError(
            f"{source}: end {end} is outside scenario {sc.name!r} ({sc.start}..{sc.end})"
        )
    if decl.abc.window and sc.month_to_step(last) + decl.abc.window > sc.month_to_step(end):
        end = sc.step_to_month(min(sc.steps - 1, sc.month_to_step(last) + decl.abc.window))
    name = decl.name or (Path(source).stem if source != "<spec>" else "calibration")
    try:  # it names results/calibration/NAME: "../x" or "/tmp/x" wrote elsewhere
        check_name(name, f"{source}: name", "calibration")
    except ScenarioError as err:
        raise CalibrationError(str(err)) from None
    return CalibrationSpec(
        name=name,
        description=decl.description,
        scenario=sc,
        end=end,
        priors=_priors(decl, sc, source),
        targets=targets,
        abc=decl.abc,
        source=source,
    )


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file."""
    path = Path(path)
    # missing, binary, not UTF-8, empty, not TOML: named
    data = read_spec(path, "calibration spec", CalibrationError)
    return spec_from_dict(data, str(path), path.parent)
