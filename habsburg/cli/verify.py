"""``habsburg verify``: check that a results directory is whole, and say what made it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from habsburg.scenarios.errors import CheckFailed

if TYPE_CHECKING:
    from habsburg.experiments.verify import Verification


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check that a results directory is whole: every table's pages against their "
        "checksums, each footer against the manifest, every listed file present",
        description="Read every Parquet table of a results directory habsburg wrote (a run, a "
        "text run, a sweep, a sensitivity analysis, a comparison, a calibration), checking each "
        "page against its CRC32 checksum and each table's footer against the digest its "
        "manifest recorded; check that every file the manifest lists is there and every JSON "
        "file parses; print what made the directory (command, scenario, seed, versions) and "
        "what differs in this environment. Writes nothing. Exit status 1 when damage is found.",
    )
    p.add_argument(
        "results_dir", metavar="RESULTS_DIR", help="a directory habsburg wrote results in"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar; print problems only")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from habsburg.experiments.verify import verify_results_dir

    bars: list[tqdm] = []  # made once the directory is known to be one (its total known)

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    desc="verifying",
                    unit="B",
                    unit_scale=True,
                    disable=args.quiet,
                    file=sys.stderr,
                )
            )
        bars[0].update(done - bars[0].n)

    try:
        result = verify_results_dir(args.results_dir, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    problems = result.problems
    if not args.quiet:
        print(summary(result))
    if problems:
        for f in problems:
            print(f"{result.directory / f.name}: {f.problem}", file=sys.stderr)
        raise CheckFailed(
            f"{str(result.directory)!r}: {len(problems)} of its {_count(len(result.files), 'file')} "
            f"{'is' if len(problems) == 1 else 'are'} damaged or missing (above); rerun the "
            "command that wrote it, or restore the directory from a copy"
        )
    return 0


def summary(result: Verification) -> str:
    """What :func:`~habsburg.experiments.verify.verify_results_dir` found, in a few lines."""
    tables = result.tables
    rows = sum(t.rows or 0 for t in tables)
    size = sum(t.size for t in tables)
    lines = [f"{result.directory}: {result.provenance()}"]
    if isinstance(result.manifest.get("command"), str):
        lines.append(f"  by the command: {result.manifest['command']}")
    if result.versions:
        lines.append(f"  made by {result.versions}")
    without = [t for t in tables if t.checksums is False]
    pages = (
        f"{len(without)} of them written without page checksums (before 2026-12-07: decoded, "
        "not checked)"
        if without
        else "every page checked against its checksum"
    )
    lines.append(
        f"  {_count(len(tables), 'table')}, {rows:,} rows, {_size(size)} read whole: {pages}"
    )
    footers = result.manifest.get("footers")
    matched = [t for t in tables if isinstance(footers, dict) and t.name in footers]
    if matched:
        lines.append(f"  {_count(len(matched), 'footer')} as the manifest recorded them")
    others = [f for f in result.files if f.rows is None and not f.problem]
    if others:
        digests = sum(f.digest for f in others)
        same = (
            ", each as written (its digest as recorded)"
            if digests == len(others)
            else f", {digests:,} of them as written (their digests; none recorded for the rest)"
            if digests
            else " (no digests recorded: written before 2026-12-07)"
        )
        lines.append(f"  {_count(len(others), 'other file')}: present{same}")
    if result.unlisted:
        shown = ", ".join(result.unlisted[:3]) + (" ..." if len(result.unlisted) > 3 else "")
        lines.append(
            f"  {_count(len(result.unlisted), 'file')} no manifest lists (not verified): {shown}"
        )
    if result.runs is not None:
        finished, failed, total = result.runs
        line = f"  runs: {finished:,} of {total:,} finished"
        if failed:
            line += f", {failed:,} failed (errors/)"
        if finished < total:
            line += "; the rest run with the same command and --resume"
            if result.unfinished:  # (which: the first few, in the plan's order)
                shown = ", ".join(result.unfinished[:3])
                more = len(result.unfinished) - 3
                line += f" (not finished: {shown}{f' and {more:,} more' if more > 0 else ''})"
        lines.append(line)
    for name, held, finished in result.out_of_date:
        lines.append(
            f"  {name}: {held:,} of the {finished:,} finished runs (written before the others "
            "finished); the sweep's command with --resume writes it again"
        )
    changes = result.version_changes()
    if not isinstance(result.manifest.get("versions"), dict):
        here = "not comparable (the manifest records no versions)"
    elif changes:
        here = f"differs ({'; '.join(changes)}): a seed need not give the same numbers here"
    else:
        here = "the same versions (a seed gives the same numbers here)"
    lines.append(f"  this environment: {here}")
    problems = len(result.problems)
    lines.append("  damaged or missing: " + (_count(problems, "file") if problems else "none"))
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n / 2**10:,.1f} KiB"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
