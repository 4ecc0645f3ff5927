"""The model's code in the versions results record: a digest that a change of the code of the
model's layers changes, and edits of comments, docstrings or layout do not; and the git commit
of a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from habsburg.experiments import versions
from habsburg.experiments.versions import (
    COMMIT,
    MODEL_CODE,
    MODEL_LAYERS,
    MODEL_MODULES,
    checkout_commit,
    code_digest,
    model_code,
    package_versions,
    version_changes,
)

PACKAGE = Path(versions.__file__).resolve().parents[1]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the model's layers and modules of the habsburg package."""
    copy = tmp_path / "habsburg"
    for layer in MODEL_LAYERS:
        shutil.copytree(PACKAGE / layer, copy / layer, ignore=shutil.ignore_patterns("__pycache__"))
    for module in MODEL_MODULES:
        (copy / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE / module, copy / module)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_the_digest_sees_code_and_not_comments_docstrings_or_layout(package: Path) -> None:
    assert code_digest(package) == model_code()
    assert len(model_code()) == 16 and int(model_code(), 16) >= 0
    store = package / "ecosystem" / "store.py"
    # a comment, a module, a class's and a function's docstring, blank lines, a call's layout
    _edit(
        store,
        "\nfrom __future__ import annotations",
        "\n# edited\nfrom __future__ import annotations",
    )
    text = store.read_text()
    assert text.startswith('"""')
    store.write_text('"""Another module docstring."""' + text[text.index('"""', 3) + 3 :])
    _edit(store, '"""Concept draws of documents', '"""Edited: concept draws of documents')
    _edit(store, "    def concept_rows(", "\n\n    def concept_rows(")
    _edit(
        store,
        "counts = np.zeros(n_concepts, dtype=np.int64)",
        "counts = np.zeros(\n            n_concepts,\n            dtype=np.int64,  # a comment\n        )",
    )
    model = package / "model" / "model.py"
    _edit(model, '"""', '"""An edited docstring of the model module. ')
    assert code_digest(package) == model_code()
    # code: a constant, an operator, a new module, a renamed module, in any of the layers
    changed = []
    for path, old, new in (
        (store, "dtype=np.int64,  # a comment", "dtype=np.int32,  # a comment"),
        (
            package / "ecosystem" / "watermark.py",
            "return green - had_green +",
            "return green + had_green +",
        ),
        (package / "agents" / "human.py", "def ", "def _an_added_function():\n    pass\n\n\ndef "),
    ):
        _edit(path, old, new)
        changed.append(code_digest(package))
    (package / "scenarios" / "extra.py").write_text("X = 1\n")
    changed.append(code_digest(package))
    (package / "scenarios" / "extra.py").rename(package / "scenarios" / "other.py")
    changed.append(code_digest(package))
    assert len({model_code(), *changed}) == 1 + len(changed), changed


def test_the_digest_sees_the_experiments_that_make_kept_numbers(package: Path) -> None:
    """A sweep's, a comparison's or a calibration's kept rows are numbers of the seeds, the
    design point's scenario, the outcomes and the summary statistics the experiments' modules
    derive: a change there changes the digest; other modules of the experiments do not count."""
    start = code_digest(package)
    assert start == model_code()
    (package / "experiments" / "files.py").write_text("X = 1\n")  # not one of MODEL_MODULES
    assert code_digest(package) == start
    changed = []
    for module, old, new in (
        ("experiments/seeds.py", "for r in range(n)", "for r in range(1, n + 1)"),
        (
            "experiments/outcomes.py",
            "def _final(",
            "def _an_added_function():\n    pass\n\n\ndef _final(",
        ),
        ("experiments/sweep/plan.py", "def native(", "def _added():\n    pass\n\n\ndef native("),
        (
            "experiments/text_outcomes.py",
            "def mean_watermark_z(",
            "def _added():\n    pass\n\n\ndef mean_watermark_z(",
        ),
        ("experiments/calibration/simulator.py", "7919 * int(base)", "7907 * int(base)"),
    ):
        _edit(package / module, old, new)
        changed.append(code_digest(package))
    assert len({start, *changed}) == 1 + len(changed), changed


def test_the_digest_is_the_same_on_the_other_python(package: Path) -> None:
    """Python 3.12's syntax trees add fields 3.11's lack (``type_params``): the digest leaves
    empty fields out, so a checkout gives the same one under both (CI runs both)."""
    other = "3.12" if sys.version_info[:2] == (3, 11) else "3.11"
    python = shutil.which(f"python{other}")
    if python is None:
        pytest.skip(f"no python{other} on this machine")
    env = {**os.environ, "PYENV_VERSION": {"3.12": "3.12.1", "3.11": "3.11.7"}[other]}
    script = (
        "import importlib.util, sys; from pathlib import Path;"
        "spec = importlib.util.spec_from_file_location('v', sys.argv[1]);"
        "v = importlib.util.module_from_spec(spec); spec.loader.exec_module(v);"
        "print(v.code_digest(Path(sys.argv[2])))"
    )
    done = subprocess.run(
        [python, "-I", "-c", script, versions.__file__, str(package)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0 and "version" in done.stderr and "not installed" in done.stderr:
        pytest.skip(f"python{other} is a pyenv shim without that version: {done.stderr}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == model_code()


def test_results_record_the_model_code_and_a_changed_one_is_named(monkeypatch) -> None:
    here = package_versions()
    assert here[MODEL_CODE] == model_code() and here["habsburg"]
    assert version_changes(here) == []
    other = {**here, MODEL_CODE: "0123456789abcdef"}
    other.pop(COMMIT, None)
    assert version_changes(other) == [f"{MODEL_CODE} 0123456789abcdef (here {model_code()})"]
    other[COMMIT] = "a1b2c3d4e5f6+modified"
    assert version_changes(other) == [
        f"{MODEL_CODE} 0123456789abcdef (git commit a1b2c3d4e5f6+modified; here {model_code()})"
    ]
    # the commit itself is a record, not compared: the same code at another commit is the same
    assert version_changes({**here, COMMIT: "000000000000"}) == []
    # a record from before the code was recorded is not a change
    assert version_changes({k: v for k, v in here.items() if k != MODEL_CODE}) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_commit_of_a_checkout(package: Path) -> None:
    checkout = package.parent
    assert checkout_commit(checkout) is None  # not a git checkout (an installed wheel)

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (checkout / "README.md").write_text("a checkout\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "--short=12", "HEAD")
    assert checkout_commit(checkout) == head and len(head) == 12
    # files outside the model's layers, and untracked files, do not make it modified
    (checkout / "README.md").write_text("edited\n")
    (package / "agents" / "untracked.py").write_text("X = 1\n")
    assert checkout_commit(checkout) == head
    _edit(package / "agents" / "farm.py", "def ", "def _added():\n    pass\n\n\ndef ")
    assert checkout_commit(checkout) == f"{head}+modified"
    git("commit", "-q", "-am", "two")
    head = git("rev-parse", "--short=12", "HEAD")
    assert checkout_commit(checkout) == head
    _edit(
        package / "experiments" / "outcomes.py",
        "def _final(",
        "def _a():\n    pass\n\n\ndef _final(",
    )
    assert checkout_commit(checkout) == f"{head}+modified"


def test_habsburg_version_says_what_a_run_here_would_be_made_with(capsys) -> None:
    from habsburg.cli import main
    from habsburg.experiments.versions import describe

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out.strip()
    here = package_versions()
    assert out == describe(here)
    assert out.startswith(f"habsburg {here['habsburg']} (model code {model_code()}")
    assert f"on Python {here['python']}, Mesa {here['mesa']}, numpy {here['numpy']}" in out
    assert "pandas" not in out  # (it does not change the numbers)
    assert describe({"habsburg": "1.0", "numpy": "2.4.6"}) == "habsburg 1.0 on numpy 2.4.6"
    assert describe({"numpy": "2.4.6"}) is None and describe(None) is None


def test_version_changes_can_compare_with_versions_at_hand(monkeypatch) -> None:
    """A sweep compares every run's versions with its own: looked up each time that cost ~4 ms
    a run; with ``here`` (this process's, taken once) nothing is looked up."""
    from habsburg.experiments.versions import result_versions

    here = result_versions()

    def looked_up(name: str) -> str:
        raise AssertionError(f"{name} looked up")

    monkeypatch.setattr(versions, "installed_version", looked_up)
    monkeypatch.setattr(versions, "model_code", looked_up)
    assert version_changes(here, here=here) == []
    assert version_changes({**here, "numpy": "0.1"}, here=here) == [
        f"numpy 0.1 (here {here['numpy']})"
    ]
