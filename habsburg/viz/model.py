"""What the browser drives: a viz-sized scenario, the policy levers, and the model SolaraViz resets.

The levers are declared once here as setting paths; their slider ranges and select choices come
from the scenario schema (:func:`habsburg.scenarios.schema.setting_spec`), and the model is rebuilt
through :func:`habsburg.scenarios.schema.set_setting`, so a slider, an intervention and a sweep read
the same declaration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mesa
import networkx as nx
import numpy as np

from habsburg.model.model import EcosystemModel
from habsburg.scenarios.library import load_scenario, scaled
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    check_setting,
    from_dict,
    get_setting,
    set_setting,
    setting_spec,
)

#: environment variables ``habsburg viz`` passes to the server process
SCENARIO_ENV = "HABSBURG_VIZ_SCENARIO"
AUTHORS_ENV = "HABSBURG_VIZ_AUTHORS"

#: human authors of the viz-sized scenario (baseline: 2,000); a step then takes well under a second
VIZ_AUTHORS = 400


def viz_sized(scenario: Scenario, authors: int = VIZ_AUTHORS) -> Scenario:
    """A copy of ``scenario`` scaled down to ``authors`` human authors, so a month steps quickly.

    Populations and flows shrink by f = authors / the scenario's authors through
    :func:`habsburg.scenarios.library.scaled` (sites, AI demand, farm output, crawl sizes, training
    budgets); here the numbers of concepts and facts shrink by f too, so each concept is drawn
    about as often as at full size and the tails are lost at a similar pace. Rates, shares and
    dates are kept: the viz-sized baseline's detector-measured synthetic share of new documents
    follows the web curve (see ``tests/viz/test_viz_app.py``).
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
    sc.web.sites = max(30, sc.web.sites)  # enough human sites for a readable graph
    sc.name = f"{scenario.name} (viz-sized)"
    return sc


def scenario_copy(scenario: Scenario) -> Scenario:
    """A fresh, independent copy of ``scenario`` (round trip through its declared fields: nothing
    a running model attached to it comes along)."""
    data = scenario.to_dict()
    source = data.pop("source", "") or "<viz>"
    return from_dict(data, source)


@dataclass(frozen=True)
class Lever:
    """A policy lever: a keyword of :class:`EcosystemViz`, the setting path it sets and how the
    control shows it. ``view`` narrows an open-ended declared range to the part worth a slider
    (the result always lies inside the declared range)."""

    keyword: str
    path: str
    label: str
    short: str
    step: float | None = None
    view: tuple[float, float] | None = None


LEVERS = (
    Lever(
        "watermark_adoption",
        "watermark.adoption",
        "Watermark adoption (mandate)",
        "watermark adoption",
        0.05,
    ),
    Lever(
        "detector_threshold",
        "scrapers.*.filters.watermark_threshold",
        "Detector z threshold (all scrapers)",
        "detector z >",
        0.5,
        (1.0, 10.0),
    ),
    Lever(
        "paraphrase_rate", "farms.*.paraphrase_rate", "Farm paraphrase rate ε", "paraphrase ε", 0.05
    ),
    Lever(
        "human_reservoir",
        "models.*.data.human_reservoir",
        "Human-data reservoir (all models)",
        "human reservoir",
        0.05,
    ),
    Lever("data_mode", "models.*.data.mode", "Data policy (all models)", "data"),
    Lever(
        "temperature",
        "models.*.temperature",
        "Decoding temperature τ (all models)",
        "τ",
        0.05,
        (0.3, 2.0),
    ),
    Lever(
        "retrain_interval",
        "models.*.retrain_interval",
        "Retrain interval, months (all models)",
        "retrain every (months)",
        1,
        (1, 36),
    ),
)


def lever_control(sc: Scenario, lever: Lever) -> dict:
    """Mesa ``model_params`` entry of ``lever`` for scenario ``sc``: a slider over the declared
    range (narrowed by ``lever.view``), or a select over the declared choices; the default is the
    scenario's value (of its first item, for ``*`` paths)."""
    spec = setting_spec(sc, lever.path)
    value = get_setting(sc, lever.path)
    if spec.get("choices"):
        return {
            "type": "Select",
            "label": lever.label,
            "value": value,
            "values": list(spec["choices"]),
        }
    low, high = spec["low"], spec["high"]
    if lever.view is not None:
        low, high = max(low, lever.view[0]), min(high, lever.view[1])
    if lever.keyword == "human_reservoir":
        # human_reservoir + sensor_fraction + distill_fraction must stay <= 1 for every model
        taken = max(
            (m.data.sensor_fraction + (m.data.distill_fraction if m.data.distill_from else 0.0))
            for m in sc.models
        )
        high = min(high, round(1.0 - taken, 6))
    is_int = spec["type"] is int
    value = min(max(value, low), high)
    return {
        "type": "SliderInt" if is_int else "SliderFloat",
        "label": lever.label,
        "value": int(value) if is_int else float(value),
        "min": int(low) if is_int else float(low),
        "max": int(high) if is_int else float(high),
        "step": int(lever.step or 1) if is_int else float(lever.step or 0.01),
    }


def model_params(scenario_name: str, authors: int = VIZ_AUTHORS) -> dict:
    """Mesa ``model_params`` for SolaraViz: the fixed scenario, the seed and the lever controls."""
    sc = viz_sized(load_scenario(scenario_name), authors)
    params: dict = {
        "scenario_name": scenario_name,
        "authors": authors,
        "seed": {"type": "InputText", "label": "Seed", "value": str(sc.seed)},
        "n_models": {
            "type": "SliderInt",
            "label": "Number of models (first N)",
            "value": len(sc.models),
            "min": 1,
            "max": len(sc.models),
            "step": 1,
        },
    }
    for lever in LEVERS:
        params[lever.keyword] = lever_control(sc, lever)
    return params


def default_kwargs(params: dict) -> dict:
    """Keyword arguments of :class:`EcosystemViz` for the controls' default values."""
    return {k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}


def keep_first_models(sc: Scenario, n: int) -> list[str]:
    """Keep the first ``n`` models of ``sc``; distillation from a dropped model and interventions
    naming one are dropped too. Returns what was dropped (for the status panel)."""
    dropped = []
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
        for path in list(iv.set):
            try:
                check_setting(sc, path, iv.set[path])
            except ScenarioError:
                dropped.append(f"intervention at {iv.at or iv.at_step} on {path} (model removed)")
                del iv.set[path]
    sc.interventions = [iv for iv in sc.interventions if iv.set]
    dropped.insert(0, f"models removed: {', '.join(removed)}")
    return dropped


class EcosystemViz(mesa.Model):
    """The model SolaraViz steps and resets: it builds the viz-sized scenario, applies the levers
    with ``set_setting`` and runs an :class:`EcosystemModel` (``self.ecosystem``).

    A thin wrapper rather than a subclass, because Mesa ≥ 3.4 gives ``Model.scenario`` its own
    meaning (a ``mesa.experimental.scenarios.Scenario``), which SolaraViz reads on reset; the
    ecosystem keeps its habsburg scenario untouched. Bad control values never raise (a browser
    click should not crash the page): they are reported in ``problems`` and the scenario's value is
    kept.
    """

    def __init__(
        self,
        scenario_name: str = "baseline",
        authors: int = VIZ_AUTHORS,
        seed: str | int | None = None,
        n_models: int | None = None,
        watermark_adoption: float | None = None,
        detector_threshold: float | None = None,
        paraphrase_rate: float | None = None,
        human_reservoir: float | None = None,
        data_mode: str | None = None,
        temperature: float | None = None,
        retrain_interval: int | None = None,
    ) -> None:
        sc = viz_sized(load_scenario(scenario_name), authors)
        self.problems: list[str] = []
        try:
            seed_value = sc.seed if seed in (None, "") else int(str(seed).strip())
            check_setting(sc, "seed", seed_value)
        except (ValueError, ScenarioError):
            self.problems.append(f"seed {seed!r} is not an integer >= 0; kept {sc.seed}")
            seed_value = sc.seed
        super().__init__(rng=seed_value)
        if n_models is not None:
            self.problems += keep_first_models(sc, max(1, int(n_models)))
        values = {
            "watermark_adoption": watermark_adoption,
            "detector_threshold": detector_threshold,
            "paraphrase_rate": paraphrase_rate,
            "human_reservoir": human_reservoir,
            "data_mode": data_mode,
            "temperature": temperature,
            "retrain_interval": retrain_interval,
        }
        self.settings: dict[str, object] = {}
        for lever in LEVERS:
            value = values[lever.keyword]
            if value is None:
                continue
            if lever.keyword == "retrain_interval":
                value = int(value)
            try:
                set_setting(sc, lever.path, value)
                self.settings[lever.path] = value
            except ScenarioError as err:
                self.problems.append(str(err))
        self.scenario_name = scenario_name
        self.ecosystem = EcosystemModel(sc, seed=seed_value)
        self.layout = site_layout(self.ecosystem)

    def step(self) -> None:
        eco = self.ecosystem
        if eco.running:
            eco.step()
        self.running = eco.running


def site_layout(eco: EcosystemModel) -> np.ndarray:
    """Fixed 2-d positions of the sites (spring layout of the undirected site graph, seeded by the
    scenario so a reset with the same seed draws the same picture)."""
    g = nx.Graph(eco.internet.graph)
    pos = nx.spring_layout(g, seed=int(eco.config.seed % (2**32)), iterations=60)
    return np.array([pos[i] for i in range(eco.internet.n_sites)])


def scenario_from_env() -> tuple[str, int]:
    """The scenario (library name or TOML path) and viz size chosen by ``habsburg viz``."""
    return os.environ.get(SCENARIO_ENV, "baseline"), int(os.environ.get(AUTHORS_ENV, VIZ_AUTHORS))
