"""The viz without a browser: snapshot under the lock, the step guard, panels that fail as a
message, the charts' markers and legends, the status line and the levers."""

from __future__ import annotations

import html
import logging
import re
import threading
import time

import pytest
import solara
from tinyscenario import tiny_scenario
from widgettext import widget_text

from habsburg.model.model import EcosystemModel
from habsburg.scenarios.parameters import parameters
from habsburg.scenarios.schema import Intervention
from habsburg.viz import charts, components, graphs, panels
from habsburg.viz.scenario import (
    LEVERS,
    check_choice,
    check_seed,
    lever_controls,
    model_kwargs,
    pick,
)
from habsburg.viz.snapshot import attach, snapshot


def tiny_model(**settings) -> EcosystemModel:
    sc = tiny_scenario()
    sc.interventions = [Intervention(at="2021-06", set={"watermark.adoption": 0.9}, note="mandate")]
    model = EcosystemModel(sc, **settings)
    attach(model)
    return model


# --- the lock and the step guard ----------------------------------------------------------------
def test_snapshot_waits_for_a_step_in_another_thread():
    """A snapshot is taken under the lock the step holds: it never sees a half-collected month."""
    model = tiny_model()
    session = attach(model)
    inside = threading.Event()

    def slow_step():
        with session.lock:
            inside.set()
            time.sleep(0.3)
            model.step()

    worker = threading.Thread(target=slow_step)
    worker.start()
    inside.wait()
    started = time.perf_counter()
    snap = snapshot(model)
    waited = time.perf_counter() - started
    worker.join()
    assert waited > 0.2  # it waited for the step to finish
    assert snap.steps == 1 and len(snap.metrics) == 1


def test_threaded_steps_and_snapshots_never_see_a_torn_table():
    model = tiny_model()
    errors = []

    def run():
        try:
            for _ in range(15):
                model.step()
        except Exception as err:  # pragma: no cover - the failure being tested
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        snap = snapshot(model)
        assert len(snap.metrics) == snap.steps
        assert set(snap.agents["step"]) <= set(range(snap.steps))
    worker.join()
    assert not errors


def test_steps_stop_at_the_last_month():
    model = tiny_model()
    total = model.config.steps
    for _ in range(total + 20):  # what Mesa's Render Interval does near the end
        model.step()
    assert model.steps == total and not model.running
    assert snapshot(model).steps == total
    assert f"Step {total} of {total}" in components.status_html(snapshot(model))


def test_attach_is_idempotent():
    model = tiny_model()
    assert attach(model) is attach(model)
    model.step()
    assert model.steps == 1


# --- panels -------------------------------------------------------------------------------------
def html_text(box) -> str:
    return widget_text(box, plain=False)


def test_a_failing_panel_shows_one_line_and_logs(caplog):
    model = tiny_model()

    def broken(snap):
        raise KeyError("capability")

    spec = panels.PanelSpec("Broken", "x", chart=broken)
    with caplog.at_level(logging.ERROR, logger="habsburg.viz"):
        box, rc = solara.render(components.Panel(model, spec), handle_error=False)
    text = html.unescape(html_text(box))
    assert "This panel could not be drawn (KeyError: 'capability')" in text
    assert "Traceback" not in text and "File " not in text
    assert any("Broken" in r.getMessage() for r in caplog.records)
    assert caplog.records[0].exc_info is not None  # the traceback is in the server log
    rc.close()


def test_a_failing_mesa_plot_becomes_a_message_chart(caplog):
    def bad_post(snap):
        def post(chart):
            raise ValueError("no such column")

        return post

    spec = panels.PanelSpec("Bad", "x", measures={"synthetic_share_new": "new"}, post=bad_post)
    model = tiny_model()
    model.step()
    drawn = panels.draw_panel(spec, snapshot(model), False)
    assert drawn.post_process is not None
    with caplog.at_level(logging.ERROR, logger="habsburg.viz"):
        chart = drawn.post_process(charts.alt.Chart(charts.pd.DataFrame({"a": [1]})).mark_point())
    assert "no such column" in str(chart.to_dict()["datasets"])
    assert caplog.records


def test_every_panel_draws_at_start_and_mid_run():
    model = tiny_model()
    for steps in (0, 20):
        while model.steps < steps:
            model.step()
        snap = snapshot(model)
        for spec in [s for specs in panels.pages().values() for s in specs]:
            drawn = panels.draw_panel(spec, snap, dark=True)
            assert not drawn.message, drawn.message
            if drawn.spec is not None:
                assert drawn.spec["width"] == "container"
            else:  # Mesa's plot component: its chart through our post_process
                assert drawn.source and drawn.post_process and spec.measures
                df = drawn.source.datacollector.get_model_vars_dataframe()
                assert list(df.columns) == list(spec.measures.values())
                long = df.reset_index().rename(columns={"index": "Step"})
                long = long.melt(id_vars=["Step"], var_name="Measure", value_name="Value")
                base = charts.alt.Chart(long).mark_line().encode(x="Step:Q", y="Value:Q")
                out = drawn.post_process(base).to_dict()
                assert out["width"] == "container" and out["config"]["background"] == "transparent"


# --- charts -------------------------------------------------------------------------------------
def test_intervention_months_are_markers_in_the_legend():
    model = tiny_model()
    for _ in range(20):
        model.step()
    snap = snapshot(model)
    rows = charts.marker_rows(snap)
    assert list(rows.marker) == ["chatbot launch", "2021-06: watermark adoption 0.9"]
    for build in (charts.market_chart, charts.lineage_chart):
        spec = build(snap).to_dict()
        dash = [layer for layer in spec["layer"] if "strokeDash" in layer.get("encoding", {})]
        assert dash and dash[0]["encoding"]["strokeDash"]["title"] == charts.MARKER_TITLE


def test_count_axes_have_integer_ticks():
    model = tiny_model()
    model.step()
    snap = snapshot(model)
    post = charts.value_post(snap, "facts", count=True)
    base = charts.alt.Chart(charts.pd.DataFrame({"Step": [0], "Value": [1], "Measure": ["m"]}))
    spec = post(base.mark_line().encode(x="Step:Q", y="Value:Q")).to_dict()
    y = spec["layer"][0]["encoding"]["y"]["axis"]
    assert y["tickMinStep"] == 1 and y["format"] == "d"


# --- status line --------------------------------------------------------------------------------
def test_status_shows_live_settings_and_overrides():
    model = tiny_model()
    before = components.status_html(snapshot(model))
    assert "watermark adoption 0 " in before + " "
    while model.config.step_to_month(model.steps) <= "2021-06":
        model.step()
    text = re.sub(r"<[^>]+>", "", components.status_html(snapshot(model)))
    assert "watermark adoption 0.9" in text
    assert "2021-06: an intervention set watermark adoption to 0.9 (the run started with 0)" in text


# --- scenario choice and levers -----------------------------------------------------------------
def test_scenario_choice_is_checked_like_the_cli(tmp_path):
    assert check_choice("watermark_mandate") == "watermark_mandate"
    with pytest.raises(Exception, match="unknown scenario 'nope'"):
        check_choice("nope")
    with pytest.raises(Exception, match=r"missing\.toml"):
        check_choice(str(tmp_path / "missing.toml"))
    with pytest.raises(Exception, match="seed must be an integer"):
        check_seed("abc")
    assert check_seed(" 12 ") == 12


def test_levers_come_from_the_typed_parameters():
    p = pick("baseline", 100)
    table = parameters(p.scenario)
    controls = lever_controls(p.scenario)
    assert set(controls) == {lever.path for lever in LEVERS}
    for path, control in controls.items():
        param = table[path]
        if control["type"] == "Select":
            assert tuple(control["values"]) == param.choices
        else:
            assert param.low <= control["min"] < control["max"] <= param.high
    kwargs = model_kwargs(p, 5, {"watermark.adoption": 0.5, "models.*.temperature": 0.9})
    assert kwargs["seed"] == 5 and kwargs["watermark.adoption"] == 0.5
    assert "models.*.temperature" not in kwargs  # the scenario's own value needs no keyword


def test_largest_cascade_is_the_error_most_models_believe():
    model = tiny_model()
    while model.running:
        model.step()
    snap = snapshot(model)
    g = snap.cascade
    assert g is not None, "the tiny run has adoptions by its end"
    adoptions = model.errors.adoptions_frame()
    most = adoptions.groupby("error_id")["model"].nunique().max()
    believers = [n for n, d in g.nodes(data=True) if "believer" in d["role"]]
    assert len(believers) == most
    spec = graphs.cascade_chart(snap).to_dict()
    assert f"believed by {most} model" in str(spec["title"])


def test_an_intervention_that_multiplies_reads_as_a_factor():
    """Markers, the status line and the scenario panel say ×, not = (a factor, not a value)."""
    sc = tiny_scenario()
    sc.interventions = [
        Intervention(at="2021-06", set={"watermark.adoption": 0.4}),
        Intervention(at="2021-08", times={"watermark.adoption": 2.0}, note="twice"),
    ]
    model = EcosystemModel(sc)
    attach(model)
    while model.config.step_to_month(model.steps) <= "2021-08":
        model.step()
    snap = snapshot(model)
    assert list(charts.marker_rows(snap).marker)[1:] == [
        "2021-06: watermark adoption 0.4",
        "2021-08: watermark adoption ×2",
    ]
    text = re.sub(r"<[^>]+>", "", components.status_html(snap))
    assert "watermark adoption 0.8" in text
    assert (
        "2021-08: an intervention multiplied watermark adoption by 2 (the run started with 0)"
        in text
    )
    assert "watermark.adoption × 2 twice" in re.sub(r"<[^>]+>", "", components.scenario_html(snap))
