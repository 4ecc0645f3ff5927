"""What the wheel ships besides the modules: the `py.typed` marker (PEP 561: type checkers read
the package's hints in users' scripts) and the scenario library, declared as package data."""

import tomllib
from pathlib import Path

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
