"""Forecast bands from a calibration posterior (Issue 11, item 4): the band table, ``habsburg run
--posterior`` (checked before any run; bands.parquet; the report draws and counts the band) and
``habsburg compare --posterior`` (both arms of a replicate on the same posterior draw)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from checksums import assert_checksummed
from tinyscenario import tiny_scenario

from habsburg.cli import main
from habsburg.experiments import bands as B
from habsburg.experiments import compare as K
from habsburg.experiments.seeds import replicate_seeds
from habsburg.scenarios.errors import HabsburgError
from habsburg.scenarios.writer import scenario_toml

STEPS = 18
#: a posterior in the format `habsburg calibrate` writes (setting paths + normalised weight)
POSTERIOR = pd.DataFrame(
    {
        "demand.adoption.ceiling": [200.0, 600.0, 1200.0, 900.0],
        "humans.assistant.ceiling": [0.2, 0.5, 0.8, 0.6],
        "web.attachment": [1.2, 2.0, 2.9, 3.4],  # an integer setting: rounded like calibrate
        "weight": [0.25, 0.25, 0.25, 0.25],
    }
)


@pytest.fixture
def calib_dir(tmp_path):
    d = tmp_path / "calib"
    d.mkdir()
    POSTERIOR.to_parquet(d / "posterior.parquet", index=False)
    return d


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(scenario_toml(tiny_scenario()))
    return path


def test_band_table_is_the_quantiles_over_draws_per_month():
    rng = np.random.default_rng(0)
    months = [f"2021-{m:02d}" for m in range(1, 7)]
    series = pd.DataFrame(
        {
            "draw": np.repeat(np.arange(20), 6),
            "month": months * 20,
            "synthetic_share_new": rng.uniform(size=120),
            "graphite_ai_share": np.where(np.arange(120) % 6 == 0, np.nan, 0.3),
        }
    )
    t = B.band_table(series)
    assert list(t.columns) == B.COLUMNS
    share = t[t["metric"] == "synthetic_share_new"]
    assert list(share["month"]) == months and (share["draws"] == 20).all()
    assert (share["q05"] <= share["q50"]).all() and (share["q50"] <= share["q95"]).all()
    first = series[series["month"] == months[0]]["synthetic_share_new"]
    assert share.iloc[0][["q05", "q50", "q95"]].tolist() == pytest.approx(
        np.quantile(first, [0.05, 0.5, 0.95])
    )
    # a month where a metric is undefined in every draw has no row
    graphite = t[t["metric"] == "graphite_ai_share"]
    assert list(graphite["month"]) == months[1:]
    assert graphite[["q05", "q50", "q95"]].to_numpy() == pytest.approx(0.3)


def test_posterior_plan_draws_settings_with_replicate_seeds(calib_dir):
    sc = tiny_scenario()
    settings = B.draw_settings(calib_dir, sc, 6, seed=3)
    assert all(isinstance(s["web.attachment"], int) for s in settings)
    plan = B.posterior_plan(sc, settings, seed=5, steps=STEPS)
    assert [t.seed for t in plan.tasks] == replicate_seeds(5, 6)
    assert [dict(t.settings) for t in plan.tasks] == settings
    assert set(plan.outcomes) == set(B.BAND_METRICS)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "no such directory"),
        (lambda d: d, "no posterior.parquet"),
        (lambda d: _posterior(d, POSTERIOR.drop(columns="weight")), "no 'weight' column"),
        (lambda d: _posterior(d, POSTERIOR.assign(weight=0.0)), "positive sum"),
        (
            lambda d: _posterior(d, POSTERIOR.rename(columns={"web.attachment": "web.nope"})),
            "parameter 'web.nope' is not a setting",
        ),
        (lambda d: _posterior(d, POSTERIOR[["weight"]]), "has no parameter columns"),
        (
            lambda d: _posterior(d, POSTERIOR.assign(weight=-POSTERIOR["weight"])),
            "finite non-negative weights",
        ),
        (
            lambda d: _posterior(d, POSTERIOR.assign(**{"web.attachment": "two"})),
            "non-numeric parameter columns ['web.attachment']",
        ),
        (lambda d: _damaged_posterior(d), "posterior.parquet is not readable Parquet"),
        # the calibration's records of where the fit started and of its medians, edited by hand
        (
            lambda d: _calibrated_from(d, {"web.attachment": "two"}),
            "manifest.json: calibrated_from: expected each fitted setting's value",
        ),
        (lambda d: _calibrated_from(d, [2]), "calibrated_from: expected"),
        (
            lambda d: _summary(d, "parameter,median\nweb.attachment,two\n"),
            "posterior_summary.csv: not the summary `habsburg calibrate` writes",
        ),
        (
            lambda d: _summary(d, "parameter,mean\nweb.attachment,2.0\n"),
            "posterior_summary.csv: not the summary",
        ),
        (
            lambda d: _summary(d, "parameter,median\nweb.attachment,2.0\nweb.attachment,3.0\n"),
            "posterior_summary.csv: parameter 'web.attachment' has two rows",
        ),
    ],
)
def test_run_with_a_bad_posterior_exits_2_before_any_run(
    tmp_path, scenario_file, capsys, make, message
):
    (tmp_path / "empty").mkdir()
    bad = make(tmp_path / "empty")
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--steps", "3", "--out", str(out), "--quiet"]
    assert main([*argv, "--posterior", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "--posterior" in err and "Traceback" not in err
    assert not out.exists()  # nothing ran


def _damaged_posterior(directory):
    directory.mkdir(exist_ok=True)
    (directory / "posterior.parquet").write_bytes(b"PAR1 cut short")
    return directory


def test_zero_posterior_draws_are_refused_before_any_run(
    tmp_path, scenario_file, calib_dir, capsys
):
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--steps", "3", "--out", str(out), "--quiet"]
    assert main([*argv, "--posterior", str(calib_dir), "--draws", "0"]) == 2
    assert "--draws must be at least 1, got 0" in capsys.readouterr().err
    assert not out.exists()
    for flag in ("--draws", "--workers"):  # without --posterior they had nothing to do
        assert main([*argv, flag, "3"]) == 2  # --draws ran the scenario and ignored it
        err = capsys.readouterr().err
        assert f"{flag} is for the posterior draws: it needs --posterior CALIB_DIR" in err
        assert not out.exists()


def _calibrated_from(directory, value):
    """A posterior whose calibration manifest records ``value`` as where the fit started."""
    _posterior(directory, POSTERIOR)
    manifest = {"written_by": "habsburg", "command": "calibrate", "calibrated_from": value}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def _summary(directory, text):
    """A calibration's posterior beside a ``posterior_summary.csv`` of ``text``."""
    _calibrated_from(directory, {"web.attachment": 2})
    (directory / "posterior_summary.csv").write_text(text)
    return directory


def _posterior(directory, frame):
    directory.mkdir(exist_ok=True)
    frame.to_parquet(directory / "posterior.parquet", index=False)
    return directory


def test_run_with_posterior_writes_bands_and_the_report_draws_them(
    tmp_path, scenario_file, calib_dir
):
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--steps", str(STEPS), "--out", str(out), "--quiet"]
    assert main([*argv, "--posterior", str(calib_dir), "--draws", "3"]) == 0
    bands = pd.read_parquet(out / "bands.parquet")
    mm = pd.read_parquet(out / "model_metrics.parquet")
    assert assert_checksummed(out / "bands.parquet")  # each page with its checksum
    assert list(bands.columns) == B.COLUMNS
    assert {"synthetic_share_new", "synthetic_share_new_measured", "mean_fact_accuracy"} <= set(
        bands["metric"]
    )
    share = bands[bands["metric"] == "synthetic_share_new"]
    assert list(share["month"]) == list(mm["month"])  # the run's months
    assert (share["draws"] == 3).all()
    assert (bands["q05"] <= bands["q50"] + 1e-12).all()
    assert (bands["q50"] <= bands["q95"] + 1e-12).all()
    # the draws differ (posterior settings, own seeds): a band, not a line
    assert (share["q95"] - share["q05"]).max() > 0
    assert "bands.parquet" in json.loads((out / "manifest.json").read_text())["files"]
    md = (out / "report.md").read_text()
    assert "3 posterior draws" in md and "5–95% band of 3 runs" in md

    # a rerun without --posterior drops the stale band (and the report says nothing of one)
    assert main(argv) == 0
    assert not (out / "bands.parquet").exists()
    assert "posterior draws" not in (out / "report.md").read_text()


def test_compare_with_posterior_runs_both_arms_of_a_replicate_on_the_same_draw(calib_dir):
    base = tiny_scenario()
    alt = tiny_scenario(name="alt")
    settings = B.draw_settings(calib_dir, base, 3, seed=base.seed)
    plan = K.comparison_plan(base, [alt], seeds=3, steps=STEPS, posterior=settings)
    by_arm = {label: [t for t in plan.tasks if t.scenario == label] for label in plan.scenarios}
    arms = list(by_arm.values())
    assert len(arms) == 2
    for r in range(3):
        assert arms[0][r].settings == arms[1][r].settings == tuple(settings[r].items())
        assert arms[0][r].seed == arms[1][r].seed == replicate_seeds(base.seed, 3)[r]
    assert len({t.settings for t in arms[0]}) > 1  # replicates carry different draws

    # a scenario against itself on the posterior ensemble: the pairs (same draw, same seed)
    # agree exactly
    result = K.compare(
        base, [tiny_scenario()], seeds=3, steps=STEPS, progress=False, posterior=settings
    )
    wide = result.runs.pivot(index="seed", columns="scenario", values="final_synthetic_share_new")
    assert (wide.iloc[:, 0] == wide.iloc[:, 1]).all()


def test_compare_with_too_few_posterior_settings_is_an_error(calib_dir):
    base = tiny_scenario()
    settings = B.draw_settings(calib_dir, base, 2)
    with pytest.raises(HabsburgError, match="2 replicate settings for 3 seeds"):
        K.comparison_plan(base, [tiny_scenario()], seeds=3, steps=STEPS, posterior=settings)


def test_compare_cli_with_posterior(tmp_path, scenario_file, calib_dir, capsys):
    alt = tmp_path / "alt.toml"
    alt.write_text(scenario_toml(tiny_scenario(name="alt")))
    out = tmp_path / "cmp"
    argv = ["compare", str(scenario_file), str(alt), "--seeds", "2", "--steps", "6"]
    assert main([*argv, "--out", str(out), "--posterior", str(tmp_path / "nope")]) == 2
    assert "--posterior" in capsys.readouterr().err and not out.exists()  # before any run
    assert main([*argv, "--out", str(out), "--quiet", "--posterior", str(calib_dir)]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["seed"].unique()) == sorted(replicate_seeds(tiny_scenario().seed, 2))


def calibrated_dir(calib_dir, start=None):
    """``calib_dir`` as `habsburg calibrate` leaves it: a manifest that records the fitted
    settings' values in the scenario calibrated (the tiny scenario's, unless ``start``) and the
    posterior summary with the medians."""
    sc = tiny_scenario()
    start = start or {
        "demand.adoption.ceiling": sc.demand.adoption.ceiling,
        "humans.assistant.ceiling": sc.humans.assistant.ceiling,
        "web.attachment": sc.web.attachment,
    }
    manifest = {"written_by": "habsburg", "command": "calibrate", B.CALIBRATED_FROM: start}
    (calib_dir / "manifest.json").write_text(json.dumps(manifest))
    pd.DataFrame({"parameter": list(start), "median": [750.0, 0.55, 2.4]}).to_csv(
        calib_dir / "posterior_summary.csv", index=False
    )
    return calib_dir


def test_a_scenario_keeps_the_fitted_settings_it_sets_itself(calib_dir):
    """A fitted setting whose value in the scenario is neither where the calibration started nor
    the posterior median is the scenario's premise (a what-if): the draws leave it as it is."""
    d = calibrated_dir(calib_dir)
    base, medians = tiny_scenario(), tiny_scenario(name="medians")
    medians.demand.adoption.ceiling, medians.humans.assistant.ceiling = 750.0, 0.55
    medians.web.attachment = 2  # (an integer setting: the median 2.4, rounded as the draws are)
    assert B.own_settings(d, base) == {} and B.own_settings(d, medians) == {}
    near = tiny_scenario(name="near")  # (a real setting is not rounded: 1.0 is not 0.55)
    near.humans.assistant.ceiling = 1.0
    assert B.own_settings(d, near) == {"humans.assistant.ceiling": (1.0, [0.5, 0.55])}
    assert B.own_settings_note(d, base) == ""
    what_if = tiny_scenario(name="what_if")
    what_if.humans.assistant.ceiling = 0.95
    assert B.own_settings(d, what_if) == {"humans.assistant.ceiling": (0.95, [0.5, 0.55])}
    assert B.own_settings_note(d, what_if) == (
        "what_if sets humans.assistant.ceiling = 0.95 (calibrated: 0.5, 0.55) itself: its runs "
        "keep it, and the posterior's draws set the other fitted settings"
    )
    draws = B.draw_settings(d, what_if, 3)
    assert [set(x) for x in draws] == [{"demand.adoption.ceiling", "web.attachment"}] * 3
    assert draws == [
        {k: v for k, v in x.items() if k != "humans.assistant.ceiling"}
        for x in B.draw_settings(d, base, 3)
    ]
    # compared on the posterior: each arm its own draws, the what-if's premise kept in each run
    settings = [B.draw_settings(d, sc, 3) for sc in (base, what_if)]
    plan = K.comparison_plan(base, [what_if], seeds=3, steps=STEPS, posterior=settings)
    for task in plan.tasks:
        mine = dict(task.settings)
        assert ("humans.assistant.ceiling" in mine) == (task.scenario == "tiny")
        assert (
            mine["demand.adoption.ceiling"]
            == settings[0][task.replicate]["demand.adoption.ceiling"]
        )
    with pytest.raises(HabsburgError, match="1 lists of posterior settings for 2 scenarios"):
        K.comparison_plan(base, [what_if], seeds=3, steps=STEPS, posterior=settings[:1])


def test_a_directory_that_does_not_say_where_its_calibration_started_is_noted(calib_dir):
    """(written before the manifest recorded it, its spec file gone): every draw sets every
    fitted setting, as before, and the note says so."""
    what_if = tiny_scenario(name="what_if")
    what_if.humans.assistant.ceiling = 0.95
    assert B.own_settings(calib_dir, what_if) == {}
    assert "does not record where its calibration started" in B.own_settings_note(
        calib_dir, what_if
    )
    assert all("humans.assistant.ceiling" in x for x in B.draw_settings(calib_dir, what_if, 3))


def test_compare_and_run_with_posterior_say_which_settings_a_scenario_keeps(
    tmp_path, scenario_file, calib_dir, capsys
):
    d = calibrated_dir(calib_dir)
    what_if = tiny_scenario(name="what_if")
    what_if.humans.assistant.ceiling = 0.95
    alt = tmp_path / "what_if.toml"
    alt.write_text(scenario_toml(what_if))
    out = tmp_path / "cmp"
    argv = ["compare", str(scenario_file), str(alt), "--seeds", "2", "--steps", "6", "--quiet"]
    assert main([*argv, "--out", str(out), "--posterior", str(d)]) == 0
    err = capsys.readouterr().err
    assert "note: --posterior: what_if sets humans.assistant.ceiling = 0.95" in err, err
    assert "tiny sets" not in err and "does not record" not in err
    # the results say so: the manifest records every replicate's draw, the report the premise
    posterior = json.loads((out / "manifest.json").read_text())["posterior"]
    assert posterior["directory"] == str(d)
    assert [set(s) for s in posterior["settings"]["what_if"]] == [
        {"demand.adoption.ceiling", "web.attachment"}
    ] * 2
    assert [set(s) for s in posterior["settings"]["tiny"]] == [set(POSTERIOR) - {"weight"}] * 2
    report = " ".join((out / "report.md").read_text().split())
    assert f"Replicate r of every scenario ran on posterior draw r of `{d}`" in report
    assert "what_if sets `humans.assistant.ceiling` itself and kept its value." in report
    band = ["run", str(alt), "--steps", "6", "--quiet", "--draws", "2"]
    assert main([*band, "--out", str(tmp_path / "run"), "--posterior", str(d)]) == 0
    assert "note: --posterior: what_if sets humans.assistant.ceiling" in capsys.readouterr().err
    recorded = json.loads((tmp_path / "run" / "manifest.json").read_text())["posterior"]
    assert recorded["directory"] == str(d) and recorded["kept"] == ["humans.assistant.ceiling"]
    assert [set(s) for s in recorded["settings"]] == [
        {"demand.adoption.ceiling", "web.attachment"}
    ] * 2
    report = " ".join((tmp_path / "run" / "report.md").read_text().split())
    assert (
        f"The draws came from `{d}`; the scenario sets `humans.assistant.ceiling` itself and "
        "kept it." in report
    )


def derived(tmp_path, name, text, base="tiny.toml"):
    """A scenario file ``name``.toml beside the tiny one that starts from ``base``, read."""
    from habsburg.scenarios.library import load_scenario

    path = tmp_path / f"{name}.toml"
    path.write_text(f'scenario = "{base}"\nname = "{name}"\n{text}')
    return load_scenario(path)


def test_draws_follow_what_a_file_that_starts_from_another_scales_or_sets(
    tmp_path, scenario_file, calib_dir
):
    """A file's [times] scales each draw of a fitted setting (a what-if that doubles the AI
    demand doubles every draw's, where a whole copy held it at twice the start in every draw);
    its [set] keeps its value even where that is the calibrated one; files chain."""
    from habsburg.scenarios.library import load_scenario

    d = calibrated_dir(calib_dir)
    base = load_scenario(scenario_file)
    doubled = derived(
        tmp_path,
        "doubled",
        '[times]\n"demand.adoption.ceiling" = 2\n"web.attachment" = 2\n'
        '[set]\n"humans.assistant.ceiling" = 0.5\n',  # (the calibrated start: still its own)
    )
    assert doubled.demand.adoption.ceiling == 1200.0 and doubled.web.attachment == 4
    drawn, mine = B.draw_settings(d, base, 4, seed=3), B.draw_settings(d, doubled, 4, seed=3)
    assert len({x["demand.adoption.ceiling"] for x in drawn}) > 1  # (the draws differ)
    for theirs, ours in zip(drawn, mine, strict=True):
        assert set(ours) == {"demand.adoption.ceiling", "web.attachment"}
        assert ours["demand.adoption.ceiling"] == 2 * theirs["demand.adoption.ceiling"]
        assert ours["web.attachment"] == 2 * theirs["web.attachment"]  # (the rounded draw's)
        assert isinstance(ours["web.attachment"], int)
    assert B.scaled_settings(d, doubled) == {"demand.adoption.ceiling": 2, "web.attachment": 2}
    assert B.own_settings(d, doubled) == {"humans.assistant.ceiling": (0.5, [0.5, 0.55])}
    note = B.own_settings_note(d, doubled)
    where = tmp_path / "doubled.toml"
    assert f"(calibrated: 0.5, 0.55; [set] 'humans.assistant.ceiling' in {where})" in note
    assert (
        f"multiplies demand.adoption.ceiling by 2 ([times] 'demand.adoption.ceiling' = 2 in {where})"
        in note
    )
    # the results say so: the comparison's and the band's manifests and reports
    argv = ["compare", str(scenario_file), str(where), "--seeds", "2", "--steps", "6", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "cmp"), "--posterior", str(d)]) == 0
    recorded = json.loads((tmp_path / "cmp" / "manifest.json").read_text())["posterior"]
    assert recorded["scaled"] == {"doubled": {"demand.adoption.ceiling": 2, "web.attachment": 2}}
    ceilings = [s["demand.adoption.ceiling"] for s in recorded["settings"]["doubled"]]
    assert ceilings == [2 * s["demand.adoption.ceiling"] for s in recorded["settings"]["tiny"]]
    report = " ".join((tmp_path / "cmp" / "report.md").read_text().split())
    assert (
        "doubled multiplies `demand.adoption.ceiling` by 2, `web.attachment` by 2, so each of "
        "its draws was multiplied." in report
    )
    band = ["run", str(where), "--steps", "6", "--quiet", "--draws", "2"]
    assert main([*band, "--out", str(tmp_path / "run"), "--posterior", str(d)]) == 0
    recorded = json.loads((tmp_path / "run" / "manifest.json").read_text())["posterior"]
    assert recorded["scaled"] == {"demand.adoption.ceiling": 2, "web.attachment": 2}
    report = " ".join((tmp_path / "run" / "report.md").read_text().split())
    assert "it multiplies `demand.adoption.ceiling` by 2, `web.attachment` by 2" in report
    # a file that starts from that one: the factors multiply
    tripled = derived(
        tmp_path, "tripled", '[times]\n"demand.adoption.ceiling" = 1.5\n', base="doubled.toml"
    )
    assert B.scaled_settings(d, tripled)["demand.adoption.ceiling"] == 3.0
    assert [x["demand.adoption.ceiling"] for x in B.draw_settings(d, tripled, 4, seed=3)] == [
        pytest.approx(3 * x["demand.adoption.ceiling"]) for x in drawn
    ]
    # the same scenario written whole: nothing says the ceiling is a multiple, so it is kept
    # (and the assistant ceiling, at the calibrated value, is drawn)
    whole = tmp_path / "whole.toml"
    whole.write_text(scenario_toml(doubled))
    assert set(B.own_settings(d, load_scenario(whole))) == {
        "demand.adoption.ceiling",
        "web.attachment",
    }
    # a file scaling a base whose value is its own (not calibrated): kept, as the base's
    derived(tmp_path, "premise", '[set]\n"demand.adoption.ceiling" = 300.0\n')
    scaled = derived(
        tmp_path, "scaled", '[times]\n"demand.adoption.ceiling" = 2\n', base="premise.toml"
    )
    assert B.own_settings(d, scaled)["demand.adoption.ceiling"][0] == 600.0
    assert B.scaled_settings(d, scaled) == {}


def fitted_dir(calib_dir, draws, start):
    """``calib_dir`` as `habsburg calibrate` leaves it, fitting the settings of ``draws`` (path
    -> four particles, equally weighted) from the values ``start``."""
    pd.DataFrame({**draws, "weight": [0.25] * 4}).to_parquet(
        calib_dir / "posterior.parquet", index=False
    )
    manifest = {"written_by": "habsburg", "command": "calibrate", B.CALIBRATED_FROM: start}
    (calib_dir / "manifest.json").write_text(json.dumps(manifest))
    return calib_dir


def test_a_scaled_draw_the_setting_does_not_allow_is_refused_before_any_run(
    tmp_path, scenario_file, calib_dir, capsys
):
    midpoints = {"demand.adoption.midpoint": [350.0, 400.0, 450.0, 500.0]}  # (at most 600)
    d = fitted_dir(calib_dir, midpoints, {"demand.adoption.midpoint": 6.0})
    derived(tmp_path, "later", '[times]\n"demand.adoption.midpoint" = 2\n')  # 6 -> 12
    for argv in (
        ["compare", str(scenario_file), str(tmp_path / "later.toml"), "--seeds", "2"],
        ["run", str(tmp_path / "later.toml"), "--draws", "2"],
    ):
        out = tmp_path / "out"
        assert main([*argv, "--out", str(out), "--posterior", str(d), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "[times] 'demand.adoption.midpoint' = 2 in" in err, err
        assert "takes draw 0's demand.adoption.midpoint = " in err and "600" in err, err
        assert "Traceback" not in err and not out.exists()
    # a draw in its setting's range that breaks a check of the whole scenario: a share over 1
    shares = {"humans.assistant.ceiling": [0.6, 0.7, 0.8, 0.9]}
    d = fitted_dir(calib_dir, shares, {"humans.assistant.ceiling": 0.5})
    eager = derived(tmp_path, "eager", '[times]\n"humans.assistant.ceiling" = 1.9\n')  # 0.95
    with pytest.raises(
        B.PosteriorError,
        match=r"\[times\] 'humans\.assistant\.ceiling' = 1\.9 in .*eager\.toml takes draw 0 "
        r"where eager is not valid: eager: humans\.assistant\.ceiling: 1\.\d+ is more than 1",
    ):
        B.draw_settings(d, eager, 2)


def test_a_line_that_changes_some_of_the_items_a_fitted_setting_names_is_refused(
    tmp_path, scenario_file, calib_dir
):
    """The calibration fits every farm's ceiling at once (``farms.*``): a file that scales one
    farm's, or adds a farm with its own, cannot take one draw for all of them."""
    ceilings = {"farms.*.output.ceiling": [100.0, 150.0, 200.0, 250.0]}
    d = fitted_dir(calib_dir, ceilings, {"farms.*.output.ceiling": 150.0})
    one = derived(tmp_path, "one", '[times]\n"farms.farm.output.ceiling" = 2\n')
    with pytest.raises(B.PosteriorError, match=r"\[times\] 'farms.farm.output.ceiling' changes"):
        B.draw_settings(d, one, 2)
    every = derived(tmp_path, "every", '[times]\n"farms.*.output.ceiling" = 2\n')
    assert B.scaled_settings(d, every) == {"farms.*.output.ceiling": 2}
    added = derived(
        tmp_path,
        "added",
        '[[add.farms]]\nname = "farm-2"\nsites = 2\n'
        '[add.farms.output]\nstart = "2021-02"\nceiling = 90.0\n',
    )
    with pytest.raises(B.PosteriorError, match=r"\[add\] 'farms' changes some"):
        B.own_settings(d, added)
    assert B._covers("farms.*", "farms.*.output.ceiling", whole=False) is True
    assert B._covers("farms.a", "farms.b.output.ceiling", whole=False) is False
    assert B._covers("models.*.x", "models.a.x") is True
    assert B._covers("models.a.x", "models.a.y") is False


def test_the_example_what_if_doubles_each_draw_of_the_baselines_demand(calib_dir):
    """examples/scenarios/demand2x.toml against a calibration of the baseline (its start
    recorded as `habsburg calibrate examples/calibration/baseline.toml` records it)."""
    from pathlib import Path

    from habsburg.scenarios.library import load_scenario
    from habsburg.scenarios.schema import get_setting

    example = Path(__file__).parents[2] / "examples" / "scenarios" / "demand2x.toml"
    base, what_if = load_scenario("baseline"), load_scenario(str(example))
    assert what_if.demand.adoption.ceiling == 2 * base.demand.adoption.ceiling
    draws = {
        "demand.adoption.ceiling": [5000.0, 6000.0, 7000.0, 8000.0],
        "demand.adoption.midpoint": [8.0, 9.0, 10.0, 11.0],
        "humans.assistant.ceiling": [0.4, 0.5, 0.6, 0.7],
    }
    d = fitted_dir(calib_dir, draws, {k: get_setting(base, k) for k in draws})
    assert B.scaled_settings(d, what_if) == {"demand.adoption.ceiling": 2}
    assert B.own_settings(d, what_if) == {} == B.own_settings(d, base)
    pairs = zip(B.draw_settings(d, base, 8, 1), B.draw_settings(d, what_if, 8, 1), strict=True)
    for theirs, ours in pairs:
        assert ours == theirs | {"demand.adoption.ceiling": 2 * theirs["demand.adoption.ceiling"]}
