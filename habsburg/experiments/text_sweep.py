"""Parameter sweeps of text scenarios (``habsburg sweep`` when the spec's scenario is a text
scenario).

The spec is the abstract sweeps' TOML format, restricted to a grid: ``name``, ``description``,
``scenario`` (a library text scenario or a file beside the spec), ``seeds``, ``seed``, ``set``
(path = value applied to the base) and ``[[parameters]]`` with ``path`` and ``values`` (or a
numeric ``range`` with ``num`` grid points). Paths name text-scenario settings
(:mod:`habsburg.scenarios.text_schema`): ``generations``, ``humans.documents``,
``scraper.z_threshold``, ``models.*.temperature`` (every model), ``models.0.top_p`` (by index)
or ``models.lab_a.policy`` (by name). Every point is validated by the text schema before any run,
so a bad path or value is an error naming the spec file and the key. Runs execute serially, on
the replicate seeds (:func:`habsburg.experiments.seeds.replicate_seeds`) every point shares;
``results.parquet`` has one row per run: point, seed, the swept settings and the text outcomes
(:mod:`habsburg.experiments.text_outcomes`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from habsburg.experiments.files import (
    atomic_write_parquet,
    prepare_output_dir,
    write_results_dir,
    writer_record,
)
from habsburg.experiments.options import read_spec
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.sweep.spec import check_distinct
from habsburg.experiments.text_outcomes import TEXT_OUTCOMES, text_run_outcomes
from habsburg.scenarios.declare import MAX_SEED
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import check_name, setting_table
from habsburg.scenarios.text_schema import (
    TextScenario,
    load_text_scenario,
    set_path,
    spec_scenario_ref,
    text_scenario_changed,
    text_scenario_from_dict,
)

if TYPE_CHECKING:  # (the runner and its corpus load when a sweep runs: a spec is checked first)
    from habsburg.ecosystem.text.corpus import Corpus

SPEC_KEYS = ("name", "description", "scenario", "seeds", "seed", "set", "parameters", "outcomes")
AXIS_KEYS = ("path", "values", "range", "num")
#: most runs a text sweep accepts (they run serially)
MAX_RUNS = 10_000


@dataclass
class TextSweepSpec:
    name: str
    source: str
    base: TextScenario
    paths: list[str]
    points: list[tuple[Any, ...]]
    scenarios: list[TextScenario]
    seeds: list[int]
    outcomes: list[str]

    @property
    def runs(self) -> int:
        return len(self.points) * len(self.seeds)


def _axis_values(axis: Any, where: str) -> tuple[str, list[Any]]:
    if not isinstance(axis, dict):
        raise ScenarioError(f"{where}: must be a table with path and values")
    unknown = [k for k in axis if k not in AXIS_KEYS]
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(AXIS_KEYS)}")
    path = axis.get("path")
    if not isinstance(path, str) or not path:
        raise ScenarioError(f"{where}: 'path' must name a setting, e.g. 'models.*.temperature'")
    if "values" in axis:
        values = axis["values"]
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{where}.values: must be a non-empty array, got {values!r}")
        if len(values) > MAX_RUNS:
            raise ScenarioError(
                f"{where}.values: {len(values):,} values, more than a text sweep runs "
                f"({MAX_RUNS:,})"
            )
        check_distinct(values, f"{where}.values")
        return path, values
    rng, num = axis.get("range"), axis.get("num")
    if (
        isinstance(rng, list)
        and len(rng) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        and isinstance(num, int)
        and not isinstance(num, bool)
        and num >= 1
    ):
        if num > MAX_RUNS:  # (before linspace: num = 10**12 asked numpy for 7 TiB)
            raise ScenarioError(
                f"{where}.num: {num:,} points, more than a text sweep runs ({MAX_RUNS:,})"
            )
        points = np.linspace(rng[0], rng[1], num)
        ints = all(isinstance(v, int) for v in rng)
        return path, list(dict.fromkeys(round(v) if ints else float(v) for v in points))
    raise ScenarioError(f"{where}: give 'values', or a numeric 'range' = [low, high] and 'num'")


def text_spec_from_dict(data: dict[str, Any], source: str, base_dir: Path) -> TextSweepSpec:
    """Validate a text sweep spec and every point's scenario (errors name ``source`` and key)."""
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise ScenarioError(
            f"{source}: {unknown[0]!r} is not supported in a text sweep (grid only); allowed: "
            f"{', '.join(SPEC_KEYS)}"
        )
    ref = spec_scenario_ref(data, base_dir)
    try:
        base = load_text_scenario(ref)
    except ScenarioError as err:  # (named with the spec: "scenario" may be missing, or a typo)
        raise ScenarioError(f"{source}: scenario: {err}") from None
    raw = dataclasses.asdict(base)
    fixed = setting_table(data.get("set", {}), f"{source}: set")  # nested: dotted paths
    for path, value in fixed.items():
        set_path(raw, path, value, f"{source}: set")
    base = text_scenario_changed(raw, fixed, source, "the spec's")
    seeds = data.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ScenarioError(f"{source}: seeds: expected an integer >= 1, got {seeds!r}")
    seed = data.get("seed", base.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ScenarioError(
            f"{source}: seed: expected an integer in [0, {MAX_SEED}] (a scenario's seed range), "
            f"got {seed!r}"
        )
    outcomes = data.get("outcomes", list(TEXT_OUTCOMES))
    bad = [o for o in outcomes if o not in TEXT_OUTCOMES] if isinstance(outcomes, list) else [0]
    if bad:
        raise ScenarioError(
            f"{source}: outcomes: {bad[0]!r} is not a text outcome; allowed: "
            f"{', '.join(TEXT_OUTCOMES)}"
        )
    axes = data.get("parameters")
    if not isinstance(axes, list) or not axes:
        raise ScenarioError(f"{source}: name at least one [[parameters]] (path and values)")
    grid = [_axis_values(a, f"{source}: parameters[{i}]") for i, a in enumerate(axes)]
    paths = [p for p, _ in grid]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise ScenarioError(f"{source}: parameters: {twice[0]!r} is listed twice")
    for i, path in enumerate(paths):
        if path in fixed:  # every point sets it again: the [set] value is never used
            raise ScenarioError(
                f"{source}: set: {path!r} is also swept (parameters[{i}]), so its [set] value "
                "would never be used; drop it from one of them"
            )
    runs = math.prod(len(v) for _, v in grid) * seeds  # (before the grid: 2^1000 points)
    if runs > MAX_RUNS:
        many = f"{runs:,}" if runs < 10**12 else f"about 10^{len(str(runs)) - 1}"
        raise ScenarioError(
            f"{source}: parameters × seeds make {many} runs, more than {MAX_RUNS:,}"
        )
    points = list(itertools.product(*(v for _, v in grid)))
    scenarios = []
    base_raw = dataclasses.asdict(base)
    for point in points:
        d = copy.deepcopy(base_raw)
        for i, (path, value) in enumerate(zip(paths, point, strict=True)):
            set_path(d, path, value, f"{source}: parameters[{i}]")
        scenarios.append(
            text_scenario_from_dict(
                d, f"{source}: parameters {dict(zip(paths, point, strict=True))}"
            )
        )
    name = data.get("name") or Path(source).stem
    if not isinstance(name, str):
        raise ScenarioError(f"{source}: name: expected a string, got {name!r}")
    # (it names results/sweeps/NAME: ".." wrote the sweep into results/ itself)
    check_name(name, f"{source}: name", "sweep")
    return TextSweepSpec(
        name=name,
        source=source,
        base=base,
        paths=paths,
        points=points,
        scenarios=scenarios,
        seeds=replicate_seeds(seed, seeds),
        outcomes=list(outcomes),
    )


def load_text_sweep_spec(path: str | Path) -> TextSweepSpec:
    path = Path(path)
    # missing, binary, not UTF-8, empty, not TOML: named
    data = read_spec(path, "sweep spec", ScenarioError)
    return text_spec_from_dict(data, str(path), path.parent)


@dataclass
class TextSweepResult:
    results: pd.DataFrame
    out: Path | None
    seconds: float


def run_text_sweep(
    spec: TextSweepSpec,
    out: str | Path | None = None,
    *,
    corpus: Corpus | None = None,
    progress: bool = False,
    force: bool = False,
) -> TextSweepResult:
    """Run every point × seed serially; with ``out``, write ``results.parquet`` and a manifest
    (the directory is checked before any run). ``corpus`` replaces the installed one (tests)."""
    from habsburg.experiments.text_compare import corpus_for
    from habsburg.experiments.text_run import simulate_text

    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        prepare_output_dir(out_dir, command="sweep", force=force, expect=("results.parquet",))
    started = time.time()
    cache: dict = {}
    rows = []
    with tqdm(total=spec.runs, desc=spec.name, unit="run", disable=not progress) as bar:
        for point, (values, scenario) in enumerate(zip(spec.points, spec.scenarios, strict=True)):
            for seed in spec.seeds:
                data = corpus if corpus is not None else corpus_for(scenario, seed, cache)
                model = simulate_text(scenario, data, seed=seed)
                outcomes = text_run_outcomes(model.tables())
                rows.append(
                    {
                        "point": point,
                        "seed": seed,
                        **dict(zip(spec.paths, values, strict=True)),
                        **{k: outcomes[k] for k in spec.outcomes},
                    }
                )
                bar.update()
    results = pd.DataFrame(rows)
    seconds = time.time() - started
    if out_dir is not None:
        manifest = {
            "habsburg_command": "sweep",
            "mode": "text",
            "name": spec.name,
            "spec": spec.source,
            "scenario": spec.base.name,
            "parameters": spec.paths,
            "points": len(spec.points),
            "seeds": spec.seeds,
            "outcomes": spec.outcomes,
            "seconds": round(seconds, 3),
            **writer_record(),
        }
        write_results_dir(
            out_dir,
            lambda tmp: atomic_write_parquet(results, tmp / "results.parquet"),
            manifest,
            command="sweep",
        )
    return TextSweepResult(results, out_dir, seconds)


def text_point_summary(result: pd.DataFrame, spec: TextSweepSpec) -> pd.DataFrame:
    """Mean of each outcome per point (what ``habsburg sweep`` prints)."""
    return result.groupby(["point", *spec.paths], sort=False)[spec.outcomes].mean().reset_index()
