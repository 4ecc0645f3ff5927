"""What one ABC particle costs: a run of the scenario with the particle's settings up to the last
target month, reduced to the instruments' values at the target months, and its distance to the
published values in units of their uncertainty.

Both the simulator and the distance are plain picklable objects, so pyabc's Dask sampler ships
them to workers as they are.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from habsburg.experiments.calibration.spec import Prior
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.measurements import Measurement
from habsburg.scenarios.schema import Scenario


def target_key(m: Measurement) -> str:
    """Name of a target's summary statistic: ``series@YYYY-MM``."""
    return f"{m.series}@{m.month}"


def settings_of(priors: Sequence[Prior], values: Mapping[str, float]) -> dict[str, Any]:
    """Setting-path values of a particle (integer settings rounded)."""
    return {
        p.path: round(float(values[p.path])) if p.integer else float(values[p.path]) for p in priors
    }


def seed_of(settings: Mapping[str, Any], base: int) -> int:
    """A run seed that is a function of the particle (reproducible) and differs between them."""
    text = repr(sorted((k, round(float(v), 12)) for k, v in settings.items()))
    return (zlib.crc32(text.encode()) + 7919 * int(base)) % (2**31 - 1)


def summaries(
    metrics: pd.DataFrame, targets: Sequence[Measurement], scenario: Scenario, window: int
) -> dict[str, float]:
    """Each target series averaged over the target month ± ``window`` months of a run's
    model-metrics table (rows are months from the scenario start)."""
    out = {}
    for m in targets:
        step = scenario.month_to_step(m.month, m.month)
        rows = metrics[m.series].iloc[max(0, step - window) : step + window + 1]
        out[target_key(m)] = float(np.nanmean(rows.to_numpy(dtype=float))) if len(rows) else np.nan
    return out


class Simulator:
    """The pyabc model: a particle's parameters -> the targets' summary statistics."""

    def __init__(
        self,
        scenario: Scenario,
        priors: Sequence[Prior],
        targets: Sequence[Measurement],
        end_step: int,
        window: int,
        seed: int,
    ) -> None:
        self.scenario = scenario
        self.priors = tuple(priors)
        self.targets = tuple(targets)
        self.end_step = end_step
        self.window = window
        self.seed = seed

    def run(
        self, values: Mapping[str, float], steps: int | None = None, seed: int | None = None
    ) -> EcosystemModel:
        """The model of one particle, stepped ``steps`` months (default: to the end step), on
        ``seed`` (default: the particle's own, :func:`seed_of`)."""
        settings = settings_of(self.priors, values)
        n = self.end_step + 1 if steps is None else steps
        seed = seed_of(settings, self.seed) if seed is None else seed
        model = EcosystemModel(self.scenario, seed=seed, months=n, **settings)
        while model.steps < n:
            model.step()
        return model

    def __call__(self, values: Mapping[str, float]) -> dict[str, float]:
        model = self.run(values)
        metrics = model.datacollector.get_model_vars_dataframe()
        return summaries(metrics, self.targets, self.scenario, self.window)


class StandardizedDistance:
    """Root mean square of (simulated − published) / half-width over the targets: a distance of
    1 means the run is, on average, at the edge of the published uncertainty. Every target
    counts, also two that measured one statistic (Graphite's two analyses of 2023-11 and
    2024-11): each is compared with its own interval's midpoint."""

    def __init__(self, targets: Sequence[Measurement]) -> None:
        self.targets: list[tuple[str, float, float]] = []  # (statistic, midpoint, half-width)
        for m in targets:
            low, high = target_interval(m)
            self.targets.append((target_key(m), (low + high) / 2.0, (high - low) / 2.0 or 1e-9))

    def z_scores(self, simulated: Mapping[str, float]) -> np.ndarray:
        return np.array([(float(simulated[k]) - mid) / hw for k, mid, hw in self.targets])

    def __call__(self, simulated: Mapping[str, float], observed: Mapping[str, float]) -> float:
        """``observed`` is pyabc's record of the data (:func:`observed`); the targets are read
        from the distance itself, since a statistic may have several."""
        z = self.z_scores(simulated)
        if not np.all(np.isfinite(z)):
            return float("inf")
        return float(np.sqrt(np.mean(z**2)))


def target_interval(m: Measurement) -> tuple[float, float]:
    """A target's uncertainty interval as declared (a spec's ``[[targets]]``: value ±
    half_width on the series' own scale, which need not be a share), else value ± 5 points
    within [0, 1] (:attr:`~habsburg.scenarios.measurements.Measurement.interval`, which clips
    declared ones too)."""
    return (m.low, m.high) if m.low is not None and m.high is not None else m.interval


def observed(targets: Sequence[Measurement]) -> dict[str, float]:
    """The published values as pyabc's observed summary statistics: per statistic, the mean of
    its targets' interval midpoints."""
    midpoints: dict[str, list[float]] = {}
    for m in targets:
        midpoints.setdefault(target_key(m), []).append(sum(target_interval(m)) / 2.0)
    return {k: float(np.mean(v)) for k, v in midpoints.items()}
