"""Scenarios as setting paths, and one scenario written as the changes from another.

:func:`flat_settings` names every setting of a plain scenario (:meth:`Scenario.to_dict`) by its
path, the items of a list by their name (``models.nw-chat.temperature``), as setting paths,
sweep specs and interventions name them. :func:`changes_toml` writes a scenario as a file that
starts from another (``scenario = NAME|FILE`` with ``[remove]``, ``[[add.LIST]]``, ``[set]`` and
its own interventions): how a whole copy of the baseline, which a recalibrated baseline leaves
behind, becomes a what-if that follows it (``habsburg scenarios BASE FILE --as-changes``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import Intervention, Scenario, from_dict, item_lists
from habsburg.scenarios.writer import _toml_key, _toml_table, _toml_value


def flat_settings(data: Any, prefix: str = "") -> dict[str, Any]:
    """A plain scenario (:meth:`Scenario.to_dict`, or a mapping of them) as setting paths: the
    items of a list of tables by their ``name`` (``models.nw-chat.temperature``), other items by
    their index (``interventions.0.at``); ``source`` (where the file was read) left out."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key != "source":
                out.update(flat_settings(value, f"{prefix}{key}."))
    elif isinstance(data, list) and data and all(isinstance(x, Mapping) for x in data):
        for i, item in enumerate(data):
            name = item.get("name")
            out.update(flat_settings(item, f"{prefix}{name if isinstance(name, str) else i}."))
    else:
        out[prefix[:-1]] = data
    return out


def items(data: Any, prefix: str = "") -> set[str]:
    """The paths of the named items of every list of tables in ``data`` (as
    :func:`flat_settings` names them: ``scrapers.openweb``; interventions, which have no
    names, are not items here)."""
    out: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            out |= items(value, f"{prefix}{key}.")
    elif isinstance(data, list) and data and all(isinstance(x, Mapping) for x in data):
        for item in data:
            if isinstance(item.get("name"), str):
                out |= {f"{prefix}{item['name']}"} | items(item, f"{prefix}{item['name']}.")
    return out


def _changed(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` (an item's table) that differ from ``defaults`` (its section's),
    nested tables by their own differing entries."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            inner = _changed(value, defaults[key])
            if inner:
                out[key] = inner
        elif defaults.get(key, object()) != value:
            out[key] = value
    return out


def _text(value: str) -> str:
    """A string as TOML: a multi-line one as a multi-line literal where it can be one."""
    if "\n" in value and "'''" not in value and all(c in "\n\t" or c.isprintable() for c in value):
        return f"'''\n{value}'''"
    return _toml_value(value)


def _at(data: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        data = data[key]
    return data


def changes_toml(ref: str, base: Scenario, target: Scenario) -> str:
    """``target`` as a file that starts from ``base`` (named ``ref`` in its ``scenario`` key):
    the items ``base`` has and ``target`` lacks in ``[remove]``, those only ``target`` has in
    ``[[add.LIST]]``, every other setting in which they differ in ``[set]``, and ``target``'s
    interventions after ``base``'s (or instead of them: ``keep_interventions = false``). The
    file is checked by loading it: it must give ``target`` setting for setting, else a
    :class:`ScenarioError` says what it cannot express (items in another order, a renamed
    detector)."""
    a, b = base.to_dict(), target.to_dict()
    lines = [
        f"# {target.name}: {base.name} with the changes below, so it follows {base.name} when that",
        "# changes (`habsburg scenarios FILE` prints every setting)",
        f"scenario = {_toml_value(ref)}",
        f"name = {_toml_value(target.name)}",
        f"description = {_text(target.description)}",
    ]
    ours, theirs = a["interventions"], b["interventions"]
    keep = theirs[: len(ours)] == ours
    if not keep:
        lines.append("keep_interventions = false")
    removed: dict[str, list[str]] = {}
    added: dict[str, list[dict[str, Any]]] = {}
    for path in item_lists():
        before, after = _at(a, path), _at(b, path)
        have = [x["name"] for x in before]
        names = [x["name"] for x in after]
        order = [n for n in have if n in names] + [n for n in names if n not in have]
        if order != names:
            raise ScenarioError(
                f"{target.name} lists its {path} as {names}, which a file that starts from "
                f"{base.name} cannot give (the base's items in the base's order, then the added "
                f"ones: {order}); write it whole"
            )
        if gone := [n for n in have if n not in names]:
            removed[path] = gone
        if new := [x for x in after if x["name"] not in have]:
            added[path] = new
    lone = {f"{path}.{n}" for path, gone in removed.items() for n in gone}
    lone |= {f"{path}.{x['name']}" for path, new in added.items() for x in new}
    old = flat_settings(a)
    changed = {
        path: value
        for path, value in flat_settings(b).items()
        if path.split(".")[0] not in ("name", "description", "interventions")
        and not any(path.startswith(f"{item}.") for item in lone)
        and old.get(path, value) != value
    }
    changed = _with_stars(changed, b)
    if removed:
        lines += ["", "[remove]"]
        lines += [f"{_toml_key(path)} = {_toml_value(gone)}" for path, gone in removed.items()]
    if changed:
        lines += ["", "[set]"]
        lines += [f"{_toml_key(path)} = {_toml_value(value)}" for path, value in changed.items()]
    for path, new in added.items():
        defaults = dataclasses.asdict(item_lists()[path]())
        for item in new:
            lines += ["", f"[[add.{path}]]"]
            _toml_table(_changed(item, defaults) | {"name": item["name"]}, f"add.{path}.", lines)
    plain = dataclasses.asdict(Intervention())
    for iv in theirs[len(ours) :] if keep else theirs:
        lines += ["", "[[interventions]]"]
        lines += [
            f"{_toml_key(k)} = {_toml_value(v)}"
            for k, v in iv.items()
            if v != plain[k]  # (the month or the step, set or times, a note when there is one)
        ]
    text = "\n".join(lines) + "\n"
    _check_written(text, ref, base, target)
    return text


def _with_stars(changed: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """``changed`` with the settings that every item of a list has, and two or more items
    changed, written once with ``*`` (``"models.*.data.mode" = "replace"``), as a person
    would write them; the rest as they are, in their order."""
    out: dict[str, Any] = {}
    lists = item_lists()
    for path, value in changed.items():
        head = next((lp for lp in lists if path.startswith(f"{lp}.")), None)
        if head is None:
            out[path] = value
            continue
        setting = path[len(head) + 1 :].partition(".")[2]  # (after the item's name)
        star = f"{head}.*.{setting}"
        if star in out:
            continue
        mine = [k for k in changed if k.startswith(f"{head}.") and k.endswith(f".{setting}")]
        every = flat_settings(_at(target, head), f"{head}.")
        values = [
            v for k, v in every.items() if k.partition(f"{head}.")[2].partition(".")[2] == setting
        ]
        if len(mine) > 1 and values and all(v == value for v in values):
            out[star] = value
        else:
            out[path] = value
    return out


def _check_written(text: str, ref: str, base: Scenario, target: Scenario) -> None:
    """Refuse a written file that does not load to ``target``."""
    import tomllib

    try:
        got = from_dict(tomllib.loads(text), "the file")
    except (ScenarioError, tomllib.TOMLDecodeError) as err:  # (a renamed detector, say)
        raise ScenarioError(
            f"{target.name} cannot be written as changes from {base.name}: {err}; write it whole"
        ) from None
    mine, want = flat_settings(got.to_dict()), flat_settings(target.to_dict())
    differ = [p for p in {**want, **mine} if mine.get(p) != want.get(p)]
    if differ:
        raise ScenarioError(
            f"{target.name} cannot be written as changes from {base.name}: "
            f"{', '.join(differ[:3])} would come out otherwise; write it whole"
        )
