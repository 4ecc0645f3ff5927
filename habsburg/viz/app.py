"""The browser page: ``habsburg viz [SCENARIO]`` serves this module's ``Page`` (``solara run
habsburg.viz.app`` does too; the scenario then comes from ``HABSBURG_VIZ_SCENARIO``).

One :class:`~habsburg.model.model.EcosystemModel` per browser session, driven by Mesa's own
``ModelController`` (Reset, ▶/❚❚, Step, Render Interval, Use Threads) and rebuilt on Reset as
``EcosystemModel(**params)``; ``params`` (scenario, seed, lever setting paths) is what the
sidebar's picker, seed box and levers set, each change checked as ``habsburg run`` checks it, and
marked "changed: press Reset" until the model runs with it. The layout is Mesa's SolaraViz
rearranged: Mesa's grid has fixed 390 px rows, so each tab's panels share the window in a grid
of two rows instead, and the sidebar starts closed on narrow windows (habsburg.viz.layout).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import solara
import solara.lab
import solara.server.settings
from mesa.visualization.solara_viz import ModelController, UserInputs

from habsburg.model.model import EcosystemModel, resolve_scenario
from habsburg.scenarios.library import list_scenarios
from habsburg.viz import assets
from habsburg.viz.components import CSS, Live, ScenarioInfo
from habsburg.viz.layout import Layout, WidthProbe  # noqa: F401 (Layout: Solara's app layout)
from habsburg.viz.scenario import (
    Pick,
    check_choice,
    check_seed,
    describe_error,
    lever_controls,
    lever_settings,
    model_kwargs,
    pick,
    scenario_from_env,
)
from habsburg.viz.snapshot import attach

#: milliseconds between steps while playing
PLAY_INTERVAL = 150

# No usage data leaves the machine, also under a bare `solara run habsburg.viz.app`; Vega's
# scripts are served from the bundled copies (see habsburg.viz.assets).
solara.server.settings.telemetry.mixpanel_enable = False
assets.serve_bundled_vega()
# Altair checks every chart object against the Vega-Lite schema as it is made, which costs more
# than drawing; the charts here are fixed code (tests/viz check their specs).
alt.utils.schemapi.disable_debug_mode()


def new_model(params: dict[str, Any]) -> EcosystemModel:
    model = EcosystemModel(**params)
    attach(model)
    return model


def pending(params: dict[str, Any], model: EcosystemModel) -> set[str]:
    """The controls whose value differs from what the running model was built with."""
    session = attach(model)
    sc = params["config"]
    out = set()
    if sc.name != model.config.name or len(sc.models) != len(model.models):
        out.add("config")
    else:
        wanted = {path: c["value"] for path, c in lever_controls(sc).items()}
        wanted.update(lever_settings(params))
        out |= {k for k, v in wanted.items() if session.built_with.get(k, v) != v}
    if params["seed"] != model.config.seed:
        out.add("seed")
    return out


def Changed(show: bool) -> None:
    if show:
        solara.HTML(
            tag="div", unsafe_innerHTML="changed: press Reset", classes=["habsburg-changed"]
        )


@solara.component
def Sidebar(
    model: solara.Reactive[EcosystemModel], params: solara.Reactive[dict], authors: int
) -> None:
    """Mesa's controller, then the scenario picker, seed and levers, then what the scenario is."""
    choice, set_choice = solara.use_state(scenario_from_env()[0])
    files, set_files = solara.use_state([] if choice in list_scenarios() else [choice])
    n_models, set_n_models = solara.use_state(0)
    problem, set_problem = solara.use_state("")
    play = solara.use_reactive(PLAY_INTERVAL)
    render = solara.use_reactive(1)
    threads = solara.use_reactive(False)
    full: Pick = solara.use_memo(lambda: pick(choice, authors), [choice, authors])
    current: Pick = solara.use_memo(
        lambda: pick(choice, authors, n_models) if n_models else full, [full, n_models]
    )
    controls = solara.use_memo(lambda: lever_controls(current.scenario), [current])
    changed = pending(params.value, model.value)

    def use_scenario(text: str) -> None:
        try:
            checked = check_choice(text)
            p = pick(checked, authors, None)
        except Exception as err:  # the CLI's message, shown beside the box
            set_problem(describe_error(err))
            return
        set_problem("")
        if checked not in list_scenarios() and checked not in files:
            set_files([*files, checked])
        set_choice(checked)
        set_n_models(0)
        params.set(model_kwargs(p))

    def set_models(n: int) -> None:
        p = pick(choice, authors, n)
        set_n_models(n)
        params.set(model_kwargs(p, params.value["seed"], lever_settings(params.value)))

    def set_seed(text: str) -> None:
        try:
            seed = check_seed(text)
        except Exception as err:
            set_problem(describe_error(err))
            return
        set_problem("")
        params.set({**params.value, "seed": seed})

    def set_lever(path: str, value: Any) -> None:
        settings = {**lever_settings(params.value), path: value}
        new = model_kwargs(current, params.value["seed"], settings)
        try:  # the model's own check (e.g. reservoir + distillation > 1)
            resolve_scenario(new["config"], new["seed"], lever_settings(new))
        except Exception as err:
            set_problem(describe_error(err))
            return
        set_problem("")
        params.set(new)

    with solara.Card("Controls"):
        solara.SliderInt("Play Interval (ms)", value=play, min=1, max=500, step=10)
        solara.SliderInt("Render Interval (steps)", value=render, min=1, max=100, step=2)
        solara.Checkbox(label="Use Threads", value=threads)
        ModelController(
            model,
            model_parameters=params,
            play_interval=play,
            render_interval=render,
            use_threads=threads,
        )
    with solara.Card("Scenario"):
        names = [*list_scenarios(), *files]
        solara.Select(
            "Scenario (library or file)", values=names, value=choice, on_value=use_scenario
        )
        solara.InputText(
            "…or type a scenario file path (.toml), Enter",
            value="",
            on_value=use_scenario,
            continuous_update=False,
        )
        Changed("config" in changed)
        solara.InputText(
            "Seed", value=str(params.value["seed"]), on_value=set_seed, continuous_update=False
        )
        Changed("seed" in changed)
        solara.SliderInt(
            "Number of models (first N)",
            value=n_models or len(current.scenario.models),
            min=1,
            max=max(len(full.scenario.models), 1),
            on_value=set_models,
        )
        if problem:
            solara.HTML(tag="div", unsafe_innerHTML=f"⚠ {problem}", classes=["habsburg-problem"])
        for p in current.problems:
            solara.HTML(tag="div", unsafe_innerHTML=f"{p}", classes=["habsburg-info"])
    with solara.Card("Levers (apply on Reset)"):
        with solara.Column(classes=["habsburg-levers"], gap="0px"):
            for path, control in controls.items():
                control = {**control, "value": params.value.get(path, control["value"])}
                UserInputs({path: control}, on_change=set_lever).key(f"{choice}-{path}")
                Changed(path in changed)
    with solara.Card("About this scenario"):
        ScenarioInfo(model.value)


@solara.component
def Page() -> None:
    choice, authors = scenario_from_env()
    first = solara.use_memo(lambda: model_kwargs(pick(choice, authors)), [])
    params = solara.use_reactive(first)
    model: solara.Reactive[EcosystemModel] = solara.use_reactive(
        solara.use_memo(lambda: new_model(first), [])
    )
    attach(model.value)  # a model Mesa's Reset just built gets its lock before it steps
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(f"habsburg — {model.value.config.name.removesuffix('-viz')}")
        solara.lab.ThemeToggle()
    with solara.Sidebar():
        Sidebar(model, params, authors)
    with solara.Column(style={"padding": "0 12px", "width": "100%"}):
        WidthProbe()
        Live(model.value)
