"""The TOML habsburg writes reads back: any key and any string value (Hypothesis), so a
scenario, a file of changes or a text scenario written by habsburg is one a user can load."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from habsburg.scenarios.writer import _toml_key, _toml_value


@given(
    key=st.text(max_size=12), value=st.one_of(st.text(max_size=12), st.integers(), st.booleans())
)
def test_any_key_and_value_written_reads_back(key, value):
    """A key that is not ASCII (``名前``) was written bare, which TOML does not allow."""
    line = f"{_toml_key(key)} = {_toml_value(value)}"
    assert tomllib.loads(line) == {key: value}, line


def test_plain_keys_stay_bare():
    assert [_toml_key(k) for k in ("seed", "top_p", "a-b", "x1")] == ["seed", "top_p", "a-b", "x1"]
    assert _toml_key("名前") == '"名前"' and _toml_key("models.*.x") == '"models.*.x"'
