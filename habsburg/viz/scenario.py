"""What the browser runs: a viz-sized copy of the chosen scenario and the policy levers over it.

The page keeps one :class:`~habsburg.model.model.EcosystemModel` per session and rebuilds it on
Reset as ``EcosystemModel(config=<viz-sized Scenario>, seed=..., **{setting path: value})``:
the levers are setting paths, their sliders come from the typed parameters
(:func:`habsburg.scenarios.parameters.parameters`), so a slider, an intervention and a sweep read
the same declaration. A scenario is picked by library name or typed in as a file path, and loaded
exactly as ``habsburg run`` loads it.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from habsburg.scenarios.errors import HabsburgError, ScenarioError
from habsburg.scenarios.library import list_scenarios, load_scenario, scaled
from habsburg.scenarios.parameters import CATEGORICAL, INTEGER, Parameter, parameters
from habsburg.scenarios.schema import Scenario, check_factor, check_setting
from habsburg.viz import AUTHORS_ENV, SCENARIO_ENV, VIZ_AUTHORS  # declared there, used here


def viz_sized(scenario: Scenario, authors: int = VIZ_AUTHORS) -> Scenario:
    """A copy of ``scenario`` scaled down to ``authors`` human authors, so a month steps quickly.

    Populations and flows shrink by f = authors / the scenario's authors through
    :func:`habsburg.scenarios.library.scaled` (AI demand, farm output, crawl sizes, training
    budgets; the site graph is kept, so farms hold crawlers as at full size); here the numbers
    of concepts and facts shrink by f too, so each concept is drawn about as often as at full
    size and the tails are lost at a similar pace. Rates, shares and
    dates are kept: the viz-sized baseline's detector-measured synthetic share of new documents
    follows the web curve (see ``tests/viz/test_viz_scenario.py``).
    """
    sc = scenario_copy(scenario)
    f = authors / sc.humans.authors
    if f >= 1.0:
        return sc
    sc = scaled(sc, f)
    sc.humans.authors = authors
    sc.world.concepts = max(200, round(sc.world.concepts * f))
    sc.world.facts = max(100, round(sc.world.facts * f))
    sc.world.communities = min(sc.world.communities, max(1, authors // 10))
    sc.name = f"{scenario.name}-viz"  # a valid scenario name (it could name a results directory)
    return sc


def scenario_copy(scenario: Scenario) -> Scenario:
    """A fresh, independent copy of ``scenario``."""
    return copy.deepcopy(scenario)


def keep_first_models(sc: Scenario, n: int) -> list[str]:
    """Keep the first ``n`` models of ``sc``; distillation from a dropped model and interventions
    naming one are dropped too. Returns what was dropped (for the status panel)."""
    dropped: list[str] = []
    if n >= len(sc.models):
        return dropped
    removed = [m.name for m in sc.models[n:]]
    sc.models = sc.models[:n]
    kept = {m.name for m in sc.models}
    for m in sc.models:
        if m.data.distill_from and m.data.distill_from not in kept:
            dropped.append(f"{m.name} no longer distils from {m.data.distill_from}")
            m.data.distill_from, m.data.distill_fraction = "", 0.0
    for iv in sc.interventions:
        for table, check in ((iv.set, check_setting), (iv.times, check_factor)):
            for path in list(table):
                try:
                    check(sc, path, table[path])
                except ScenarioError:
                    at = iv.at or iv.at_step
                    dropped.append(f"intervention at {at} on {path} (model removed)")
                    del table[path]
    sc.interventions = [iv for iv in sc.interventions if iv.set or iv.times]
    dropped.insert(0, f"models removed: {', '.join(removed)}")
    return dropped


def check_choice(choice: str) -> str:
    """``choice`` (a library name or a scenario file path) if ``habsburg run`` would load it;
    else the CLI's own error (:class:`ScenarioError` / :class:`UserError`). A path becomes
    absolute, so the server process finds it whatever its working directory."""
    text = choice.strip()
    if not text:
        raise ScenarioError("type a library scenario name or the path of a scenario .toml file")
    load_scenario(text)
    if text not in list_scenarios() and Path(text).is_file():
        text = str(Path(text).resolve())
    return text


@dataclass(frozen=True)
class Pick:
    """The scenario a session will run from the next Reset: the choice (name or path), the
    viz-sized scenario built from it, and what trimming it dropped."""

    choice: str
    scenario: Scenario
    problems: tuple[str, ...] = ()


def pick(choice: str, authors: int = VIZ_AUTHORS, n_models: int | None = None) -> Pick:
    """Load ``choice`` as the CLI does, size it for the browser and keep its first ``n_models``."""
    sc = viz_sized(load_scenario(choice), authors)
    problems = keep_first_models(sc, n_models) if n_models else []
    return Pick(choice, sc, tuple(problems))


# --- levers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """A policy lever: the setting path it sets, its label, a short name for the status line, the
    slider step, and ``view``: the part of an open-ended declared range worth a slider."""

    path: str
    label: str
    short: str
    step: float | None = None
    view: tuple[float, float] | None = None


LEVERS = (
    Lever("watermark.adoption", "Watermark adoption (mandate)", "watermark adoption", 0.05),
    Lever(
        "scrapers.*.filters.watermark_threshold",
        "Detector z threshold (all scrapers)",
        "detector z >",
        0.5,
        (1.0, 10.0),
    ),
    Lever("farms.*.paraphrase_rate", "Farm paraphrase rate ε", "paraphrase ε", 0.05),
    Lever(
        "models.*.data.human_reservoir",
        "Human-data reservoir (all models)",
        "human reservoir",
        0.05,
    ),
    Lever("models.*.data.mode", "Data policy (all models)", "data"),
    Lever("models.*.temperature", "Decoding temperature τ (all models)", "τ", 0.05, (0.3, 2.0)),
    Lever(
        "models.*.retrain_interval",
        "Retrain interval, months (all models)",
        "retrain every (months)",
        1,
        (1, 36),
    ),
)
LEVER_BY_PATH = {lever.path: lever for lever in LEVERS}


def levers_of(sc: Scenario) -> list[Lever]:
    """The levers ``sc`` has items for (a scenario without farms has no paraphrase lever)."""
    table = parameters(sc)
    return [lever for lever in LEVERS if lever.path in table]


def lever_control(sc: Scenario, lever: Lever) -> dict[str, Any]:
    """Mesa ``model_params`` entry of ``lever`` for ``sc``: a slider over the typed parameter's
    range (narrowed by ``lever.view``), or a select over its choices; the default is the
    scenario's value (of its first item, for ``*`` paths)."""
    p: Parameter = parameters(sc)[lever.path]
    if p.kind == CATEGORICAL:
        return {
            "type": "Select",
            "label": lever.label,
            "value": p.default,
            "values": p.categories(),
        }
    view = lever.view or (p.low, p.high)
    assert view[0] is not None and view[1] is not None  # a lever without a view has a range
    low = view[0] if p.low is None else max(p.low, view[0])
    high = view[1] if p.high is None else min(p.high, view[1])
    if lever.path == "models.*.data.human_reservoir":
        # human_reservoir + sensor_fraction + distill_fraction must stay <= 1 for every model
        taken = max(
            m.data.sensor_fraction + (m.data.distill_fraction if m.data.distill_from else 0.0)
            for m in sc.models
        )
        high = min(high, round(1.0 - taken, 6))
    value = min(max(p.default, low), high)
    if p.kind == INTEGER:
        return {
            "type": "SliderInt",
            "label": lever.label,
            "value": int(value),
            "min": int(low),
            "max": int(high),
            "step": int(lever.step or 1),
        }
    return {
        "type": "SliderFloat",
        "label": lever.label,
        "value": float(value),
        "min": float(low),
        "max": float(high),
        "step": float(lever.step or 0.01),
    }


def lever_controls(sc: Scenario) -> dict[str, dict[str, Any]]:
    """The lever controls of ``sc`` by setting path (Mesa ``model_params`` form)."""
    return {lever.path: lever_control(sc, lever) for lever in levers_of(sc)}


def model_kwargs(p: Pick, seed: int | None = None, settings: dict | None = None) -> dict:
    """Keyword arguments of ``EcosystemModel`` (what Mesa's Reset passes): the picked viz-sized
    scenario, the seed, and the levers set to another value than the scenario's, as flat
    setting-path keywords."""
    defaults = {path: c["value"] for path, c in lever_controls(p.scenario).items()}
    changed = {k: v for k, v in (settings or {}).items() if k in defaults and v != defaults[k]}
    return {"config": p.scenario, "seed": p.scenario.seed if seed is None else seed, **changed}


def lever_settings(params: dict) -> dict:
    """The setting-path keywords of ``params`` (everything but the scenario and the seed)."""
    return {k: v for k, v in params.items() if k not in ("config", "seed")}


def check_seed(text: str) -> int:
    """A seed typed in the page: an integer >= 0, else a ScenarioError saying so."""
    try:
        seed = int(str(text).strip())
    except ValueError:
        raise ScenarioError(f"seed must be an integer >= 0, got {text!r}") from None
    if seed < 0:
        raise ScenarioError(f"seed must be an integer >= 0, got {seed}")
    return seed


def scenario_from_env() -> tuple[str, int]:
    """The scenario (library name or TOML path) and viz size chosen by ``habsburg viz``."""
    return os.environ.get(SCENARIO_ENV, "baseline"), int(os.environ.get(AUTHORS_ENV, VIZ_AUTHORS))


def describe_error(err: BaseException) -> str:
    """One line for a user error (HabsburgError), the type and message for anything else."""
    if isinstance(err, HabsburgError):
        return str(err)
    return f"{type(err).__name__}: {err}"
