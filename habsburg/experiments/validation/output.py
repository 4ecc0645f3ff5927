"""The validation results as the printed table, ``validation.md`` and ``validation.csv``.

Every table has a ``kind`` column: *evidence* rows compare with a closed form, a null distribution
or a scaling law the simulator was not tuned to; *calibration* rows compare with measurements its
parameters were fitted to, so passing them shows the fit, not that the model is right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from habsburg.experiments.files import save_outputs
from habsburg.experiments.validation.framework import CALIBRATION, EVIDENCE, PREDICTION, Report

COLUMNS = ("check", "kind", "source", "setting", "expected", "measured", "tolerance", "pass")

#: what the ``kind`` column means, under every table
KIND_NOTE = (
    f"Kind: {EVIDENCE} = a closed form, null distribution or scaling law the simulator was not "
    f"tuned to; {CALIBRATION} = a measurement its parameters were fitted to (V4's detection "
    "rates fix the watermark entropy law, V5's web shares fix the demand curve): passing it "
    "shows the fit (calibration is not evidence); "
    f"{PREDICTION} = a published point measured after 2024-12 that nothing was fitted to, "
    "measured by the baseline's study instruments in its month: expected is the published value "
    "and interval, pass says whether the measurement is inside it. A prediction outside its "
    "interval is evidence about the model, not a bug: it never fails `habsburg validate`."
)


def kinds_line(report: Report) -> str:
    """How many rows are evidence and how many calibration, and what that means."""
    kinds = [r.check.kind for r in report.results]
    return (
        f"Rows: {kinds.count(EVIDENCE)} {EVIDENCE}, {kinds.count(CALIBRATION)} {CALIBRATION}, "
        f"{kinds.count(PREDICTION)} {PREDICTION}. " + KIND_NOTE
    )


def predictions_line(report: Report) -> str:
    """ "; 3/8 out-of-sample predictions inside their published interval" (or nothing)."""
    if not report.predictions:
        return ""
    inside = sum(r.passed for r in report.predictions)
    return (
        f"; {inside}/{len(report.predictions)} out-of-sample predictions inside their "
        "published interval"
    )


def format_table(report: Report) -> str:
    """The results as a plain-text table (what ``habsburg validate`` prints)."""
    rows: list[dict[str, object]] = [
        dict(zip(COLUMNS, COLUMNS, strict=True)),
        *(r.row() for r in report.results),
    ]
    widths = {c: max(len(str(r[c])) for r in rows) for c in COLUMNS}
    lines = ["  ".join(f"{r[c]!s:<{widths[c]}}" for c in COLUMNS).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * widths[c] for c in COLUMNS))
    mode = "quick" if report.quick else "full"
    failed = sum(not r.passed for r in report.checks)
    lines.append(
        f"\n{len(report.checks) - failed}/{len(report.checks)} checks passed "
        f"({mode} mode, seed {report.seed}, {sum(report.seconds.values()):.1f} s)"
        + predictions_line(report)
    )
    lines.append(kinds_line(report))
    return "\n".join(lines)


def markdown_rows(columns: Sequence[str], rows: Iterable[Iterable[object]]) -> list[str]:
    """The lines of a Markdown table: the header, the rule and one line a row (a ``|`` inside a
    cell escaped). The validation tables and the table over seeds (:mod:`.repeat`) use it."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return out


def markdown_table(report: Report) -> str:
    rows = [r.row() for r in report.results]
    return "\n".join(markdown_rows(COLUMNS, ([r[c] for c in COLUMNS] for r in rows)))


def markdown_report(report: Report) -> str:
    """``validation.md``: the table, the timing, why each fixed tolerance is what it is."""
    mode = "quick (`--quick`)" if report.quick else "full"
    failed = [r.check.name for r in report.checks if not r.passed]
    why: dict[str, list[str]] = {}
    for r in report.results:
        if r.check.tolerance.why:
            why.setdefault(r.check.tolerance.why, []).append(r.check.name)
    lines = [
        "# habsburg validation",
        "",
        f"Mode: {mode}; Monte Carlo seed {report.seed}; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
        + f" (total {sum(report.seconds.values()):.1f} s).",
        "",
        f"**{len(report.checks) - len(failed)}/{len(report.checks)} checks passed"
        + predictions_line(report)
        + ".**"
        + (f" Failed: {', '.join(failed)}." if failed else ""),
        "",
        markdown_table(report),
        "",
        "Checks run the project's own `StyleLearner`, `ConceptLearner`, `WatermarkScheme` and the "
        "calibrated `baseline` scenario (README.md, section Validation, lists the results). The "
        "setting ends with the Monte Carlo size (runs or documents); SE is the Monte Carlo "
        "standard error. In quick mode the fixed tolerances add 3 SE of the smaller Monte Carlo; "
        "SE and binomial-interval rules widen by themselves.",
        "",
        kinds_line(report),
        "",
        "Fixed tolerances:",
        "",
        *[f"- {', '.join(dict.fromkeys(names))}: {text}" for text, names in why.items()],
        "",
        "Rerun: `habsburg validate` (full, under a minute), `habsburg validate --quick`, "
        "`habsburg validate --only V1,V3 --out DIR`.",
        "",
    ]
    return "\n".join(lines)


#: the files ``habsburg validate`` writes into ``--out``
OUTPUT_FILES = ("validation.md", "validation.csv")


def write_outputs(report: Report, out: Path) -> list[Path]:
    """``validation.md`` and ``validation.csv`` in ``out`` (checked beforehand), as every shared
    directory's files are written (:func:`~habsburg.experiments.files.save_outputs`): each
    atomically, recorded in the manifest with what wrote them."""
    return save_outputs(
        out,
        {
            "validation.md": lambda p: p.write_text(markdown_report(report), "utf-8"),
            "validation.csv": lambda p: p.write_text(report.frame().to_csv(index=False), "utf-8"),
        },
        command="validate",
    )
