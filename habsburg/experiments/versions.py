"""The versions of the packages a run's numbers depend on, as results record them.

A seed reproduces a run exactly only with the same versions of :data:`RESULT_PACKAGES` (README,
"Reading the output": numpy 2.5's binomial draws differ from 2.4's from the same generator
state), so work that is resumed (a checkpoint, a sweep's or a comparison's finished runs) is
checked against the versions it was begun with: :func:`version_changes`.

habsburg's own version string does not change between two commits of a development checkout
(the README's ``make run`` installs the checkout in editable mode), so the versions also record
:data:`MODEL_CODE`, a digest of the code that makes a run's numbers (the layers of the model,
its agents, the ecosystem and the scenarios, and the modules of the experiments that derive
replicate seeds, build a design point's scenario and evaluate the outcomes): :func:`model_code`,
taken from the modules' syntax trees without docstrings, so that editing a comment, a docstring
or the layout of the code does not change it, and the same on every Python. Beside it,
:data:`COMMIT` records the git commit of a checkout (``+modified`` when those files differ from
it), for citing results; it is not compared.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "COMMIT",
    "MODEL_CODE",
    "MODEL_LAYERS",
    "MODEL_MODULES",
    "PACKAGES",
    "RESULT_PACKAGES",
    "checkout_commit",
    "code_digest",
    "describe",
    "installed_version",
    "model_code",
    "package_versions",
    "result_versions",
    "source_commit",
    "version_changes",
]

#: the packages whose versions a results manifest records
PACKAGES = ("habsburg", "mesa", "numpy", "scipy", "pandas", "networkx", "pyarrow", "matplotlib")
#: the key under which the versions record :func:`model_code`
MODEL_CODE = "habsburg model code"
#: the key under which the versions record :func:`source_commit` (when there is one)
COMMIT = "habsburg commit"
#: the packages whose versions a run's numbers depend on: a seed reproduces a run exactly only
#: with the same versions of these (the others write or draw the results), and the same
#: :data:`MODEL_CODE`
RESULT_PACKAGES = ("habsburg", MODEL_CODE, "mesa", "numpy", "scipy", "networkx")
#: the subpackages of habsburg whose code :func:`model_code` digests: those a run is made of
#: (the import-linter layers below ``habsburg.experiments``)
MODEL_LAYERS = ("model", "agents", "ecosystem", "scenarios")
#: the modules of ``habsburg.experiments`` :func:`model_code` digests too: those that turn a
#: seed and a setting into the numbers a sweep, a comparison or a calibration keeps (replicate
#: seeds, a design point's scenario, the outcomes, a calibration's summary statistics)
MODEL_MODULES = (
    "experiments/seeds.py",
    "experiments/sweep/plan.py",
    "experiments/outcomes.py",
    "experiments/text_outcomes.py",
    "experiments/calibration/simulator.py",
)

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # habsburg/
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def package_versions() -> dict[str, str]:
    """Python's version, those of :data:`PACKAGES`, :data:`MODEL_CODE` and, in a git checkout,
    :data:`COMMIT`."""
    versions = {"python": platform.python_version()}
    versions |= {n: installed_version(n) for n in PACKAGES} | {MODEL_CODE: model_code()}
    if (commit := source_commit()) is not None:
        versions[COMMIT] = commit
    return versions


@functools.cache
def result_versions() -> dict[str, str]:
    """The versions of :data:`RESULT_PACKAGES` (with :data:`MODEL_CODE`) of this process and its
    :data:`COMMIT` (if any), as a checkpoint records them and a run reports them to the process
    that asked for it (taken once a process)."""
    return {k: v for k, v in package_versions().items() if k in RESULT_PACKAGES or k == COMMIT}


def describe(versions: object) -> str | None:
    """``versions`` (a results manifest's record, or :func:`package_versions`) in one line:
    habsburg's version, its :data:`MODEL_CODE` and :data:`COMMIT`, then Python and the other
    :data:`RESULT_PACKAGES`, e.g. ``habsburg 0.1.0 (model code aa47f4913286a7cc, git commit
    eecbb2384285) on Python 3.11.7, Mesa 3.3.1, numpy 2.4.6, scipy 1.17.1, networkx 3.6.1``;
    None if it names no habsburg version."""
    if not isinstance(versions, dict) or not versions.get("habsburg"):
        return None
    made = f"habsburg {versions['habsburg']}"
    code = [f"model code {versions[MODEL_CODE]}"] if versions.get(MODEL_CODE) else []
    if versions.get(COMMIT):
        code.append(f"git commit {versions[COMMIT]}")
    if code:
        made += f" ({', '.join(code)})"
    names = {"mesa": "Mesa"}
    others = [f"Python {versions['python']}"] if versions.get("python") else []
    others += [
        f"{names.get(p, p)} {versions[p]}"
        for p in RESULT_PACKAGES
        if p not in ("habsburg", MODEL_CODE) and versions.get(p)
    ]
    return made + (f" on {', '.join(others)}" if others else "")


def installed_version(name: str) -> str:
    """The installed version of the distribution ``name`` (``"not installed"`` if it is not)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def model_code() -> str:
    """A digest (16 hex digits of SHA-256) of the Python modules of :data:`MODEL_LAYERS` and
    :data:`MODEL_MODULES`: each module's path and abstract syntax tree, without docstrings, line
    numbers or empty fields (Python 3.12's trees add empty ``type_params``), so comments,
    docstrings and layout do not count, and every other change of the code does (~0.2 s, once a
    process)."""
    return code_digest(_PACKAGE_DIR)


def code_digest(package_dir: Path) -> str:
    """:func:`model_code` of the habsburg package in directory ``package_dir``."""
    digest = hashlib.sha256()
    for path in _model_sources(package_dir):
        parts: list[str] = []
        _canonical(ast.parse(path.read_bytes(), filename=str(path)), parts)
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256("".join(parts).encode()).digest())
    return digest.hexdigest()[:16]


def _model_sources(package_dir: Path) -> list[Path]:
    """The files :func:`code_digest` reads: every module of the layers, then the modules."""
    paths = [path for layer in MODEL_LAYERS for path in sorted((package_dir / layer).rglob("*.py"))]
    return paths + [package_dir / module for module in MODEL_MODULES]


def _canonical(node: object, out: list[str]) -> None:
    """``node`` (a syntax tree, a list of them or a field's value) written into ``out``."""
    if isinstance(node, ast.AST):
        out.append(type(node).__name__ + "(")
        for field, value in ast.iter_fields(node):
            if value is None or value == []:
                continue
            if field == "body" and isinstance(node, _DOCUMENTED) and _is_docstring(value[0]):
                value = value[1:]
            out.append(field + "=")
            _canonical(value, out)
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _canonical(item, out)
        out.append("]")
    else:
        out.append(repr(node) + ",")


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


@functools.cache
def source_commit() -> str | None:
    """The git commit of the checkout habsburg runs from (12 hex digits, ``+modified`` when the
    files of :data:`MODEL_LAYERS` or :data:`MODEL_MODULES` differ from it), or None when it is
    not run from a git checkout (an installed wheel) or git cannot say."""
    return checkout_commit(_PACKAGE_DIR.parent)


def checkout_commit(checkout: Path) -> str | None:
    """:func:`source_commit` of the checkout in directory ``checkout``."""
    if not (checkout / ".git").exists():
        return None
    layers = [f"habsburg/{source}" for source in (*MODEL_LAYERS, *MODEL_MODULES)]
    try:
        head = _git(checkout, "rev-parse", "--short=12", "HEAD")
        changed = _git(checkout, "status", "--porcelain", "--untracked-files=no", "--", *layers)
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+modified" if changed else "") if head else None


def _git(checkout: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip()


def _here(name: str) -> str:
    return model_code() if name == MODEL_CODE else installed_version(name)


def version_changes(
    recorded: Any,
    packages: tuple[str, ...] = RESULT_PACKAGES,
    here: Mapping[str, str] | None = None,
) -> list[str]:
    """The packages of ``packages`` (:data:`RESULT_PACKAGES` unless told) whose version differs
    from ``recorded`` (the ``versions`` a manifest or a kept run recorded), as ``"numpy 2.4.6
    (here 2.5.5)"``: runs made with those versions and runs made here are not the same numbers
    for the same seed. A package ``recorded`` does not name (or no record at all) is not counted
    as a change. A change of :data:`MODEL_CODE` names the commit ``recorded`` was made at, if it
    records one. ``here``: this process's versions, if already at hand (:func:`result_versions`:
    looking the packages up takes ~4 ms, too long to pay for every run of a large sweep)."""
    if not isinstance(recorded, dict):
        return []
    changes = []
    for name in packages:
        if name not in recorded:
            continue
        ours = here[name] if here is not None and name in here else _here(name)
        if recorded[name] != ours:
            change = f"{name} {recorded[name]} (here {ours})"
            if name == MODEL_CODE and recorded.get(COMMIT):
                change = f"{name} {recorded[name]} (git commit {recorded[COMMIT]}; here {ours})"
            changes.append(change)
    return changes
