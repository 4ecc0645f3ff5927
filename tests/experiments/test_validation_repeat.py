"""``habsburg validate --seeds N``: each row's failures over seeds against its false-failure rate."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys

import pandas as pd
import pytest
from scipy import stats

from habsburg.cli import main
from habsburg.experiments.validation import checks, runner
from habsburg.experiments.validation.framework import Estimate, Tolerance
from habsburg.experiments.validation.repeat import (
    ALPHA,
    RowRepeat,
    format_repeat,
    repeat_validation,
)

SEEDS = range(1000, 1020)


def shifted(name: str, by: float) -> list:
    """The suite's checks with ``name``'s expected value moved by ``by`` (a bug in the
    expectation, or equally a small bias in the code: one seed may pass it)."""
    return [
        dataclasses.replace(c, expected=c.expected + by) if c.name == name else c
        for c in checks.default_checks()
    ]


def test_false_failure_rates_follow_each_rule() -> None:
    est = Estimate(1.0, n=1000, se=0.01)
    # b standard errors: 2 (1 - Φ(b)); fixed tolerances are b = tolerance / SE (+ 3 in quick mode)
    assert Tolerance("se", 3.0).false_failure_rate(1.0, est, False) == pytest.approx(
        0.0026998, rel=1e-4
    )
    assert Tolerance("absolute", 0.02).false_failure_rate(1.0, est, False) == pytest.approx(
        2 * stats.norm.sf(2.0)
    )
    assert Tolerance("absolute", 0.02).false_failure_rate(1.0, est, True) == pytest.approx(
        2 * stats.norm.sf(5.0)
    )
    assert Tolerance("relative", 0.05).false_failure_rate(0.4, est, False) == pytest.approx(
        2 * stats.norm.sf(2.0)
    )
    # a binomial interval at level L: at most 1 - L; rules no correct simulator fails: 0
    assert Tolerance("binomial_ci", 0.99).false_failure_rate(0.1, est, False) == pytest.approx(0.01)
    for rule in ("never", "at_least", "interval"):
        assert Tolerance(rule).false_failure_rate(1.0, est, False) == 0.0
    # an experiment's own test at level α (a valid p-value): at most α, in either mode
    for quick in (False, True):
        assert Tolerance("test", 0.0027).false_failure_rate(1.0, est, quick) == 0.0027
    # no Monte Carlo error (one run): nothing to fail by chance
    assert Tolerance("se", 3.0).false_failure_rate(1.0, Estimate(1.0), False) == 0.0


def test_the_judgement_uses_the_same_bound_as_the_rate() -> None:
    """The refactored rules pass and fail exactly at the bound the rate is computed from."""
    est = Estimate(1.0, n=100, se=0.01)
    for tol, expected in ((Tolerance("se", 3.0), 1.0), (Tolerance("relative", 0.05), 1.0)):
        for quick in (False, True):
            bound = tol.bound(expected, est, quick)
            inside = dataclasses.replace(est, value=expected + 0.999 * bound)
            outside = dataclasses.replace(est, value=expected + 1.001 * bound)
            assert (
                tol.judge(expected, inside, quick)[0] and not tol.judge(expected, outside, quick)[0]
            )
    assert math.isnan(Tolerance("never").bound(0.0, est, False))


def test_a_row_that_never_fails_by_chance_is_flagged_at_its_first_failure() -> None:
    row = RowRepeat(checks.default_checks()[0], seeds=50, failed_at=[3], rates=[0.0] * 50)
    assert row.p_value == 0.0
    row = RowRepeat(checks.default_checks()[0], seeds=50, failed_at=[3], rates=[0.0027] * 50)
    assert row.p_value == pytest.approx(1 - (1 - 0.0027) ** 50)


def test_the_p_value_is_the_exact_poisson_binomial_tail() -> None:
    """Seeds failing independently at their own rates: P(at least k failures), enumerated here
    over every subset of seeds; equal rates give the binomial test's p-value."""
    rates = [0.9, 0.1, 0.3, 0.0, 0.05]
    for k in range(1, len(rates) + 1):
        row = RowRepeat(checks.default_checks()[0], len(rates), list(range(k)), rates)
        exact = sum(
            math.prod(r if hit else 1 - r for r, hit in zip(rates, pattern, strict=True))
            for pattern in itertools.product((False, True), repeat=len(rates))
            if sum(pattern) >= k
        )
        assert row.p_value == pytest.approx(exact, rel=1e-9, abs=1e-15)
    # not the binomial test at the mean rate (0.5), which finds two failures of two likelier
    two = RowRepeat(checks.default_checks()[0], 2, [0, 1], [0.9, 0.1])
    assert two.p_value == pytest.approx(0.09)
    assert stats.binomtest(2, 2, 0.5, alternative="greater").pvalue == pytest.approx(0.25)
    same = RowRepeat(checks.default_checks()[0], 40, [1, 5, 9], [0.02] * 40)
    assert same.p_value == pytest.approx(
        stats.binomtest(3, 40, 0.02, alternative="greater").pvalue, rel=1e-9
    )


def test_a_correct_simulator_fails_no_row_more_often_than_chance() -> None:
    report = repeat_validation(["V1", "V3"], SEEDS, quick=True)
    frame = report.frame()
    assert report.passed and set(frame["verdict"]) == {"chance"}
    assert len(frame) == 12 and (frame["seeds"] == len(SEEDS)).all()
    # expected runs with a failure: 1 - Π(1 - rate) summed over seeds (7 rows at the level of
    # 3 SE, two of them judged by their own tests; 3 at 1%)
    one_run = 1 - (1 - 0.00269980) ** 7 * (1 - 0.01) ** 3
    assert report.runs_failing_expected == pytest.approx(len(SEEDS) * one_run, rel=1e-3)


def test_a_bias_one_seed_may_miss_is_caught_over_seeds() -> None:
    """V3's miss probability at q = 0.02 expected 2.6 SE too high: a run fails it about half the
    time, so the suite's own seed may pass; over 20 seeds it fails far more often than its 1%
    interval allows, and only that row is flagged."""
    bad = shifted("V3 miss q=0.02", 0.009)
    single = [
        next(r.passed for r in one.checks if r.check.name == "V3 miss q=0.02")
        for one in (runner.run_validation(["V3"], quick=True, seed=s, checks=bad) for s in SEEDS)
    ]
    assert any(single) and not all(single)  # one seed's verdict depends on the seed
    report = repeat_validation(["V3"], SEEDS, quick=True, checks=bad)
    frame = report.frame().set_index("check")
    assert report.flagged == ["V3 miss q=0.02 (M=100, one generation)"]
    assert frame.loc["V3 miss q=0.02", "failures"] == single.count(False)
    # the table lists every failing seed (the printed one the first five)
    failing = [s for s, ok in zip(SEEDS, single, strict=True) if not ok]
    assert frame.loc["V3 miss q=0.02", "failing seeds"] == " ".join(map(str, failing))
    assert f"{', '.join(map(str, failing[:5]))} and {len(failing) - 5} more" in format_repeat(
        report
    )
    assert frame.loc["V3 miss q=0.02", "p (BH)"] < ALPHA
    assert (frame.drop(index="V3 miss q=0.02")["verdict"] == "chance").all()


def test_the_command_writes_its_tables_and_exits_1_on_a_flagged_row(
    tmp_path, capsys, monkeypatch
) -> None:
    out = tmp_path / "v"
    args = ["validate", "--quick", "--quiet", "--only", "V3,V5", "--seeds", "5", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["habsburg", *args])
    assert main([*args, "--seed", "1000"]) == 0  # V5 left out: it does not depend on the seed
    printed = capsys.readouterr().out
    assert "4 rows × 5 seeds (1000–1004, quick mode, V3" in printed
    assert "no row fails more often than chance" in printed
    table = (out / "validation_seeds.csv").read_text()
    assert table.count("\n") == 5 and "V5" not in table
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == ["validation_seeds.csv", "validation_seeds.md"]
    assert "--seeds 5" in manifest["writers"][0]["command"]

    monkeypatch.setattr(runner, "default_checks", lambda: shifted("V3 miss q=0.02", 0.05))
    assert main([*args, "--seed", "1000"]) == 1
    printed = capsys.readouterr().out
    assert "1 fail more often than chance: V3 miss q=0.02 (M=100, one generation)" in printed
    assert "5 (1000, 1001, 1002, 1003, 1004)" in printed
    assert "more often than chance" in (out / "validation_seeds.md").read_text()


def test_seeds_on_a_local_dask_cluster_give_the_serial_table() -> None:
    import multiprocessing

    pytest.importorskip("distributed")  # the 'sweep' extra (installed by `make test`)
    seeds = range(1000, 1006)
    serial = repeat_validation(["V3", "V4"], seeds, quick=True)
    parallel = repeat_validation(["V3", "V4"], seeds, quick=True, workers=2)
    pd.testing.assert_frame_equal(parallel.frame(), serial.frame())
    assert parallel.runs_failing == serial.runs_failing
    assert parallel.runs_failing_expected == serial.runs_failing_expected
    assert multiprocessing.active_children() == []  # the cluster's processes are gone


def test_workers_without_seeds_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "never"
    assert main(["validate", "--quiet", "--workers", "2", "--out", str(out)]) == 2
    assert "--workers runs the seeds of --seeds N in parallel; add --seeds N" in (
        capsys.readouterr().err
    )
    assert not out.exists()


@pytest.mark.parametrize("seeds", ["1", "x", "10001"])
def test_a_seed_count_out_of_range_is_refused_by_the_parser(seeds, tmp_path, capsys) -> None:
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as stopped:
        main(["validate", "--quiet", "--out", str(out), "--seeds", seeds])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"--seeds: must be an integer in [2, 10000], got '{seeds}'" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "3", "--only", "V5"], "V5 does not depend on --seed"),
        (["--seeds", "3", "--only", "V5"], "choose --only from V1, V2, V3, V4, V6"),
        (["--seeds", "3", "--seed", str(2**63 - 2)], "--seed must be between 0 and"),
    ],
)
def test_bad_seeds_are_refused_before_any_work(argv, message, tmp_path, capsys) -> None:
    out = tmp_path / "never"
    assert main(["validate", "--quiet", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("seeds", [[], ["--seeds", "3"]])
def test_a_validation_that_fails_before_writing_leaves_no_directory(
    seeds, tmp_path, capsys, monkeypatch
) -> None:
    """``--out`` is checked before the work and made only when the files are written, so an
    interrupted (or failing) validation leaves nothing behind, with or without ``--seeds``."""
    from habsburg.experiments.validation import repeat

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_validation", interrupted)
    monkeypatch.setattr(repeat, "run_validation", interrupted)
    out = tmp_path / "new" / "validation"
    code = main(["validate", "--quick", "--quiet", "--only", "V3", *seeds, "--out", str(out)])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    # and a directory that did not exist is made, with its parents, once there are files
    monkeypatch.undo()
    assert main(["validate", "--quick", "--quiet", "--only", "V3", *seeds, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"manifest.json"}
