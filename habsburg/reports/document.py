"""Rendering reports: number formats, and a small document model written as Markdown and as
self-contained HTML (used by the run report and the comparison report)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import pandas as pd

from habsburg.experiments.files import atomic_write_text
from habsburg.experiments.versions import describe

#: subdirectory of a report's figures
FIGURES = "figures"


def _ok(x: float | None) -> TypeGuard[float]:
    """A number to show (not None, not NaN)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage; a positive share too small for ``digits`` decimals is "under
    0.01%" (for 2), never a "0.00%" that reads as none."""
    if not _ok(x):
        return "n/a"
    text = f"{100 * x:.{digits}f}%"
    if x > 0 and float(text[:-1]) == 0:
        return f"under {10.0**-digits:.{digits}f}%" if digits else "under 1%"
    return text


def num(x: float | None, digits: int = 3) -> str:
    """A number with a fixed number of decimals."""
    return f"{x:.{digits}f}" if _ok(x) else "n/a"


def ratio(x: float | None) -> str:
    """A ratio to four significant digits up to 1,000 (999.41 as "999.4", which a whole number
    999 made read like a cap), then whole with thousands separators."""
    if not _ok(x):
        return "n/a"
    if abs(round(x, 1)) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(round(x, 2)) >= 100 else f"{x:.2f}"


def count(x: float | None) -> str:
    """A count, rounded, with thousands separators."""
    return f"{round(x):,}" if _ok(x) else "n/a"


def signed_pp(x: float | None) -> str:
    """A difference of shares in percentage points, with its sign."""
    return f"{100 * x:+.2f} percentage points" if _ok(x) else "n/a"


def signed_nats(x: float | None) -> str:
    """A difference in nats, with its sign."""
    return f"{x:+.4f} nats" if _ok(x) else "n/a"


def factors(scaled: Mapping[str, object]) -> str:
    """The settings a what-if file multiplies and by how much (`` `path` by 2 ``), as the run
    and comparison reports name them; a factor that is not a number (a hand-edited manifest)
    is shown as it was recorded."""
    return ", ".join(
        f"`{k}` by {v:g}" if isinstance(v, int | float) else f"`{k}` by {v}"
        for k, v in scaled.items()
    )


def provenance(versions: object) -> str | None:
    """A report's sentence on what made its numbers, from the ``versions`` a results manifest
    records (None if it records none): :func:`~habsburg.experiments.versions.describe`."""
    made = describe(versions)
    if made is None:
        return None
    return (
        f"Made with {made}. A seed gives the same numbers only with the same versions and model "
        "code (manifest.json lists them)."
    )


def sig(x: float | None) -> str:
    """Four significant digits (NaN as n/a)."""
    return f"{x:.4g}" if _ok(x) else "n/a"


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    #: the cells as strings
    frame: pd.DataFrame


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


#: a report's blocks
Block = Heading | Paragraph | Table | Figure


@dataclass
class Document:
    """A report as a list of blocks (headings, paragraphs, tables, figures), rendered as
    Markdown (figures linked) and as self-contained HTML (figures embedded as base64)."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Heading(text, level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def table(self, df: pd.DataFrame) -> None:
        self.blocks.append(Table(df.astype(str)))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(Figure(Path(path), caption))

    def markdown(self, base: Path) -> str:
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            match block:
                case Heading(text, level):
                    lines += [f"{'#' * level} {text}", ""]
                case Paragraph(text):
                    lines += [text, ""]
                case Table(df):
                    cells = [[c.replace("|", "\\|") for c in row] for row in df.to_numpy().tolist()]
                    lines.append("| " + " | ".join(map(str, df.columns)) + " |")
                    lines.append("|" + "|".join("---" for _ in df.columns) + "|")
                    lines += ["| " + " | ".join(row) + " |" for row in cells]
                    lines.append("")
                case Figure(path, caption):
                    lines += [
                        f"![{caption}]({path.relative_to(base).as_posix()})",
                        "",
                        f"*{caption}*",
                        "",
                    ]
        return "\n".join(lines)

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            match block:
                case Heading(text, level):
                    body.append(f"<h{level}>{html.escape(text)}</h{level}>")
                case Paragraph(text):
                    body.append(f"<p>{html.escape(text)}</p>")
                case Table(df):
                    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
                    rows = "".join(
                        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                        for row in df.to_numpy().tolist()
                    )
                    body.append(
                        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                    )
                case Figure(path, caption):
                    data = base64.b64encode(path.read_bytes()).decode("ascii")
                    body.append(
                        f'<figure><img src="data:image/png;base64,{data}" '
                        f'alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    )
        return HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ font-size: 0.9em; color: #555; }}
</style></head><body>
{body}
</body></html>
"""


def write_document(doc: Document, out_dir: Path) -> Path:
    """``report.md`` and ``report.html`` of ``doc`` in ``out_dir`` (each written atomically);
    returns the Markdown path."""
    atomic_write_text(out_dir / "report.html", doc.html())
    return atomic_write_text(out_dir / "report.md", doc.markdown(out_dir))
