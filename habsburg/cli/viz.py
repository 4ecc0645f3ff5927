"""``habsburg viz``: serve the SolaraViz app on 127.0.0.1."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

from habsburg.cli.run import add_scenario_argument
from habsburg.scenarios.errors import UserError
from habsburg.viz import AUTHORS_ENV, SCENARIO_ENV, VIZ_AUTHORS

if TYPE_CHECKING:
    from habsburg.scenarios import Scenario

DEFAULT_PORT = 8765
#: the page of text-mode scenarios
TEXT_APP = "habsburg.viz.text_app"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "viz",
        help="explore a scenario in the browser (Mesa SolaraViz)",
        description=(
            "Serve the interactive visualization of a viz-sized copy of a scenario on "
            "http://127.0.0.1:PORT (no internet needed; Solara's assets are bundled)."
        ),
    )
    add_scenario_argument(p)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--authors",
        type=int,
        default=VIZ_AUTHORS,
        help=f"human authors of the viz-sized scenario (default {VIZ_AUTHORS}); "
        "AI demand, farm output, crawl sizes, training budgets, concepts and facts scale "
        "with it (the site graph is kept)",
    )
    p.add_argument("--open", action="store_true", help="open a browser tab")
    p.set_defaults(func=cmd_viz)


def server_command(
    port: int, *, open_browser: bool = False, module: str = "habsburg.viz.app"
) -> list[str]:
    """The ``solara run`` command line serving the app ``module`` on 127.0.0.1 only."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        module,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--production",
        "--no-check-version",
        "--open" if open_browser else "--no-open",
    ]


def server_env(scenario: str, authors: int) -> dict[str, str]:
    """Environment of the server process: the scenario, no telemetry, offline assets."""
    env = dict(os.environ)
    env[SCENARIO_ENV] = scenario
    env[AUTHORS_ENV] = str(authors)
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def cmd_viz(args: argparse.Namespace) -> int:
    from habsburg.scenarios.text_schema import is_text_scenario, load_text_scenario

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if is_text_scenario(args.scenario):  # text mode: its own page (habsburg.viz.text_app)
        scenario = load_text_scenario(args.scenario)  # a bad file fails here, before the server
        check_port(args.port)
        print(
            f"habsburg viz: {scenario.name} (text mode) on http://127.0.0.1:{args.port}"
            " — Ctrl-C stops",
            flush=True,
        )
        command = server_command(args.port, open_browser=args.open, module=TEXT_APP)
        return _serve(command, server_env(args.scenario, args.authors))
    if args.authors < 10:
        raise UserError(f"--authors must be at least 10, got {args.authors}")
    # (the simulator only once the flags are checked: a refusal of one is quick)
    from habsburg.model.model import EcosystemModel
    from habsburg.viz.scenario import check_choice, model_kwargs, pick

    scenario_arg = check_choice(args.scenario)  # a bad name or file fails here, before the server
    chosen = pick(scenario_arg, args.authors)
    check_viz_size(chosen.scenario)  # and one the page could not run to its end
    EcosystemModel(**model_kwargs(chosen))  # so does one the model cannot be built from
    check_port(args.port)  # (last: the port is free when the server starts)
    print(
        f"habsburg viz: {chosen.scenario.name} ({chosen.scenario.humans.authors} authors) on "
        f"http://127.0.0.1:{args.port}"
        " — Ctrl-C stops",
        flush=True,
    )
    return _serve(
        server_command(args.port, open_browser=args.open), server_env(scenario_arg, args.authors)
    )


def check_viz_size(scenario: Scenario, available: int | None = None) -> None:
    """Refuse a viz-sized scenario projected to need more memory by its last month than this
    machine can give it (``available`` bytes; measured when None), as ``habsburg run`` refuses
    one, naming ``--authors``: the page would serve it and run out of memory part-way
    through a session."""
    from habsburg.experiments.limits import gib, memory_shortfall, project
    from habsburg.scenarios.errors import LimitError

    p = project(scenario)
    can = memory_shortfall(p, available=available)
    if can is None:
        return
    raise LimitError(
        f"the viz-sized scenario {scenario.name!r} ({scenario.humans.authors:,} authors) is "
        f"projected to publish ~{p.documents:,} documents and need ~{gib(p.memory_bytes)} of "
        f"memory by its last month, more than the {gib(can)} this machine can give it; lower "
        f"--authors (default {VIZ_AUTHORS}): the demand, budgets and crawls of the viz-sized "
        "scenario scale with it"
    )


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """Refuse (:class:`UserError`, naming ``--port`` and a free one) a port the server could not
    bind: Solara's server would print uvicorn's "address already in use" and exit with status
    3, which habsburg passed on as its own internal error. Probed as uvicorn binds
    (``SO_REUSEADDR``), so a port left in TIME_WAIT by a server just stopped is accepted."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return
        except OSError as err:
            problem = err
    if problem.errno == errno.EADDRINUSE:
        why = "is in use by another program (a `habsburg viz` still running?)"
    elif problem.errno == errno.EACCES:
        why = "needs privileges this process lacks (ports below 1024)"
    else:
        why = f"cannot be used: {problem.strerror or problem}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as free:
        free.bind((host, 0))
        other = free.getsockname()[1]
    raise UserError(f"--port {port}: {host}:{port} {why}; choose another, e.g. --port {other}")


def _serve(command: list[str], env: dict[str, str]) -> int:
    server = subprocess.Popen(command, env=env)
    # stopping `habsburg viz` stops the server (Ctrl-C reaches both through the terminal)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait()
        return 130
