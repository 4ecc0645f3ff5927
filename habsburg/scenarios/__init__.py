"""Scenarios: the schema, the library, and the run / compare / sweep / sensitivity entry points."""

from habsburg.scenarios.library import list_scenarios, load_scenario
from habsburg.scenarios.schema import Scenario, ScenarioError, get_setting, set_setting

__all__ = [
    "Scenario",
    "ScenarioError",
    "get_setting",
    "list_scenarios",
    "load_scenario",
    "run_scenario",
    "set_setting",
]


def __getattr__(name: str):
    if name == "run_scenario":
        from habsburg.scenarios.run import run_scenario

        return run_scenario
    raise AttributeError(name)
