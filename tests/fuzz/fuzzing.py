"""What the fuzz tests share: how many examples a profile runs, the random values and
mutations of a TOML document, the hang alarm, and the check that an error names a key.

``make test`` runs a bounded number of examples; ``make fuzz`` (``HABSBURG_FUZZ=fuzz``) the large
profile.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

#: examples per test: bounded in ``make test``; ``make fuzz`` runs the large profile
PROFILE = os.environ.get("HABSBURG_FUZZ", "ci")
EXAMPLES = {"ci": 20, "fuzz": 1000}[PROFILE]
#: seconds one example may take before it counts as a hang
HANG = 60
#: "huge lists": array-of-tables entries (models, scrapers...) and plain values
HUGE_TABLES, HUGE_VALUES = 1000, 100_000
COMMON: dict[str, Any] = {
    "deadline": None,  # a slow example is not a failure; a hang is (the alarm below)
    "derandomize": PROFILE == "ci",
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "database": None,
    # no "explain" phase: its line tracer slows an example tenfold, which the hang alarm would
    # then report as a hang
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
}

ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "../../etc", "a/b", ".hidden", "\u202eevil", "名前", "\x00", "e\u0301", "🦠" * 50]
    ),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e-308, float("nan"), float("inf"), 2**63, 10**7 + 1]),
)
VALUES = st.one_of(
    NUMBERS,
    ODD_TEXT,
    st.booleans(),
    st.lists(st.integers(-5, 5), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just({}),
    st.just([]),
)
MUTATION = st.tuples(
    st.sampled_from(["delete", "replace", "scale", "reference", "unicode", "huge"]),
    st.integers(min_value=0, max_value=10**6),
    VALUES,
    st.sampled_from([-1.0, 0.0, 1e-9, 1e3, 1e12, float("inf"), float("nan")]),
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a TOML document (tables, array-of-table items, leaves)."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _get_parent(data: Any, path: tuple) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def mutate(data: dict, mutations: list) -> tuple[dict, list[tuple]]:
    """Apply ``mutations`` to a copy of ``data``; returns it and the paths touched."""
    data = copy.deepcopy(data)
    touched = []
    for op, pick, value, factor in mutations:
        paths = _paths(data)
        if not paths:
            break
        path = paths[pick % len(paths)]
        parent, key = _get_parent(data, path), path[-1]
        old = parent[key]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = value
        elif op == "scale":
            if isinstance(old, bool) or not isinstance(old, (int, float)):
                parent[key] = value
            else:
                scaled = old * factor
                parent[key] = (
                    int(scaled) if isinstance(old, int) and math.isfinite(scaled) else scaled
                )
        elif op == "reference":
            parent[key] = [f"ghost-{pick}"] if isinstance(old, list) else f"ghost-{pick}"
        elif op == "unicode":
            parent[key] = value if isinstance(value, str) else "\u202e名前🦠"
        elif op == "huge":  # a fixed size, so repeated mutations do not compound
            if isinstance(old, list) and old:
                size = HUGE_TABLES if isinstance(old[0], dict) else HUGE_VALUES
                parent[key] = (old * (size // len(old) + 1))[:size]
            else:
                parent[key] = list(range(HUGE_VALUES))
        touched.append(path)
    return data, touched


@contextmanager
def hang_guard(seconds: int = HANG) -> Iterator[None]:
    """Fail an example that takes longer than ``seconds`` (a hang), instead of waiting forever."""

    def hung(signum, frame):
        raise TimeoutError(f"example still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def names_a_key(message: str, path: tuple) -> bool:
    """Whether ``message`` names a key of ``path`` (as written, in the singular, or as its
    ``repr`` shows a control character: ``'\\x1f'``; the empty key quoted, ``''``: as a
    substring it would be in every message, as would ``"s"`` in the singular)."""
    forms = set()
    for key in (k for k in path if isinstance(k, str)):
        forms |= {key, repr(key)[1:-1], key.rstrip("s")} if key else {"''", '""'}
    return any(form in message for form in forms if form)


def assert_named(err: Exception, source: str, touched: list[tuple]) -> None:
    """A refusal of a mutated input names its file (``source``, first) and a key it touched."""
    message = str(err)
    assert message.startswith(source), message
    assert any(names_a_key(message, p) for p in touched), f"{message} names none of {touched}"


def toml_value(v: Any) -> str:
    """``v`` as a TOML value, the non-finite floats included (``nan``, ``inf``): a file a user
    could have written, to be read back by the loader under test."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return toml_key(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"


def toml_key(k: str) -> str:
    """``k`` as a quoted TOML key or string (JSON escapes the control characters TOML forbids
    but DEL)."""
    return json.dumps(k, ensure_ascii=False).replace("\x7f", "\\u007f")
