"""The report of a text-mode comparison (``habsburg compare`` of text scenarios):
``runs.parquet`` (one row per scenario and seed, every outcome of
:mod:`habsburg.experiments.text_outcomes`), ``differences.parquet`` (the paired differences of
:func:`habsburg.analysis.compare.paired_differences`) and ``report.md`` / ``report.html`` with
the differences table, in one results directory. It runs nothing and computes no statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from habsburg.experiments.files import (
    atomic_write_parquet,
    prepare_output_dir,
    write_results_dir,
    writer_record,
)
from habsburg.experiments.versions import package_versions
from habsburg.reports.compare import add_differences, pairing_phrase, runs_table, seed_count
from habsburg.reports.document import Document, provenance, write_document

#: the files a text comparison directory holds (besides its manifest)
FILES = ("runs.parquet", "differences.parquet", "report.md", "report.html")


def prepare_text_comparison_dir(out: str | Path, force: bool = False) -> Path:
    """Check (and create) a text comparison's output directory before any run starts."""
    return prepare_output_dir(out, command="compare", force=force, expect=FILES)


def write_text_comparison(
    result: Any, differences: pd.DataFrame, out: str | Path, confidence: float = 0.95
) -> Path:
    """Write a :class:`habsburg.experiments.text_compare.TextComparison` and its paired
    ``differences`` into ``out`` (prepared by :func:`prepare_text_comparison_dir`); returns the
    Markdown report's path."""
    out = Path(out)
    level = f"{confidence:.0%}"

    def fill(tmp: Path) -> None:
        atomic_write_parquet(result.runs, tmp / "runs.parquet")
        atomic_write_parquet(differences, tmp / "differences.parquet")
        doc = Document(f"habsburg text comparison: {' vs '.join(result.scenarios)}")
        doc.paragraph(
            f"Text mode. Base {result.base}; alternatives {', '.join(result.scenarios[1:])}. "
            f"Each scenario ran on the same {seed_count(len(result.seeds), 'replicate seed')}; "
            f"{pairing_phrase(len(result.seeds), level)}. Numbers are read from runs.parquet "
            "and differences.parquet."
        )
        add_differences(doc, differences, result.base, level)
        doc.heading("Outcomes")
        doc.table(
            pd.DataFrame(
                {
                    "outcome": list(result.descriptions),
                    "meaning": list(result.descriptions.values()),
                }
            )
        )
        doc.heading("Runs")
        doc.table(runs_table(result.runs))
        if made := provenance(package_versions()):  # (those its manifest records)
            doc.heading("Provenance")
            doc.paragraph(made)
        write_document(doc, tmp)

    manifest = {
        "habsburg_command": "compare",
        "mode": "text",
        "base": result.base,
        "scenarios": result.scenarios,
        "seeds": result.seeds,
        "generations": result.generations,
        "confidence": confidence,
        **writer_record(),
    }
    write_results_dir(out, fill, manifest, command="compare")
    return out / "report.md"
