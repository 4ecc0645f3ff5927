"""The versions of the packages a run's numbers depend on, as results record them.

A seed reproduces a run exactly only with the same versions of :data:`RESULT_PACKAGES` (README,
"Reading the output": numpy 2.5's binomial draws differ from 2.4's from the same generator
state), so work that is resumed (a checkpoint, a sweep's or a comparison's finished runs) is
checked against the versions it was begun with: :func:`version_changes`.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

__all__ = [
    "PACKAGES",
    "RESULT_PACKAGES",
    "installed_version",
    "package_versions",
    "version_changes",
]

#: the packages whose versions a results manifest records
PACKAGES = ("habsburg", "mesa", "numpy", "scipy", "pandas", "networkx", "pyarrow", "matplotlib")
#: the packages whose versions a run's numbers depend on: a seed reproduces a run exactly only
#: with the same versions of these (the others write or draw the results)
RESULT_PACKAGES = ("habsburg", "mesa", "numpy", "scipy", "networkx")


def package_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {n: installed_version(n) for n in PACKAGES}


def installed_version(name: str) -> str:
    """The installed version of the distribution ``name`` (``"not installed"`` if it is not)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_changes(recorded: Any, packages: tuple[str, ...] = RESULT_PACKAGES) -> list[str]:
    """The packages of ``packages`` (:data:`RESULT_PACKAGES` unless told) whose version differs
    from ``recorded`` (the ``versions`` a manifest or a kept run recorded), as ``"numpy 2.4.6
    (here 2.5.5)"``: runs made with those versions and runs made here are not the same numbers
    for the same seed. A package ``recorded`` does not name (or no record at all) is not counted
    as a change."""
    if not isinstance(recorded, dict):
        return []
    changes = []
    for name in packages:
        if name in recorded and recorded[name] != (here := installed_version(name)):
            changes.append(f"{name} {recorded[name]} (here {here})")
    return changes
