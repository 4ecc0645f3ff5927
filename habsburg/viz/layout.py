"""Fitting the page into the window: the sidebar starts closed on narrow windows, and each tab's
panels share the height left under the app bar, status line and tab bar.

The server does not know the window's width, so :class:`WindowWidth` (a small Vue template)
reports it from the browser; :func:`Layout` (Solara's app layout, which a module named ``Layout``
replaces) then closes the sidebar below :data:`SIDEBAR_MIN_WIDTH` px. The menu button in the app
bar opens it again. Panel heights are CSS (:data:`CSS`): the panel grid is ``100vh`` minus the
fixed-height bars above it, split into equal rows, and every chart is Vega-Lite
``width="container", height="container"``, drawn as SVG at the panel's size.
"""

from __future__ import annotations

import math

import ipyvue
import solara
import traitlets

#: below this window width (px) the sidebar starts closed, so the panels get the whole width
SIDEBAR_MIN_WIDTH = 1280

#: the window width the browser reported (0 until it has); one value per browser session
window_width = solara.reactive(0)


class WindowWidth(ipyvue.VueTemplate):
    """Reports ``window.innerWidth`` once it is mounted and whenever the window is resized."""

    template = traitlets.Unicode(
        """
<template><span style="display: none"></span></template>
<script>
module.exports = {
  mounted() {
    this.report = () => { this.width = window.innerWidth; };
    this.report();
    window.addEventListener("resize", this.report);
  },
  destroyed() { window.removeEventListener("resize", this.report); },
};
</script>
"""
    ).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)


@solara.component
def WidthProbe() -> solara.Element:
    """Puts :class:`WindowWidth` on the page and copies what it reports into ``window_width``."""
    return WindowWidth.element(width=window_width.value, on_width=window_width.set)


def sidebar_open(width: int) -> bool:
    """Whether the sidebar starts open at ``width`` px (open while the width is not known yet)."""
    return not width or width >= SIDEBAR_MIN_WIDTH


@solara.component
def Layout(children: list | None = None) -> solara.Element:
    """Solara's app layout with the sidebar closed on narrow windows."""
    return solara.AppLayout(children=children or [], sidebar_open=sidebar_open(window_width.value))


def grid_style(panels: int) -> dict[str, str]:
    """The panel grid of a tab with ``panels`` panels: two rows, as many columns as that needs
    (2 panels stacked, 3 as two over one full-width, 4 as 2 x 2)."""
    columns = max(1, math.ceil(panels / 2))
    rows = math.ceil(panels / columns)
    return {
        "grid-template-columns": f"repeat({columns}, minmax(0, 1fr))",
        "grid-template-rows": f"repeat({rows}, minmax(0, 1fr))",
    }


#: px above and below the panel grid: app bar 64, main padding and column gaps 32, status line
#: 70, tab bar 48, grid padding 8, 12 below (measured in Chromium, tests/e2e/test_viz_browser.py)
TOP = 64 + 32 + 70 + 48 + 8 + 12

CSS = f"""
.habsburg-status {{ height: 70px; overflow-y: auto; box-sizing: border-box; }}
.habsburg-panels {{ display: grid; gap: 10px; padding: 8px 0 0 0; box-sizing: border-box;
  height: calc(100vh - {TOP}px); min-height: 360px; }}
.habsburg-panel {{ min-width: 0; min-height: 0; box-sizing: border-box; padding: 6px 10px;
  border: 1px solid rgba(128,128,128,.35); border-radius: 6px; overflow: hidden;
  display: flex; flex-direction: column; }}
.habsburg-panels > .habsburg-panel:last-child:nth-child(odd) {{ grid-column: 1 / -1; }}
.habsburg-panel-title {{ font-weight: 500; font-size: 14px; flex: 0 0 auto; }}
.habsburg-panel > * {{ width: 100%; align-self: stretch; }}
.habsburg-panel > :last-child {{ flex: 1 1 0; min-height: 0; }}
.habsburg-panel > :last-child > *, .habsburg-panel > :last-child > * > * {{ height: 100%; }}
.habsburg-panel .vega-embed {{ width: 100%; height: 100%; display: block; }}
.habsburg-panel .vega-embed summary {{ display: none; }}
"""
