"""Sweep plans: the runs of an experiment, each a (scenario, settings, seed) validated up front.

A plan is a list of :class:`RunTask` over one base scenario (a parameter sweep: settings applied
to the base) or over several named scenarios (a comparison: one point per scenario). Every
point's scenario is validated when the plan is made, so a bad value fails before any run starts;
replicate ``r`` of every point runs on the same seed
(:func:`~habsburg.experiments.seeds.replicate_seeds`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from habsburg.experiments.outcomes import DEFAULT_OUTCOMES, MODEL_OUTCOMES, check_outcomes
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.sweep.spec import SCALE_PATH, SweepError, SweepSpec, plain
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import Scenario, ScenarioError, _validate_references, set_setting


@dataclass(frozen=True)
class RunTask:
    """One run: settings applied to a scenario of the plan (``scenario``: its label, ``""`` for
    the base), and its seed."""

    run_id: str
    point: int
    replicate: int
    seed: int
    settings: tuple[tuple[str, Any], ...]
    scenario: str = ""


@dataclass
class SweepPlan:
    """Everything a sweep runs: the base scenario (and, for a comparison, the scenarios by
    label), its runs, the outcomes and the month count."""

    name: str
    base: Scenario
    tasks: list[RunTask]
    parameters: list[str]
    outcomes: tuple[str, ...]
    steps: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    #: every run's scenario scaled by this factor after its settings (None: not scaled)
    scale: float | None = None
    #: a directory each run keeps its store's column files in, in a private directory of its
    #: own (None: in memory); not part of the fingerprint (the results are the same)
    store_dir: str | None = None

    def scenario_of(self, task: RunTask) -> Scenario:
        """The scenario ``task``'s settings apply to."""
        return self.scenarios[task.scenario] if task.scenario else self.base

    def task_scenario(self, task: RunTask) -> Scenario:
        """The scenario ``task`` runs: its settings applied, then scaled (:func:`point_scenario`)."""
        return point_scenario(self.scenario_of(task), task.settings, self.scale)

    def point_scenarios(self, limit: int = 256) -> list[Scenario]:
        """The scenarios of the plan's distinct points (settings applied), at most ``limit``
        (for checks before work, such as the memory projection)."""
        seen: dict[tuple, Scenario] = {}
        for task in self.tasks:
            key = (task.scenario, task.settings)
            if key in seen:
                continue
            if len(seen) >= limit:
                break
            seen[key] = self.task_scenario(task)
        return list(seen.values())

    def undeployed(self, outcomes: Sequence[str] | None = None) -> list[Undeployed]:
        """The plan's distinct points whose runs end before any of their models is deployed,
        when one of ``outcomes`` (default the plan's) reads the deployed models
        (:data:`~habsburg.experiments.outcomes.MODEL_OUTCOMES`: NaN in those runs), for a check
        before any run. Only the settings that can move a run's months or its models' launches
        (:func:`_moves_months`) tell points apart, so a design of 10⁵ points over other settings
        builds one scenario per scenario of the plan, not one per point."""
        reads = [
            o for o in (self.outcomes if outcomes is None else outcomes) if o in MODEL_OUTCOMES
        ]
        if not reads:
            return []
        found: list[Undeployed] = []
        verdicts: dict[tuple, Undeployed | None] = {}
        seen: set[tuple] = set()
        for task in self.tasks:
            if (task.scenario, task.settings) in seen:
                continue
            seen.add((task.scenario, task.settings))
            key = (task.scenario, tuple(s for s in task.settings if _moves_months(s[0])))
            if key not in verdicts:
                sc = self.task_scenario(task)
                steps = self.steps or sc.steps
                first = min(
                    ((sc.month_to_step(m.launch), m.launch, m.name) for m in sc.models),
                    default=None,
                )
                early = first is None or first[0] >= steps
                verdicts[key] = Undeployed(task, sc, steps, tuple(reads), first) if early else None
            if (early_point := verdicts[key]) is not None:
                found.append(replace(early_point, task=task))
        return found

    def swept_ends(self) -> dict[str, list[Any]]:
        """Each swept path's values to combine for the plan's largest run
        (:func:`habsburg.experiments.limits.worst_corner`): a numeric path's least and greatest
        value, any other path's distinct values."""
        values: dict[str, dict[str, Any]] = {}
        for task in self.tasks:
            for path, value in task.settings:
                values.setdefault(path, {}).setdefault(repr(value), value)
        ends = {}
        for path, distinct in values.items():
            vs = list(distinct.values())
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in vs)
            ends[path] = [min(vs), max(vs)] if numeric else vs
        return ends

    @property
    def fingerprint(self) -> str:
        """Hash of what determines the results (a resumed sweep must match it)."""
        payload: dict[str, Any] = {
            "base": plain(self.base),
            "tasks": [[t.run_id, t.seed, list(map(list, t.settings))] for t in self.tasks],
            "outcomes": list(self.outcomes),
            "steps": self.steps,
        }
        if self.scale is not None:  # (absent otherwise: sweeps from before it resume as they were)
            payload["scale"] = self.scale
        if self.scenarios:
            payload["scenarios"] = {k: plain(sc) for k, sc in self.scenarios.items()}
            payload["labels"] = [t.scenario for t in self.tasks]
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Undeployed:
    """A design point whose runs end before any of its models is deployed
    (:meth:`SweepPlan.undeployed`): its first task, its scenario, its month count, the
    outcomes that would be NaN in its runs, and its first launch ``(step, month, model)``, if
    any."""

    task: RunTask
    scenario: Scenario
    steps: int
    outcomes: tuple[str, ...]
    first: tuple[int, str, str] | None

    def __str__(self) -> str:
        sc, first = self.scenario, self.first
        at = ", ".join(f"{path} = {value!r}" for path, value in self.task.settings)
        return (
            f"the runs of {self.steps} months ({sc.start} to {sc.step_to_month(self.steps - 1)})"
            f"{f' of {self.task.scenario!r}' if self.task.scenario else ''}"
            f"{' with ' + at if at else ''} end before any model is deployed"
            + (f"; the first, {first[2]!r}, launches in {first[1]}" if first else "")
        )


def _moves_months(path: str) -> bool:
    """Whether a setting of ``path`` can move a run's months (``start``, ``end``) or its models'
    launches (a model's ``launch``, or a model or the models set whole)."""
    parts = path.split(".")
    return parts[-1] in ("start", "end", "launch") or (parts[0] == "models" and len(parts) <= 2)


def point_scenario(
    base: Scenario, settings: Sequence[tuple[str, Any]], scale: float | None = None
) -> Scenario:
    """A copy of ``base`` with ``settings`` ((path, value) pairs) applied, then scaled by
    ``scale`` (:func:`~habsburg.scenarios.library.scaled`; None or 1: not scaled). The settings
    come first, so a sweep's values are read at the scenario's own scale and multiplied where
    ``scaled`` multiplies (a swept training budget of 20,000 runs as 200,000 at 10×). A
    setting of the path ``scale`` (:data:`~habsburg.experiments.sweep.spec.SCALE_PATH`: a
    swept scale factor, which a spec cannot combine with its own ``scale``) is the factor."""
    sc = copy.deepcopy(base)
    for path, value in settings:
        if path == SCALE_PATH:
            scale = value
        else:
            set_setting(sc, path, value)
    return sc if scale is None or scale == 1 else scaled(sc, scale)


def native(value: Any) -> Any:
    """A numpy scalar as the Python value a setting holds."""
    return value.item() if isinstance(value, np.generic) else value


def _tasks(point: int, seeds: list[int], settings: tuple, scenario: str = "") -> list[RunTask]:
    return [
        RunTask(f"p{point:05d}-s{r:03d}", point, r, s, settings, scenario)
        for r, s in enumerate(seeds)
    ]


def _with_settings(base: Scenario, settings: tuple, where: str) -> Scenario:
    """A copy of ``base`` with ``settings`` ((path, value) pairs) applied and its references
    checked (:class:`SweepError` starting with ``where``); ``base`` is left as it was."""
    try:
        sc = point_scenario(base, settings)
    except ScenarioError as err:
        raise SweepError(f"{where}: {err}") from None
    try:
        _validate_references(sc, where)  # its messages start with ``where``
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    return sc


def plan_points(
    name: str,
    base: Scenario,
    points: Sequence[dict[str, Any]],
    *,
    seeds: int = 1,
    seed: int | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    steps: int | None = None,
    spec: dict[str, Any] | None = None,
    where: str = "sweep",
    scale: float | None = None,
) -> SweepPlan:
    """A plan of ``points × seeds`` runs; every value and every point's scenario is validated
    here, before any run starts."""
    if not points:
        raise SweepError(f"{where}: the sweep has no parameter points")
    outcomes = check_outcomes(outcomes, f"{where}: outcomes")
    run_seeds = replicate_seeds(base.seed if seed is None else seed, seeds)
    paths = list(points[0])
    tasks = []
    checked: set[str] = set()  # settings already validated (a repeated point is checked once)
    for i, point in enumerate(points):
        if list(point) != paths:
            raise SweepError(f"{where}: point {i} sets {list(point)}, expected {paths}")
        settings = tuple((p, native(v)) for p, v in point.items())
        if repr(settings) not in checked:
            _with_settings(base, settings, f"{where}: point {i}")
            checked.add(repr(settings))
        tasks += _tasks(i, run_seeds, settings)
    return SweepPlan(name, base, tasks, paths, tuple(outcomes), steps, spec or {}, scale=scale)


def plan_spec(spec: SweepSpec) -> SweepPlan:
    """The runs of a sweep spec: its points × its seeds."""
    return plan_points(
        spec.name,
        spec.base,
        spec.points(),
        seeds=spec.seeds,
        seed=spec.seed,
        outcomes=spec.outcomes,
        steps=spec.steps,
        spec={"source": spec.source, **spec.raw},
        where=spec.source,
        scale=spec.scale,
    )


def plan_scenarios(
    name: str,
    scenarios: Mapping[str, Scenario],
    *,
    seeds: int = 1,
    seed: int | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    steps: int | None = None,
    replicate_settings: (
        Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None
    ) = None,
) -> SweepPlan:
    """A sweep over scenarios: point ``i`` is the ``i``-th scenario (by label), every scenario
    runs on the same replicate seeds (derived from the first scenario's seed unless ``seed``).
    With ``replicate_settings`` (one settings dict per replicate, e.g. posterior draws),
    replicate ``r`` of every scenario also applies ``replicate_settings[r]``, validated here
    against every scenario; given as a mapping (by label: one list of settings per scenario),
    replicate ``r`` of each scenario applies its own ``r``-th settings."""
    if not scenarios:
        raise SweepError(f"{name}: no scenarios to run")
    labels = list(scenarios)
    base = scenarios[labels[0]]
    run_seeds = replicate_seeds(base.seed if seed is None else seed, seeds)
    if replicate_settings is None:
        tasks = [t for i, label in enumerate(labels) for t in _tasks(i, run_seeds, (), label)]
    else:
        own: Mapping[str, Sequence[Mapping[str, Any]]] = (
            replicate_settings
            if isinstance(replicate_settings, Mapping)
            else dict.fromkeys(labels, replicate_settings)
        )
        per: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
        for label, sc in scenarios.items():
            per[label] = [tuple((p, native(v)) for p, v in s.items()) for s in own[label]]
            if len(per[label]) != seeds:
                raise SweepError(
                    f"{name}: {len(per[label])} replicate settings for {seeds} seeds"
                    + (f" (scenario {label!r})" if isinstance(replicate_settings, Mapping) else "")
                )
            for r, settings in enumerate(per[label]):
                _with_settings(sc, settings, f"{name}: scenario {label!r}, replicate {r}")
        tasks = [
            RunTask(f"p{i:05d}-s{r:03d}", i, r, s, per[label][r], label)
            for i, label in enumerate(labels)
            for r, s in enumerate(run_seeds)
        ]
    outcomes = check_outcomes(outcomes, f"{name}: outcomes")
    return SweepPlan(name, base, tasks, [], tuple(outcomes), steps, {}, dict(scenarios))
