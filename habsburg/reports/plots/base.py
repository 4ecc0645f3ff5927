"""What every figure shares: a grid of axes with fixed margins, a colour per model, time axes of
``YYYY-MM`` months, percent axes, and :func:`save` (PNG).

Figures are built on ``Figure`` objects, not pyplot, so nothing global is touched (safe in the
run command, in tests and in parallel workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.convergence import HUMAN
from habsburg.experiments.files import atomic_write

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.typing import ColorType

DPI = 110
HUMAN_COLOR = "black"


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG (atomically) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))


def model_colors(names: Iterable[str]) -> dict[str, ColorType]:
    """A fixed colour per model name (sorted order, tab10/tab20), the same in every figure."""
    names = sorted({str(n) for n in names if str(n) != HUMAN})
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    colors: dict[str, ColorType] = {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    colors[HUMAN] = HUMAN_COLOR
    return colors


def months(labels: pd.Series | pd.Index) -> pd.DatetimeIndex:
    """'YYYY-MM' labels as dates (for time axes)."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(labels).astype(str), format="%Y-%m"))


def grid(
    rows: int = 1,
    cols: int = 1,
    size: tuple[float, float] = (8.0, 4.2),
    *,
    left: float = 0.85,
    right: float = 0.25,
    bottom: float = 0.55,
    top: float = 0.45,
    hspace: float = 0.3,
    wspace: float = 0.3,
    **kw: Any,
) -> tuple[Figure, np.ndarray]:
    """A figure with a grid of axes and fixed margins (in inches). Fixed margins instead of a
    layout engine: constrained layout measures every tick label twice and took more than half
    of a report's drawing time."""
    fig = Figure(figsize=size)
    w, h = size
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        bottom=bottom / h,
        top=1 - top / h,
        hspace=hspace,
        wspace=wspace,
    )
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def room_for_legend(ax: Axes, ncols: int) -> None:
    """Legend in one row at the top, with the y range raised so it covers no line."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.0), high + 0.3 * (high - min(low, 0.0)))
    ax.legend(fontsize=8, loc="upper left", ncols=ncols)


def percent_axis(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))


def posterior_band(
    ax: Axes, bands: pd.DataFrame | None, metric: str, color: str, label: str
) -> bool:
    """Shade the 5–95% posterior band of ``metric`` (rows of a run's ``bands`` table: month,
    metric, q05, q50, q95, draws); False when the table has no rows for it."""
    if bands is None or not len(bands):
        return False
    rows = bands[bands["metric"] == metric]
    if not len(rows):
        return False
    n = int(rows["draws"].max())
    ax.fill_between(
        months(rows["month"]),
        rows["q05"].to_numpy(float),
        rows["q95"].to_numpy(float),
        color=color,
        alpha=0.2,
        lw=0,
        label=f"{label}: 5–95% of {n} posterior draws",
    )
    return True
