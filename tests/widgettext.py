"""What a widget tree shows as text, for the viz tests (Solara renders to ipywidgets)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import ipywidgets

#: the widget attributes that hold shown text
SHOWN = ("value", "v_model", "unsafe_innerHTML")


def widget_text(widget, attributes: Sequence[str] = SHOWN, *, plain: bool = True) -> str:
    """Every string of ``widget`` and its descendants, depth first, one per line: each widget's
    string ``attributes`` and its string children and items. ``plain`` strips HTML tags and
    unescapes entities (what a reader sees); otherwise the markup is kept."""
    out: list[str] = []

    def walk(w) -> None:
        for name in attributes:
            value = getattr(w, name, None)
            if isinstance(value, str):
                out.append(value)
        for name in ("children", "items"):
            for c in getattr(w, name, None) or []:
                if isinstance(c, ipywidgets.Widget):
                    walk(c)
                elif isinstance(c, str):
                    out.append(c)

    walk(widget)
    text = "\n".join(out)
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if plain else text
