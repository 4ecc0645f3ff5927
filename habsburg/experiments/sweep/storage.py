"""The sweep directory: one file per finished run, written atomically as results arrive.

::

    sweep.json              the spec, the base scenario as resolved, every run (id, settings, seed)
    runs/<run_id>.parquet   one row per run: settings, seed, scalar outcomes (the dataset)
    series/<run_id>.parquet one row per run × month: time-series outcomes (if any)
    errors/<run_id>.json    a run that raised: its settings, seed and traceback
    results.parquet/.csv    all finished runs in one table (rewritten at the end of a sweep)

The client writes every file through :mod:`habsburg.experiments.files` (temporary file +
``os.replace``), so an interrupted sweep leaves only whole files, workers need no shared
filesystem, and a resumed sweep skips every run whose ``runs/`` file exists.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from habsburg.experiments.changes import describe_changes
from habsburg.experiments.files import (
    atomic_write,
    atomic_write_json,
    atomic_write_parquet,
    file_digest,
    prepare_output_dir,
    writer_record,
)
from habsburg.experiments.outcomes import OUTCOMES, SCALAR, TIMESERIES
from habsburg.experiments.results_check import read_run_files
from habsburg.experiments.sweep.executors import RunOutput
from habsburg.experiments.sweep.plan import RunTask, SweepPlan
from habsburg.experiments.sweep.spec import SweepError
from habsburg.experiments.versions import version_changes
from habsburg.scenarios.errors import HabsburgError, UserError

MANIFEST = "sweep.json"
SUBDIRS = ("runs", "series", "errors")


def _identity(t: RunTask) -> dict[str, Any]:
    """The columns that identify a run (the scenario's label only in a comparison)."""
    head = {"scenario": t.scenario} if t.scenario else {}
    return {**head, "run_id": t.run_id, "point": t.point, "replicate": t.replicate, "seed": t.seed}


def run_row(plan: SweepPlan, out: RunOutput) -> pd.DataFrame:
    """The one-row table of a finished run (``runs/<run_id>.parquet``); a scaled sweep's rows
    say their ``scale`` (so sweeps of several scales can be read as one table)."""
    scale = {} if plan.scale is None else {"scale": plan.scale}
    row = {**_identity(out.task), **scale, **dict(out.task.settings)}
    row.update({n: out.scalars[n] for n in plan.outcomes if OUTCOMES[n].kind == SCALAR})
    row["seconds"] = out.seconds
    return pd.DataFrame([row])


def run_series(out: RunOutput) -> pd.DataFrame:
    """A finished run's monthly outcomes, its identifying columns first."""
    assert out.series is not None  # called only for a run that recorded series
    series = out.series.copy()
    for col, value in reversed(_identity(out.task).items()):
        series.insert(0, col, value)
    return series


def write_run_output(plan: SweepPlan, out_dir: Path, out: RunOutput) -> None:
    """Write one run's files atomically: its series (if any) first, then its ``runs/`` row,
    whose existence marks the run finished; or its ``errors/`` record."""
    t = out.task
    error_file = out_dir / "errors" / f"{t.run_id}.json"
    if out.error is not None:
        record = {
            **_identity(t),
            "settings": dict(t.settings),
            "error": out.error,
            "traceback": out.traceback,
            "seconds": out.seconds,
        }
        atomic_write_json(error_file, record)
        return
    if out.series is not None:
        atomic_write_parquet(run_series(out), out_dir / "series" / f"{t.run_id}.parquet")
    atomic_write_parquet(run_row(plan, out), out_dir / "runs" / f"{t.run_id}.parquet")
    error_file.unlink(missing_ok=True)


def finished_runs(out_dir: str | Path) -> set[str]:
    """Run ids whose results file exists (what ``resume`` skips)."""
    runs = Path(out_dir) / "runs"
    return {p.stem for p in runs.glob("*.parquet")} if runs.is_dir() else set()


def load_results(out_dir: str | Path, kind: str = "runs") -> pd.DataFrame:
    """All finished runs of a sweep directory (``kind="series"`` for the time series), in run
    order. A file that cannot be read, or whose pages fail their checksums (damaged after it was
    written, or after :func:`check_run_files` read it), is a :class:`SweepError` naming it and
    saying how to run that run again."""
    return read_run_files(Path(out_dir) / kind, _read_run_file)


def _read_run_file(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file, page_checksum_verification=True)
    except (OSError, ValueError) as err:  # (pyarrow's ArrowInvalid is a ValueError)
        run, directory = file.stem, str(file.parent.parent)
        raise SweepError(
            f"{str(file)!r} cannot be read ({err!s:.100}): damaged after it was written; delete "
            f"runs/{run}.parquet (and series/{run}.parquet, if any) in {directory!r} and give "
            "the same command with --resume to run that run again"
        ) from None


def records_series(plan: SweepPlan) -> bool:
    """Whether each run of ``plan`` writes a ``series/`` file (it has a time-series outcome)."""
    return any(OUTCOMES[o].kind == TIMESERIES for o in plan.outcomes)


def load_failures(out_dir: str | Path) -> pd.DataFrame:
    """The runs that raised (from ``errors/*.json``)."""
    folder = Path(out_dir) / "errors"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return pd.DataFrame([json.loads(p.read_text()) for p in files])


def check_output(plan: SweepPlan, out_dir: Path, resume: bool) -> set[str]:
    """Check ``out_dir`` against the plan (writing nothing); returns the finished runs.

    Without ``resume`` the directory must not already hold a sweep; with it, the manifest there
    must describe the same runs (same base scenario, settings, seeds, outcomes and steps).
    """
    manifest_path = out_dir / MANIFEST
    if out_dir.exists() and not out_dir.is_dir():
        raise SweepError(f"--out {str(out_dir)!r} is a file, not a directory")
    finished = finished_runs(out_dir) & {t.run_id for t in plan.tasks}
    if manifest_path.exists():
        if not resume:
            raise SweepError(
                f"--out {str(out_dir)!r} already holds a sweep ({MANIFEST}); pass --resume to "
                "finish it, or choose another --out"
            )
        old = read_sweep_manifest(manifest_path)
        if old.get("fingerprint") != plan.fingerprint:
            raise SweepError(
                f"--resume: the sweep in {str(out_dir)!r} was run from a different spec or "
                f"scenario ({what_differs(old, plan)}); choose another --out"
            )
        check_versions(old, f"the sweep in {str(out_dir)!r}")
        check_run_files(out_dir, finished, records_series(plan))
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise SweepError(
            f"--out {str(out_dir)!r} exists and is not a sweep directory (no {MANIFEST}); "
            "choose an empty or new directory"
        )
    return finished


def read_sweep_manifest(path: Path) -> dict[str, Any]:
    """A sweep directory's manifest, refused (:class:`SweepError`, naming the file) when it is
    not the JSON object habsburg writes there (damaged, or another program's file)."""
    return read_resume_record(
        path,
        what="sweep manifest",
        matched_to="the spec",
        remedy="run the sweep again into another --out",
        error=SweepError,
    )


def read_resume_record(
    path: Path,
    *,
    what: str,
    matched_to: str,
    remedy: str,
    error: type[HabsburgError] = UserError,
) -> dict[str, Any]:
    """The JSON object habsburg keeps at ``path`` to match the finished runs beside it to the
    command that resumes them (a sweep's manifest, a comparison's record of its kept runs).
    Refused with ``error`` naming the file when it cannot be read, is not UTF-8 JSON (cut short:
    damaged) or is not an object (another program's file): ``what`` names the record,
    ``matched_to`` what the runs would be matched to, ``remedy`` what the user can do."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # (UnicodeDecodeError and JSONDecodeError included)
        problem = getattr(err, "strerror", None) or str(err)
        raise error(
            f"--resume: {str(path)!r} is not a readable {what} ({problem}); the runs beside it "
            f"cannot be matched to {matched_to}: {remedy}"
        ) from None
    if not isinstance(record, dict):
        raise error(
            f"--resume: {str(path)!r} holds a JSON {type(record).__name__}, not the {what} "
            f"habsburg writes; {remedy}"
        )
    return record


def check_run_files(out_dir: Path, finished: set[str], series: bool = False) -> None:
    """Refuse to resume over ``finished`` runs (:func:`finished_runs` of the plan) whose
    ``runs/`` file, or ``series/`` file (which each run writes before its ``runs/`` file when
    ``series``: :func:`records_series`), is missing or cannot be read (every file is written
    whole, so only damage from outside makes one): the run would count as finished and the
    sweep's tables fail, or lack its series, when its runs were done. Each file is read whole,
    its pages checked against their checksums (written since 2026-12-07; an older file's pages
    have none, and only its decoding is checked), and the pandas metadata in it parsed."""
    import pyarrow.parquet as pq

    damaged = []
    for run_id in sorted(finished):
        for kind in ("runs", "series") if series else ("runs",):
            path = out_dir / kind / f"{run_id}.parquet"
            try:
                with pq.ParquetFile(path, page_checksum_verification=True, pre_buffer=False) as f:
                    _ = f.read(use_threads=False).schema.pandas_metadata  # (~1 ms a file)
            except (OSError, ValueError):  # (pyarrow's ArrowInvalid is a ValueError)
                damaged.append(f"{kind}/{path.name}")
    if damaged:
        more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        raise SweepError(
            f"--resume: {len(damaged)} file(s) of finished runs in {str(out_dir)!r} are missing "
            f"or cannot be read ({', '.join(damaged[:3])}{more}): damaged after they were "
            "written; delete those runs' runs/ and series/ files to run them again"
        )


def check_versions(manifest: dict[str, Any], what: str) -> None:
    """Refuse to resume runs whose manifest records other versions of the packages a run's
    numbers depend on (:func:`~habsburg.experiments.versions.version_changes`): the finished runs
    and the rest would not be the same numbers for their seeds."""
    changes = version_changes(manifest.get("versions"))
    if changes:
        raise SweepError(
            f"--resume: {what} was run with {', '.join(changes)}; a seed gives the same run "
            "only with the same versions, so its table would mix runs of two environments: "
            "finish it in the environment it started in, or run it again into another --out"
        )


def what_differs(
    manifest: dict[str, Any],
    plan: SweepPlan,
    otherwise: str = "settings, seeds, outcomes, steps or scale differ",
) -> str:
    """Which settings of a sweep's scenarios (as its ``manifest`` records them) ``plan`` runs
    differently, or ``otherwise`` (the kinds of difference its fingerprint covers) when none of
    them does."""
    if plan.scenarios:  # a comparison: its scenarios by label (the base is the first)
        kept = manifest.get("scenarios")
        ours: dict[str, Any] = {k: sc.to_dict() for k, sc in plan.scenarios.items()}
        if isinstance(kept, dict) and list(kept) != list(ours):  # (scaled: NAME-xF)
            return (
                f"other scenarios: {', '.join(map(str, kept))} were run, this comparison runs "
                f"{', '.join(ours)}"
            )
    else:
        kept, ours = manifest.get("scenario"), plan.base.to_dict()
    changes = describe_changes(kept, ours) if isinstance(kept, dict) else ""
    return f"settings that differ: {changes}" if changes else otherwise


def write_manifest(plan: SweepPlan, out_dir: Path) -> None:
    """Create the sweep directory and its manifest (kept as is when resuming)."""
    prepare_output_dir(out_dir, command="sweep", can_force=False)
    for sub in SUBDIRS:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / sub).glob(".*.tmp-*"):  # left by an interrupted write
            stale.unlink(missing_ok=True)
    manifest_path = out_dir / MANIFEST
    if manifest_path.exists():
        return
    manifest = {
        "written_by": "habsburg",
        "name": plan.name,
        "fingerprint": plan.fingerprint,
        "spec": plan.spec,
        "parameters": plan.parameters,
        "outcomes": {o: OUTCOMES[o].kind for o in plan.outcomes},
        "steps": plan.steps,
        "scale": plan.scale,
        "scenario": plan.base.to_dict(),
        "runs": [{**_identity(t), "settings": dict(t.settings)} for t in plan.tasks],
        **writer_record(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if plan.scenarios:
        manifest["scenarios"] = {k: sc.to_dict() for k, sc in plan.scenarios.items()}
    atomic_write_json(manifest_path, manifest)


def write_summary(plan: SweepPlan, out_dir: Path, seconds: float) -> None:
    """``results.parquet`` / ``.csv`` (and ``series.parquet``) of every finished run, and the
    manifest's completion record."""
    results = load_results(out_dir)
    digests = {}
    if len(results):
        atomic_write_parquet(results, out_dir / "results.parquet")
        atomic_write(out_dir / "results.csv", lambda p: results.to_csv(p, index=False))
        digests["results.csv"] = file_digest(out_dir / "results.csv")  # (for `habsburg verify`)
    series = load_results(out_dir, "series")
    if len(series):
        atomic_write_parquet(series, out_dir / "series.parquet")
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["last_session"] = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "runs_finished": len(results),
        "runs_total": len(plan.tasks),
        "failed": sorted(p.stem for p in (out_dir / "errors").glob("*.json")),
    }
    manifest["digests"] = digests
    atomic_write_json(manifest_path, manifest)
