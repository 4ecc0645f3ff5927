"""Result tables made by hand for the analysis tests (a plain module, imported as
``from frames import concept_distributions``, like ``tinyscenario``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def concept_distributions(rows: list[tuple[str, int, int, np.ndarray]]) -> pd.DataFrame:
    """A ``concept_distributions`` table from (model, generation, step, probabilities)."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "model": model,
                    "generation": gen,
                    "step": step,
                    "concept": np.arange(p.size),
                    "probability": p,
                }
            )
            for model, gen, step, p in rows
        ],
        ignore_index=True,
    )
