"""Declarations: the scenario schema, typed settings, the scenario library and the error types."""

from habsburg.scenarios.errors import HabsburgError, ScenarioError, UserError
from habsburg.scenarios.library import list_scenarios, load_scenario
from habsburg.scenarios.schema import Scenario, get_setting, set_setting

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
