"""Reading a results directory written by ``habsburg run``: its ``manifest.json`` and its Parquet
tables, with a :class:`~habsburg.scenarios.errors.UserError` naming the file when one is missing or
damaged (the CLI prints it, no traceback).

Analysis and reports read runs only through :class:`Run`; they never run a simulation. The one
table a run directory gains after the run, the AI filters' counterfactual, is written here too
(:meth:`Run.write_table`) so the directory's layout is described in one place.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from habsburg.analysis.cascades import ActorNames
from habsburg.experiments.files import add_to_manifest, atomic_write_parquet
from habsburg.scenarios.errors import UserError
from habsburg.scenarios.schema import Scenario, from_dict

#: the table ``habsburg report --counterfactual`` adds to a run (the report shows it when present)
COUNTERFACTUAL_TABLE = "filter_counterfactual"
#: the detector threshold scrapers use when a scenario does not set one
DEFAULT_Z_THRESHOLD = 4.0


class Run:
    """A results directory written by ``habsburg run``: its manifest and (lazily) its tables."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        manifest = self.dir / "manifest.json"
        if not self.dir.is_dir():
            raise UserError(f"RUN_DIR {str(run_dir)!r} does not exist or is not a directory")
        if not manifest.is_file():
            raise UserError(
                f"RUN_DIR {str(run_dir)!r} is not a run directory: it has no manifest.json "
                f"(`habsburg run NAME --out DIR` writes one)"
            )
        try:
            self.manifest = json.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{manifest}: cannot read the manifest: {err}") from None
        if not isinstance(self.manifest, dict):
            raise UserError(f"{manifest}: cannot read the manifest: it is not a JSON object")
        self._tables: dict[str, pd.DataFrame] = {}

    def path(self, name: str) -> Path:
        """The file of table ``name`` (``name.parquet``)."""
        return self.dir / f"{name}.parquet"

    def has(self, name: str) -> bool:
        return self.path(name).is_file()

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """``name.parquet`` of the run (an empty frame when the run has no rows for it)."""
        key = name if columns is None else f"{name}:{','.join(columns)}"
        if key not in self._tables:
            path = self.path(name)
            if not path.is_file():
                raise UserError(
                    f"{self.dir}: {path.name} is missing; rerun the scenario to rebuild the run"
                )
            try:
                self._tables[key] = pd.read_parquet(path, columns=columns)
            except (OSError, ValueError, KeyError, pa.ArrowException) as err:
                raise UserError(
                    f"{path}: cannot read the table ({err}); rerun the scenario to rebuild the run"
                ) from None
        return self._tables[key]

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        """Store ``table`` as ``name.parquet`` in the run (atomically, and listed in its manifest)
        and return its path."""
        path = atomic_write_parquet(table, self.path(name))
        add_to_manifest(self.dir, [path.name])
        self._tables = {k: v for k, v in self._tables.items() if k.split(":")[0] != name}
        return path

    # --- the manifest ------------------------------------------------------------------------
    @property
    def scenario(self) -> dict:
        """The scenario as the run recorded it (a plain dict)."""
        return self.manifest.get("scenario", {})

    def scenario_config(self) -> Scenario:
        """The run's scenario, validated (errors name the manifest)."""
        return from_dict(self.scenario, f"{self.dir / 'manifest.json'}")

    @property
    def name(self) -> str:
        return str(self.manifest.get("scenario_name", self.scenario.get("name", "run")))

    @property
    def seed(self) -> int:
        return int(self.manifest.get("seed", self.scenario.get("seed", 0)))

    @property
    def steps(self) -> int | None:
        """Months the run simulated (``None`` when the manifest does not say)."""
        steps = self.manifest.get("steps")
        return None if steps is None else int(steps)

    @property
    def launch_month(self) -> str:
        return str(self.scenario.get("chatbot_launch", "2022-11"))

    @property
    def ai_threshold(self) -> float:
        return float(self.scenario.get("measurement", {}).get("threshold", 0.5))

    @property
    def z_threshold(self) -> float:
        """The watermark-detector threshold the scrapers use (the most common one)."""
        values = [
            s.get("filters", {}).get("watermark_threshold", DEFAULT_Z_THRESHOLD)
            for s in self.scenario.get("scrapers", [])
        ]
        return float(pd.Series(values).mode().iloc[0]) if values else DEFAULT_Z_THRESHOLD

    @property
    def names(self) -> ActorNames:
        return ActorNames.from_scenario(self.scenario)

    def watermarking_models(self) -> list[int]:
        """Ids of the models whose lab watermarks all its output."""
        labs = {lab["name"]: lab.get("watermarks", False) for lab in self.scenario.get("labs", [])}
        return [i for i, m in enumerate(self.scenario.get("models", [])) if labs.get(m["lab"])]
