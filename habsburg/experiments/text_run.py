"""Run a text-mode scenario and write its results directory.

Tables (Parquet): ``text_generations`` (per generation × model: held-out perplexity, own-sample
perplexity under generation 0, n-gram and vocabulary share, training-data synthetic share, mean
watermark z), ``text_crawls`` (filter confusion per crawl), ``text_perplexities`` (every sampled
document's perplexity under generation 0, for the Shumailov et al. Fig. 1 histograms),
``text_samples`` (continuations of the scenario's prompt), ``text_watermark_scores`` and
``text_classifier_scores`` (detector scores of human and machine text, for ROC curves); sample
texts as ``samples/generation_NN.txt``; ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from habsburg.ecosystem.text.corpus import (
    INSTALLED_CORPUS,
    Corpus,
    load_installed_corpus,
    passages,
)
from habsburg.ecosystem.text.ngram import flatten
from habsburg.ecosystem.text.watermark import paraphrase
from habsburg.experiments.files import (
    prepare_output_dir,
    stop_if_interrupted,
    write_parquet,
    write_results_dir,
    writer_record,
)
from habsburg.model.text_model import TextEcosystemModel
from habsburg.scenarios.text_schema import TextScenario, load_text_scenario

#: paraphrase strengths of the watermark ROC (share of tokens edited)
EDIT_FRACTIONS = (0.2, 0.5)


@dataclass
class TextRunResult:
    model: TextEcosystemModel
    tables: dict[str, pd.DataFrame]
    out: Path | None
    seconds: float


def detector_scores(model: TextEcosystemModel, n_docs: int = 200) -> dict[str, pd.DataFrame]:
    """Watermark z and classifier scores of held-out human text and of fresh machine text from
    each final model (clean, and after random and span paraphrase of 20% and 50% of tokens)."""
    rng = model.rng
    L = model.config.humans.document_tokens
    human = passages(model.heldout, n_docs, L, rng)
    h_tokens, h_off = flatten(human)
    wm_rows, clf_rows = [], []
    clf_rows.append(
        pd.DataFrame(
            {"model": "", "kind": "human", "score": model.classifier.score(h_tokens, h_off)}
        )
    )
    for agent in model.generative_models:
        name = agent.config.name
        if agent.watermark is not None:
            docs = agent.learner.sample(n_docs, L, rng, watermark=agent.watermark)
            flat, off = docs.ravel(), np.arange(0, docs.size + 1, L)
            variants = {"human": (h_tokens, h_off), "watermarked": (flat, off)}
            for mode in ("random", "span"):
                for fraction in EDIT_FRACTIONS:
                    edited, _ = paraphrase(
                        flat, fraction, rng, mode=mode, paraphraser=model.paraphraser, offsets=off
                    )
                    variants[f"{mode} edits {fraction:.0%}"] = (edited, off)
            for kind, (t, o) in variants.items():
                z = agent.watermark.detect(t, o)["z"]
                wm_rows.append(pd.DataFrame({"model": name, "kind": kind, "z": z}))
        docs = agent.learner.sample(n_docs, L, rng)
        score = model.classifier.score(docs.ravel(), np.arange(0, docs.size + 1, L))
        clf_rows.append(pd.DataFrame({"model": name, "kind": "machine", "score": score}))
    return {
        "text_watermark_scores": pd.concat(wm_rows, ignore_index=True)
        if wm_rows
        else pd.DataFrame(columns=["model", "kind", "z"]),
        "text_classifier_scores": pd.concat(clf_rows, ignore_index=True),
    }


def simulate_text(
    scenario: TextScenario, corpus: Corpus, *, seed: int | None = None, progress: bool = False
) -> TextEcosystemModel:
    """Build the text-mode model on ``corpus`` and run all its generations."""
    model = TextEcosystemModel(scenario, corpus, seed=seed)
    for _ in tqdm(
        range(scenario.generations),
        desc=scenario.name,
        unit="generation",
        disable=not progress,
        leave=False,
    ):
        model.step()
        stop_if_interrupted()  # (a Ctrl-C lost in a finalizer: raised here again)
    return model


def run_text_scenario(
    name_or_path: str | Path | TextScenario,
    *,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    corpus: Corpus | None = None,
    force: bool = False,
    finish: Callable[[Path], object] | None = None,
) -> TextRunResult:
    """Run a text scenario (library name such as ``text_baseline``, a TOML path, or a
    :class:`TextScenario`) on the installed corpus (or ``corpus``) and, with ``out``, write its
    results directory. Errors in the scenario or the output path are raised before any work.
    ``finish(tmp)`` runs on the written tables before they are moved into place (the CLI passes
    :func:`habsburg.reports.text_report.write_text_report`, so the report lands atomically)."""
    scenario = (
        name_or_path if isinstance(name_or_path, TextScenario) else load_text_scenario(name_or_path)
    )
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        # made when the results are written: a run that fails first leaves no empty directory
        prepare_output_dir(out_dir, command="run", force=force, create=False)
    started = time.time()
    source = "a corpus passed to run_text_scenario" if corpus is not None else INSTALLED_CORPUS
    if corpus is None:
        c = scenario.corpus
        corpus = load_installed_corpus(
            min_count=c.min_count,
            heldout_fraction=c.heldout_fraction,
            max_doc_tokens=c.max_doc_tokens,
            max_tokens=c.max_tokens,
            seed=scenario.seed if seed is None else seed,
        )
    model = simulate_text(scenario, corpus, seed=seed, progress=progress)
    tables = {**model.tables(), **detector_scores(model)}
    seconds = time.time() - started
    if out_dir is not None:
        used_seed = scenario.seed if seed is None else seed
        manifest = {
            "mode": "text",
            "scenario": {**dataclasses.asdict(scenario), "seed": used_seed},
            "scenario_name": scenario.name,
            "seed": used_seed,
            "generations": scenario.generations,
            "corpus": {
                "source": source,
                "documents": corpus.n_docs,
                "tokens": int(corpus.tokens.size),
                "vocabulary": len(corpus.vocab),
                "communities": corpus.community_names,
            },
            "seconds": round(seconds, 3),
            "habsburg_command": "run",
            **writer_record(),
        }

        def fill(tmp: Path) -> None:
            for name, df in tables.items():
                write_parquet(df, tmp / f"{name}.parquet")
            (tmp / "samples").mkdir()
            samples = tables["text_samples"]
            for g, part in samples.groupby("generation"):
                lines = [f"# generation {g}: continuations of {scenario.samples.prompt!r}", ""]
                lines += [f"[{r.model} #{r.sample}] {r.text}" for r in part.itertuples()]
                (tmp / "samples" / f"generation_{int(g):02d}.txt").write_text(
                    "\n".join(lines) + "\n"
                )
            if finish is not None:
                # the report (``finish``) reads the manifest: a provisional one, replaced at the end
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
                finish(tmp)

        write_results_dir(out_dir, fill, manifest, command="run")
    return TextRunResult(model, tables, out_dir, seconds)
