"""The viz model, its levers, the SolaraViz page (rendered without a browser) and ``habsburg viz``."""

from __future__ import annotations

import re
import time

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
from solara.server import kernel, kernel_context

from habsburg.cli import main
from habsburg.scenarios.library import list_scenarios, load_scenario
from habsburg.scenarios.schema import from_dict, get_setting, setting_spec
from habsburg.viz import app, commands, components
from habsburg.viz.model import (
    AUTHORS_ENV,
    LEVERS,
    VIZ_AUTHORS,
    EcosystemViz,
    keep_first_models,
    model_params,
    viz_sized,
)

AUTHORS = 100


# --- the viz-sized scenario -------------------------------------------------------------------
def test_viz_sized_scales_counts_and_keeps_rates():
    full = load_scenario("baseline")
    small = viz_sized(full, 400)
    f = 400 / full.humans.authors
    assert small.humans.authors == 400
    assert small.demand.adoption.ceiling == pytest.approx(full.demand.adoption.ceiling * f)
    assert small.world.concepts == round(full.world.concepts * f)
    for a, b in zip(full.models, small.models, strict=True):
        assert b.data.budget == round(a.data.budget * f)
        assert (b.temperature, b.retrain_interval, b.data.mode) == (
            a.temperature,
            a.retrain_interval,
            a.data.mode,
        )
    assert (small.start, small.end, small.chatbot_launch) == (
        full.start,
        full.end,
        full.chatbot_launch,
    )
    assert full.humans.authors == 2000  # the original is not touched


def test_viz_step_takes_under_a_second_and_tracks_the_web_curve():
    """The default viz-sized baseline steps well under a second and its detector-measured share
    of new documents stays near the measured web curve (36% at +12 months, 48% at +24)."""
    model = EcosystemViz()
    eco = model.ecosystem
    launch = eco.config.launch_step
    seconds = []
    for _ in range(launch + 25):
        started = time.perf_counter()
        model.step()
        seconds.append(time.perf_counter() - started)
    assert np.mean(seconds) < 1.0, f"mean step {np.mean(seconds):.3f} s"
    measured = eco.datacollector.get_model_vars_dataframe().synthetic_share_new_measured.to_numpy()
    assert measured[launch + 12] == pytest.approx(0.36, abs=0.05)
    assert measured[launch + 24] == pytest.approx(0.48, abs=0.05)


def test_every_library_scenario_opens_in_the_viz():
    for name in list_scenarios():
        model = EcosystemViz(scenario_name=name, authors=AUTHORS)
        model.step()
        assert model.problems == []
        assert model.ecosystem.config.humans.authors == AUTHORS


# --- levers -------------------------------------------------------------------------------------
def test_controls_take_their_ranges_from_the_schema():
    params = model_params("baseline", AUTHORS)
    sc = viz_sized(load_scenario("baseline"), AUTHORS)
    for lever in LEVERS:
        control, spec = params[lever.keyword], setting_spec(sc, lever.path)
        assert control["label"] == lever.label
        assert control["value"] == get_setting(sc, lever.path)
        if spec["choices"]:
            assert control["type"] == "Select"
            assert control["values"] == list(spec["choices"])
        else:
            assert spec["low"] <= control["min"] < control["max"] <= spec["high"]
            assert control["min"] <= control["value"] <= control["max"]
    # human_reservoir is capped so reservoir + distillation stays <= 1 (open-7b distils 20%)
    assert params["human_reservoir"]["max"] == pytest.approx(0.8)
    assert params["n_models"]["max"] == len(sc.models)


def test_levers_set_every_item_through_set_setting():
    values = {
        "watermark_adoption": 0.6,
        "detector_threshold": 2.5,
        "paraphrase_rate": 0.4,
        "human_reservoir": 0.3,
        "data_mode": "replace",
        "temperature": 0.7,
        "retrain_interval": 5,
    }
    model = EcosystemViz(authors=AUTHORS, n_models=3, seed="11", **values)
    sc = model.ecosystem.config
    assert model.problems == ["models removed: mer-2, lat-base, lat-large, open-7b, open-70b"]
    assert [m.name for m in sc.models] == ["nw-chat", "nw-pro", "mer-1"]
    assert sc.seed == 11
    for lever in LEVERS:
        assert model.settings[lever.path] == values[lever.keyword]
    assert {s.filters.watermark_threshold for s in sc.scrapers} == {2.5}
    assert {f.paraphrase_rate for f in sc.farms} == {0.4}
    assert {(m.data.human_reservoir, m.data.mode, m.temperature) for m in sc.models} == {
        (0.3, "replace", 0.7)
    }
    assert {m.retrain_interval for m in sc.models} == {5}
    assert sc.watermark.adoption == 0.6


def test_bad_control_values_are_reported_not_raised():
    model = EcosystemViz(authors=AUTHORS, seed="abc", watermark_adoption=1.5)
    sc = model.ecosystem.config
    assert sc.seed == load_scenario("baseline").seed
    assert any("seed 'abc'" in p for p in model.problems)
    assert any("watermark.adoption" in p and "out of range" in p for p in model.problems)
    assert sc.watermark.adoption == 0.0


def test_same_seed_same_run():
    a, b = EcosystemViz(authors=AUTHORS, seed="5"), EcosystemViz(authors=AUTHORS, seed="5")
    for _ in range(40):
        a.step()
        b.step()
    assert len(a.ecosystem.internet.store) == len(b.ecosystem.internet.store)
    np.testing.assert_array_equal(a.layout, b.layout)
    assert a.ecosystem.current == b.ecosystem.current


def test_keeping_first_models_drops_dangling_references():
    sc = from_dict(
        {
            "labs": [{"name": "lab"}],
            "scrapers": [{"name": "crawler"}],
            "models": [
                {"name": "a", "data": {"distill_from": "b", "distill_fraction": 0.2}},
                {"name": "b"},
            ],
            "interventions": [
                {"at_step": 3, "set": {"models.b.temperature": 0.5}},
                {"at_step": 4, "set": {"models.*.temperature": 0.6, "models.b.top_p": 0.9}},
            ],
        }
    )
    dropped = keep_first_models(sc, 1)
    assert [m.name for m in sc.models] == ["a"]
    assert (sc.models[0].data.distill_from, sc.models[0].data.distill_fraction) == ("", 0.0)
    assert [iv.set for iv in sc.interventions] == [{"models.*.temperature": 0.6}]
    assert len(dropped) == 4


# --- the page -----------------------------------------------------------------------------------
@solara.component
def AppPage():
    """The page as the server shows it (Solara wraps ``Page`` in an app layout)."""
    with solara.AppLayout() as main:
        app.Page()
    return main


def walk(widget):
    yield widget
    for name in ("children", "items"):
        for child in getattr(widget, name, None) or []:
            if isinstance(child, ipywidgets.Widget):
                yield from walk(child)


def status(box) -> str:
    """The text of the status line (an HTML widget inside the grid)."""
    for w in walk(box):
        if isinstance(w, ipywidgets.HTML) and "<b>Step" in w.value:
            return re.sub(r"<[^>]+>", "", w.value)
    raise AssertionError("no status line")


def step_of(box) -> int:
    return int(re.search(r"Step (\d+) of", status(box)).group(1))


@solara.component
def CheapFigure(model, build):
    """Stands in for the matplotlib panels here (test_viz_components.py checks the drawing)."""
    return ipywidgets.Image.element(value=f"step {model.steps}".encode(), format="png")


@pytest.fixture
def small_viz(monkeypatch):
    monkeypatch.setenv(AUTHORS_ENV, str(AUTHORS))
    monkeypatch.setattr(components, "FigurePanel", CheapFigure)


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def test_page_steps_and_resets_with_the_sliders(small_viz):
    box, rc = solara.render(AppPage(), handle_error=False)
    assert step_of(box) == 0
    labels = {w.label for w in walk(box) if isinstance(w, v.Slider)}
    assert {lever.label for lever in LEVERS if lever.keyword != "data_mode"} <= labels
    for _ in range(3):
        click(rc, "Step")
    assert step_of(box) == 3
    assert "month 2020-03" in status(box)
    rc.find(v.Slider, label="Watermark adoption (mandate)").widget.v_model = 0.45
    rc.find(v.Select, label="Data policy (all models)").widget.v_model = "replace"
    seed = rc.find(v.TextField, label="Seed").widget
    seed.v_model = "99"
    seed.fire_event("keyup.enter", None)  # Solara takes typed text on Enter or focus out
    click(rc, "Reset")
    text = status(box)
    assert step_of(box) == 0
    assert "watermark adoption 0.45" in text and "data replace" in text and "seed 99" in text
    rc.close()


def test_each_session_has_its_own_model(small_viz):
    """Two kernels (browser sessions) render the page; steps in one never move the other."""
    sessions = {}
    for name in ("first", "second"):
        context = kernel_context.VirtualKernelContext(
            id=name, session_id=name, kernel=kernel.Kernel()
        )
        with context:
            sessions[name] = (context, *solara.render(AppPage(), handle_error=False))
    first, second = sessions["first"], sessions["second"]
    with first[0]:
        for _ in range(3):
            click(first[2], "Step")
        assert step_of(first[1]) == 3
    with second[0]:
        assert step_of(second[1]) == 0
        click(second[2], "Step")
        assert step_of(second[1]) == 1
    with first[0]:
        assert step_of(first[1]) == 3
    for context, _, rc in sessions.values():
        with context:
            rc.close()


# --- the command --------------------------------------------------------------------------------
def test_server_binds_loopback_without_telemetry():
    cmd = commands.server_command(8123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert "habsburg.viz.app" in cmd and "--no-check-version" in cmd
    env = commands.server_env("baseline", VIZ_AUTHORS)
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["HABSBURG_VIZ_SCENARIO"] == "baseline"


def test_viz_command_rejects_unknown_scenario_and_bad_flags(capsys):
    assert main(["viz", "no-such-scenario"]) == 2
    assert "unknown scenario 'no-such-scenario'" in capsys.readouterr().err
    assert main(["viz", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["viz", "--authors", "3"]) == 2
    assert "--authors" in capsys.readouterr().err
