"""The scenario library shipped with the package, and scenario lookup by name or file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from habsburg.scenarios.schema import Scenario, ScenarioError, _close, load_file, load_text


def _library_dir():
    return resources.files("habsburg.scenarios") / "library"


def list_scenarios() -> dict[str, str]:
    """Library scenarios: name -> one-paragraph description (alphabetical, baseline first)."""
    out = {}
    for entry in sorted(_library_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            sc = load_text(entry.read_text(), f"library/{entry.name}")
            out[sc.name] = " ".join(sc.description.split())
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "baseline", kv[0])))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A library scenario by name, or a scenario file by path."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        if not path.exists():
            raise ScenarioError(f"scenario file {text!r} does not exist")
        return load_file(path)
    entry = _library_dir() / f"{text}.toml"
    if not entry.is_file():
        names = list(list_scenarios())
        raise ScenarioError(
            f"unknown scenario {text!r}{_close(text, names)}; available: {', '.join(names)}"
        )
    return load_text(entry.read_text(), f"library/{text}.toml")
