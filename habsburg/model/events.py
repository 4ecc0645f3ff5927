"""The run's event log: what happened, as rows (generations, crawls, interventions).

The agents report events here; nothing in the log feeds back into the simulation. The export
(:mod:`habsburg.model.export`) turns the log into the ``lineage``, ``concept_distributions``,
``style_distributions``, ``training_sources``, ``crawls`` and ``interventions`` tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from habsburg.ecosystem.training import TrainingSet


class EventLog:
    """Rows appended as the run goes; one list per table."""

    def __init__(self) -> None:
        self.lineage: list[dict[str, Any]] = []
        #: each generation's concept distribution as (model name, generation, step, sampling
        #: probabilities): :meth:`concept_distribution_frame` makes its rows of the table (a
        #: DataFrame per generation held ~14 MB over the baseline's 83 generations, the arrays 3)
        self.concept_distributions: list[tuple[str, int, int, np.ndarray]] = []
        self.style_distributions: list[dict[str, Any]] = []
        self.training_sources: list[dict[str, Any]] = []
        self.crawls: list[dict[str, Any]] = []
        self.interventions: list[dict[str, Any]] = []

    def record_generation(self, agent: Any, data: TrainingSet) -> None:
        """A new generation of ``agent`` (a GenerativeModel): lineage row (training figures and
        quality), its concept and style distributions, and where its training data came from."""
        m = agent.model
        self.lineage.append(
            {
                "model": agent.name,
                "model_id": agent.index,
                "lab": agent.lab.name,
                "generation": agent.generation,
                "step": m.month,
                "month": m.date,
                **data.stats,
                **agent.metrics,
                "new_error_adoptions": agent.errors_adopted,
            }
        )
        q = np.array(agent.learners.concepts.sampling_probs)  # a copy: the learner's may change
        self.concept_distributions.append((agent.name, agent.generation, m.month, q))
        style = agent.learners.style
        self.style_distributions.append(
            {
                "model": agent.name,
                "generation": agent.generation,
                "step": m.month,
                "mean": style.mean_.tolist(),
                "cov": style.sampling_cov.ravel().tolist(),
            }
        )
        names = {a.index: a.name for a in m.models}
        for source, share in data.sources.items():
            self.training_sources.append(
                {
                    "model": agent.name,
                    "model_id": agent.index,
                    "generation": agent.generation,
                    "step": m.month,
                    "source_model": names[source],
                    "source_model_id": source,
                    "share": share,
                }
            )

    @staticmethod
    def concept_distribution_frame(
        entry: tuple[str, int, int, np.ndarray] | pd.DataFrame,
    ) -> pd.DataFrame:
        """A generation's rows of the ``concept_distributions`` table (model, generation, step,
        concept, probability) from its entry in :attr:`concept_distributions` (a checkpoint's
        log from before holds the rows themselves)."""
        if isinstance(entry, pd.DataFrame):
            return entry
        name, generation, step, q = entry
        return pd.DataFrame(
            {
                "model": name,
                "generation": np.int32(generation),
                "step": np.int32(step),
                "concept": np.arange(q.size, dtype=np.int32),
                "probability": q,
            }
        )

    def record_crawl(self, scraper: Any, stats: dict[str, float], step: int, month: str) -> None:
        self.crawls.append({"step": step, "month": month, "scraper": scraper.name, **stats})

    def crawls_at(self, step: int) -> list[dict[str, Any]]:
        """This step's crawl rows (the log is in time order: read from the end)."""
        out = []
        for row in reversed(self.crawls):
            if row["step"] != step:
                break
            out.append(row)
        return out[::-1]

    def record_intervention(self, step: int, month: str, path: str, value: Any) -> None:
        self.interventions.append({"step": step, "month": month, "path": path, "value": str(value)})
