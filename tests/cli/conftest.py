"""The working directory the command-line tests run ``habsburg`` in."""

from __future__ import annotations

import pytest
from tinyscenario import MINI


@pytest.fixture
def cli_dir(tmp_path, monkeypatch):
    """A fresh working directory with its own config home (no user settings leak in) and the
    mini scenario as ``mini.toml``."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini.toml").write_text(MINI)
    return tmp_path
