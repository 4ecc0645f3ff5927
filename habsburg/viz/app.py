"""The SolaraViz app: ``habsburg viz [SCENARIO]`` serves this module's ``Page`` (``solara run
habsburg.viz.app`` does too; the scenario then comes from ``HABSBURG_VIZ_SCENARIO``, default
``baseline``).

Each browser session renders its own ``Page``, and ``Page`` builds its own model with
``use_memo``: SolaraViz keeps the model in a per-session reactive value, so a model made at import
time would be shared by every session until its first Reset. Mesa's step counter
(``update_counter``) is a ``solara.reactive``, which the Solara server keeps per kernel (session).
"""

from __future__ import annotations

import solara
import solara.server.settings
from mesa.visualization import SolaraViz

from habsburg.viz.components import PANELS
from habsburg.viz.model import EcosystemViz, default_kwargs, model_params, scenario_from_env

#: milliseconds between steps while playing
PLAY_INTERVAL = 150

# No usage data leaves the machine, also under a bare `solara run habsburg.viz.app` (`habsburg viz`
# sets SOLARA_TELEMETRY_MIXPANEL_ENABLE=False before Solara starts; this covers later events).
solara.server.settings.telemetry.mixpanel_enable = False


def make_model(scenario_name: str, authors: int) -> tuple[EcosystemViz, dict]:
    """A fresh model with the controls' default values, and the controls (Mesa model_params)."""
    params = model_params(scenario_name, authors)
    return EcosystemViz(**default_kwargs(params)), params


@solara.component
def Page():
    scenario_name, authors = scenario_from_env()
    model, params = solara.use_memo(lambda: make_model(scenario_name, authors), [])
    return SolaraViz(
        model,
        components=PANELS,
        model_params=params,
        name=f"habsburg — {model.ecosystem.config.name}",
        play_interval=PLAY_INTERVAL,
    )
