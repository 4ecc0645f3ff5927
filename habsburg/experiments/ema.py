"""EMA Workbench adapter: the simulator as an EMA ``Model`` with declared uncertainties, levers
and outcomes, for exploratory modelling and scenario discovery (PRIM).

Uncertainties and levers are setting paths of the scenario schema; each becomes the EMA
parameter of its typed parameter (:mod:`habsburg.scenarios.parameters`): its kind picks the EMA
class (:data:`EMA_CLASSES`), its declared range or choices are the default bounds, and given
bounds are checked by the same :meth:`~habsburg.scenarios.parameters.Parameter.validate` as a
scenario file. Outcomes are the named outcomes of :mod:`habsburg.experiments.outcomes`. Each
experiment is one sweep run (:func:`~habsburg.experiments.sweep.execute_run`), so EMA,
``habsburg sweep`` and ``habsburg sensitivity`` compute the same numbers for the same settings
and seed.

``scale`` runs every experiment scaled by a factor (after its settings, as a scaled sweep's
points: :func:`~habsburg.experiments.sweep.point_scenario`), and ``store_dir`` keeps each
experiment's store in column files there (in a private directory, removed when the experiment
ends), as ``habsburg sweep --scale F --store-dir DIR`` does; a model whose largest experiment
would not fit this machine's memory is refused when it is made (``force`` skips that).

Needs the ``ema`` extra (``pip install 'habsburg[ema]'``): ema-workbench 2.5 or 3.x.
"""

from __future__ import annotations

import inspect
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from habsburg.experiments.files import make_directory, writable_directory
from habsburg.experiments.limits import check_steps
from habsburg.experiments.outcomes import DEFAULT_OUTCOMES, OUTCOMES, SCALAR, check_outcomes
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.sweep import RunTask, execute_run, native, point_scenario
from habsburg.experiments.sweep.spec import scale_factor
from habsburg.scenarios.errors import LimitError
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.parameters import BOOLEAN, INTEGER, REAL, parameter
from habsburg.scenarios.schema import Scenario, ScenarioError

if TYPE_CHECKING:
    from types import ModuleType

    from ema_workbench import Model, ReplicatorModel
    from ema_workbench.analysis.prim import PrimBox
    from ema_workbench.em_framework.model import AbstractModel
    from ema_workbench.em_framework.parameters import Parameter as EMAParameter

Bounds = tuple[float, float] | list[Any] | None
#: the EMA Workbench class of a numeric kind; a boolean is a ``BooleanParameter``, everything
#: else (choices, months, names) a ``CategoricalParameter`` over listed or declared values
EMA_NUMERIC = {REAL: "RealParameter", INTEGER: "IntegerParameter"}


def _ema() -> ModuleType:
    try:
        import ema_workbench
    except ImportError:
        raise ScenarioError(
            "the EMA Workbench adapter needs the 'ema' extra: pip install 'habsburg[ema]'"
        ) from None
    return ema_workbench


def variable_name(path: str) -> str:
    """An EMA variable name (a Python identifier) for a setting path:
    ``models.*.temperature`` -> ``models_all_temperature``."""
    return re.sub(r"\W", "_", path.replace("*", "all"))


def ema_parameter(base: Scenario, path: str, bounds: Bounds = None) -> EMAParameter:
    """The EMA parameter of a setting path: ``bounds`` (``(low, high)`` or a list of
    categories) or else the declared range or choices of its typed parameter."""
    ema = _ema()
    where = f"EMA parameter {path!r}"
    p = parameter(base, path, where)
    name = variable_name(path)
    if p.kind == BOOLEAN and bounds is None:
        return ema.BooleanParameter(name)
    if isinstance(bounds, list) or not p.numeric:
        return ema.CategoricalParameter(name, list(p.categories(bounds, where)))
    low, high = p.bounds(bounds, where)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ScenarioError(f"{where}: range [{low}, {high}] is empty or unbounded")
    return getattr(ema, EMA_NUMERIC[p.kind])(name, low, high)


class HabsburgFunction:
    """The model function EMA calls: keyword arguments named after the variables (plus
    ``seed``) -> a dict of outcomes. A module-level class, so it pickles to EMA's worker
    processes."""

    def __init__(
        self,
        base: Scenario,
        paths: Mapping[str, str],
        outcomes: Sequence[str],
        steps: int | None = None,
        scale: float | None = None,
        store_dir: str | None = None,
    ) -> None:
        self.base = base
        self.paths = dict(paths)  # variable name -> setting path
        self.outcomes = tuple(outcomes)
        self.steps = steps
        self.scale = scale
        self.store_dir = store_dir

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        seed = kwargs.pop("seed", None)
        settings = tuple((self.paths[k], native(v)) for k, v in kwargs.items())
        task = RunTask("ema", 0, 0, self.base.seed if seed is None else int(seed), settings)
        if self.store_dir is None:
            out = execute_run(task, self.base, self.outcomes, self.steps, self.scale)
        else:  # a directory of this experiment's own: EMA may run several in one store_dir
            make_directory(self.store_dir, f"store_dir {self.store_dir!r}", "choose another")
            with tempfile.TemporaryDirectory(prefix="habsburg-ema-", dir=self.store_dir) as own:
                out = execute_run(task, self.base, self.outcomes, self.steps, self.scale, own)
        if out.error is not None:
            raise RuntimeError(f"habsburg run failed for {dict(settings)}: {out.error}")
        result: dict[str, Any] = dict(out.scalars)
        for name in self.outcomes:
            if OUTCOMES[name].kind != SCALAR:
                assert out.series is not None  # execute_run keeps it when a series is asked for
                result[name] = out.series[name].to_numpy()
        return result


def ema_model(
    scenario: Scenario | str,
    uncertainties: Mapping[str, Bounds] | Sequence[str],
    levers: Mapping[str, Bounds] | Sequence[str] = (),
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    *,
    steps: int | None = None,
    replications: int | None = None,
    name: str = "habsburg",
    scale: float | None = None,
    store_dir: str | Path | None = None,
    processes: int = 1,
    force: bool = False,
) -> Model | ReplicatorModel:
    """An EMA Workbench model of ``scenario`` (a Scenario, library name or file).

    ``uncertainties`` and ``levers`` map setting paths to ``(low, high)``, a list of categories,
    or ``None`` for the schema's declared range (a plain list of paths means all ``None``).
    With ``replications`` the model is a ``ReplicatorModel`` run on that many seeds derived
    from the scenario's seed; otherwise the scenario's seed is a constant. ``scale``: every
    experiment scaled by this factor after its settings (ranges are read at the scenario's own
    scale); ``store_dir``: each experiment's store in column files in a private directory
    there. Refused (:class:`~habsburg.scenarios.errors.LimitError`) unless ``force``: ranges
    whose corner that needs the most memory would not fit this machine's memory (or, with a
    ``store_dir``, the free disk there) ``processes`` times over: the experiments that will run
    at once (pass the ``n_processes`` of EMA's ``MultiprocessingEvaluator``; by default it runs
    one per core).
    """
    ema = _ema()
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    check_steps(base, steps)
    outcomes = check_outcomes(outcomes, "EMA outcomes")
    if scale is not None:
        scale = scale_factor(scale, "EMA model: scale")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ScenarioError(
            f"EMA model: processes must be a whole number >= 1 (the experiments that run at "
            f"once), got {processes!r}"
        )
    if store_dir is not None:
        where = Path(store_dir)
        if where.exists() and not where.is_dir():
            raise ScenarioError(f"EMA model: store_dir {str(where)!r} is not a directory")
        # (made when the first experiment runs: a check below may still refuse)
        store_dir = str(
            writable_directory(where, f"store_dir {str(where)!r}", "choose another", create=False)
        )

    def as_mapping(items: Mapping[str, Bounds] | Sequence[str]) -> dict[str, Bounds]:
        return dict(items) if isinstance(items, Mapping) else dict.fromkeys(items)

    unc, lev = as_mapping(uncertainties), as_mapping(levers)
    if not unc and not lev:
        raise ScenarioError("EMA model: name at least one uncertainty or lever")
    paths: dict[str, str] = {}
    for path in [*unc, *lev]:
        var = variable_name(path)
        if var in paths or var == "seed":
            raise ScenarioError(f"EMA model: {path!r} is listed twice (as variable {var!r})")
        paths[var] = path
    uncertain = [ema_parameter(base, p, b) for p, b in unc.items()]
    chosen = [ema_parameter(base, p, b) for p, b in lev.items()]
    if not force:
        check_ema_limits(base, paths, [*uncertain, *chosen], steps, scale, store_dir, processes)
    function = HabsburgFunction(base, paths, outcomes, steps, scale, store_dir)
    if replications is None:
        model = ema.Model(name, function=function)
        model.constants = [ema.Constant("seed", base.seed)]
    else:
        if replications < 1:
            raise ScenarioError(f"EMA model: replications must be >= 1, got {replications}")
        model = ema.ReplicatorModel(name, function=function)
        model.replications = [{"seed": s} for s in replicate_seeds(base.seed, replications)]
    model.uncertainties = uncertain
    model.levers = chosen
    model.outcomes = [
        ema.ScalarOutcome(o) if OUTCOMES[o].kind == SCALAR else ema.TimeSeriesOutcome(o)
        for o in outcomes
    ]
    return model


def _ends(p: EMAParameter) -> list[Any]:
    """The values of an EMA parameter to combine for the largest experiment: a range's two
    ends, a categorical's (or boolean's) values."""
    if hasattr(p, "categories"):
        return [native(c.value) for c in p.categories]
    return [native(p.lower_bound), native(p.upper_bound)]


def check_ema_limits(
    base: Scenario,
    paths: Mapping[str, str],
    parameters: Sequence[EMAParameter],
    steps: int | None,
    scale: float | None,
    store_dir: str | None,
    processes: int = 1,
) -> None:
    """Refuse (:class:`LimitError`) the EMA model whose experiment at the corner of its ranges
    that needs the most memory (:func:`~habsburg.experiments.limits.worst_corner`, scaled by
    ``scale``), ``processes`` of them at once, would not fit this machine's memory or, with a
    ``store_dir``, the free disk there (an experiment's store columns; it writes no tables),
    naming that corner."""
    from habsburg.experiments.limits import (
        disk_shortfall,
        gib,
        memory_shortfall,
        project,
        worst_corner,
    )

    ends = {paths[p.name]: _ends(p) for p in parameters}

    def make(values: dict[str, Any]) -> Scenario:
        return point_scenario(base, list(values.items()), scale)

    scenario, worst = worst_corner(ends, make, steps)
    projection = project(scenario, steps, on_disk=store_dir is not None)
    corner = ", ".join(f"{k} = {v!r}" for k, v in worst.items())
    at = f" at scale {scale:g}" if scale else ""
    each = f"{processes} experiments at once need" if processes > 1 else "it needs"
    what = (
        f"EMA model: an experiment{at} with {corner} (the corner of the ranges that needs the "
        f"most memory) is projected to publish ~{projection.documents:,} documents and need "
    )
    fewer = ", run fewer at once (processes)" if processes > 1 else ""
    # (an experiment writes no result tables)
    room = (
        None
        if store_dir is None
        else disk_shortfall(projection, store_dir, processes, results=False)
    )
    if room is not None:
        raise LimitError(
            what + f"~{gib(projection.store_bytes)} of store columns in store_dir "
            f"{store_dir!r}; {each} more than the {gib(room)} free there; choose a "
            f"directory on a larger disk, narrow the ranges, lower scale{fewer} or pass "
            "force=True to try anyway"
        )
    can = memory_shortfall(projection, processes)
    if can is None:
        return
    raise LimitError(
        what + f"~{gib(projection.memory_bytes)} of memory; {each} more than the "
        f"{gib(can)} this machine can give; narrow the ranges, lower scale"
        + ("" if store_dir else ", give a store_dir")
        + fewer
        + " or pass force=True to try anyway"
    )


def seeded_sampling(seed: int) -> dict[str, Any]:
    """Keyword arguments for EMA's ``perform_experiments`` that make its sampling of scenarios
    and policies (Latin hypercube by default) reproducible from ``seed``, so the same call gives
    the same experiments. ema-workbench 3.x takes a generator per sampler
    (``uncertainty_sampling_kwargs`` / ``lever_sampling_kwargs``: ``rng``); 2.5 draws from
    numpy's global generator, which this seeds (and returns no keywords)::

        exps, outs = perform_experiments(model, scenarios=64, **seeded_sampling(7))
    """
    ema = _ema()
    seed = int(seed)
    if "uncertainty_sampling_kwargs" in inspect.signature(ema.perform_experiments).parameters:
        uncertainties, levers = np.random.SeedSequence(seed).spawn(2)
        return {
            "uncertainty_sampling_kwargs": {"rng": np.random.default_rng(uncertainties)},
            "lever_sampling_kwargs": {"rng": np.random.default_rng(levers)},
        }
    np.random.seed(seed % 2**32)  # noqa: NPY002  (ema-workbench 2.5 samples from the global one)
    return {}


def parameter_frame(experiments: pd.DataFrame, model: AbstractModel) -> pd.DataFrame:
    """The uncertainty and lever columns of EMA's experiments table (what PRIM reads)."""
    names = [p.name for p in [*model.uncertainties, *model.levers]]
    return experiments[names].copy()


def find_box(
    x: pd.DataFrame, y: np.ndarray, *, threshold: float = 0.8, **kwargs: Any
) -> PrimBox | None:
    """PRIM scenario discovery (Friedman & Fisher 1999): a box of ``x`` dense in the cases of
    interest ``y`` (booleans). Works with ema-workbench 2.5 (which takes ``threshold``) and 3.x
    (which does not). None when ``y`` is all one case (every experiment of interest, or none:
    a box has nothing to separate; EMA's PRIM fails an assertion there)."""
    from ema_workbench.analysis import prim

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return None
    if "threshold" in inspect.signature(prim.Prim.__init__).parameters:
        kwargs["threshold"] = threshold
    return prim.Prim(x, y, **kwargs).find_box()
