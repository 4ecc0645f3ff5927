"""Running the validation suite: pick the check groups (``--only``), run each group's experiment
once on its own random stream, and judge its checks."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
from tqdm.auto import tqdm

from habsburg.experiments.validation.checks import default_checks
from habsburg.experiments.validation.experiments import EXPERIMENTS
from habsburg.experiments.validation.framework import PREDICTION, Check, Report, Result
from habsburg.scenarios.errors import UserError

#: default seed of the Monte Carlo experiments (V5 runs the baseline with the scenario's own seed)
DEFAULT_SEED = 20240724


def parse_only(text: str | None) -> list[str]:
    """``"V1,V3"`` -> ["V1", "V3"]; names are checked against the experiments."""
    if text is None:  # (an empty --only is refused below, not taken as "all")
        return list(EXPERIMENTS)
    names = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        raise UserError(
            f"--only: unknown check group(s) {', '.join(unknown) or repr(text)}; "
            f"allowed: {', '.join(EXPERIMENTS)} (comma-separated)"
        )
    return [n for n in EXPERIMENTS if n in names]


def run_validation(
    groups: Iterable[str] | None = None,
    *,
    quick: bool = False,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
    checks: Iterable[Check] | None = None,
) -> Report:
    """Run the experiments of ``groups`` (default all) once each and judge their checks.

    Each group draws from its own stream of ``seed``, so ``--only V3`` reproduces the V3 rows of a
    full run.
    """
    groups = list(EXPERIMENTS) if groups is None else list(groups)
    checks = default_checks() if checks is None else tuple(checks)
    report = Report([], quick, seed)
    bar = tqdm(groups, desc="validate", unit="group", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name, refresh=True)
        rng = np.random.default_rng([seed, list(EXPERIMENTS).index(name)])
        started = time.perf_counter()
        estimates = EXPERIMENTS[name](quick, rng, progress)
        report.seconds[name] = time.perf_counter() - started
        for check in (c for c in checks if c.experiment == name):
            if check.kind == PREDICTION and check.estimate not in estimates:
                continue  # a published point past the run, or of a series it does not report
            est = estimates[check.estimate]
            ok, allowed = check.tolerance.judge(check.expected, est, quick)
            report.results.append(Result(check, est, bool(ok), allowed))
    bar.close()
    return report
