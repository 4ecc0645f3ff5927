"""The browser view (``habsburg viz``): the viz-sized scenario and levers (scenario), the
snapshot the panels read under the model's lock (snapshot), the charts and graphs (charts,
graphs), the panels declared as data (panels), the Solara components (components), fitting the
window (layout), offline Vega (assets) and the page (app)."""

import warnings

# Two warnings Solara prints on every start of this local-only app, neither actionable here: Mesa
# 3.3's ComponentsView calls a hook after an early return (raised when mesa.visualization is
# imported), and a session cookie on 127.0.0.1 (not "localhost") falls back to samesite=lax.
warnings.filterwarnings(
    "ignore", message=r".*ComponentsView: `use_state` found despite early return"
)
warnings.filterwarnings("ignore", message=r"Cookies with samesite=none require https")

# Declared here, not in .scenario, so that ``habsburg --help`` (which shows VIZ_AUTHORS) need not
# import the scenario schema.
#: environment variables ``habsburg viz`` passes to the server process
SCENARIO_ENV = "HABSBURG_VIZ_SCENARIO"
AUTHORS_ENV = "HABSBURG_VIZ_AUTHORS"

#: human authors of the viz-sized scenario (baseline: 2,000); a month then steps in ~0.1 s
VIZ_AUTHORS = 400
