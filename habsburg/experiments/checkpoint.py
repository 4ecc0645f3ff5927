"""Checkpoints of a long run: the whole model (Mesa model, agents, document store, the random
generators' state) pickled every N months, so a run resumed from its last checkpoint gives the
same tables as one that was never interrupted.

A checkpoint is written atomically (temporary file + ``os.replace``) as ``OUT/.checkpoint.pkl``
and removed when the run completes. It is a pickle: load only checkpoints you wrote yourself.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.schema import Scenario, ScenarioError

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel

CHECKPOINT_NAME = ".checkpoint.pkl"
FORMAT = 1


def checkpoint_path(out: str | Path) -> Path:
    """Where a run writing into ``out`` keeps its checkpoint."""
    return Path(out) / CHECKPOINT_NAME


def _identity(scenario: Scenario, seed: int | None) -> str:
    """What a checkpoint must match to be resumed: the scenario as run (with its seed)."""
    data = scenario.to_dict()
    data.pop("source", None)
    if seed is not None:
        data["seed"] = int(seed)
    return json.dumps(data, sort_keys=True, default=str)


def save_checkpoint(
    model: EcosystemModel, path: str | Path, scenario: Scenario, seed: int | None
) -> Path:
    """Pickle ``model`` to ``path`` atomically, tagged with the scenario and seed it runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    payload = {
        "format": FORMAT,
        "identity": _identity(scenario, seed),
        "steps": model.steps,
        "model": model,
    }
    try:
        with tmp.open("wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, scenario: Scenario, seed: int | None) -> EcosystemModel:
    """The model saved at ``path``; an error naming the file if it was written for another
    scenario or seed, or is unreadable."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            payload: dict[str, Any] = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
        raise ScenarioError(
            f"cannot resume from checkpoint {str(path)!r}: {err}; delete it to start over"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ScenarioError(
            f"checkpoint {str(path)!r} has an unknown format; delete it to start over"
        )
    if payload["identity"] != _identity(scenario, seed):
        raise ScenarioError(
            f"checkpoint {str(path)!r} was written for a different scenario or seed; "
            "delete it (or drop --resume) to start over"
        )
    return payload["model"]
