"""The settings that differ between the scenario a piece of kept work (a checkpoint, a sweep, a
comparison's kept runs) was begun with and the scenario a command would resume it with, named in
the refusal to resume. A file that starts from another changes with its base, so "other
settings" alone left a user to find which of a few hundred had moved."""

from __future__ import annotations

from typing import Any

from habsburg.scenarios.diff import flat_settings, items

#: the most differences a refusal names (then "and N more")
SHOWN = 3
#: a value longer than this (a description) is shown cut short
WIDTH = 40


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= WIDTH else f"{text[: WIDTH - 3]}..."


def setting_changes(old: Any, new: Any) -> list[str]:
    """``path: old → new`` for every setting that differs between ``old`` and ``new`` (plain
    scenarios, or mappings of them), in ``new``'s order, then those only ``old`` has."""
    before, after = flat_settings(old), flat_settings(new)
    # an item only one side has (a removed crawler, an added model) is one line, not one a setting
    old_items, new_items = items(old), items(new)
    lone = sorted(old_items ^ new_items, key=len)  # (an item before the items inside it)
    gone = old_items - new_items
    missing = object()
    out, shown = [], set()
    for path in [*after, *(p for p in before if p not in after)]:
        item = next((i for i in lone if path.startswith(f"{i}.")), None)
        if item is not None:
            if item not in shown:
                shown.add(item)
                out.append(
                    f"{item}: (item) → (none)" if item in gone else f"{item}: (none) → (item)"
                )
            continue
        a, b = before.get(path, missing), after.get(path, missing)
        if (a == [] and b is missing and any(p.startswith(f"{path}.") for p in after)) or (
            b == [] and a is missing and any(p.startswith(f"{path}.") for p in before)
        ):
            continue  # (an empty list of tables against the other side's items, named above)
        if a != b:
            shown_a = "(none)" if a is missing else _show(a)
            shown_b = "(none)" if b is missing else _show(b)
            out.append(f"{path}: {shown_a} → {shown_b}")
    return out


def describe_changes(old: Any, new: Any) -> str:
    """The first :data:`SHOWN` of :func:`setting_changes`, joined ("" when none differ)."""
    changes = setting_changes(old, new)
    text = "; ".join(changes[:SHOWN])
    if len(changes) > SHOWN:
        text += f"; and {len(changes) - SHOWN} more"
    return text
