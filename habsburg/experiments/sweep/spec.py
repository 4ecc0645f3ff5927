"""Sweep specs: the TOML a user writes, validated by the scenario schema's own code.

A spec names a base scenario, the parameters to vary (setting paths with values, or ranges with
a grid size or a sample), the outcomes to record and the number of seeds. Its keys are declared
here with :func:`~habsburg.scenarios.schema.param`, like a scenario's, and checked by
:func:`~habsburg.scenarios.schema.build`, so a typo gets the same "unknown key ... did you mean
... allowed: ..." message as in a scenario file. Every swept setting is an :class:`Axis` over the
setting's typed :class:`~habsburg.scenarios.parameters.Parameter`, which validates its values
and supplies its declared range or choices.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from habsburg.experiments.limits import MAX_SCALE
from habsburg.experiments.options import MAX_RUNS, SweepError, read_spec
from habsburg.experiments.outcomes import DEFAULT_OUTCOMES, check_outcomes
from habsburg.scenarios.declare import MAX_SEED
from habsburg.scenarios.inputs import is_file
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.parameters import (
    INTEGER,
    Parameter,
    Parameters,
    _declare,
    parameters,
)
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    _validate_references,
    build,
    check_name,
    param,
    set_setting,
    setting_notes,
    setting_table,
)

METHODS = ("grid", "latin", "sobol")
SENSITIVITY_METHODS = ("sobol", "morris")
#: the smallest factor of a swept ``scale`` (any factor > 0 runs; a smaller one is a typo, not
#: a study: the baseline's 2,000 authors are down to their floor of one from 0.00025 on)
MIN_SCALE = 1e-6
#: the path of a swept scale factor: not a setting of the scenario but the factor
#: :func:`~habsburg.scenarios.library.scaled` applies to each point's scenario after its
#: settings, as the spec's own ``scale`` does for every point
SCALE_PATH = "scale"


# --------------------------------------------------------------------------------------------
# Declarations of the spec file (checked by the schema's ``build``)
# --------------------------------------------------------------------------------------------
@dataclass
class AxisDeclaration:
    """One ``[[parameters]]`` table."""

    path: str = param(
        "",
        help="setting path, e.g. 'watermark.adoption' or 'models.*.temperature', or 'scale' "
        "(each point's scale factor)",
    )
    values: list[Any] = param(None, help="grid points or choices")
    range: list[Any] = param(None, help="[low, high] (default: the declared range)")
    num: int = param(None, 1, 1_000_000, "evenly spaced grid points over the range")
    log: bool = param(
        False,
        help="space the range's grid points, samples or sensitivity levels evenly in log10 (for "
        "a range over orders of magnitude; needs low > 0)",
    )


@dataclass
class SensitivityDeclaration:
    """The ``[sensitivity]`` table (read by ``habsburg sensitivity``)."""

    methods: list[str] = param(
        None, help="'sobol' and/or 'morris'", factory=lambda: ["sobol", "morris"]
    )
    outcomes: list[str] = param(None, help="scalar outcomes (default: the spec's scalar outcomes)")
    sobol_samples: int = param(64, 2, 1_000_000, "N of the Saltelli design (a power of two)")
    second_order: bool = param(False, help="second-order indices (N·(2D+2) points)")
    morris_trajectories: int = param(10, 2, 1_000_000, "r: Morris trajectories")
    morris_levels: int = param(4, 2, 1000, "grid levels of the Morris design (even)")


@dataclass
class SpecDeclaration:
    """A sweep spec file."""

    name: str = param("", help="sweep name (default: the file name)")
    description: str = param("", help="what the sweep asks")
    scenario: str = param("baseline", help="library scenario or scenario file (beside the spec)")
    seeds: int = param(1, 1, 1_000_000, "replicate runs per parameter point")
    seed: int = param(
        None, 0, MAX_SEED, "seed the replicate seeds derive from (default: the scenario's)"
    )
    steps: int = param(None, 1, 10_000_000, "months per run (default: the whole scenario)")
    scale: float = param(
        None,
        0.0,
        MAX_SCALE,
        "every point's scenario scaled by this factor after its settings (habsburg.scenarios."
        "library.scaled; the spec's values are read at 1x; default: 1)",
    )
    method: str = param("grid", help="how points are chosen", choices=METHODS)
    samples: int = param(0, 0, 100_000_000, "points of a Latin-hypercube or Sobol sample")
    outcomes: list[str] = param(
        None, help="outcomes to record", factory=lambda: list(DEFAULT_OUTCOMES)
    )
    set: dict[str, Any] = param(None, help="setting path = value applied to the base", factory=dict)
    parameters: list[AxisDeclaration] = param(None, help="[[parameters]] to vary", factory=list)
    sensitivity: SensitivityDeclaration = param(None, factory=SensitivityDeclaration)


@dataclass
class _ScaleDeclaration:
    """What a swept ``scale`` may take (checked as a setting's values are)."""

    scale: float = param(
        1.0,
        MIN_SCALE,
        MAX_SCALE,
        "scale factor of the point's scenario (habsburg.scenarios.library.scaled: authors, "
        "demand, farm output, crawls, budgets, sites), applied after its other settings",
    )


def scale_parameter() -> Parameter:
    """The typed parameter of a swept ``scale`` (path :data:`SCALE_PATH`), built from its
    declaration as every setting's is."""
    return _declare(_ScaleDeclaration, "scale", SCALE_PATH)


# --------------------------------------------------------------------------------------------
# Axes: swept settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """One swept setting: explicit ``values`` (grid points or choices) or a ``low``..``high``
    range (``num`` evenly spaced grid points, or the bounds of a sample)."""

    parameter: Parameter
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None
    #: a range spaced in log10: its design numbers (grid, sample, SALib) are log10 values
    log: bool = False

    @property
    def path(self) -> str:
        return self.parameter.path

    @property
    def integer(self) -> bool:
        return self.parameter.kind == INTEGER

    @property
    def design_bounds(self) -> tuple[float, float]:
        """The range in the design's numbers: ``(low, high)``, or their log10 for a log axis."""
        assert self.low is not None and self.high is not None  # (a range axis)
        if self.log:
            return math.log10(self.low), math.log10(self.high)
        return self.low, self.high

    def value(self, x: float) -> Any:
        """A number of a continuous design as this setting's value (integers rounded; a log
        axis's number is log10 of the value, which is kept within the range and rounded to 12
        significant digits, so that 10**log10(3) is 3.0)."""
        v = float(x)
        if self.log:
            assert self.low is not None and self.high is not None  # (a range axis)
            v = min(max(float(f"{10.0**v:.12g}"), self.low), self.high)
        return round(v) if self.integer else v

    def grid(self) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        # make_axis gives a grid axis without values a range and ``num``
        assert self.num is not None
        points = np.linspace(*self.design_bounds, self.num)
        return list(dict.fromkeys(self.value(v) for v in points))

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map uniform [0, 1) draws to values: a range linearly (integers uniformly), a value
        list by index."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, np.nextafter(1.0, 0.0))
        if self.values is not None:
            return [self.values[i] for i in np.floor(u * len(self.values)).astype(int)]
        assert self.low is not None and self.high is not None  # make_axis gives it a range
        if self.log:  # log-uniform (integers: rounded)
            lo, hi = self.design_bounds
            return [self.value(x) for x in lo + u * (hi - lo)]
        if self.integer:
            lo, hi = math.ceil(self.low), math.floor(self.high)
            return [int(v) for v in lo + np.floor(u * (hi - lo + 1)).astype(np.int64)]
        return [float(v) for v in self.low + u * (self.high - self.low)]


def check_distinct(values: Sequence[Any], where: str) -> None:
    """Refuse a grid's value list that names one value twice: the point would run twice and
    show as two rows of one setting (replicates are ``seeds``). ``1`` and ``1.0`` are one
    value, ``true`` and ``1`` two. Linear in the list (a set; was a pairwise scan, which took
    11 s for 20,000 values and hung on 100,000); values that cannot be hashed (a list) are
    compared with each other."""
    seen: set[tuple[bool, Any]] = set()
    unhashable: list[Any] = []
    for v in values:
        key = (isinstance(v, bool), v)
        try:
            twice = key in seen
            seen.add(key)
        except TypeError:
            twice = any(v == w for w in unhashable)
            unhashable.append(v)
        if twice:
            raise SweepError(
                f"{where}: {v!r} is listed twice; a grid runs each value once (replicates of "
                "a point are 'seeds')"
            )


def make_axis(table: Parameters, decl: AxisDeclaration, where: str, grid: bool) -> Axis:
    """The axis of one ``[[parameters]]`` table over the base scenario's typed parameters;
    ``grid`` says whether points form a grid (a range then needs ``num``) or are sampled (a
    range is the sample's bounds)."""
    if not decl.path:
        raise SweepError(f"{where}.path: expected a setting path such as 'watermark.adoption'")
    if decl.path == SCALE_PATH:  # the scale factor: 'values' or a 'range' (no default range)
        p = scale_parameter()
        if decl.values is None and decl.range is None:
            raise SweepError(
                f"{where}: a swept 'scale' needs 'values' or a 'range' of factors (e.g. "
                "values = [0.1, 1.0, 10.0])"
            )
    else:
        try:
            p = table[decl.path]
        except ScenarioError as err:
            raise SweepError(f"{where}.path: {err}") from None
    if decl.values is not None and (decl.range is not None or decl.num is not None):
        raise SweepError(f"{where}: give either 'values' or 'range' (+ 'num'), not both")
    if decl.log and decl.values is not None:
        raise SweepError(f"{where}.log: 'log' spaces a range; 'values' run as listed")
    if decl.log and not p.numeric:
        raise SweepError(f"{where}.log: {p.path!r} is {p.kind}, not numeric; list its values")
    try:
        if decl.values is not None:
            values = p.categories(decl.values, f"{where}.values")
            if grid:
                check_distinct(values, f"{where}.values")
            return Axis(p, values=values)
        if not p.numeric:
            return Axis(p, values=p.categories(None, where))
        low, high = p.bounds(decl.range, f"{where}.range" if decl.range is not None else where)
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    if decl.log and not low > 0:
        raise SweepError(
            f"{where}.log: a log range needs low > 0, got [{low}, {high}] for {p.path!r}"
        )
    if grid:
        if decl.num is None:
            raise SweepError(f"{where}: a grid needs 'values' or 'range' with 'num' for {p.path!r}")
        if decl.num > 1 and low == high:
            raise SweepError(f"{where}: range [{low}, {high}] is empty; widen it or set num = 1")
    elif decl.num is not None:
        raise SweepError(f"{where}.num: only a grid takes 'num'")
    return Axis(p, low=float(low), high=float(high), num=decl.num, log=decl.log)


def item_settings(path: str, table: Parameters) -> set[str]:
    """The settings a path sets, each by its item's name: ``models.*.temperature`` sets
    ``models.NAME.temperature`` of every model (the swept ``scale`` sets none)."""
    parts = path.split(".")
    if path == SCALE_PATH:
        return set()
    if "*" not in parts:
        return {path}
    return {
        q
        for q in table
        if len(q.split(".")) == len(parts)
        and "*" not in q.split(".")
        and all(p in ("*", r) for p, r in zip(parts, q.split("."), strict=True))
    }


def check_overlaps(
    axes: Sequence[Axis], set_: dict[str, Any], table: Parameters, source: str
) -> None:
    """Refuse two axes that set one setting (``models.*.x`` and ``models.NAME.x``: every point
    would run with one of their values, the other a column of the results that was never used),
    and a ``[set]`` value every point sets again (it would never be used)."""
    sets = [item_settings(a.path, table) for a in axes]
    for j, a in enumerate(axes):
        for i in range(j):
            shared = sets[i] & sets[j]
            if shared:
                raise SweepError(
                    f"{source}: parameters[{j}] ({a.path!r}) sets {min(shared)}, which "
                    f"parameters[{i}] ({axes[i].path!r}) sets too: each point would run with "
                    "only one of their values; sweep each setting once"
                )
    for path in set_:
        given = item_settings(path, table)
        for i, swept in enumerate(sets):
            if given and given <= swept:  # every point sets it again
                raise SweepError(
                    f"{source}: set: {path!r} is also swept (parameters[{i}]), so its [set] value "
                    "would never be used; drop it from one of them"
                )


def unit_sample(method: str, d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points in [0, 1)^d: Latin hypercube (McKay et al. 1979) or scrambled Sobol (Owen
    1998), from scipy.stats.qmc."""
    from scipy.stats import qmc

    cls = qmc.LatinHypercube if method == "latin" else qmc.Sobol
    # scipy >= 1.15 names the generator ``rng``; older releases ``seed``
    key = "rng" if "rng" in inspect.signature(cls.__init__).parameters else "seed"
    return cls(d, **{key: np.random.default_rng(seed)}).random(n)


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------
@dataclass
class SweepSpec:
    """A validated sweep spec (see :func:`spec_from_dict`)."""

    name: str
    base: Scenario
    parameters: list[Axis]
    method: str = "grid"
    samples: int = 0
    seeds: int = 1
    seed: int = 0
    steps: int | None = None
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    sensitivity: SensitivityDeclaration = field(default_factory=SensitivityDeclaration)
    source: str = "<spec>"
    raw: dict[str, Any] = field(default_factory=dict)
    #: every point's scenario scaled by this factor after its settings (None: not scaled; a
    #: spec never holds 1, which is no scale: :func:`_scale`)
    scale: float | None = None

    @property
    def sweeps_scale(self) -> bool:
        """Whether one of the parameters is the scale factor (:data:`SCALE_PATH`)."""
        return any(a.path == SCALE_PATH for a in self.parameters)

    @property
    def runs(self) -> int:
        """Points × seeds, counted without building the points."""
        if self.method != "grid":
            return self.samples * self.seeds
        return math.prod(len(a.grid()) for a in self.parameters) * self.seeds

    def points(self) -> list[dict[str, Any]]:
        """The parameter points: the full grid, or ``samples`` Latin-hypercube / Sobol draws
        (scipy.stats.qmc, seeded by the spec's seed)."""
        paths = [a.path for a in self.parameters]
        if self.method == "grid":
            grids = [a.grid() for a in self.parameters]
            return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*grids)]
        unit = unit_sample(self.method, len(self.parameters), self.samples, self.seed)
        columns = [a.from_unit(unit[:, j]) for j, a in enumerate(self.parameters)]
        return [dict(zip(paths, row, strict=True)) for row in zip(*columns, strict=True)]


def plain(sc: Scenario) -> dict[str, Any]:
    """A scenario's declared fields without its source file (what identifies its runs)."""
    data = sc.to_dict()
    data.pop("source", None)
    return data


def _base_scenario(decl: SpecDeclaration, source: str, base_dir: Path | None) -> Scenario:
    candidate = (base_dir / decl.scenario) if base_dir is not None else None
    try:
        base = load_scenario(
            candidate if candidate is not None and is_file(candidate) else decl.scenario
        )
    except ScenarioError as err:
        raise SweepError(f"{source}: scenario: {err}") from None
    try:
        for path, value in decl.set.items():
            set_setting(base, path, value)
    except ScenarioError as err:
        raise SweepError(f"{source}: set: {err}") from None
    try:
        _validate_references(base, base.source)  # (the spec's "set:" comes first)
    except ScenarioError as err:  # (a whole-scenario check names items by index: which key)
        notes = setting_notes(str(err), {"set": decl.set}, base.to_dict(), "the spec's")
        raise SweepError(
            f"{source}: set: {err}" + (f" ({'; '.join(notes)})" if notes else "")
        ) from None
    return base


def spec_from_dict(
    data: dict[str, Any],
    source: str = "<spec>",
    base_dir: Path | None = None,
    *,
    sampled: bool = False,
) -> SweepSpec:
    """Validate a sweep spec mapping; every error names ``source`` and the key.

    ``sampled=True`` validates the parameters as ranges to sample (what ``habsburg
    sensitivity`` needs) whatever the spec's ``method``.
    """
    try:
        decl = build(SpecDeclaration, data, "")
        decl.set = setting_table(decl.set, "set")  # nested tables read as dotted paths
    except ScenarioError as err:
        raise SweepError(f"{source}: {err}") from None
    base = _base_scenario(decl, source, base_dir)
    if decl.method != "grid" and not sampled:
        if decl.samples < 1:
            raise SweepError(f"{source}: method {decl.method!r} needs 'samples' >= 1")
        if decl.method == "sobol" and decl.samples & (decl.samples - 1):
            raise SweepError(
                f"{source}: a Sobol sample needs a power of two for 'samples' (its balance "
                f"properties hold only then), got {decl.samples}"
            )
    if decl.scale is not None and not (math.isfinite(decl.scale) and decl.scale > 0):
        raise SweepError(f"{source}: 'scale' must be a finite number > 0, got {decl.scale!r}")
    if decl.steps is not None and decl.steps > base.steps:
        raise SweepError(
            f"{source}: 'steps' must be between 1 and {base.steps} for scenario "
            f"{base.name!r}, got {decl.steps}"
        )
    if not decl.parameters:
        raise SweepError(f"{source}: name at least one [[parameters]] (path and values or range)")
    grid = decl.method == "grid" and not sampled
    table = parameters(base)
    axes = [
        make_axis(table, a, f"{source}: parameters[{i}]", grid)
        for i, a in enumerate(decl.parameters)
    ]
    twice = [path for path, n in Counter(a.path for a in axes).items() if n > 1]
    if twice:
        raise SweepError(f"{source}: parameters: {twice[0]!r} is listed twice")
    swept = next((i for i, a in enumerate(axes) if a.path == SCALE_PATH), None)
    if swept is not None and decl.scale is not None:
        raise SweepError(
            f"{source}: 'scale' = {decl.scale:g} and a swept 'scale' (parameters[{swept}]): "
            "each point runs at its own factor; drop one of them"
        )
    check_overlaps(axes, decl.set, table, source)
    try:
        outcomes = check_outcomes(decl.outcomes, f"{source}: outcomes")
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    name = decl.name or (Path(source).stem if source != "<spec>" else "sweep")
    spec = SweepSpec(
        name=name,
        base=base,
        parameters=axes,
        method=decl.method,
        samples=decl.samples,
        seeds=decl.seeds,
        seed=base.seed if decl.seed is None else decl.seed,
        steps=decl.steps,
        outcomes=outcomes,
        sensitivity=decl.sensitivity,
        source=source,
        raw=data,
        scale=_scale(decl.scale),
    )
    if not sampled and spec.runs > MAX_RUNS:
        raise SweepError(
            f"{source}: parameters × seeds make {spec.runs:,} runs, more than {MAX_RUNS:,}; "
            "use fewer values, a smaller num or samples, or fewer seeds"
        )
    try:  # (".." was accepted: results/sweeps/.. is results/)
        check_name(name, f"{source}: name", "sweep")
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    return spec


def with_scale(spec: SweepSpec, factor: float | None, flag: str = "--scale") -> SweepSpec:
    """``spec`` with every point scaled by ``factor`` (a command line's ``--scale``, which
    overrides the spec's own ``scale`` as ``--seed`` overrides a scenario's); None leaves the
    spec as it is, 1 runs it unscaled. Refused unless a finite number > 0."""
    if factor is None:
        return spec
    if spec.sweeps_scale:
        raise SweepError(
            f"{flag} {factor:g}: {spec.source} sweeps 'scale' (each point runs at its own "
            f"factor); drop {flag} or the swept 'scale'"
        )
    return replace(spec, scale=scale_factor(factor, flag), raw={**spec.raw, "scale": factor})


def scale_factor(factor: Any, name: str = "--scale") -> float | None:
    """``factor`` as plans keep it (:func:`_scale`: None when not scaled), after refusing
    (:class:`SweepError`, naming it as ``name``) one that is not a finite number in
    (0, :data:`MAX_SCALE`]."""
    number = isinstance(factor, int | float)
    if not (number and math.isfinite(factor) and 0 < factor <= MAX_SCALE):
        shown = f"{factor:g}" if number else repr(factor)
        raise SweepError(f"{name} must be a finite number > 0 and <= {MAX_SCALE:g}, got {shown}")
    return _scale(factor)


def _scale(factor: float | None) -> float | None:
    """A scale factor as plans keep it: None when the runs are not scaled (1 is no scale, so a
    sweep at ``scale = 1`` is the unscaled sweep, fingerprint included)."""
    return None if factor is None or factor == 1 else float(factor)


def load_spec(path: str | Path, *, sampled: bool = False) -> SweepSpec:
    """Read and validate a sweep spec TOML file (see :func:`spec_from_dict`)."""
    path = Path(path)
    # missing, binary, not UTF-8, empty, not TOML: named
    data = read_spec(path, "sweep spec", SweepError)
    return spec_from_dict(data, str(path), path.parent, sampled=sampled)
