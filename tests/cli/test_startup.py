"""``habsburg --help`` starts fast: building the parser imports no heavy dependency, and a quiet
run leaves no helper process behind."""

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

HEAVY = ("mesa", "matplotlib", "scipy.stats", "pandas", "distributed", "habsburg.model.model")


def test_the_parser_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from habsburg.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
