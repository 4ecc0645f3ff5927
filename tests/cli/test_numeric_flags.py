"""Numeric flags with a range (``habsburg.cli.flags``) are refused by the parser, naming the
flag and the allowed values, before any work: the benchmark and example scripts took
``--repeat 0``, ``--workers 0`` or ``--scenarios 0`` and failed later with a traceback or an
internal error, and ``watermark_adoption.py --target 2`` ran a whole study for a share that
cannot be reached."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habsburg.cli.flags import COUNT, FACTOR, SEED, integer, number

ROOT = Path(__file__).resolve().parents[2]


@given(st.integers(-(10**6), 10**6))
def test_integer_accepts_exactly_its_range(value):
    inside = integer(2, 9)
    if 2 <= value <= 9:
        assert inside(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=r"an integer in \[2, 9\]"):
            inside(str(value))
    assert (COUNT(str(value)) == value) if value >= 1 else _refused(COUNT, str(value))
    assert (SEED(str(value)) == value) if value >= 0 else _refused(SEED, str(value))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_factor_is_a_finite_number_above_zero(value):
    text = repr(value)
    if math.isfinite(value) and value > 0:
        assert FACTOR(text) == value
    else:
        assert _refused(FACTOR, text)


@pytest.mark.parametrize(
    ("parse", "good", "bad", "allowed"),
    [
        (
            number(0.0, 1.0, open_low=True, open_high=True),
            ["0.5", "1e-9"],
            ["0", "1", "2"],
            "(0, 1)",
        ),
        (number(0.0, 1.0), ["0", "1"], ["-0.1", "1.01", "nan"], "[0, 1]"),
        (number(), ["-3", "1e300"], ["nan", "inf", "-inf", "x"], "a finite number"),
        (number(1.0), ["1", "7"], ["0.99"], ">= 1"),
    ],
)
def test_number_ranges(parse, good, bad, allowed):
    for text in good:
        assert parse(text) == float(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            parse(text)
        assert allowed in str(refused.value) and repr(text) in str(refused.value)


def test_words_are_refused_with_the_allowed_values():
    for parse in (COUNT, SEED, FACTOR):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be .* got 'ten'"):
            parse("ten")


def _refused(parse, text: str) -> bool:
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)
    return True


@pytest.mark.parametrize(
    ("script", "flag", "value", "allowed"),
    [
        ("benchmarks/bench_sweep.py", "--repeat", "0", "an integer >= 1"),
        ("benchmarks/bench_sweep.py", "--workers", "0", "an integer >= 1"),
        ("benchmarks/bench_sweep.py", "--runs", "-4", "an integer in [1, 100000]"),
        # the calibration spec's declared ranges ([abc] population >= 4)
        ("benchmarks/bench_calibrate.py", "--population", "2", "an integer in [4, 1000000]"),
        ("benchmarks/bench_calibrate.py", "--generations", "0", "an integer in [1, 1000]"),
        ("benchmarks/bench_naive.py", "--months", "0", "an integer >= 1"),
        ("benchmarks/bench_viz.py", "--authors", "0", "an integer >= 1"),
        ("benchmarks/bench_viz.py", "--months", "0", "an integer >= 1"),
        ("benchmarks/bench_scale.py", "--factors", "0", "a finite number > 0"),
        ("benchmarks/bench_scale.py", "--factors", "nan", "a finite number > 0"),
        ("examples/ema_prim.py", "--scenarios", "0", "an integer in [1, 100000]"),
        ("examples/ema_prim.py", "--policies", "-1", "an integer in [1, 100000]"),
        ("examples/ema_prim.py", "--seed", "-1", "an integer >= 0"),
        ("examples/late_reintroduction.py", "--seed", "-1", "an integer >= 0"),
        ("examples/watermark_adoption.py", "--target", "2", "a number in (0, 1)"),
        ("examples/watermark_adoption.py", "--threshold", "nan", "a number in [0, 100]"),
    ],
)
def test_scripts_refuse_out_of_range_values_before_any_work(tmp_path, script, flag, value, allowed):
    argv = [sys.executable, str(ROOT / script), flag, value]
    if script.startswith("examples/"):
        argv += ["--out", str(tmp_path / "out")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"argument {flag}: must be {allowed}, got '{value}'" in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no output directory, no results
