"""Figures (matplotlib, Agg): one function per figure, each taking analysis tables (never
computing statistics of its own) and returning a :class:`matplotlib.figure.Figure`;
:func:`save` writes it as PNG. One module per topic; this package names them all."""

from habsburg.reports.plots.base import model_colors, months, save
from habsburg.reports.plots.cascades import cascade_graph, cascade_overview
from habsburg.reports.plots.comparison import compare_differences, compare_series
from habsburg.reports.plots.convergence import convergence, js_heatmap, training_graph
from habsburg.reports.plots.filters import counterfactual, filter_performance, roc, training_data
from habsburg.reports.plots.studies import has_instruments, study_instruments
from habsburg.reports.plots.tails import generation_quality, rank_frequency, tail_survival
from habsburg.reports.plots.web import synthetic_share

__all__ = [
    "cascade_graph",
    "cascade_overview",
    "compare_differences",
    "compare_series",
    "convergence",
    "counterfactual",
    "filter_performance",
    "generation_quality",
    "has_instruments",
    "js_heatmap",
    "model_colors",
    "months",
    "rank_frequency",
    "roc",
    "save",
    "study_instruments",
    "synthetic_share",
    "tail_survival",
    "training_data",
    "training_graph",
]
