"""A scenario written back as TOML: every setting spelled out (what ``habsburg calibrate``
writes as the calibrated scenario, and ``habsburg scenarios NAME|FILE`` prints)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from habsburg.scenarios.sections import Scenario
    from habsburg.scenarios.text_schema import TextScenario


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):  # (JSON escapes the control characters TOML forbids but DEL)
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    """``k`` bare where TOML allows it (ASCII letters, digits, ``_`` and ``-``), else quoted."""
    bare = k.isascii() and k.replace("_", "").replace("-", "").isalnum()
    return k if bare else json.dumps(k, ensure_ascii=False).replace("\x7f", "\\u007f")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _toml_table(data: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)}
    for k, v in scalars.items():
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in data.items():
        name = f"{prefix}{_toml_key(k)}"
        if isinstance(v, dict) and k != "set":
            lines += ["", f"[{name}]"]
            _toml_table(v, f"{name}.", lines)
        elif _is_table_list(v):
            for item in v:
                lines += ["", f"[[{name}]]"]
                _toml_table(item, f"{name}.", lines)


def scenario_toml(scenario: Scenario, header: str = "") -> str:
    """The whole scenario as TOML (every setting written out; loads back to an equal Scenario)."""
    data = scenario.to_dict()
    data.pop("source", None)
    interventions = data.pop("interventions", [])
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _toml_table(data, "", lines)
    for iv in interventions:
        lines += ["", "[[interventions]]"]
        for k, v in iv.items():
            if k != "times" or v:  # (times only where an intervention has one)
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def text_scenario_toml(scenario: TextScenario, header: str = "") -> str:
    """A text-mode scenario as TOML, every setting written out (loads back to an equal one)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _toml_table(dataclasses.asdict(scenario), "", lines)
    return "\n".join(lines) + "\n"
