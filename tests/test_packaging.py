"""What the wheel ships besides the modules: the `py.typed` marker (PEP 561: type checkers read
the package's hints in users' scripts) and the scenario library, declared as package data;
and what the Makefile's ``clean`` removes."""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import habsburg

ROOT = Path(__file__).resolve().parents[1]


def package_data() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-data"]


def test_the_package_is_marked_typed():
    assert "py.typed" in package_data()["habsburg"]
    assert (Path(habsburg.__file__).parent / "py.typed").is_file()


def test_every_package_data_pattern_names_files():
    for package, patterns in package_data().items():
        where = ROOT.joinpath(*package.split("."))
        for pattern in patterns:
            assert list(where.glob(pattern)), f"{package}: {pattern} matches no file"


def test_make_clean_removes_what_make_wrote_and_never_results(tmp_path: Path) -> None:
    """``make clean`` removed ``results/``: every run, sweep and calibration, and whatever else
    a user kept there."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy2(ROOT / "Makefile", checkout / "Makefile")
    for made in (".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        (checkout / made).mkdir()
        (checkout / made / "x").write_text("made\n")
    mine = checkout / "results" / "baseline" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes\n")
    # (not the variables of a make that runs this suite: `make test VENV=.venv312` passes
    # VENV to sub-makes through MAKEFLAGS)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        [make, "-C", str(checkout), "clean"], capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    assert mine.read_text() == "my notes\n"
    assert "kept results/" in done.stdout
    assert not any((checkout / m).exists() for m in (".venv", ".pytest_cache", ".mypy_cache"))
