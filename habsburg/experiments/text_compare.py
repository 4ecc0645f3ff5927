"""Paired what-if comparison of text scenarios (``habsburg compare text_closed_loop
text_reservoir``): every scenario runs on the same replicate seeds
(:func:`habsburg.experiments.seeds.replicate_seeds` of the base scenario's seed, so the same
seed gives every scenario the same corpus split and random streams), and each run is reduced to
the scalar outcomes of :mod:`habsburg.experiments.text_outcomes`. The statistics are
:func:`habsburg.analysis.compare.paired_differences`; the report is
:mod:`habsburg.reports.text_compare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from habsburg.ecosystem.text.corpus import Corpus, load_installed_corpus
from habsburg.experiments.compare import labels
from habsburg.experiments.seeds import replicate_seeds
from habsburg.experiments.text_outcomes import text_outcome_descriptions, text_run_outcomes
from habsburg.experiments.text_run import simulate_text
from habsburg.scenarios.errors import UserError
from habsburg.scenarios.text_schema import TextScenario, load_text_scenario


@dataclass
class TextComparison:
    """A finished text comparison: one row per run (``scenario``, ``seed``, every outcome)."""

    base: str
    scenarios: list[str]
    seeds: list[int]
    generations: int
    runs: pd.DataFrame
    descriptions: dict[str, str] = field(default_factory=dict)


def corpus_for(scenario: TextScenario, seed: int, cache: dict) -> Corpus:
    """The installed corpus as ``scenario`` asks for it, split with ``seed`` (cached: scenarios
    of one comparison usually share the corpus settings)."""
    c = scenario.corpus
    key = (c.min_count, c.heldout_fraction, c.max_doc_tokens, c.max_tokens, seed)
    if key not in cache:
        cache[key] = load_installed_corpus(
            min_count=c.min_count,
            heldout_fraction=c.heldout_fraction,
            max_doc_tokens=c.max_doc_tokens,
            max_tokens=c.max_tokens,
            seed=seed,
        )
    return cache[key]


def text_compare(
    base: str | Path | TextScenario,
    alternatives: Sequence[str | Path | TextScenario],
    *,
    seeds: int = 5,
    seed: int | None = None,
    corpus: Corpus | None = None,
    progress: bool = False,
) -> TextComparison:
    """Run ``base`` and each alternative on ``seeds`` replicate seeds (serially; derived from
    ``seed``, default ``base``'s) and collect every run's text outcomes. ``corpus`` replaces the
    installed corpus (tests)."""
    if not alternatives:
        raise UserError("compare needs a base scenario and at least one alternative")
    if seeds < 1:
        raise UserError(
            f"--seeds must be at least 1 (2 or more for confidence intervals), got {seeds}"
        )
    everyone = [
        s if isinstance(s, TextScenario) else load_text_scenario(s) for s in (base, *alternatives)
    ]
    names = labels(everyone)
    run_seeds = replicate_seeds(everyone[0].seed if seed is None else seed, seeds)
    cache: dict = {}
    rows = []
    with tqdm(total=len(everyone) * seeds, desc="compare", unit="run", disable=not progress) as bar:
        for name, scenario in zip(names, everyone, strict=True):
            for seed in run_seeds:
                data = corpus if corpus is not None else corpus_for(scenario, seed, cache)
                model = simulate_text(scenario, data, seed=seed)
                rows.append({"scenario": name, "seed": seed, **text_run_outcomes(model.tables())})
                bar.update()
    return TextComparison(
        base=names[0],
        scenarios=names,
        seeds=run_seeds,
        generations=min(sc.generations for sc in everyone),
        runs=pd.DataFrame(rows),
        descriptions=text_outcome_descriptions(),
    )
