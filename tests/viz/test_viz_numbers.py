"""The numbers the browser view shows, recomputed from the model's own tables (the run tables of
:mod:`habsburg.model.export`, its registries and config): the site graph, the series of the
panels month by month, the cascade graph, the status line."""

from __future__ import annotations

import dataclasses
import html
import re

import altair as alt
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from habsburg.analysis.cascades import ActorNames, cascade_graph
from habsburg.model.export import tables
from habsburg.model.model import EcosystemModel
from habsburg.viz import components, graphs, panels
from habsburg.viz.scenario import VIZ_AUTHORS, model_kwargs, pick
from habsburg.viz.snapshot import SITE_WINDOW, Snapshot, attach, snapshot

#: months the viz-sized baseline runs here: before the launch (2022-11) and two years past it
EARLY, LATE = 6, 60


@pytest.fixture(scope="module")
def run() -> tuple[EcosystemModel, Snapshot, Snapshot, dict[str, pd.DataFrame]]:
    """The viz-sized baseline (400 authors), its snapshots at EARLY and LATE months, and its
    run tables at LATE."""
    model = EcosystemModel(**model_kwargs(pick("baseline", VIZ_AUTHORS)))
    attach(model)
    while model.steps < EARLY:
        model.step()
    early = snapshot(model)
    while model.steps < LATE:
        model.step()
    return model, early, snapshot(model), tables(model)


def layer_rows(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]]


def measure_chart(spec: panels.PanelSpec, snap: Snapshot) -> dict:
    """What Mesa's ``PlotAltair`` draws for a measures panel, through the panel's post-process."""
    drawn = panels.draw_panel(spec, snap, dark=False)
    assert drawn.source is not None and drawn.post_process is not None, drawn.message
    frame = drawn.source.datacollector.get_model_vars_dataframe().reset_index()
    long = frame.rename(columns={"index": "Step"}).melt(
        id_vars=["Step"], var_name="Measure", value_name="Value"
    )
    chart = alt.Chart(long).mark_line().encode(x="Step:Q", y="Value:Q", color="Measure:N")
    return drawn.post_process(chart).to_dict()


# --- the site graph -----------------------------------------------------------------------------
def test_every_site_is_drawn_and_one_that_published_nothing_is_grey(run):
    """Vega-Lite drops a point whose colour field is empty: in 2020-10 the site graph showed
    231 of the viz-sized baseline's 428 sites (no farm site: the farms start in 2023)."""
    model, early, _, t = run
    docs = t["documents"]
    month = early.steps - 1
    window = docs[(docs.step >= month - SITE_WINDOW + 1) & (docs.step <= month)]
    per_site = window.groupby("site")["synthetic_fraction"].agg(["size", "mean"])
    per_site = per_site.reindex(range(model.internet.n_sites))
    spec = graphs.network_chart(early).to_dict()
    nodes = [layer for layer in spec["layer"] if "shape" in layer["encoding"]]
    drawn = [row["site"] for layer in nodes for row in layer_rows(spec, layer)]
    assert sorted(drawn) == list(range(model.internet.n_sites))  # each site once
    silent = set(per_site.index[per_site["size"].isna()])
    assert silent  # (the farms' sites at least)
    for layer in nodes:
        rows = layer_rows(spec, layer)
        colour = layer["encoding"]["color"]
        if "field" in colour:  # coloured by share: each share is the window's mean
            assert colour["field"] == "share"
            for row in rows:
                assert row["site"] not in silent
                assert row["documents"] == per_site.loc[row["site"], "size"]
                assert row["share"] == pytest.approx(per_site.loc[row["site"], "mean"], abs=1e-12)
        else:
            assert colour == {"value": graphs.NOTHING_PUBLISHED}
            assert {row["site"] for row in rows} == silent
            assert all(row["documents"] == 0 for row in rows)


# --- the series ---------------------------------------------------------------------------------
def test_series_are_the_model_metrics_month_by_month(run):
    """Each measures panel plots the model_metrics column it names, at its own month."""
    _, _, late, t = run
    metrics = t["model_metrics"]
    assert list(metrics.step) == list(range(LATE))
    for spec in [*panels.PANELS, *panels.INSTRUMENT_PANELS]:
        if spec.measures is None:
            continue
        frame = panels.MeasureSource(late, spec.measures).datacollector.get_model_vars_dataframe()
        assert list(frame.index) == list(metrics.step)
        for column, label in spec.measures.items():
            np.testing.assert_array_equal(frame[label].to_numpy(float), metrics[column])
    per_model = late.agents.reset_index(drop=True)
    pd.testing.assert_frame_equal(per_model, t["models"].reset_index(drop=True))
    pd.testing.assert_frame_equal(late.lineage, t["lineage"])


def test_wrong_beliefs_axis_counts_model_fact_pairs(run):
    """``active_wrong_beliefs`` adds up each deployed model's wrong beliefs: two models wrong
    about one fact count twice, so its axis counts (model, fact) pairs, not facts."""
    model, _, late, _ = run
    held = [a.believed_errors for a in model.deployed_models()]
    assert late.last("active_wrong_beliefs") == sum(b.size for b in held)
    spec = next(
        s for s in panels.PANELS if s.measures == {"active_wrong_beliefs": "active wrong beliefs"}
    )
    y = measure_chart(spec, late)["layer"][0]["encoding"]["y"]
    assert y["title"] == "wrong beliefs (model × fact)"
    assert y["axis"]["format"] == "d"


# --- the cascade graph --------------------------------------------------------------------------
def test_a_model_that_only_believed_an_error_has_no_first_published_month(run):
    """Error 0: author 5 publishes it in month 3 and model a repeats it in month 30 (two
    documents); model b comes to believe it in month 36 without publishing it."""
    _, _, late, _ = run
    errors = pd.DataFrame(
        {
            "error_id": [0],
            "fact": [7],
            "value": [2],
            "origin_kind": ["human"],
            "origin_producer": [5],
            "origin_model": [-1],
            "step": [3],
        }
    )
    adoptions = pd.DataFrame({"error_id": [0, 0], "model": [0, 1], "step": [29, 36]})
    claims = pd.DataFrame(
        {
            "document": [10, 500, 501],
            "error_id": [0, 0, 0],
            "step": [3, 30, 31],
            "kind": ["human", "model", "model"],
            "producer": [5, 0, 0],
            "model": [-1, 0, 0],
        }
    )
    g = cascade_graph(0, errors, adoptions, claims, ActorNames(models=["a", "b"]))
    assert isinstance(g, nx.DiGraph)
    spec = graphs.cascade_chart(dataclasses.replace(late, cascade=g)).to_dict()
    nodes = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "circle")
    rows = {row["node"]: row for row in layer_rows(spec, nodes)}
    assert late.start == "2020-01"
    assert (rows["author 5"]["first"], rows["author 5"]["documents"]) == ("2020-04", 1)
    assert (rows["model a"]["first"], rows["model a"]["adopted"]) == ("2022-07", "2022-06")
    assert rows["model a"]["documents"] == 2
    assert rows["model b"]["documents"] == 0
    assert (rows["model b"]["first"], rows["model b"]["adopted"]) == ("", "2023-01")
    assert "believed by 2 models" in str(spec["title"])


# --- the status line ----------------------------------------------------------------------------
def test_status_line_shows_every_items_lever_value(run):
    """The baseline's eight models decode at τ 0.8 to 1, retrain every 6 to 12 months, with a
    reservoir of 0 or 0.1, accumulating or replacing; its farms paraphrase at 0.25 and 0.3.
    The status line showed the first item's value only (τ 0.9, 12 months, 0, ...)."""
    model, _, late, _ = run
    lines = components.status_html(late).split("<br>")
    text = html.unescape(re.sub(r"<[^>]+>", "", "\n".join(lines)))
    settings = text.split("settings now: ")[1].split("\n")[0]
    sc = model.config

    def span(values: list) -> str:
        return f"{min(values):g}–{max(values):g}" if len(set(values)) > 1 else f"{values[0]:g}"

    modes = "/".join(dict.fromkeys(m.data.mode for m in sc.models))
    expected = [
        f"watermark adoption {sc.watermark.adoption:g}",
        f"detector z > {span([s.filters.watermark_threshold for s in sc.scrapers])}",
        f"paraphrase ε {span([f.paraphrase_rate for f in sc.farms])}",
        f"human reservoir {span([m.data.human_reservoir for m in sc.models])}",
        f"data {modes}",
        f"τ {span([m.temperature for m in sc.models])}",
        f"retrain every (months) {span([m.retrain_interval for m in sc.models])}",
    ]
    assert settings == " · ".join(expected)
    assert "τ 0.8–1 " in settings + " " and "data accumulate_subsample/replace" in settings
    deployed = sum(a.deployed for a in model.models)
    assert f"{late.documents:,} docs" in text and late.documents == len(model.internet.store)
    assert f"{deployed}/{len(model.models)} models deployed" in text
    assert f"month {sc.step_to_month(LATE - 1)}" in text
