"""The report of a text-mode run: collapse you can read.

From a text run's results directory (``habsburg.experiments.text_run``) it writes
``text_report.md`` with: the table of sample continuations of the same prompt across
generations; the per-generation perplexity distributions of each model's samples under
generation 0 (as in Shumailov et al., Nature 2024, Fig. 1); the collapse curves (held-out human
perplexity, share of human n-grams kept); the watermark ROC on real text (clean and paraphrased)
and the AI-text classifier's ROC; and the filters' confusion per crawl. It opens with what ran
(from the run's manifest). It reads the run's tables and manifest only, and lists the files it
writes in the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.ecosystem.rates import auc_text
from habsburg.ecosystem.text.classifier import auc, roc_curve
from habsburg.experiments.files import add_results, read_manifest
from habsburg.experiments.results_check import RERUN, check_fields, read_table
from habsburg.reports.document import provenance
from habsburg.scenarios.errors import ResultsDirError

TABLES = (
    "text_generations",
    "text_crawls",
    "text_perplexities",
    "text_samples",
    "text_watermark_scores",
    "text_classifier_scores",
)

#: the report's figures (beside ``text_report.md``)
FIGURES = ("text_perplexity_distributions.png", "text_collapse.png", "text_roc.png")


def read_text_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    run_dir = Path(run_dir)
    missing = [t for t in TABLES if not (run_dir / f"{t}.parquet").is_file()]
    if missing:
        raise ResultsDirError(
            f"{run_dir} is not a text-mode results directory: missing {', '.join(missing)}"
        )
    return {t: read_table(run_dir / f"{t}.parquet") for t in TABLES}


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table (numbers rounded; a non-zero number
    too small for ``digits`` decimals keeps its significant digits, never reads "0")."""

    def cell(x: object) -> str:
        if isinstance(x, float | np.floating):
            size = cast("float | np.floating", abs(x))  # mypy joins abs's result to object
            return (
                ""
                if np.isnan(x)
                else f"{x:.{digits}g}"
                if size >= 1000 or 0 < size < 0.5 * 10.0**-digits
                else f"{x:.{digits}f}".rstrip("0").rstrip(".")
            )
        return str(x)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = (
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else ":---" for c in df.columns)
        + "|"
    )
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def sample_table(samples: pd.DataFrame, model: str | None = None, k: int = 0) -> str:
    """Markdown table: generation -> continuation #k of the prompt (one model)."""
    if samples.empty:
        return "_no samples_\n"
    model = model if model is not None else samples.model.iloc[0]
    part = samples[(samples.model == model) & (samples["sample"] == k)].sort_values("generation")
    prompt = part.prompt.iloc[0] if len(part) else ""
    lines = [f"| generation | {model}: “{prompt} …” |", "|---:|:---|"]
    lines += [
        f"| {int(r.generation)} | {r.text.replace('|', '/').replace('<unk>', '‹unk›')} |"
        for r in part.itertuples()
    ]
    return "\n".join(lines) + "\n"


def _perplexity_figure(ppl: pd.DataFrame, path: Path) -> None:
    models = list(dict.fromkeys(ppl.model))
    fig = Figure(figsize=(5.0 * len(models), 3.6))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, name in zip(axes, models, strict=True):
        part = ppl[ppl.model == name]
        gens = sorted(part.generation.unique())
        hi = np.quantile(part.perplexity_gen0, 0.99)
        bins = np.linspace(0, hi, 60)
        for i, g in enumerate(gens):
            color = (
                0.1 + 0.8 * i / max(len(gens) - 1, 1),
                0.2,
                0.9 - 0.8 * i / max(len(gens) - 1, 1),
            )
            values = part.perplexity_gen0[part.generation == g]
            if not (values <= hi).any():  # (a density of nothing: numpy divides 0 by 0)
                ax.plot([], [], color=color, label=f"gen {g}: all above {hi:.3g}")
                continue
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                density=True,
                color=color,
                label=f"gen {g}",
            )
        ax.set_xlabel("perplexity of a sampled document under generation 0")
        ax.set_ylabel("density")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _collapse_figure(gens: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3)
    cols = [
        ("heldout_perplexity", "held-out human perplexity"),
        ("ngram_share", "share of human n-grams known"),
        ("own_perplexity_gen0_median", "own samples' perplexity under gen 0"),
    ]
    for ax, (col, title) in zip(axes, cols, strict=True):
        for name, part in gens.groupby("model", sort=False):
            ax.plot(part.generation, part[col], marker="o", label=name)
        ax.set_xlabel("generation")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _roc_figure(wm: pd.DataFrame, clf: pd.DataFrame, path: Path) -> list[tuple[str, float]]:
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    aucs = []
    for name, part in wm.groupby("model", sort=False):
        human = part.z[part.kind == "human"].to_numpy()
        for kind in [k for k in dict.fromkeys(part.kind) if k != "human"]:
            fpr, tpr = roc_curve(human, part.z[part.kind == kind].to_numpy())
            aucs.append((f"watermark z, {name}: {kind} vs human", auc(fpr, tpr)))
            ax1.plot(fpr, tpr, label=f"{name}: {kind} ({auc_text(aucs[-1][1], 3)})")
    ax1.set_title("watermark z-test on real text")
    human = clf.score[clf.kind == "human"].to_numpy()
    for name, part in clf[clf.kind == "machine"].groupby("model", sort=False):
        # low scores are flagged: negate so that positives score higher
        fpr, tpr = roc_curve(-human, -part.score.to_numpy())
        aucs.append((f"perplexity classifier, {name} vs human", auc(fpr, tpr)))
        ax2.plot(fpr, tpr, label=f"{name} ({auc_text(aucs[-1][1], 3)})")
    ax2.set_title("perplexity-ratio classifier")
    for ax in (ax1, ax2):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
        ax.set_xlabel("false-positive rate (human text flagged)")
        ax.set_ylabel("true-positive rate")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return aucs


#: the manifest's fields the report reads (:func:`text_manifest`), and its corpus's
_FIELDS = (
    ("scenario_name", str, "a string"),
    ("seed", int, "an integer"),
    ("generations", int, "an integer"),
    ("corpus", dict, "the corpus's description (an object)"),
)
_CORPUS = (
    ("source", str, "a string"),
    ("documents", int, "an integer"),
    ("tokens", int, "an integer"),
    ("vocabulary", int, "an integer"),
    ("communities", list, "a list of names"),
)


def text_manifest(run_dir: str | Path) -> dict | None:
    """The manifest of text run ``run_dir`` (None if it has none that is habsburg's), its fields
    the report reads checked first: a :class:`ResultsDirError` naming the manifest and the key
    when one has another type (a hand-edited corpus with ``"communities": true`` or
    ``"documents": "many"`` was an internal error of the report)."""
    m = read_manifest(run_dir)
    if m is None:
        return None
    file = Path(run_dir) / "manifest.json"
    check_fields(m, file, _FIELDS)
    corpus = m.get("corpus") or {}
    check_fields(corpus, file, _CORPUS, "corpus.")
    names = corpus.get("communities") or []
    if not all(isinstance(name, str) for name in names):
        raise ResultsDirError(
            f"{file}: corpus.communities: expected a list of names, got {names!r:.60}; {RERUN}"
        )
    return m


def _what_ran(m: dict | None) -> list[str]:
    """The report's title and opening paragraph: the scenario, seed, generations and corpus,
    from the run's manifest ``m`` (:func:`text_manifest`; the title alone without one)."""
    if m is None or "scenario_name" not in m:
        return ["# Text-mode run", ""]
    name = m["scenario_name"]
    what = f"Scenario {name}"  # (with what the manifest records: an edited one may lack some)
    if m.get("seed") is not None:
        what += f", seed {m['seed']}"
    if m.get("generations") is not None:
        what += f", {m['generations']} generations"
    c = m.get("corpus")
    if isinstance(c, dict) and {"documents", "tokens", "vocabulary"} <= c.keys():
        what += (
            f", on {c.get('source', 'a corpus')}: {c['documents']:,} passages, "
            f"{c['tokens']:,} tokens, a vocabulary of {c['vocabulary']:,} words"
        )
        if c.get("communities"):
            what += f", {len(c['communities'])} communities ({', '.join(c['communities'])})"
    what += ". Every number below is read from this run's Parquet files."
    return [f"# habsburg text-mode report: {name}", "", what, ""]


def write_text_report(run_dir: str | Path) -> Path:
    """Write ``text_report.md`` and its figures (:data:`FIGURES`) into ``run_dir``, listed in its
    manifest; returns the report's path. Files habsburg did not write are never replaced (one of
    those names refuses the report before anything is moved:
    :func:`~habsburg.experiments.files.add_results`)."""
    run_dir = Path(run_dir)
    manifest = text_manifest(run_dir)
    t = read_text_tables(run_dir)
    add_results(run_dir, lambda tmp: _write(run_dir, manifest, t, tmp), command="report")
    return run_dir / "text_report.md"


def _write(run_dir: Path, manifest: dict | None, t: dict[str, pd.DataFrame], into: Path) -> None:
    """The text report of the run in ``run_dir`` (its manifest, its tables ``t``) and its figures,
    in ``into``."""
    gens = t["text_generations"]
    perplexities, collapse, roc = FIGURES
    _perplexity_figure(t["text_perplexities"], into / perplexities)
    _collapse_figure(gens, into / collapse)
    aucs = _roc_figure(t["text_watermark_scores"], t["text_classifier_scores"], into / roc)
    out = _what_ran(manifest)
    out += ["## Sample continuations of the same prompt", ""]
    for name in dict.fromkeys(t["text_samples"].model):
        out += [sample_table(t["text_samples"], name), ""]
    cols = [
        "generation",
        "model",
        "heldout_perplexity",
        "own_perplexity_gen0_median",
        "ngram_share",
        "vocabulary_share",
        "train_synthetic_share",
    ] + (["mean_z"] if "mean_z" in gens else [])
    out += [
        "## Collapse per generation",
        "",
        markdown_table(gens[cols]),
        "",
        f"![collapse]({collapse})",
        "",
        "## Perplexity of generated text under generation 0 (Shumailov et al. 2024, Fig. 1)",
        "",
        f"![perplexity distributions]({perplexities})",
        "",
        "## Detectors on real text",
        "",
        f"![ROC]({roc})",
        "",
    ]
    # (a curve of one class only has no AUC: left out, as the simulator's report does)
    out += [f"- {label}: AUC {value:.3f}" for label, value in aucs if np.isfinite(value)]
    conv = run_dir / "text_convergence.parquet"
    if conv.is_file() and len(conv_df := read_table(conv)):
        out += [
            "",
            "## Convergence: Jensen–Shannon divergence between models' content words",
            "",
            markdown_table(conv_df),
        ]
    out += ["", "## Filters per crawl", "", markdown_table(t["text_crawls"]), ""]
    if made := provenance((manifest or {}).get("versions")):
        out += ["## Provenance", "", made, ""]
    (into / "text_report.md").write_text("\n".join(out))
