"""habsburg: an agent-based simulator of model collapse across an AI ecosystem.

Public API (the functions the CLI, the viz and the sweeps call):

- :func:`habsburg.scenarios.load_scenario` / :func:`habsburg.scenarios.list_scenarios`
- :class:`habsburg.model.model.EcosystemModel` — the Mesa model
- :func:`habsburg.experiments.run.run_scenario` — run a scenario and write results
"""

__version__ = "0.1.0"
