"""Reading a results directory written by ``habsburg run``: its ``manifest.json`` and its Parquet
tables, with a :class:`~habsburg.scenarios.errors.ResultsDirError` naming the file when one is
missing or damaged (the CLI prints it, no traceback).

Analysis and reports read runs only through :class:`Run`; they never run a simulation. The one
table a run directory gains after the run, the AI filters' counterfactual, is written here too
(:meth:`Run.write_table`) so the directory's layout is described in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from habsburg.analysis.cascades import ActorNames
from habsburg.experiments.files import add_to_manifest, atomic_write_parquet, refuse_clashes
from habsburg.experiments.results_check import (
    RERUN,
    check_fields,
    read_manifest_strict,
    read_rows,
    read_table,
)
from habsburg.scenarios.errors import ResultsDirError, ScenarioError
from habsburg.scenarios.schema import Scenario, from_dict

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: the table ``habsburg report --counterfactual`` adds to a run (the report shows it when present)
COUNTERFACTUAL_TABLE = "filter_counterfactual"
#: the posterior forecast bands ``habsburg run --posterior`` adds to a run (month, metric, q05,
#: q50, q95, draws; the report shades them when present)
BANDS_TABLE = "bands"
#: the detector threshold scrapers use when a scenario does not set one
DEFAULT_Z_THRESHOLD = 4.0
#: the manifest's fields the analysis reads, their types and how an error describes them
_FIELDS = (
    ("scenario", dict, "the run's scenario (an object)"),
    ("scenario_name", str, "a string"),
    ("seed", int, "an integer"),
    ("steps", int, "an integer"),
    ("documents", int, "an integer"),
    ("first_month", str, "a month (YYYY-MM)"),
    ("last_month", str, "a month (YYYY-MM)"),
)


class Run:
    """A results directory written by ``habsburg run``: its manifest and (lazily) its tables."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        # ResultsDirError / ResultsVersionError naming the path: no directory, no or a damaged
        # manifest, another results format or version, an interrupted write
        self.manifest = read_manifest_strict(self.dir)
        self._scenario = self._check_manifest()
        self._tables: dict[str, pd.DataFrame] = {}

    def _check_manifest(self) -> dict:
        """The manifest's fields the analysis reads, as a run writes them: the scenario the run
        recorded (valid, so every setting the analysis reads has its type), its name, seed and
        months; a :class:`ResultsDirError` naming the manifest and the field otherwise (a
        manifest edited by hand, ``"scenario": 5``, was an internal error in the analysis).
        Returns the recorded scenario with every setting written out (as the run wrote it; a
        setting left out reads as the schema's default, not as a missing key)."""
        file = self.dir / "manifest.json"
        check_fields(self.manifest, file, _FIELDS)
        if "scenario" not in self.manifest:
            return {}  # (the analysis reads its defaults)
        try:
            recorded = from_dict(self.manifest["scenario"], f"{file}: scenario")
        except ScenarioError as err:
            raise ResultsDirError(f"{err} (the scenario the run recorded); {RERUN}") from None
        return recorded.to_dict()

    def path(self, name: str) -> Path:
        """The file of table ``name`` (``name.parquet``)."""
        return self.dir / f"{name}.parquet"

    def has(self, name: str) -> bool:
        return self.path(name).is_file()

    def table(
        self, name: str, columns: list[str] | None = None, steps: tuple[int, int] | None = None
    ) -> pd.DataFrame:
        """``name.parquet`` of the run (an empty frame when the run has no rows for it).
        ``steps = (first, last)``: only the rows of those month indices (inclusive; tables with
        a ``step`` column). ``documents``' row groups hold whole months (or part of one), so a
        month range reads only its months' part of the file (what a 100× run's 200 M documents
        need)."""
        key = f"{name}:{','.join(columns or [])}:{steps}"
        if key not in self._tables:
            self._tables[key] = read_table(self.path(name), columns=columns, steps=steps)
        return self._tables[key]

    def rows(
        self, name: str, key: str, values: ArrayLike, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The rows of ``name.parquet`` whose ``key`` column holds one of ``values``, e.g.
        ``run.rows("documents", "id", ids, ["id", "model"])``: read a row group at a time, so
        memory follows the rows kept, not the table (not cached)."""
        return read_rows(self.path(name), key, values, columns)

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        """Store ``table`` as ``name.parquet`` in the run (atomically, and listed in its manifest)
        and return its path; a file of that name habsburg did not write is refused."""
        refuse_clashes(self.dir, [self.path(name).name], "report")
        path = atomic_write_parquet(table, self.path(name))
        add_to_manifest(self.dir, [path.name])
        self._tables = {k: v for k, v in self._tables.items() if k.split(":")[0] != name}
        return path

    # --- the manifest ------------------------------------------------------------------------
    @property
    def scenario(self) -> dict:
        """The scenario as the run recorded it (a plain dict, checked: every setting present)."""
        return self._scenario

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
        """The watermark-detector threshold the scrapers use at the end of the run (the most
        common one, after the interventions that changed it: :meth:`z_threshold_history`)."""
        return self.z_threshold_history()[-1][1]

    def z_threshold_history(self) -> list[tuple[int, float]]:
        """The scrapers' watermark-detector threshold (the most common one) month by month, as
        ``(first step, threshold)`` pairs: the scenario's, then each change an intervention made
        (``scrapers.*.filters.watermark_threshold`` or a scraper's own path, from the run's
        ``interventions`` table)."""
        by_name = {
            str(sc.get("name", i)): float(
                sc.get("filters", {}).get("watermark_threshold", DEFAULT_Z_THRESHOLD)
            )
            for i, sc in enumerate(self.scenario.get("scrapers", []))
        }

        def common() -> float:
            values = list(by_name.values())
            return float(pd.Series(values).mode().iloc[0]) if values else DEFAULT_Z_THRESHOLD

        history = [(0, common())]
        changes = self.table("interventions") if self.has("interventions") else pd.DataFrame()
        for row in changes.itertuples(index=False):
            parts = str(row.path).split(".")
            if (
                len(parts) != 4
                or parts[0] != "scrapers"
                or parts[2:] != ["filters", "watermark_threshold"]
            ):
                continue
            for name in by_name if parts[1] == "*" else [parts[1]]:
                if name in by_name:
                    by_name[name] = float(row.value)
            if (value := common()) != history[-1][1]:
                history.append((int(row.step), value))
        return history

    @property
    def names(self) -> ActorNames:
        return ActorNames.from_scenario(self.scenario)

    def watermarking_models(self) -> list[int]:
        """Ids of the models whose lab watermarks all its output."""
        labs = {lab["name"]: lab.get("watermarks", False) for lab in self.scenario.get("labs", [])}
        return [i for i, m in enumerate(self.scenario.get("models", [])) if labs.get(m["lab"])]
