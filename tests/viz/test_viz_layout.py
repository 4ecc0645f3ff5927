"""The page's fit-the-window rules: the panel grid per tab and when the sidebar starts closed."""

from __future__ import annotations

import re

import pytest

from habsburg.viz import charts, layout
from habsburg.viz.panels import pages


@pytest.mark.parametrize(
    ("panels", "columns", "rows"), [(1, 1, 1), (2, 1, 2), (3, 2, 2), (4, 2, 2), (5, 3, 2)]
)
def test_grid_has_two_rows_and_enough_columns(panels, columns, rows):
    style = layout.grid_style(panels)
    assert style["grid-template-columns"] == f"repeat({columns}, minmax(0, 1fr))"
    assert style["grid-template-rows"] == f"repeat({rows}, minmax(0, 1fr))"


def test_every_tab_fits_two_rows():
    for name, specs in pages().items():
        rows = re.fullmatch(
            r"repeat\((\d+), .*", layout.grid_style(len(specs))["grid-template-rows"]
        )
        assert rows and int(rows.group(1)) <= 2, name


def test_sidebar_closed_only_on_narrow_windows():
    assert layout.sidebar_open(0)  # width not known yet
    assert not layout.sidebar_open(1024)
    assert layout.sidebar_open(1440) and layout.sidebar_open(1920)


def test_panel_grid_height_is_the_window_less_the_bars():
    assert f"height: calc(100vh - {layout.TOP}px)" in layout.CSS


def test_charts_fill_their_panel():
    assert charts.HEIGHT == "container"
