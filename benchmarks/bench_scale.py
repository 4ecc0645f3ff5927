"""Benchmark: throughput against numpy's sampling limit, cost per document at 1× and 10×,
memory per document, and the naive reference ratio, side by side in one report.

Each scale runs in a fresh process (its own peak RSS). Times are CPU seconds of the process
(``time.process_time``), which a loaded machine distorts less than wall time; the load average
is reported beside them. The sampling limit is measured in the same process right after the
run: plain ``cumsum`` + ``searchsorted`` draws (one core) from the run's own distributions
(the human concept mix and fact popularity), as many as the run made, the fastest of three
repetitions (of at most 2^25 draws a distribution, scaled up to the run's count).

    python benchmarks/bench_scale.py                  # 1× and 10×
    python benchmarks/bench_scale.py --factors 1      # 1× only
    python benchmarks/bench_scale.py --naive          # also the per-document Mesa reference
    python benchmarks/bench_scale.py --factors 100 --ondisk /var/tmp/store100   # the 100x run
    python benchmarks/bench_scale.py --naive --sweep --with x100.json   # the README's table
    python benchmarks/bench_scale.py --draws          # also the time of every random draw
    python benchmarks/bench_scale.py --factors 100 --ondisk DIR --trim-monthly   # heap trimmed

With ``--ondisk`` each month's line on stderr has the CPU seconds so far, the kernel's part and
the page faults (which is how docs/performance.md follows the kernel's time month by month);
``--trim-monthly`` gives the C heap's free pages back before every month instead of keeping them
for the run (measured and not kept: slower, the same peak).

``--sweep`` also runs ``bench_sweep.py`` (Dask against serial, best of three rounds, each round's
speed-up beside it); ``--with FILE`` adds rows an
earlier invocation wrote with ``--json`` (the 100× run takes most of an hour) to the summary,
a Markdown table of every goal of issue 13 printed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from habsburg.cli.flags import FACTOR
from habsburg.experiments.files import atomic_write_json, json_output_problem, writable_directory
from habsburg.scenarios.errors import OutputPathError

CHILD = r"""
import contextlib, json, os, resource, sys, tempfile, threading, time
import numpy as np
from habsburg.scenarios import load_scenario
from habsburg.scenarios.library import scaled
from habsburg.model.model import EcosystemModel
from habsburg.model import export
from habsburg.ecosystem.store import REPOST
from habsburg.model.allocator import keep_freed_memory

factor = float(sys.argv[1])
ondisk = sys.argv[2] if len(sys.argv) > 2 else ""
count_draws = "draws" in sys.argv[3:]
# --trim-monthly: the C heap's free pages given back before every month (the alternative to
# keeping them for the run that docs/performance.md measured and did not keep)
trim_monthly = "trim" in sys.argv[3:]

# anonymous memory (RssAnon: what the process itself holds, without the page cache of mapped
# column files, which the kernel reclaims on demand), sampled every 0.2 s by a thread
anon_peak = [0]
def sample_anon():
    while True:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    anon_peak[0] = max(anon_peak[0], int(line.split()[1]) * 1024)
        time.sleep(0.2)
threading.Thread(target=sample_anon, daemon=True).start()
sc = load_scenario("baseline")
if factor != 1:
    sc = scaled(sc, factor)
# with ondisk, as habsburg run --store-dir: the month loop and the results keep the C heap's
# freed memory for the next allocations (habsburg.model.allocator)
memory = contextlib.ExitStack()
if ondisk:
    memory.enter_context(keep_freed_memory())
c0, w0 = time.process_time(), time.perf_counter()
sys0 = os.times().system  # the kernel's part (page faults and zeroing, writeback)
# with ondisk: columns in files (habsburg run --store-dir), months out of crawl reach dropped
scratch = tempfile.TemporaryDirectory(prefix="habsburg-store-", dir=ondisk) if ondisk else None
model = EcosystemModel(sc, store_dir=scratch.name if scratch else None)
build_cpu = time.process_time() - c0  # the site graph, Louvain, Mesa's space, the agents
# --draws: every call of the model's generator timed by method (the same stream, ~1 µs a call)
generator = {}
def counted(name, call, values=np.size):
    def run(*args, **kwargs):
        c = time.process_time()
        out = call(*args, **kwargs)
        t = generator.setdefault(name, [0, 0, 0.0])
        t[0] += 1; t[1] += int(values(out)); t[2] += time.process_time() - c
        return out
    return run
class TimedGenerator:
    def __init__(self, g):
        self._g = g
    def __getattr__(self, name):
        attr = getattr(self._g, name)
        return counted(name, attr) if callable(attr) else attr
if count_draws:
    from habsburg.ecosystem import rawdraws
    model.rng = TimedGenerator(model.rng)
    # halves of raw PCG64 outputs (and a spare half): the edits' per-token uniforms, and the
    # shuffle draws of samples without replacement (rawdraws.sorted_sample)
    rawdraws.raw_draws32 = counted("32-bit draws (edit positions, samples)",
                                   rawdraws.raw_draws32,
                                   lambda out: out[1].size + (out[0] is not None))
use0 = resource.getrusage(resource.RUSAGE_SELF)  # the month loop's page faults count from here
for _ in range(sc.steps):
    if trim_monthly:
        export.trim_heap()
    model.step()
    if ondisk:
        use = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"month": model.month, "documents": len(model.internet.store),
            "cpu_s": round(time.process_time() - c0, 1),
            "system_cpu_s": round(os.times().system - sys0, 1),
            "page_faults": use.ru_minflt - use0.ru_minflt,
            "major_page_faults": use.ru_majflt - use0.ru_majflt,
            "wall_s": round(time.perf_counter() - w0, 1),
            "rss_gb": round(int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**30, 2),
            "peak_rss_gb": round(use.ru_maxrss / 2**20, 2),
            "peak_anon_gb": round(anon_peak[0] / 2**30, 2),
            "disk_gb": round(model.internet.store.disk_bytes / 2**30, 2),
            "load": os.getloadavg()[0]}), file=sys.stderr, flush=True)
sim_cpu, sim_wall = time.process_time() - c0, time.perf_counter() - w0
sim_system = os.times().system - sys0
use = resource.getrusage(resource.RUSAGE_SELF)
store = model.internet.store
n = len(store)
rss_sim = use.ru_maxrss * 1024
anon_sim = anon_peak[0]
with tempfile.TemporaryDirectory() as out:
    c1 = time.process_time()
    export.write_tables(model, out)
    write_cpu = time.process_time() - c1
    disk = sum(p.stat().st_size for p in __import__("pathlib").Path(out).iterdir())
memory.close()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
time.sleep(0.3)  # one more sample: the peak of the simulation and the results, before counting
anon_write = anon_peak[0]

# draws made by the run: concept draws and fact claims of every document that is not a repost
original = store.kind != REPOST
n_concepts = store.concept_lengths()[original].sum(dtype=np.int64)
n_claims = store.claim_lengths()[original].sum(dtype=np.int64)
draws = int(n_concepts + n_claims)

def limit(probs, k, rng):
    # numpy's own categorical sampling, one core: cumsum + searchsorted
    cdf = np.cumsum(probs); cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(k), side="right")

def timed(probs, total, rng, chunk=1 << 22):
    c = time.process_time()
    for lo in range(0, total, chunk):
        limit(probs, min(chunk, total - lo), rng)
    return time.process_time() - c

# The limit is numpy's best: each distribution's draws are timed REPEATS times and the fastest
# kept (a first, cold repetition ran ~20% slower than the next ones at 1x). At most CAP draws a
# repetition, scaled up to the run's count (the cost per draw does not depend on the count).
REPEATS, CAP = 3, 1 << 25
rng = np.random.default_rng(0)
world = model.world
limit_cpu = limit_first_cpu = 0.0
for probs, total in ((world.p_human, int(n_concepts)), (world.fact_popularity, int(n_claims))):
    k = min(total, CAP)
    if k == 0:
        continue
    times = [timed(probs, k, rng) for _ in range(REPEATS)]
    limit_cpu += min(times) * total / k
    limit_first_cpu += times[0] * total / k
print(json.dumps({
    "factor": factor,
    "documents": n,
    "draws": draws,
    "simulate_cpu_s": round(sim_cpu, 2),
    "store_on_disk": bool(ondisk),
    "build_cpu_s": round(build_cpu, 2),
    "system_cpu_s": round(sim_system, 2),
    # page faults of the month loop (minor: a page first touched or reused; major: read from disk)
    "page_faults_simulate": use.ru_minflt - use0.ru_minflt,
    "major_page_faults_simulate": use.ru_majflt - use0.ru_majflt,
    "trim_monthly": trim_monthly,
    "simulate_wall_s": round(sim_wall, 2),
    "write_tables_cpu_s": round(write_cpu, 2),
    "cpu_us_per_document": round(1e6 * sim_cpu / n, 3),
    "draws_per_cpu_s": round(draws / sim_cpu),
    "numpy_limit_draws_per_cpu_s": round(draws / limit_cpu),
    "share_of_numpy_limit": round(limit_cpu / sim_cpu, 3),
    "numpy_limit_cpu_s": round(limit_cpu, 3),
    # the reference's first repetition alone (how the share was measured until 2026-12-02)
    "share_of_numpy_limit_first_repetition": round(limit_first_cpu / sim_cpu, 3),
    "store_bytes_per_document": round(store.nbytes / n, 1),
    # the store's column files at the end of the month loop (with ondisk; removed afterwards)
    "store_disk_gb": round(getattr(store, "disk_bytes", 0) / 2**30, 2),
    "peak_rss_gb_simulate": round(rss_sim / 2**30, 2),
    "peak_rss_gb": round(rss / 2**30, 2),
    "peak_bytes_per_document": round(rss / n, 1),
    "peak_anon_gb_simulate": round(anon_sim / 2**30, 2),
    "peak_anon_gb": round(anon_write / 2**30, 2),
    "peak_anon_bytes_per_document": round(anon_write / n, 1),
    "parquet_disk_mb": round(disk / 2**20, 1),
    "load_average": os.getloadavg(),
    **({"generator": {k: {"calls": v[0], "values": v[1], "cpu_s": round(v[2], 3)}
                      for k, v in sorted(generator.items(), key=lambda kv: -kv[1][2])},
        "limit_cpu_s": round(limit_cpu, 3)} if count_draws else {}),
    # the scale study: where the deployed models end up (mean over models, last month)
    **{k: round(float(v), 4) for k, v in model.datacollector.get_model_vars_dataframe()
       .iloc[-1][["mean_tail_coverage", "mean_capability", "mean_fact_accuracy"]].items()},
}))
"""


def run_child(
    factor: float, ondisk: str = "", draws: bool = False, trim_monthly: bool = False
) -> dict:
    # with ``ondisk`` the child's per-month progress goes to this process's stderr
    flags = ["draws"] * draws + ["trim"] * trim_monthly
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(factor), ondisk, *flags],
        stdout=subprocess.PIPE,
        stderr=None if ondisk else subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode:
        return {"factor": factor, "error": (proc.stderr or "see stderr").strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fits(factor: float, ondisk: str) -> str:
    """Why the baseline scaled by ``factor`` would not fit this machine (its memory, or with
    ``ondisk`` the disk there), or ``""``: the projection and allowances ``habsburg run``
    checks, before any run."""
    from habsburg.experiments.limits import (
        RESULT_BYTES,
        disk_shortfall,
        gib,
        memory_shortfall,
        project,
    )
    from habsburg.scenarios import load_scenario
    from habsburg.scenarios.library import scaled

    scenario = scaled(load_scenario("baseline"), factor)
    p = project(scenario, on_disk=bool(ondisk))
    what = f"scenario {scenario.name!r} is projected to publish ~{p.documents:,} documents"
    if ondisk and (room := disk_shortfall(p, ondisk)) is not None:
        return (
            f"{what}: ~{gib(p.store_bytes + p.documents * RESULT_BYTES)} of store columns and "
            f"results in --ondisk "
            f"{ondisk!r}, more than the {gib(room)} free there"
        )
    if (can := memory_shortfall(p)) is not None:
        return (
            f"{what} and need ~{gib(p.memory_bytes)} of memory, more than the {gib(can)} this "
            "machine can give it"
        )
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--factors", type=FACTOR, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--naive", action="store_true", help="also run bench_naive.py")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument(
        "--ondisk",
        metavar="DIR",
        default="",
        help="keep the store's columns in files under DIR (OnDiskStore; for 100x), month by "
        "month progress on stderr",
    )
    parser.add_argument(
        "--trim-monthly",
        action="store_true",
        help="with --ondisk: give the C heap's free pages back before every month instead of "
        "keeping them for the run (the alternative docs/performance.md measured; not kept)",
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also run bench_sweep.py (three rounds)"
    )
    parser.add_argument(
        "--draws",
        action="store_true",
        help="time every call of the model's random generator by method, and the share of the "
        "limit those draws leave possible",
    )
    parser.add_argument(
        "--with",
        dest="earlier",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="rows of an earlier --json run to show in the summary (e.g. the 100x run)",
    )
    args = parser.parse_args()
    if args.trim_monthly and not args.ondisk:
        parser.error("--trim-monthly: only with --ondisk DIR (a run in memory keeps no heap)")
    # files named on the command line, checked before any run: --json replaces only a file of
    # rows this benchmark wrote; --with reads such files
    earlier = []
    for path in args.earlier:
        found = read_rows(path)
        if isinstance(found, str):
            parser.error(f"--with {path}: {found}")
        earlier += found
    if args.json is not None:
        problem = output_problem(args.json)
        if problem:
            parser.error(f"--json {args.json}: {problem}")
    if args.ondisk:  # checked (created if missing) as habsburg run checks --store-dir
        try:
            writable_directory(Path(args.ondisk), f"--ondisk {args.ondisk!r}", "choose another")
        except OutputPathError as err:
            parser.error(str(err))
    for factor in args.factors:  # a run that cannot fit would end in an allocation error
        problem = fits(factor, args.ondisk)
        if problem:
            more = "" if args.ondisk else " (--ondisk DIR keeps the store on disk)"
            parser.error(f"--factors {factor:g}: {problem}{more}")
    rows = []
    for factor in args.factors:
        row = run_child(factor, args.ondisk, args.draws, args.trim_monthly)
        print(json.dumps(row), flush=True)
        rows.append(row)
    ok = [r for r in rows if "error" not in r]
    # the baseline (1x) is what other scales and the naive reference compare with, if it ran
    base = next((r for r in ok if r["factor"] == 1.0), ok[0] if ok else None)
    for other in ok:
        if base is not None and other is not base:
            ratio = other["cpu_us_per_document"] / base["cpu_us_per_document"]
            print(f"cost per document x{other['factor']:g} / x{base['factor']:g}: {ratio:.2f}")
    if args.naive and base is not None:
        here = Path(__file__).with_name("bench_naive.py")
        naive = subprocess.run(
            [sys.executable, str(here), "--json"], capture_output=True, text=True
        )
        nrow = json.loads(naive.stdout.strip().splitlines()[-1])
        nrow["habsburg_documents_per_cpu_s"] = round(1e6 / base["cpu_us_per_document"])
        nrow["habsburg_factor"] = base["factor"]
        nrow["ratio"] = round(nrow["habsburg_documents_per_cpu_s"] / nrow["documents_per_cpu_s"], 1)
        print(json.dumps(nrow))
        rows.append(nrow)
    if args.sweep:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sweep.json"
            here = Path(__file__).with_name("bench_sweep.py")
            subprocess.run([sys.executable, str(here), "--json", str(out)], check=True)
            srow = {"sweep": True, **json.loads(out.read_text())}
        print(json.dumps(srow))
        rows.append(srow)
    if args.json:  # atomically: an interrupted write leaves the earlier file whole
        atomic_write_json(args.json, rows)
    print(summary(rows + earlier))
    for r in ok:
        if "generator" in r:
            print(draws_table(r))
    print(f"load average: {os.getloadavg()}")
    return 0 if len(ok) == len(args.factors) else 1


#: keys one of which every row of ``--json`` has (a scale run, the naive reference, a sweep)
ROW_KEYS = ("factor", "ratio", "sweep")


def read_rows(path: Path) -> list[dict] | str:
    """The rows of a ``--json`` file, or what is wrong with it (a sentence)."""
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a directory, not a file of rows"
    except (OSError, UnicodeDecodeError) as err:
        return f"cannot be read ({getattr(err, 'strerror', None) or err})"
    except json.JSONDecodeError as err:
        return f"is not JSON ({err.msg}, line {err.lineno})"
    return _rows(rows)


def _rows(rows: object) -> list[dict] | str:
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and any(k in r for k in ROW_KEYS) for r in rows
    ):
        return (
            "is not a file of rows written by bench_scale.py --json (a JSON list of objects "
            f"with one of the keys {', '.join(ROW_KEYS)})"
        )
    return rows


def output_problem(path: Path) -> str:
    """Why ``--json PATH`` cannot be written (empty if it can): an existing file must be rows
    this benchmark wrote (at least one: it never writes an empty list, a user's ``[]`` is not
    its)."""
    return json_output_problem(path, lambda data: bool(data) and not isinstance(_rows(data), str))


def summary(rows: list[dict]) -> str:
    """The goals of issue 13 against the measurements, one Markdown table."""
    runs = sorted(
        (r for r in rows if "factor" in r and "error" not in r), key=lambda r: r["factor"]
    )
    lines = ["| measure | goal | " + " | ".join(f"{r['factor']:g}x" for r in runs) + " |"]
    lines.append("|---|---|" + "---|" * len(runs))

    def row(label: str, goal: str, fmt: Callable[[dict], str]) -> None:
        cells = []
        for r in runs:
            try:
                cells.append(fmt(r))
            except (KeyError, TypeError):
                cells.append("")
        lines.append(f"| {label} | {goal} | " + " | ".join(cells) + " |")

    row("documents", "", lambda r: f"{r['documents'] / 1e6:.1f} M")
    row("simulation, CPU s", "", lambda r: f"{r['simulate_cpu_s']:.1f}")
    row("of which building the model, CPU s", "", lambda r: f"{r['build_cpu_s']:.1f}")
    row("of which in the kernel (system CPU s)", "", lambda r: f"{r['system_cpu_s']:.1f}")
    row(
        "page faults of the month loop, M",
        "",
        lambda r: (
            f"{r['page_faults_simulate'] / 1e6:.2f}"
            + (" (heap trimmed monthly)" if r.get("trim_monthly") else "")
        ),
    )
    row("simulation, wall s", "", lambda r: f"{r['simulate_wall_s']:.0f}")
    row("CPU µs per document", "within 1.2x of 1x", lambda r: f"{r['cpu_us_per_document']:.2f}")
    # the straight line through each factor and the one before it: what one more document costs
    # (marginal), and the run's cost that does not grow with its documents (the intercept)
    margins = _marginal(runs)
    for i, label in enumerate(
        (
            "marginal CPU µs per document",
            "fixed CPU s per run (intercept)",
            "share of numpy's limit at the margin",
        )
    ):
        cells = " | ".join(cell[i] for cell in margins)
        lines.append(f"| {label}, from the column before | | {cells} |")
    # rows written before 2026-12-02 (--with) timed the reference once: their share is the cold one
    timed_once = "share_of_numpy_limit_first_repetition"
    row(
        "share of numpy's sampling limit",
        ">= 25% (50%)",
        lambda r: f"{r['share_of_numpy_limit']:.1%}" if timed_once in r else "",
    )
    row(
        "same, reference timed once (cold)",
        "",
        lambda r: f"{r.get(timed_once, r['share_of_numpy_limit']):.1%}",
    )
    # how fast this hour's machine was: numpy's reference draws (the limit's denominator)
    row(
        "numpy's reference, M draws per CPU s",
        "",
        lambda r: f"{r['numpy_limit_draws_per_cpu_s'] / 1e6:.1f}",
    )
    row("store, B per document", "", lambda r: f"{r['store_bytes_per_document']:.1f}")
    row("peak RSS, GB", "10x <= 3 GB", lambda r: f"{r['peak_rss_gb']:.2f}")
    row(
        "peak RSS, B per document", "<= 100 at 10x", lambda r: f"{r['peak_bytes_per_document']:.0f}"
    )
    row("peak anonymous memory, GB", "", lambda r: f"{r['peak_anon_gb']:.2f}")
    row(
        "column files at the end of the months, GB",
        "",
        lambda r: f"{r['store_disk_gb']:.1f}" if r.get("store_on_disk") else "",
    )
    row("Parquet results, MB", "", lambda r: f"{r['parquet_disk_mb']:.0f}")
    row("final mean tail coverage", "", lambda r: f"{r['mean_tail_coverage']:.3f}")
    row("final mean fact accuracy", "", lambda r: f"{r['mean_fact_accuracy']:.3f}")
    row("final mean capability, nats", "", lambda r: f"{r['mean_capability']:.3f}")
    for r in rows:
        if "ratio" in r:
            at = f"habsburg at {r.get('habsburg_factor', 1.0):g}x"
            lines.append(f"\nnaive reference ratio: {r['ratio']}x (documents per CPU second, {at})")
        if r.get("sweep"):
            lines.append("\n" + sweep_line(r))
    return "\n".join(lines)


def sweep_line(r: dict) -> str:
    """The sweep row's line: Dask's speed-up over serial, each at its fastest round (the goal is
    read on the best of repeated rounds), and each round's own when there were several."""
    rounds = r.get("all_seconds", {})
    each = [s / d for s, d in zip(rounds.get("serial", []), rounds.get("dask", []), strict=False)]
    several = len(each) > 1
    return (
        f"sweep, {r['runs']} runs on {r['workers']} Dask workers"
        + (f", best of {len(each)} rounds" if several else "")
        + f": {r['speedup_dask_vs_serial']:.2f}x serial (goal >= 1.7x"
        + ("; rounds " + ", ".join(f"{x:.2f}x" for x in each) if several else "")
        + f"), process pool {r['serial_s'] / r['pool_s']:.2f}x"
    )


def _limit_cpu(r: dict) -> float:
    """CPU s of numpy's limit for a run's draws (rows written before 2026-12-03 give only its
    share of the run, rounded to 0.1%)."""
    return r.get("numpy_limit_cpu_s", r["share_of_numpy_limit"] * r["simulate_cpu_s"])


def _marginal(runs: list[dict]) -> list[tuple[str, str, str]]:
    """Per run (sorted by factor), the straight line through it and the run before, as cells:
    ``(CPU µs per extra document, fixed CPU s (the intercept), share of numpy's limit for the
    extra draws)``; empty for the first run or where the documents did not grow. A cell whose two
    runs kept the store differently (in memory, ``--ondisk``) says so (rows written before
    2026-12-03 do not say where their store was)."""
    cells = [("", "", "")]
    for a, b in itertools.pairwise(runs):
        extra = b["documents"] - a["documents"]
        more_cpu = b["simulate_cpu_s"] - a["simulate_cpu_s"]
        if extra <= 0 or more_cpu <= 0:
            cells.append(("", "", ""))
            continue
        per_doc = more_cpu / extra
        fixed = a["simulate_cpu_s"] - per_doc * a["documents"]
        share = (_limit_cpu(b) - _limit_cpu(a)) / more_cpu
        mixed = {a.get("store_on_disk"), b.get("store_on_disk")} == {False, True}
        note = " (memory → disk)" if mixed else ""
        cells.append((f"{1e6 * per_doc:.2f}{note}", f"{fixed:.1f}{note}", f"{share:.1%}{note}"))
    return cells


def draws_table(r: dict) -> str:
    """Where a run's random draws go (``--draws``), and the share of the sampling limit that
    the draws which are not concept or claim uniforms leave possible."""
    total = r["simulate_cpu_s"]
    lines = [
        f"\nrandom generator calls at {r['factor']:g}x ({total:.1f} CPU s simulated)\n",
        "| method | calls | values | CPU s | share of the run |",
        "|---|---|---|---|---|",
    ]
    for name, g in r["generator"].items():
        lines.append(
            f"| {name} | {g['calls']:,} | {g['values']:,} | {g['cpu_s']:.2f} | "
            f"{g['cpu_s'] / total:.1%} |"
        )
    every = sum(g["cpu_s"] for g in r["generator"].values())
    # uniforms (``random``) also feed the concept and claim draws: left out, so the bound is loose
    other = every - r["generator"].get("random", {"cpu_s": 0.0})["cpu_s"]
    limit = r["limit_cpu_s"]
    lines.append(
        f"\nall generator calls: {every:.2f} CPU s ({every / total:.1%} of the run); draws other "
        f"than uniforms: {other:.2f} s. With numpy's limit at {limit:.2f} s for the run's "
        f"concept and claim draws, a simulator making those other draws too reaches at most "
        f"{limit / (limit + other):.0%} of the limit, whatever else it does."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
