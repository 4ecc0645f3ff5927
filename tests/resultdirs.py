"""Comparing results directories in tests (a plain module, imported as
``from resultdirs import assert_same_tables``, like ``tinyscenario``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every Parquet table of a results directory, by name."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(out).glob("*.parquet"))}


def assert_same_tables(a: Path, b: Path) -> None:
    """The two directories hold the same tables with exactly the same values."""
    ta, tb = tables(a), tables(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)
