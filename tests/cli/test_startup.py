"""Start-up and helper processes: ``habsburg --help`` imports no heavy dependency, a quiet run
leaves no helper process behind, and a command on a local cluster starts its fork server before
loading the simulator and leaves none behind when it is refused."""

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

TESTS = Path(__file__).resolve().parents[1]
EXAMPLES = TESTS.parent / "examples"

#: the scenario schema and library are not heavy, but --help has no use for them (~45 ms)
HEAVY = (
    "mesa",
    "matplotlib",
    "scipy.stats",
    "pandas",
    "distributed",
    "habsburg.model.model",
    "habsburg.scenarios.schema",
    "habsburg.scenarios.library",
)


def test_the_parser_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from habsburg.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_options_checks_load_neither_numpy_nor_the_schema():
    """The executor options and a spec file are checked first by every command that runs many
    runs: with the standard library and the scenario errors only (numpy and the schema took
    ~0.1 s of a refusal's 0.3 s)."""
    code = (
        "import sys\n"
        "import habsburg.experiments.options\n"
        "print([m for m in ('numpy', 'habsburg.scenarios.schema') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_scenarios_package_loads_its_schema_when_first_named():
    code = (
        "import sys\n"
        "import habsburg.scenarios as s\n"
        "before = 'habsburg.scenarios.schema' in sys.modules\n"
        "from habsburg.scenarios import Scenario, load_scenario\n"
        "from habsburg.scenarios.schema import Scenario as S\n"
        "assert Scenario is S and load_scenario('baseline').name == 'baseline'\n"
        "assert set(s.__all__) <= set(dir(s))\n"
        "try:\n"
        "    s.no_such_name\n"
        "except AttributeError as e:\n"
        "    print(before, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "False module 'habsburg.scenarios' has no attribute 'no_such_name'"
    )


#: what loading the simulator or the plotting stack brings in (~1-2 s a command)
SIMULATOR = ("mesa", "networkx", "matplotlib", "habsburg.model.model")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nosuch"], "unknown scenario 'nosuch'"),
        (["run", "baseline", "--steps", "0"], "--steps must be between 1 and"),
        (["run", "baseline", "--scale", "0"], "--scale must be a finite number > 0"),
        (["run", "baseline", "--draws", "3"], "--draws is for the posterior draws"),
        (["compare", "baseline", "nosuch"], "unknown scenario 'nosuch'"),
        (["sweep", "{d}/none.toml"], "sweep spec '{d}/none.toml' does not exist"),
        (["sensitivity", "{d}/none.toml"], "sweep spec '{d}/none.toml' does not exist"),
        (["calibrate", "{d}/none.toml"], "calibration spec '{d}/none.toml' does not exist"),
        (["report", "{d}/none"], "results directory '{d}/none' does not exist"),
        (["run", "text_closed_loop", "--steps", "3"], "--steps: not available for the text-mode"),
        (["viz", "--port", "-1"], "--port must be between 1 and 65535, got -1"),
        (["viz", "baseline", "--authors", "5"], "--authors must be at least 10, got 5"),
        # the executor options and --seeds, of a spec or scenarios that are fine
        (["sweep", "{x}/sweeps/watermark_sweep.toml", "--workers", "0"], "--workers must be >= 1"),
        (
            ["sensitivity", "{x}/sweeps/collapse_sensitivity.toml", "--scheduler", "nohost"],
            "--scheduler 'nohost' is not a Dask scheduler address",
        ),
        (
            ["calibrate", "{x}/calibration/baseline.toml", "--serial", "--workers", "2"],
            "--serial runs in this process",
        ),
        (
            ["compare", "baseline", "watermark_mandate", "--seeds", "0"],
            "--seeds must be at least 1",
        ),
        (["compare", "baseline", "watermark_mandate", "--workers", "0"], "--workers must be >= 1"),
        (["compare", "baseline", "watermark_mandate", "--seed", "-1"], "--seed must be between 0"),
        # a spec that is not TOML (the message its loader gives)
        (["sweep", "{d}/bad.toml"], "{d}/bad.toml: malformed TOML: Expected ']]'"),
        (["sensitivity", "{d}/bad.toml"], "{d}/bad.toml: malformed TOML: Expected ']]'"),
        (["calibrate", "{d}/bad.toml"], "{d}/bad.toml: malformed TOML: Expected ']]'"),
        # a spec that names a setting that does not exist (checked with the scenario schema)
        (["sweep", "{d}/typo.toml"], "parameters[0].path: unknown setting path 'watermark.adopt'"),
        (
            ["sensitivity", "{d}/typo.toml", "--serial"],
            "parameters[0].path: unknown setting path 'watermark.adopt'",
        ),
        (["calibrate", "{d}/typo.toml"], "parameters[0]: unknown setting path 'watermark.adopt'"),
        (["sweep", "{d}/text.toml"], "parameters[0]: unknown setting 'models.*.temprature'"),
        (
            ["calibrate", "{d}/typo.toml", "--serial"],
            "parameters[0]: unknown setting path 'watermark.adopt'",
        ),
    ],
)
def test_a_refusal_comes_before_the_simulator_loads(tmp_path, argv, message):
    """A misspelt scenario, a missing spec or results directory and a bad flag are refused
    before the simulator or the plotting stack loads (they were refused after it, in 1-2 s)."""
    (tmp_path / "bad.toml").write_text('name = "x"\nscenario = "baseline"\n[[parameters]\n')
    (tmp_path / "typo.toml").write_text(
        'name = "x"\nscenario = "baseline"\n[[parameters]]\npath = "watermark.adopt"\n'
        "range = [0.0, 1.0]\n"
    )
    (tmp_path / "text.toml").write_text(  # a text-mode sweep
        'name = "x"\nscenario = "text_closed_loop"\n[[parameters]]\n'
        'path = "models.*.temprature"\nvalues = [0.7, 1.3]\n'
    )
    argv = [a.format(d=tmp_path, x=EXAMPLES) for a in argv]
    code = (
        "import sys\n"
        "from habsburg.cli import main\n"
        f"code = main({argv!r})\n"
        f"print(code, [m for m in {SIMULATOR!r} if m in sys.modules])\n"
    )
    # (in tmp_path: a refusal that regressed into a run writes its results/ there)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.stdout.strip() == "2 []", out.stderr[-2000:]
    assert message.format(d=tmp_path) in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("command", "target", "message"),
    [
        ("report", "none", "results directory '{d}/none' does not exist"),
        ("report", "empty", "'{d}/empty' is not a habsburg results directory: it has no manifest"),
        ("verify", "none", "results directory '{d}/none' does not exist"),
    ],
)
def test_a_directory_refused_before_its_tables_are_read_loads_no_table_reader(
    tmp_path, command, target, message
):
    """A missing directory, or one without a manifest, is named before numpy, pandas or
    pyarrow load (``habsburg report`` loaded them first: 0.74 s for a missing directory)."""
    (tmp_path / "empty").mkdir()
    code = (
        "import sys\n"
        "from habsburg.cli import main\n"
        f"code = main([{command!r}, {str(tmp_path / target)!r}])\n"
        "print(code, [m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "2 []", out.stderr[-2000:]
    assert message.format(d=tmp_path) in out.stderr and "Traceback" not in out.stderr


def test_a_run_without_a_report_imports_no_plotting(tmp_path):
    """`habsburg run --no-report` does not import the report's stack (matplotlib, scipy.stats:
    ~0.8 s of a tiny run's 2.6 s), which it imported before the run whether or not it drew."""
    code = (
        "import sys\n"
        "from habsburg.cli import main\n"
        f"assert main(['run', {str(TESTS / 'experiments' / 'data' / 'sweep_tiny.toml')!r}, "
        f"'--steps', '2', '--no-report', '--quiet', '--out', {str(tmp_path / 'run')!r}]) == 0\n"
        "print([m for m in ('matplotlib', 'scipy.stats', 'habsburg.reports.report') "
        "if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "run" / "model_metrics.parquet").is_file()
    assert not (tmp_path / "run" / "report.md").exists()


def test_a_quiet_run_starts_no_resource_tracker():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from tinyscenario import tiny_scenario\n"
        "from habsburg.experiments.run import simulate\n"
        "simulate(tiny_scenario(), steps=2)\n"
        "import multiprocessing.resource_tracker as rt\n"
        "print(rt._resource_tracker._pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


SWEEP_SPEC = """
name = "early"
scenario = "{scenario}"
seeds = 1
steps = 2
[[parameters]]
path = "watermark.adoption"
values = [0.0]
"""


def _spec(tmp_path: Path, path: str = "watermark.adoption") -> Path:
    spec = tmp_path / "spec.toml"
    scenario = (TESTS / "experiments" / "data" / "sweep_tiny.toml").as_posix()
    spec.write_text(SWEEP_SPEC.format(scenario=scenario).replace("watermark.adoption", path))
    return spec


def _comparison(tmp_path: Path) -> list[str]:
    """Two tiny scenarios a comparison takes (they start in the same month)."""
    base = TESTS / "experiments" / "data" / "compare_tiny.toml"
    other = tmp_path / "other.toml"
    other.write_text(base.read_text().replace('name = "compare-tiny"', 'name = "other-tiny"'))
    return [base.as_posix(), other.as_posix()]


@pytest.mark.parametrize(
    ("command", "flags", "early"),
    [
        ("sweep", [], "early"),  # a sweep's default is a local cluster
        ("sweep", ["--workers", "2"], "early"),
        ("sweep", ["--serial"], "not started"),
        ("sweep", ["--workers", "0"], "not started"),  # refused by the options check
        ("compare", ["--workers", "2"], "early"),
        ("compare", [], "not started"),  # a comparison's default is serial
    ],
)
def test_a_local_cluster_command_starts_its_fork_server_before_loading_the_simulator(
    tmp_path, command, flags, early
):
    """The fork server imports habsburg while the command does: it is started before the
    command loads the model (and not at all without a local cluster)."""
    if command == "sweep":
        argv = ["sweep", str(_spec(tmp_path))]
    else:
        argv = ["compare", *_comparison(tmp_path), "--seeds", "1", "--steps", "2"]
    argv += ["--out", str(tmp_path / "o"), "--quiet", *flags]
    code = (
        "import sys\n"
        "import habsburg.experiments.forkserver as fs\n"
        "def record():\n"
        "    print('loaded' if 'habsburg.model.model' in sys.modules else 'early', flush=True)\n"
        "    raise SystemExit(0)\n"
        "fs.start_fork_server = record\n"
        "from habsburg.cli import main\n"
        f"main({argv!r})\n"
        "print('not started')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == early, out.stderr[-2000:]


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(),
    reason="no fork server on this platform",
)
def test_a_sweep_refused_after_its_fork_server_started_leaves_no_process(tmp_path):
    """A bad spec is found after the fork server was started early (the spec's settings are
    checked after the executor options): the command exits 2 and the fork server is gone with
    it, not left importing."""
    spec = _spec(tmp_path, "watermark.adoptoin")
    # output to a file, not a pipe: a pipe stays open while the fork server (which inherits it)
    # lives, and waiting for its end would hide a fork server outliving the command
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.run(
            [sys.executable, "-m", "habsburg.cli", "sweep", str(spec), "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,  # on the fork server's command line (its sys.path), to find it by
        )
        err.seek(0)
        stderr = err.read()
    assert proc.returncode == 2 and "adoptoin" in stderr and "Traceback" not in stderr
    left = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if any(str(tmp_path) in part for part in p.info["cmdline"] or [])
    ]
    assert left == []


def test_a_scheduler_gets_no_local_fork_server(monkeypatch):
    import argparse

    import habsburg.cli.sweep as cli_sweep
    import habsburg.experiments.forkserver as fs

    started = []
    monkeypatch.setattr(fs, "start_fork_server", lambda: started.append(1))
    args = argparse.Namespace(serial=False, scheduler="tcp://127.0.0.1:8786", workers=None)
    cli_sweep.start_workers_early(args)
    assert started == []
    cli_sweep.start_workers_early(argparse.Namespace(serial=False, scheduler=None, workers=2))
    assert started == [1]
