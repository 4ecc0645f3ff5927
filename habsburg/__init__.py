"""habsburg: an agent-based simulator of model collapse across an AI ecosystem.

Public API (the functions the CLI, the viz and the sweeps call):

- :func:`habsburg.scenarios.load_scenario` / :func:`habsburg.scenarios.list_scenarios`
- :class:`habsburg.model.model.EcosystemModel` — the Mesa model
- :func:`habsburg.experiments.run.run_scenario` — run a scenario and write results
"""

import importlib
import sys
from typing import Any

__version__ = "0.1.0"


def lazy_names(package: str, names: dict[str, str], public: list[str]) -> tuple[Any, Any]:
    """The module hooks (PEP 562) of a package whose ``names`` load their module when first
    named (``{name: module}``), so importing the package does not import them all: returns its
    ``__getattr__`` and ``__dir__`` (``public``: its ``__all__``). A name once loaded is kept on
    the package, so later lookups do not come back here."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
