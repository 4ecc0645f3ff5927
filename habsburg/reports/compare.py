"""The comparison report: a finished comparison's tables, figures and ``report.md`` /
``report.html`` written into one results directory.

Reads what :func:`habsburg.experiments.compare.compare` returned (runs and monthly series per
scenario and seed) and the paired differences of
:func:`habsburg.analysis.compare.paired_differences`; it runs nothing and computes no
statistics of its own beyond the figures' bands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from habsburg.reports import plots
from habsburg.reports.document import (
    FIGURES,
    Document,
    factors,
    provenance,
    sig,
    write_document,
)

#: the files a comparison directory holds (besides its manifest)
FILES = ("runs.parquet", "series.parquet", "differences.parquet", "report.md", "report.html")


def prepare_comparison_dir(out: str | Path, force: bool = False) -> Path:
    """Check (and create) a comparison's output directory before any run starts."""
    return prepare_output_dir(out, command="compare", force=force, expect=FILES)


def _months(months: tuple[str, str]) -> str:
    return f" ({months[0]} to {months[1]})" if all(months) else ""


def write_comparison(
    result: Any,
    differences: pd.DataFrame,
    out: str | Path,
    confidence: float = 0.95,
    posterior: str | Path | None = None,
    scaled: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Write a comparison (a :class:`habsburg.experiments.compare.Comparison`) and its paired
    ``differences`` into ``out``: ``runs.parquet``, ``series.parquet``,
    ``differences.parquet``, ``figures/`` and the report; returns the Markdown report's path.
    ``posterior``: the calibration directory its replicates drew their settings from (recorded
    in the manifest with every replicate's settings, and said in the report); ``scaled``: by
    scenario, the fitted settings whose draws it multiplies, and by what
    (:func:`habsburg.experiments.bands.scaled_settings`)."""
    out = Path(out)
    scaled = {k: dict(v) for k, v in (scaled or {}).items() if v}

    def fill(tmp: Path) -> None:
        atomic_write_parquet(result.runs, tmp / "runs.parquet")
        atomic_write_parquet(result.series, tmp / "series.parquet")
        atomic_write_parquet(differences, tmp / "differences.parquet")
        write_comparison_report(result, differences, tmp, confidence, posterior, scaled)

    manifest = {
        "habsburg_command": "compare",
        "base": result.base,
        "scenarios": result.scenarios,
        "seeds": result.seeds,
        "steps": result.steps,
        "confidence": confidence,
        **(
            {
                "posterior": {
                    "directory": str(posterior),
                    "settings": result.settings,
                    **({"scaled": scaled} if scaled else {}),
                }
            }
            if posterior is not None
            else {}
        ),
        **writer_record(),
    }
    write_results_dir(out, fill, manifest, command="compare")
    return out / "report.md"


def posterior_paragraph(
    result: Any, posterior: str | Path, scaled: Mapping[str, Mapping[str, float]] | None = None
) -> str:
    """What a comparison's report says of the posterior its replicates drew from: the
    directory, the fitted settings a scenario kept (it sets them itself) and those whose draws
    it multiplies (``scaled``, by scenario)."""
    text = (
        f"Replicate r of every scenario ran on posterior draw r of `{posterior}` (its settings, "
        "run by run, are in manifest.json), so the intervals carry calibration uncertainty as "
        "well as seed noise."
    )
    drawn = {key for runs in result.settings.values() for s in runs for key in s}
    for name, runs in result.settings.items():
        kept = sorted(drawn - {key for s in runs for key in s})
        if kept:
            text += f" {name} sets {', '.join(f'`{k}`' for k in kept)} itself and kept its value."
    for name, by in (scaled or {}).items():
        if by:
            text += f" {name} multiplies {factors(by)}, so each of its draws was multiplied."
    return text


def write_comparison_report(
    result: Any,
    differences: pd.DataFrame,
    out: Path,
    confidence: float = 0.95,
    posterior: str | Path | None = None,
    scaled: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """``report.md`` / ``report.html`` and the figures of a paired comparison in ``out``."""
    level = f"{confidence:.0%}"
    one = len(result.seeds) == 1  # one seed: no interval, no band
    fig_dir = out / FIGURES
    figures = []
    if len(differences):
        fig = plots.compare_differences(differences, confidence)
        figures.append(
            (
                plots.save(fig, fig_dir / "01-differences.png"),
                f"Paired differences from {result.base}"
                + (" (one seed: no intervals)" if one else f" with {level} confidence intervals")
                + ", relative to the base mean (not drawn where the base mean is 0).",
            )
        )
    series = [c for c in result.series.columns if c not in ("step", "month", "scenario", "seed")]
    fig = plots.compare_series(result.series, series, result.descriptions, confidence)
    figures.append(
        (
            plots.save(fig, fig_dir / "02-series.png"),
            "Monthly values of one seed (no bands)."
            if one
            else f"Monthly means over {len(result.seeds)} seeds with pointwise {level} bands.",
        )
    )
    doc = Document(f"habsburg comparison: {' vs '.join(result.scenarios)}")
    doc.paragraph(
        f"Base {result.base}; alternatives {', '.join(result.scenarios[1:])}. Each scenario ran "
        f"on the same {seed_count(len(result.seeds))} ({_seed_list(result.seeds)}) for "
        f"{result.steps} months{_months(result.months)}; "
        f"{pairing_phrase(len(result.seeds), level)}. Numbers are read from runs.parquet and "
        "differences.parquet."
    )
    if posterior is not None:
        doc.paragraph(posterior_paragraph(result, posterior, scaled))
    add_differences(doc, differences, result.base, level)
    doc.heading("Outcomes")
    doc.table(
        pd.DataFrame(
            {"outcome": list(result.descriptions), "meaning": list(result.descriptions.values())}
        )
    )
    doc.heading("Runs")
    doc.table(runs_table(result.runs))
    doc.heading("Figures")
    for path, caption in figures:
        doc.figure(path, caption)
    if made := provenance(package_versions()):  # (those its manifest records)
        doc.heading("Provenance")
        doc.paragraph(made)
    return write_document(doc, out)


def add_differences(doc: Document, differences: pd.DataFrame, base: str, level: str) -> None:
    """The "Reading" and "Differences from the base" sections of a comparison report (the
    default and the text-mode comparison share them)."""
    doc.heading("Reading")
    for text in comparison_reading(differences, base, level):
        doc.paragraph(text)
    doc.heading("Differences from the base")
    if len(differences):
        doc.table(differences_table(differences, level))


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's outcomes as a table: one row per outcome, one column per scenario and seed
    (``runs`` has ``scenario``, ``seed`` and then one column per outcome)."""
    table = {"outcome": list(runs.columns[2:])}
    for r in runs.itertuples(index=False):
        table[f"{r.scenario} {r.seed}"] = [sig(x) for x in r[2:]]
    return pd.DataFrame(table)


def differences_table(d: pd.DataFrame, level: str) -> pd.DataFrame:
    """The paired differences as a report table (four significant digits)."""
    return pd.DataFrame(
        {
            "scenario": d["scenario"],
            "outcome": d["outcome"],
            "base": [sig(x) for x in d["base_mean"]],
            "scenario mean": [sig(x) for x in d["scenario_mean"]],
            "difference": [sig(x) for x in d["difference"]],
            f"{level} CI": [
                f"[{sig(lo)}, {sig(hi)}]" for lo, hi in zip(d["ci_low"], d["ci_high"], strict=True)
            ],
            "pairs": d["pairs"],
            "CI excludes 0": ["yes" if x else "" for x in d["excludes_zero"]],
        }
    )


def seed_count(n: int, noun: str = "seed") -> str:
    """``n`` seeds, in words: "1 seed", "3 seeds"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def pairing_phrase(seeds: int, level: str) -> str:
    """How a report of ``seeds`` seeds reads its differences (one seed has no interval)."""
    if seeds < 2:
        return "differences are paired by seed, and one seed gives no interval"
    return f"differences are paired by seed, with {level} t intervals (n − 1 degrees of freedom)"


def _seed_list(seeds: Iterable[int]) -> str:
    seeds = list(seeds)
    return ", ".join(map(str, seeds)) if len(seeds) <= 3 else f"{seeds[0]}, ..., {seeds[-1]}"


def comparison_reading(differences: pd.DataFrame, base: str, level: str) -> list[str]:
    """Plain-language lines: which differences the intervals resolve, and which they do not."""
    out = []
    for scenario, d in differences.groupby("scenario", sort=False):
        clear = d[d["excludes_zero"]]
        valued = d[d["pairs"] > 0]
        # outcomes fewer than two seeds give a value in both runs: no interval to resolve them
        without = int((d["pairs"] < 2).sum())
        no_interval = f"; {without} without an interval" if without else ""
        if (d["pairs"] == 0).all():  # no seed where both runs have a value of any outcome
            out.append(
                f"{scenario}: no pair of runs has a value of any outcome in both it and {base}, "
                "so there is no difference to read."
            )
            continue
        if (d["pairs"] < 2).all():  # one seed: a difference, but no interval to read it by
            out.append(
                f"{scenario}: one pair of runs gives a difference but no {level} interval "
                f"(run two or more seeds, --seeds N, to tell it from seed-to-seed noise)."
            )
            continue
        # every pair equal: one pair's difference is 0, or a zero-width interval around 0
        same = (valued["difference"] == 0) & (
            (valued["pairs"] == 1) | ((valued["ci_low"] == 0) & (valued["ci_high"] == 0))
        )
        if same.all():
            empty = len(d) - len(valued)
            out.append(
                f"{scenario}: every outcome is the same as in {base} on every seed"
                + (" where both runs have a value" if empty else "")
                + (
                    " (the one outcome with a value differs by 0"
                    if len(valued) == 1
                    else f" (all {len(valued)} paired differences are 0"
                )
                + (
                    f"; {empty} {'outcome has' if empty == 1 else 'outcomes have'} no paired value"
                    if empty
                    else ""
                )
                + ")."
            )
            continue
        if clear.empty:
            out.append(
                f"{scenario}: no outcome differs from {base} clearly enough for a {level} "
                f"interval to exclude zero with these seeds ({len(d)} outcomes{no_interval})."
            )
            continue
        parts = [
            f"{r.outcome} {'higher' if r.difference > 0 else 'lower'} "
            f"({sig(r.difference)}, CI [{sig(r.ci_low)}, {sig(r.ci_high)}]"
            f"{'; lower is better' if 'lower is better' in str(getattr(r, 'meaning', '')) else ''})"
            for r in clear.itertuples(index=False)
        ]
        out.append(
            f"{scenario} vs {base} ({len(clear)} of {len(d)} outcomes resolved{no_interval}): "
            + "; ".join(parts)
            + "."
        )
    return out


def format_differences(differences: pd.DataFrame, base: str, seeds: int, level: str) -> str:
    """The differences as plain text (printed by ``habsburg compare``)."""
    width = max((len(x) for x in differences["outcome"]), default=10)
    interval = f"paired over {seed_count(seeds)}, {level} CI" if seeds > 1 else "1 seed: no CI"
    lines = [f"difference from {base} ({interval})"]
    for scenario, g in differences.groupby("scenario", sort=False):
        lines += ["", scenario]
        for r in g.itertuples(index=False):
            mark = " *" if r.excludes_zero else ""
            # an outcome missing (NaN) in some runs rests on fewer pairs than the seeds
            fewer = "" if r.pairs == seeds else f"  ({r.pairs} of {seeds} pairs)"
            lines.append(
                f"  {r.outcome:<{width}}  {sig(r.difference):>10}  "
                f"[{sig(r.ci_low)}, {sig(r.ci_high)}]{mark}{fewer}"
            )
    return "\n".join(lines)
