"""The report of a run: figures (PNG in ``figures/``), ``report.md`` and a self-contained
``report.html`` (figures embedded), with a summary table and a plain-language reading.

Every number is read from the run's own files (its Parquet tables and ``manifest.json``, through
:class:`habsburg.analysis.results.Run`), so a report can be rebuilt at any time with
``habsburg report RUN_DIR``; ``habsburg run`` writes one at the end of each run through
:func:`write_report`. The analysis is :mod:`habsburg.analysis.run_analysis`, the words
:mod:`habsburg.reports.reading`, the figures :mod:`habsburg.reports.figures`; this module assembles
the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from habsburg.analysis import cascades as casc
from habsburg.analysis import tails
from habsburg.analysis.results import BANDS_TABLE, Run
from habsburg.analysis.run_analysis import RunAnalysis, analyse, key_figures
from habsburg.experiments.files import add_results, owned_files, refuse_clashes
from habsburg.reports.document import (
    FIGURES,
    Document,
    count,
    factors,
    num,
    pct,
    provenance,
    write_document,
)
from habsburg.reports.figures import make_figures
from habsburg.reports.reading import reading, summary_rows


def _tables_section(doc: Document, a: RunAnalysis) -> None:
    if len(a.cascades) and (a.cascades["models"] > 0).any():
        doc.heading("Biggest cascades", 3)
        top = casc.biggest(a.cascades, 8)
        doc.table(
            pd.DataFrame(
                {
                    "error": top["error_id"],
                    "fact": top["fact"],
                    "patient zero": top["origin"],
                    "since": [a.step_month.get(int(s), str(s)) for s in top["origin_step"]],
                    "models": top["models"],
                    "documents": top["documents"],
                    "publishers": top["publishers"],
                    "months to first adoption": [
                        num(x, 0) for x in top["months_to_first_adoption"]
                    ],
                }
            )
        )
    if len(a.filters_total):
        doc.heading("AI filters by scraper (since the chatbot launch)", 3)
        f = a.filters_total
        doc.table(
            pd.DataFrame(
                {
                    "scraper": f["scraper"],
                    "sampled": [count(x) for x in f["sampled"]],
                    "precision": [pct(x) for x in f["precision"]],
                    "recall": [pct(x) for x in f["recall"]],
                    "FPR": [pct(x, 2) for x in f["false_positive_rate"]],
                    "synthetic before": [pct(x) for x in f["synthetic_before"]],
                    "synthetic after": [pct(x) for x in f["synthetic_after"]],
                    "human documents lost": [count(x) for x in f["human_lost"]],
                }
            )
        )
    if a.models_trained:
        doc.heading("Generations: generation 0 / 1 / 2+ (mean over a lineage's generations)", 3)
        parts = []
        for frame, col, label, fmt in (
            (a.survival, "tail_known", "tail concepts known", lambda x: num(x, 0)),
            (a.survival, "survival", "share of generation 0's tail known", pct),
            (a.quality, "excess_nats", "capability loss (nats)", lambda x: num(x, 3)),
            (a.quality, "fact_accuracy", "fact accuracy", pct),
            (a.quality, "style_variance_ratio", "style variance / human", lambda x: num(x, 3)),
        ):
            t = tails.by_phase(frame, col)
            complete, models = tails.phase_models(frame)
            if complete < models:  # say which models the last row averages
                t = t.rename(
                    index={
                        "all models": f"mean of the {complete} models with every phase"
                        if complete
                        else "all models (each phase: the models that reached it)"
                    }
                )
            part = pd.DataFrame({"measure": label, "model": t.index})
            for p in tails.PHASES:
                part[p] = [fmt(x) for x in t[p]] if p in t else "n/a"
            parts.append(part)
        doc.table(pd.concat(parts, ignore_index=True))


def build_report(run: Run, figures: list[tuple[Path, str]], k: dict, a: RunAnalysis) -> Document:
    """The run report as a :class:`Document`: what ran, the reading, the summary table, the
    detail tables and the figures."""
    m = run.manifest
    doc = Document(f"habsburg report: {run.name}")
    doc.paragraph(
        f"Scenario {run.name}, seed {m.get('seed')}, {m.get('steps')} months "
        f"({m.get('first_month')} to {m.get('last_month')}), "
        f"{count(m.get('documents'))} documents. Every number below is read from this run's "
        f"Parquet files."
    )
    if run.has(BANDS_TABLE) and len(bands := run.table(BANDS_TABLE)):
        doc.paragraph(
            f"Forecast bands: the shaded 5–95% bands in the figures come from "
            f"{int(bands['draws'].max())} posterior draws (runs of this scenario with settings "
            "drawn from a calibration posterior, each on its own seed; bands.parquet), so they "
            "show calibration uncertainty and seed noise around the single run."
            + _posterior_source(m.get("posterior"))
        )
    description = (m.get("scenario") or {}).get("description", "")
    if description.strip():  # what the scenario asks (and notes on how its answer changed)
        doc.paragraph(" ".join(description.split()))
    doc.heading("Reading")
    for text in reading(k):
        doc.paragraph(text)
    doc.heading("Summary")
    doc.table(pd.DataFrame(summary_rows(k), columns=["topic", "measure", "value"]))
    _tables_section(doc, a)
    doc.heading("Figures")
    for path, caption in figures:
        doc.figure(path, caption)
    if made := provenance(m.get("versions")):
        doc.heading("Provenance")
        doc.paragraph(made)
    return doc


#: the files a report writes beside its figures
REPORT_FILES = ("report.md", "report.html")


def check_report_files(run_dir: str | Path, more: Sequence[str] = ()) -> None:
    """Refuse (:class:`~habsburg.scenarios.errors.OutputPathError`) before any work a run
    directory where the report (and ``more`` files) would replace a user's files: habsburg
    writes only the files it wrote before, and figures into ``figures/``."""
    run_dir = Path(run_dir)
    refuse_clashes(run_dir, [*REPORT_FILES, *more], "report")
    figures = run_dir / FIGURES
    if figures.exists() and not figures.is_dir():
        refuse_clashes(run_dir, [f"{FIGURES}/01-synthetic-share.png"], "report")  # (names it)


def write_report(run_dir: Path) -> Path:
    """Analyse a finished run and write ``figures/*.png``, ``report.md`` and ``report.html``
    into it (listed in its manifest, so later runs into the directory may replace them);
    returns the path of ``report.md``. The figures of an earlier report are replaced; files
    habsburg did not write are never replaced or removed (one in the way refuses the report,
    naming it, before anything is moved: :func:`~habsburg.experiments.files.add_results`)."""
    run = Run(run_dir)
    a = analyse(run)

    def fill(tmp: Path) -> None:
        figures = make_figures(a, tmp / FIGURES)
        write_document(build_report(run, figures, key_figures(a), a), tmp)

    # the figures of an earlier report go (the run's data may now allow fewer); a user's stay
    earlier = [f for f in owned_files(run.dir) if f.startswith(f"{FIGURES}/")]
    add_results(run.dir, fill, command="report", supersedes=earlier)
    return run.dir / "report.md"


def _posterior_source(posterior: Any) -> str:
    """The band's posterior as the manifest records it: its directory, and the fitted settings
    the scenario kept (it sets them itself)."""
    if not isinstance(posterior, dict):
        return ""  # (a run directory from before this was recorded)
    text = f" The draws came from `{posterior.get('directory')}`"
    kept = posterior.get("kept") or []
    if isinstance(kept, list) and kept:
        text += f"; the scenario sets {', '.join(f'`{k}`' for k in kept)} itself and kept it"
    scaled = posterior.get("scaled") or {}
    if isinstance(scaled, dict) and scaled:
        text += "; it multiplies " + factors(scaled)
        text += ", so each draw's value was multiplied"
    return text + "."
