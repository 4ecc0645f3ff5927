"""The viz panels without a browser: each renders, and stepping the model changes what it shows."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from mesa.visualization.utils import force_update

from habsburg.viz import components as C
from habsburg.viz.model import EcosystemViz

#: small enough to step past the first model launches (2022-11, step 34) in a second or two
AUTHORS = 100
PAST_LAUNCH = 38


@pytest.fixture
def viz() -> EcosystemViz:
    return EcosystemViz(authors=AUTHORS)


@pytest.fixture(scope="module")
def stepped() -> EcosystemViz:
    """A model some months after the first launches (models deployed, crawls filtered)."""
    model = EcosystemViz(authors=AUTHORS)
    for _ in range(PAST_LAUNCH + 12):
        model.step()
    return model


def panel_png(widget) -> bytes:
    images = [w for w in walk(widget) if isinstance(w, ipywidgets.Image)]
    assert len(images) == 1, images
    return bytes(images[0].value)


def walk(widget):
    """Every widget under ``widget`` (children, and the items of Solara's grid layout)."""
    yield widget
    for name in ("children", "items"):
        for child in getattr(widget, name, None) or []:
            if isinstance(child, ipywidgets.Widget):
                yield from walk(child)


@pytest.mark.parametrize(
    "panel",
    [
        C.SiteNetwork,
        C.SyntheticShare,
        C.ModelQuality,
        C.ConvergenceCascades,
        C.Filters,
        C.LineageMarket,
    ],
    ids=lambda p: p.__name__,
)
def test_panel_renders_and_follows_the_model(viz, panel):
    box, rc = solara.render(panel(viz), handle_error=False)
    before = panel_png(box)
    assert before.startswith(b"\x89PNG")
    for _ in range(PAST_LAUNCH):
        viz.step()
    force_update()  # what Mesa's controller calls after a step
    after = panel_png(box)
    assert after.startswith(b"\x89PNG")
    assert after != before
    rc.close()


def test_panel_draws_again_only_after_a_step(viz):
    """The PNG is cached on (model, step): re-renders for other reasons reuse it."""
    calls = []

    def build(model):
        calls.append(model.steps)
        return C.synthetic_share_figure(model.ecosystem)

    _box, rc = solara.render(C.FigurePanel(viz, build), handle_error=False)
    force_update()
    assert calls == [0]
    viz.step()
    force_update()
    assert calls == [0, 1]
    rc.close()


def test_site_shares_match_a_direct_count(stepped):
    eco = stepped.ecosystem
    shares = C.site_synthetic_share(eco)
    docs = eco.internet.store.to_frame()
    recent = docs[docs.step > eco.month - C.SITE_WINDOW]
    expected = recent.groupby("site").synthetic_fraction.mean()
    expected = expected.reindex(range(eco.internet.n_sites))
    np.testing.assert_allclose(shares, expected.to_numpy(), rtol=1e-5)
    farm = eco.internet.site_kind == 1
    assert np.nanmin(shares[farm]) > 0.99  # farm sites publish only synthetic text
    assert np.nanmean(shares[~farm]) < np.nanmean(shares[farm])


def test_synthetic_share_plot_draws_the_collected_series(stepped):
    eco = stepped.ecosystem
    fig = C.synthetic_share_figure(eco)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    series = C.model_series(eco)
    np.testing.assert_allclose(lines["new docs, true"].get_ydata(), series.synthetic_share_new)
    np.testing.assert_allclose(
        lines["new, measured"].get_ydata(), series.synthetic_share_new_measured
    )
    study = lines["web study"]
    assert list(study.get_xdata()) == [eco.config.launch_step + m for m in sorted(C.WEB_STUDY)]


def test_model_panels_have_one_line_per_deployed_model(stepped):
    eco = stepped.ecosystem
    deployed = {a.name for a in eco.deployed_models()}
    assert deployed
    fig = C.models_figure(eco)
    labels = {line.get_label() for line in fig.axes[0].get_lines()}
    labels = {label for label in labels if not label.startswith("_")} - {"H(p_H)"}
    assert labels == deployed


def test_lineage_marks_every_generation(stepped):
    eco = stepped.ecosystem
    fig = C.lineage_figure(eco)
    marked = sum(
        len(line.get_xdata()) for line in fig.axes[1].get_lines() if line.get_marker() == "o"
    )
    assert marked == len(eco.lineage) > 0
    shares = C.agent_series(eco).groupby("step").market_share.sum()
    deployed_steps = shares[shares > 0]
    np.testing.assert_allclose(deployed_steps, 1.0, atol=1e-6)


def test_status_names_step_month_and_settings():
    model = EcosystemViz(authors=AUTHORS, watermark_adoption=0.35, seed="7")
    model.step()
    text = C.status_html(model)
    assert "<b>Step 1 of" in text
    assert model.ecosystem.date in text
    assert "seed 7" in text
    assert "watermark adoption 0.35" in text


def test_agent_series_is_empty_before_any_step(viz):
    assert C.agent_series(viz.ecosystem).empty
    assert isinstance(C.model_series(viz.ecosystem), pd.DataFrame)
