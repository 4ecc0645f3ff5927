"""Declarations: the scenario schema, typed settings, the scenario library and the error types.

The error types load with the package; the schema and the library when first named (PEP 562), so
a module that needs only an error type (the command line's parser) does not load the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from habsburg import lazy_names
from habsburg.scenarios.errors import HabsburgError, ScenarioError, UserError

if TYPE_CHECKING:
    from habsburg.scenarios.library import list_scenarios, load_scenario
    from habsburg.scenarios.schema import Scenario, get_setting, set_setting

_LAZY = {
    "list_scenarios": "habsburg.scenarios.library",
    "load_scenario": "habsburg.scenarios.library",
    "Scenario": "habsburg.scenarios.schema",
    "get_setting": "habsburg.scenarios.schema",
    "set_setting": "habsburg.scenarios.schema",
}

__all__ = [
    "HabsburgError",
    "Scenario",
    "ScenarioError",
    "UserError",
    "get_setting",
    "list_scenarios",
    "load_scenario",
    "set_setting",
]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)
