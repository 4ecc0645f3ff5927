"""The page rendered without a browser: one EcosystemModel per session, Reset applying the levers
and the picked scenario, the "changed: press Reset" marks, and separate sessions."""

from __future__ import annotations

import re
from importlib import resources

import ipyvuetify as v
import pytest
import solara
from solara.server import kernel, kernel_context
from widgettext import widget_text

from habsburg.viz import app, components
from habsburg.viz.scenario import AUTHORS_ENV

AUTHORS = 100


@solara.component
def AppPage():
    """The page as the server shows it (Solara wraps ``Page`` in an app layout)."""
    with solara.AppLayout() as main:
        app.Page()
    return main


@solara.component
def NoPanels(model, steps=0):
    """Stands in for the charts here (test_viz_panels.py checks them)."""
    return solara.Text(f"panels at {steps}")


@pytest.fixture
def small_page(monkeypatch):
    monkeypatch.setenv(AUTHORS_ENV, str(AUTHORS))
    monkeypatch.setattr(components, "PanelPages", NoPanels)


def texts(widget) -> str:
    return widget_text(widget)


def step_of(box) -> int:
    found = re.search(r"Step (\d+) of", texts(box))
    assert found is not None, texts(box)
    return int(found.group(1))


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def test_reset_applies_the_levers_with_one_mesa_model(small_page):
    box, rc = solara.render(AppPage(), handle_error=False)
    assert step_of(box) == 0
    for _ in range(3):
        click(rc, "Step")
    assert step_of(box) == 3 and "month 2020-03" in texts(box)
    assert "changed: press Reset" not in texts(box)
    rc.find(v.Slider, label="Watermark adoption (mandate)").widget.v_model = 0.45
    seed = rc.find(v.TextField, label="Seed").widget
    seed.v_model = "99"
    seed.fire_event("keyup.enter", None)  # Solara takes typed text on Enter or focus out
    assert texts(box).count("changed: press Reset") == 2
    assert step_of(box) == 3  # nothing changes before Reset
    click(rc, "Reset")
    text = texts(box)
    assert step_of(box) == 0 and "seed 99" in text
    assert "settings now: watermark adoption 0.45" in text
    assert "changed: press Reset" not in text
    rc.close()


def test_a_bad_seed_is_refused_beside_the_box(small_page):
    box, rc = solara.render(AppPage(), handle_error=False)
    seed = rc.find(v.TextField, label="Seed").widget
    seed.v_model = "abc"
    seed.fire_event("keyup.enter", None)
    assert "seed must be an integer >= 0, got 'abc'" in texts(box)
    rc.close()


def test_each_session_has_its_own_model(small_page):
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


def test_a_scenario_file_typed_in_runs_after_reset(small_page, tmp_path):
    library = resources.files("habsburg.scenarios") / "library"
    path = tmp_path / "mandate.toml"
    path.write_text((library / "watermark_mandate.toml").read_text())
    box, rc = solara.render(AppPage(), handle_error=False)
    box_path = rc.find(v.TextField, label="…or type a scenario file path (.toml), Enter").widget
    box_path.v_model = str(tmp_path / "missing.toml")
    box_path.fire_event("keyup.enter", None)
    assert "missing.toml" in texts(box)  # the CLI's message for a missing file
    assert "changed: press Reset" not in texts(box)
    box_path.v_model = str(path)
    box_path.fire_event("keyup.enter", None)
    assert "changed: press Reset" in texts(box)
    assert "baseline-viz" in texts(box)  # the running model is untouched until Reset
    click(rc, "Reset")
    text = texts(box)
    assert "watermark_mandate-viz" in text and "2025-01: watermark.adoption = 0.7" in text
    rc.close()
