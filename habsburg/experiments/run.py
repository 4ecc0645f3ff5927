"""Run a scenario and write its results: Parquet tables, a manifest, (optionally) a report."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from habsburg.ecosystem.ondisk import allocated_bytes
from habsburg.experiments.checkpoint import (
    check_not_another_runs,
    checkpoint_path,
    load_checkpoint,
    read_header,
    save_checkpoint,
)
from habsburg.experiments.files import (
    make_directory,
    prepare_output_dir,
    stop_if_interrupted,
    writable_directory,
    write_results_dir,
    writer_record,
)
from habsburg.experiments.limits import check_limits, check_steps
from habsburg.model import export
from habsburg.model.allocator import keep_freed_memory
from habsburg.model.export import write_tables
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.errors import CheckpointError, HabsburgError, Interrupted, OutputPathError
from habsburg.scenarios.schema import Scenario, ScenarioError


@dataclass
class RunResult:
    #: the finished model (None when the run was asked not to keep it: ``keep_model=False``)
    model: EcosystemModel | None
    tables: dict[str, pd.DataFrame]
    out_dir: Path | None
    seconds: float
    #: the plain-text summary of the run's end (:func:`summary_table`; ``habsburg run`` prints it)
    summary: str = ""


class _NoProgress:
    """Stands in for a progress bar when none is shown."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    steps: int | None = None,
    progress: bool = False,
    checkpoint_every: int | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    store_dir: str | Path | None = None,
) -> EcosystemModel:
    """Build the model and step it (``steps`` months, default the whole scenario).

    With ``checkpoint`` (a file) the model is pickled there every ``checkpoint_every`` months;
    ``resume=True`` continues from that file when it exists (same tables as an uninterrupted
    run: the checkpoint holds the random generators' state too). ``store_dir`` (an existing
    directory) holds the document store's column files (see :func:`store_scratch`); the months
    of such a run keep the memory they free for their next allocations
    (:func:`~habsburg.model.allocator.keep_freed_memory`).
    """
    n = check_steps(scenario, steps)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ScenarioError(f"--checkpoint-every must be >= 1 month, got {checkpoint_every}")
    model = None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        model = load_checkpoint(checkpoint, scenario, seed, store_dir=store_dir)
        if model.steps > n:
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} is at month {model.steps}, past the {n} "
                "months asked for; delete it or ask for more --steps"
            )
    if model is None:
        model = EcosystemModel(scenario, seed=seed, store_dir=store_dir, months=n)
    # no tqdm at all without progress: even a disabled bar creates tqdm's multiprocessing lock,
    # which starts a resource-tracker process that outlives the run
    bar = (
        tqdm(total=n, initial=model.steps, desc=f"{scenario.name}", unit="month", leave=False)
        if progress
        else _NoProgress()
    )
    # with the store on disk, a month's large arrays come from a heap kept between them
    with keep_freed_memory(store_dir is not None):
        while model.steps < n:
            model.step()
            stop_if_interrupted()  # (a Ctrl-C lost in a finalizer: raised here again)
            bar.update(1)
            bar.set_postfix_str(model.date, refresh=False)
            if checkpoint_every and checkpoint is not None:
                # also after the last month, so an interruption while writing loses no simulation
                if model.steps % checkpoint_every == 0 or model.steps == n:
                    save_checkpoint(model, checkpoint, scenario, seed)
    bar.close()
    return model


def check_store_dir(store_dir: str | Path) -> Path:
    """The directory ``--store-dir`` names, checked before any work: a directory this process can
    write to, or one it can make. Nothing is made here (a later check may still refuse the
    command): :func:`store_scratch` makes a missing one when the run starts."""
    path = Path(store_dir)
    return writable_directory(path, *_store_dir_words(path), create=False)


def _store_dir_words(path: Path) -> tuple[str, str]:
    """What names ``--store-dir`` in an error, and what to do instead."""
    return f"--store-dir {str(path)!r}", "choose another --store-dir"


def run_store_dir(store_dir: Path, out_dir: Path) -> Path:
    """The directory inside ``store_dir`` that keeps the column files of a checkpointed run into
    ``out_dir``: named after the results directory, so that ``--resume`` finds the files the
    checkpoint refers to."""
    key = hashlib.sha256(str(out_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    return store_dir.resolve() / f"habsburg-store-run-{key}"


def check_run_store_dir(path: Path, out_dir: Path, *, resume: bool) -> None:
    """Before a checkpointed run with ``--store-dir`` starts over (no ``--resume``): refuse if
    ``path`` (:func:`run_store_dir`) holds the column files of an interrupted run into
    ``out_dir``, which a checkpoint there may still need."""
    if not resume and path.exists():
        raise OutputPathError(
            f"--store-dir {str(path.parent)!r}: {path.name} holds the document store of an "
            f"interrupted run into {str(out_dir)!r}; resume it with --resume, or delete that "
            f"directory (and {str(checkpoint_path(out_dir))!r}, if any) to start over"
        )


def disk_bytes(directory: Path) -> int:
    """Bytes the files directly in ``directory`` take on disk (0 if it does not exist)."""
    if not directory.is_dir():
        return 0
    return sum(allocated_bytes(p) for p in directory.iterdir() if p.is_file())


@contextlib.contextmanager
def store_scratch(
    store_dir: str | Path | None, *, kept: Path | None = None, keep: Path | None = None
) -> Iterator[Path | None]:
    """A new private directory inside ``store_dir`` for the store's column files (yielded), removed
    with everything in it when the run ends, however it ends; nothing else in ``store_dir`` is
    touched. Yields None when ``store_dir`` is None (the store stays in memory).

    ``kept``: the directory to use instead (:func:`run_store_dir`, created if missing), for a run
    that checkpoints: it is removed when the run ends too, unless the run fails while the
    checkpoint ``keep`` exists, which refers to its files (a resumed run continues with them; a
    failure other than an interruption then says on stderr that the directory stays)."""
    if store_dir is None:
        yield None
        return
    make_directory(store_dir, *_store_dir_words(Path(store_dir)))  # (checked: check_store_dir)
    if kept is None:
        with tempfile.TemporaryDirectory(prefix="habsburg-store-", dir=store_dir) as scratch:
            yield Path(scratch)
        return
    created = not kept.exists()
    kept.mkdir(exist_ok=True)
    try:
        yield kept
    except BaseException as err:
        if keep is None or not keep.exists():
            shutil.rmtree(kept, ignore_errors=True)
        elif created and not any(kept.iterdir()):  # (refused before the store was made)
            kept.rmdir()
        elif not isinstance(err, Interrupted | KeyboardInterrupt):  # (those say it themselves)
            print(
                f"habsburg: the document store of this run stays in {kept} for --resume (the "
                f"checkpoint {keep} refers to it); delete both to give the run up",
                file=sys.stderr,
            )
        raise
    shutil.rmtree(kept, ignore_errors=True)


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    steps: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    finish: Callable[[Path], object] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    force: bool = False,
    resume_command: str | None = None,
    store_dir: str | Path | None = None,
    keep_model: bool = True,
) -> RunResult:
    """Run ``scenario`` and (when ``out`` is given) write its results directory:

    ``model_metrics.parquet`` (one row per month), ``models.parquet`` / ``scrapers.parquet``
    (per agent per month), ``lineage``, ``training_sources``, ``errors``, ``adoptions``,
    ``error_claims``, ``crawls``, ``z_samples``, ``documents``, ``sites``, ``interventions``, and
    ``manifest.json`` (the scenario as resolved, seed, package versions, the files written).

    Before any work: ``out`` is checked by :func:`~habsburg.experiments.files.prepare_output_dir`
    (new, empty, or habsburg's own earlier output; ``force`` writes beside other files without
    touching them) and the run's projected memory by
    :func:`~habsburg.experiments.limits.check_limits` (``force`` skips it). The results are
    written by :func:`~habsburg.experiments.files.write_results_dir`: a failing or interrupted
    run leaves ``out`` as it was.

    ``checkpoint_every`` months the model is checkpointed to ``OUT/.checkpoint.pkl`` (removed
    when the results are written); ``resume=True`` continues from it. An interruption
    (``KeyboardInterrupt``: Ctrl-C, or SIGTERM under the CLI) raises
    :class:`~habsburg.scenarios.errors.Interrupted` saying whether a checkpoint was kept and
    how to resume (``resume_command``, default: the same call with ``resume=True``).

    ``store_dir`` keeps the document store's columns in files in a private directory inside it
    (removed at the end) instead of in memory: only the months crawls can reach stay in memory,
    so runs larger than memory (``scaled(baseline, 100)``) fit; the results are the same. Such a
    run, its results and its report keep the memory they free for their next allocations
    (:func:`~habsburg.model.allocator.keep_freed_memory`), given back when it ends.

    ``keep_model=False`` lets the finished model go once the results are written, before
    ``finish`` runs (the report then has the memory the model held: 0.75 GiB at 100×); the
    result's ``model`` is then None, its ``tables`` and ``summary`` are kept.
    """
    n = check_steps(scenario, steps)
    if (checkpoint_every is not None or resume) and out is None:
        raise ScenarioError("checkpoints (--checkpoint-every, --resume) need an output directory")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ScenarioError(f"--checkpoint-every must be >= 1 month, got {checkpoint_every}")
    if store_dir is not None:
        store_dir = check_store_dir(store_dir)
    out_dir = Path(out) if out is not None else None
    # a checkpointed run's column files stay where its checkpoint can find them
    kept, free_disk = None, None
    if store_dir is not None and out_dir is not None and (checkpoint_every or resume):
        kept = run_store_dir(store_dir, out_dir)
        check_run_store_dir(kept, out_dir, resume=resume)
        if reused := disk_bytes(kept):  # a resumed run rewrites its files: their disk is free
            free_disk = shutil.disk_usage(kept).free + reused
    check_limits(scenario, n, force=force, store_dir=store_dir, free_disk=free_disk)
    if out_dir is not None:
        # made when the first checkpoint or the results are written: a model that fails to
        # build, or a run stopped before its first checkpoint, leaves no empty directory
        prepare_output_dir(out_dir, command="run", force=force, create=False)
    ckpt = checkpoint_path(out_dir) if out_dir is not None else None
    if ckpt is not None and not resume:
        check_not_another_runs(ckpt, scenario, seed)
    if ckpt is not None and resume and progress and not ckpt.exists():
        print(
            f"note: resume: {out_dir} holds no checkpoint (an interrupted run with "
            "--checkpoint-every keeps one); the run starts at its first month",
            file=sys.stderr,
        )
    # with the store on disk, the month loop and the results keep the heap's freed memory
    with (
        keep_freed_memory(store_dir is not None),
        store_scratch(store_dir, kept=kept, keep=ckpt) as scratch,
    ):
        started = time.time()
        model: EcosystemModel | None
        try:
            model = simulate(
                scenario,
                seed=seed,
                steps=steps,
                progress=progress,
                checkpoint_every=checkpoint_every,
                checkpoint=ckpt,
                resume=resume,
                store_dir=scratch,
            )
        except KeyboardInterrupt:
            raise Interrupted(_interrupted_message(ckpt, resume_command, store=kept)) from None
        seconds = time.time() - started
        summary = summary_table(model)
        # documents and error_claims are streamed from the store by export.write_tables; the
        # other tables are built after them (not held while the store streams)
        tables: dict = {}

        def small_tables() -> dict:
            assert model is not None  # (let go only after the tables are written)
            tables.update(export.tables(model, documents=False))
            return tables

        def let_go() -> None:
            """Drop the finished model (``keep_model=False``) and return its memory."""
            nonlocal model
            if not keep_model and model is not None:
                model = None
                gc.collect()  # (the agents and the model refer to each other)
                export.release_memory()

        if out_dir is None:
            small_tables()
        else:
            manifest = {
                # as given (interventions change model.config during the run), with the seed used
                "scenario": {**scenario.to_dict(), "seed": model.config.seed},
                "scenario_name": scenario.name,
                "seed": model.config.seed,
                "steps": model.steps,
                "first_month": scenario.start,
                "last_month": model.date,
                "seconds": round(seconds, 3),
                "documents": len(model.internet.store),
                "store_on_disk": store_dir is not None,
                "habsburg_command": "run",
                **writer_record(),
            }

            def fill(tmp: Path) -> None:
                assert model is not None
                files = write_tables(model, tmp, small_tables)
                # the report (``finish``) reads the manifest: a provisional one, replaced at the end
                (tmp / "manifest.json").write_text(
                    json.dumps({**manifest, "files": files}, indent=2, default=str)
                )
                let_go()
                if finish is not None:
                    finish(tmp)

            try:
                write_results_dir(out_dir, fill, manifest, command="run")
            except KeyboardInterrupt:
                raise Interrupted(
                    _interrupted_message(ckpt, resume_command, writing=True, store=kept)
                ) from None
            if ckpt is not None:
                ckpt.unlink(missing_ok=True)
        let_go()
        return RunResult(model, tables, out_dir, seconds, summary)


def _interrupted_message(
    ckpt: Path | None, command: str | None, writing: bool = False, store: Path | None = None
) -> str:
    when = " while writing the results (nothing was replaced)" if writing else ""
    if ckpt is not None and ckpt.exists():
        try:
            month = read_header(ckpt)[0].get("steps", "?")
        except HabsburgError:
            month = "?"
        how = f"resume with: {command}" if command else "resume with resume=True"
        files = f" (its document store in {store})" if store is not None else ""
        return f"interrupted{when}; checkpoint after month {month} kept in {ckpt}{files}; {how}"
    return (
        f"interrupted{when}; no checkpoint was written (use --checkpoint-every N to make a run "
        "resumable)"
    )


def _budget_filled(stats: dict[str, float]) -> str:
    """The latest training set's documents as a share of its budget ("" before any)."""
    budget = stats.get("budget")
    return f"{stats['documents'] / budget:.0%}" if budget else ""


def summary_table(model: EcosystemModel) -> str:
    """A short plain-text summary of the end of a run (printed by ``habsburg run``)."""
    sc = model.config
    mm = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    last = mm.iloc[-1]
    lines = [
        f"{sc.name}: {model.steps} months ({sc.start}..{model.date}), seed {sc.seed}, "
        f"{len(model.internet.store):,} documents"
    ]
    launch = sc.launch_step
    rows = []
    for label, step in (
        ("+12 months", launch + 12),
        ("+24 months", launch + 24),
        ("end", len(mm) - 1),
    ):
        if 0 <= step < len(mm):
            r = mm.iloc[step]
            rows.append(
                (
                    f"synthetic share of new docs, {label} ({sc.step_to_month(step)})",
                    f"true {r.synthetic_share_new:.1%}  measured {r.synthetic_share_new_measured:.1%}",
                )
            )
    rows += [
        (
            "synthetic share of the whole web",
            f"true {last.synthetic_share_stock:.1%}  measured {last.synthetic_share_stock_measured:.1%}",
        ),
        ("mean pairwise JS between models", f"{last.mean_pairwise_js:.4f} nats"),
        (
            "failure ratio vs independence: all models / pairwise",
            f"{last.systemic_failure_ratio:.2f} / {last.pairwise_failure_ratio:.2f}",
        ),
        (
            "active wrong beliefs / largest cascade",
            f"{last.active_wrong_beliefs:.0f} / {last.largest_cascade_models:.0f} models",
        ),
        (
            "filter precision / recall (last month)",
            f"{last.filter_precision:.2f} / {last.filter_recall:.2f}",
        ),
        (
            "synthetic share of crawls before / after filters (last month)",
            f"{last.training_synthetic_before:.1%} / {last.training_synthetic_after:.1%}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines.append("")
    header = f"  {'model':<12} {'gen':>3} {'share':>6} {'capability':>10} {'tail cov':>8} {'facts':>6} {'tail facts':>10} {'style var':>9} {'data':>5}"
    lines.append(header)
    for a in model.models:
        if not a.deployed:
            lines.append(f"  {a.name:<12} not deployed")
            continue
        lines.append(
            f"  {a.name:<12} {a.generation:>3} {a.market_share:>6.1%} "
            f"{a.quality('capability'):>10.3f} {a.quality('tail_coverage'):>8.1%} "
            f"{a.quality('fact_accuracy'):>6.1%} {a.quality('tail_fact_accuracy'):>10.1%} "
            f"{a.quality('style_variance_ratio'):>9.2f} {_budget_filled(a.training_stats):>5}"
        )
    lines.append(
        f"  (human reference: capability = entropy of p_H = {model.world.human_entropy:.3f} nats;"
        " data: the latest training set's documents against the model's budget)"
    )
    return "\n".join(lines)
