"""``habsburg validate``: the out-of-sample published points as *prediction* rows (Issue 11, item
5) -- measured by the baseline's instruments, shown against the published value and interval,
and never a failure of the run."""

from __future__ import annotations

import pandas as pd
import pytest

from habsburg.cli import main
from habsburg.experiments.validation import checks, experiments, output, runner
from habsburg.experiments.validation import framework as FW
from habsburg.scenarios.measurements import out_of_sample


def predictions() -> list[FW.Check]:
    return [c for c in checks.default_checks() if c.kind == FW.PREDICTION]


def test_every_out_of_sample_point_is_a_prediction_row_with_its_interval() -> None:
    rows = {c.estimate: c for c in predictions()}
    points = out_of_sample()
    assert points and len(rows) == len(points)
    for m in points:
        c = rows[experiments.prediction_key(m)]
        assert c.experiment == "V5" and c.expected == m.value
        assert (c.tolerance.rule, c.tolerance.low, c.tolerance.high) == ("interval", *m.interval)
    # no calibration target is a prediction
    assert not any(
        c.kind == FW.PREDICTION for c in checks.default_checks() if "share_" in c.estimate
    )


def test_a_prediction_outside_its_interval_does_not_fail_the_report(tmp_path) -> None:
    inside, outside = predictions()[:2]
    evidence = next(c for c in checks.default_checks() if c.estimate == "w2_100_10")
    results = []
    for check, value in ((inside, inside.expected), (outside, outside.tolerance.high + 0.1)):
        est = FW.Estimate(value, n=100, unit="new documents")
        ok, allowed = check.tolerance.judge(check.expected, est, quick=False)
        results.append(FW.Result(check, est, ok, allowed))
    results.append(FW.Result(evidence, FW.Estimate(0.15, n=10, se=0.01), True, "±3 SE"))
    report = FW.Report(results, quick=False, seed=1)
    assert [r.passed for r in results] == [True, False, True]
    assert report.passed  # the prediction outside its interval is evidence, not a failure
    text = output.format_table(report)
    assert "1/1 checks passed (" in text
    assert "; 1/2 out-of-sample predictions inside their published interval" in text
    assert "  outside" in text and "  inside" in text and "FAIL" not in text
    assert "never fails `habsburg validate`" in text  # the legend says so
    md_path, csv_path = output.write_outputs(report, tmp_path)
    assert "| prediction |" in md_path.read_text()
    table = pd.read_csv(csv_path)
    assert list(table["pass"]) == ["inside", "outside", "PASS"]
    low, high = outside.tolerance.low, outside.tolerance.high
    assert table["tolerance"].iloc[1] == f"[{FW.fmt(low)}, {FW.fmt(high)}]"


def test_validate_exits_0_when_only_a_prediction_is_outside(monkeypatch, capsys, tmp_path) -> None:
    """V5 with a stub experiment: the baseline run is replaced by fixed estimates."""
    checks_v5 = [c for c in checks.default_checks() if c.experiment == "V5"]

    def fake_v5(quick, rng, progress):
        out = {c.estimate: FW.Estimate(c.expected, n=10) for c in checks_v5}
        first = next(c for c in checks_v5 if c.kind == FW.PREDICTION)
        out[first.estimate] = FW.Estimate(first.tolerance.high + 0.2, n=10)  # outside
        return out

    monkeypatch.setitem(runner.EXPERIMENTS, "V5", fake_v5)
    code = main(["validate", "--only", "V5", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "outside" in out and "FAIL" not in out


@pytest.mark.parametrize("rule", ["interval"])
def test_interval_rule_bounds_are_inclusive(rule) -> None:
    t = FW.Tolerance(rule, low=0.2, high=0.4)
    assert t.judge(0.3, FW.Estimate(0.2), False)[0] and t.judge(0.3, FW.Estimate(0.4), False)[0]
    assert not t.judge(0.3, FW.Estimate(0.41), False)[0]
