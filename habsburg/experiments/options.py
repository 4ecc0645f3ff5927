"""The checks of a command's executor options, run counts and spec file, light enough to run
before the simulator loads (the standard library, the scenario errors and the input reader):
a ``--workers 0``, a malformed ``--scheduler``, a ``--seeds 0`` or a spec that is not TOML is
refused in 0.15–0.3 s as a whole command, where it was refused after Mesa, networkx and
pandas had loaded (1.7–3 s).

The sweep package (:mod:`habsburg.experiments.sweep`) and the comparison
(:mod:`habsburg.experiments.compare`) re-export these names; they are defined here so the command
line can check its options without importing either.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.errors import ScenarioError, UserError
from habsburg.scenarios.inputs import read_text_file

if TYPE_CHECKING:  # (the schema loads where a scenario is read)
    from habsburg.scenarios.schema import Scenario

__all__ = [
    "MAX_RUNS",
    "SCHEDULER_RE",
    "SweepError",
    "check_comparison",
    "check_dask_installed",
    "check_executor_options",
    "check_scheduler_address",
    "default_workers",
    "read_spec",
]

#: the most runs (points × seeds) one sweep may plan, or scenarios × seeds one comparison: more
#: is a typo, not a study
MAX_RUNS = 1_000_000
SCHEDULER_RE = re.compile(r"^(tcp|tls|ws|wss|ucx)://[^\s/:]+:(?P<port>\d{1,5})/?$|^inproc://\S+$")


class SweepError(ScenarioError):
    """A user error in a sweep spec or its options (printed without a traceback, exit 2)."""


def read_spec(
    path: str | Path, what: str, error: type[ScenarioError] = ScenarioError
) -> dict[str, Any]:
    """The TOML mapping of spec file ``path`` (``what``: "sweep spec", "calibration spec"); a
    file that is missing, binary, not UTF-8 or empty is refused by
    :func:`~habsburg.scenarios.inputs.read_text_file` naming it, malformed TOML by ``error``
    naming the file and the line. The spec loaders read their files with it, and the commands
    call it before loading anything heavy, so a spec that is not TOML is refused before the
    simulator loads (a pipe's text is kept for the loader)."""
    text = read_text_file(path, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: malformed TOML: {err}") from None


def check_scheduler_address(address: str) -> str:
    """Validate the form of a Dask scheduler address (``tcp://HOST:PORT``, a port in 1..65535:
    Dask took an address without one for an internal error, and waited out the connection
    timeout on an impossible one)."""
    form = SCHEDULER_RE.match(address.strip()) if isinstance(address, str) else None
    port = form and form.group("port")
    if form is None or (port is not None and not 1 <= int(port) <= 65535):
        raise SweepError(
            f"--scheduler {address!r} is not a Dask scheduler address; expected tcp://HOST:PORT "
            "with a port in 1..65535 (the address `dask scheduler` prints)"
        )
    return address.strip()


def check_dask_installed() -> None:
    """Refuse a Dask executor without the 'sweep' extra (without importing Dask: ~1 s)."""
    if importlib.util.find_spec("distributed") is None:
        raise SweepError(
            "sweeps on Dask need the 'sweep' extra: pip install 'habsburg[sweep]' (or run serially)"
        )


def check_executor_options(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    client: Any = None,
) -> None:
    """Every check of the executor options, before any work starts."""
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be >= 1, got {workers}")
    if serial and (scheduler or workers):
        raise SweepError("--serial runs in this process; drop --scheduler / --workers")
    if scheduler and workers:
        raise SweepError("--workers sizes a local cluster; a --scheduler has its own workers")
    if scheduler is not None:
        check_scheduler_address(scheduler)
    if not serial and client is None:
        check_dask_installed()


def default_workers() -> int:
    """The workers of a local cluster without ``--workers``: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_comparison(
    base: Scenario, alternatives: list[Scenario], seeds: int, steps: int | None
) -> int:
    """Validate a comparison before any run starts; returns the months every run simulates."""
    if not alternatives:
        raise UserError("compare needs a base scenario and at least one alternative")
    if seeds < 1:
        raise UserError(
            f"--seeds must be at least 1 (2 or more for confidence intervals), got {seeds}"
        )
    runs = seeds * (1 + len(alternatives))
    if runs > MAX_RUNS:  # (a typo, not a study: it hung building the plan)
        raise UserError(
            f"--seeds {seeds}: {runs:,} runs of {1 + len(alternatives)} scenarios; a comparison "
            f"may plan at most {MAX_RUNS:,} runs, as a sweep"
        )
    from habsburg.experiments.limits import check_steps  # (numpy, the store: scenarios read)

    everyone = [base, *alternatives]
    for sc in everyone:
        check_steps(sc, steps)
    other = [sc for sc in alternatives if sc.start != base.start]
    if other:  # month N of each run would be another calendar month
        raise UserError(
            f"{other[0].name!r} starts in {other[0].start} and the base {base.name!r} in "
            f"{base.start}: a paired comparison reads every scenario at the same month of "
            "its run, so they must start in the same month"
        )
    return steps if steps is not None else min(sc.steps for sc in everyone)
