"""Calibration: a bad spec gets a clear error; a scenario writes to TOML and reads back; ABC-SMC
recovers known parameters from data the model itself simulated, and resumes after a kill."""

import contextlib
import functools
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from checksums import assert_checksummed
from signals import signal_when_ready
from tinyscenario import CALIBRATION_TOY as TOY

from habsburg.cli import main
from habsburg.experiments.calibrate import (
    DB_NAME,
    STATE_NAME,
    calibrate,
    check_calibration_limits,
    check_history,
    fingerprint,
    fingerprinted,
    largest_particle,
    result_files,
)
from habsburg.experiments.calibration.outputs import (
    posterior_settings,
    prediction_table,
)
from habsburg.experiments.calibration.simulator import Simulator, target_key
from habsburg.experiments.calibration.spec import CalibrationError, load_spec, spec_from_dict
from habsburg.experiments.limits import project
from habsburg.experiments.sweep import SweepError, point_scenario
from habsburg.experiments.versions import MODEL_CODE, installed_version, package_versions
from habsburg.scenarios.errors import LimitError
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.measurements import calibration_targets
from habsburg.scenarios.schema import from_dict, load_text
from habsburg.scenarios.writer import scenario_toml

pytest.importorskip("pyabc")

TRUTH = {"demand.adoption.ceiling": 400.0, "humans.assistant.ceiling": 0.5}
PARAMETERS = [
    {"path": "demand.adoption.ceiling", "range": [100.0, 1000.0]},
    {"path": "humans.assistant.ceiling", "range": [0.1, 0.9]},
]


def _spec_file(tmp_path: Path, **abc) -> Path:
    (tmp_path / "toy.toml").write_text(scenario_toml(from_dict(TOY, "toy")))
    lines = ['scenario = "toy.toml"', ""]
    for p in PARAMETERS:
        lines += ["[[parameters]]", f'path = "{p["path"]}"', f"range = {p['range']}", ""]
    sc = from_dict(TOY, "toy")
    targets = [
        ("graphite_ai_share", "2021-10", 0.03),
        ("liang_llm_modified_share", "2021-10", 0.03),
    ]
    # the data: the model's own instruments at the true settings, averaged over 4 seeds
    probe = spec_from_dict(
        {
            "scenario": "toy.toml",
            "parameters": PARAMETERS,
            "targets": [{"series": s, "month": m, "value": 0.0} for s, m, _ in targets],
            "abc": {"window": 2},
        },
        "probe",
        tmp_path,
    )
    values = [
        Simulator(sc, probe.priors, probe.targets, probe.end_step, 2, seed)(TRUTH)
        for seed in range(4)
    ]
    for series, month, hw in targets:
        key = f"{series}@{month}"
        value = float(np.mean([v[key] for v in values]))
        lines += [
            "[[targets]]",
            f'series = "{series}"',
            f'month = "{month}"',
            f"value = {value}",
            f"half_width = {hw}",
            "",
        ]
    lines += ["[abc]"] + [f"{k} = {v}" for k, v in abc.items()]
    path = tmp_path / "spec.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


ABC = {"population": 16, "window": 2, "initial_epsilon": 4.0, "predictive_runs": 3, "seed": 5}


def _populations(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        # (read-only: a connection that may create the file would race --restart's removal)
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:
            return con.execute("select count(*) from populations where t >= 0").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The calibration of three generations that two tests interrupt, run without a stop: each
    resumed calibration must be it, particle for particle."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    return calibrate(load_spec(_spec_file(tmp, generations=3, **ABC)), tmp / "out", serial=True)


def test_recovers_known_parameters_and_resumes_after_a_kill(tmp_path, capsys, uninterrupted):
    spec_path = _spec_file(tmp_path, generations=3, **ABC)
    out = tmp_path / "out"
    code = (
        "import sys; from habsburg.experiments.calibrate import calibrate; "
        "from habsburg.experiments.calibration.spec import load_spec; "
        f"calibrate(load_spec({str(spec_path)!r}), {str(out)!r}, serial=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.time() + 120
        while _populations(out / DB_NAME) < 1 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _populations(out / DB_NAME) >= 1, "the first generation never reached the history"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = _populations(out / DB_NAME)
    assert done < 3 and not (out / "posterior.parquet").exists()  # killed mid-calibration
    with sqlite3.connect(out / DB_NAME) as con:
        eps_before = con.execute("select epsilon from populations where t = 0").fetchone()[0]
    state = json.loads((out / STATE_NAME).read_text())
    begun = state["versions"]  # what it began with
    assert begun["numpy"] == np.__version__ and begun["pyabc"] == installed_version("pyabc")
    # as if begun where numpy was another version: resumed (the same model and sampler), noted
    begun = {**begun, "numpy": "0.1"}
    (out / STATE_NAME).write_text(json.dumps({**state, "versions": begun}))

    capsys.readouterr()
    result = calibrate(load_spec(spec_path), out, serial=True)
    note = capsys.readouterr().err
    assert f"begun with numpy 0.1 (here {np.__version__})" in note, note
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["history_versions"] == begun
    assert manifest["versions"]["numpy"] == np.__version__
    # where the fit started: a scenario run with --posterior keeps a fitted setting it changes
    toy = from_dict(TOY, "toy")
    assert manifest["calibrated_from"] == {
        "demand.adoption.ceiling": toy.demand.adoption.ceiling,
        "humans.assistant.ceiling": toy.humans.assistant.ceiling,
    }
    # the files checked for a user's of the same name before any work are the files written
    assert sorted(result.files) == sorted(result_files(load_spec(spec_path)))
    diag = result.diagnostics
    assert list(diag["generation"]) == [0, 1, 2]
    assert diag["epsilon"].iloc[0] == pytest.approx(eps_before)  # resumed, not restarted
    # each threshold below the last, the first after the kill too (pyabc would start the
    # resumed run from the initial threshold again)
    assert (np.diff(diag["epsilon"]) < 0).all(), diag["epsilon"].tolist()
    # and particle for particle the calibration that was never interrupted
    pd.testing.assert_frame_equal(uninterrupted.posterior, result.posterior)
    pd.testing.assert_frame_equal(uninterrupted.diagnostics, result.diagnostics)
    assert (diag["acceptance_rate"] > 0).all() and (diag["effective_sample_size"] > 1).all()

    summary = result.summary.set_index("parameter")
    for path, truth in TRUTH.items():
        row = summary.loc[path]
        assert row["q05"] <= truth <= row["q95"], (path, row.to_dict())
    demand = summary.loc["demand.adoption.ceiling"]
    assert demand["q95"] - demand["q05"] < 0.7 * (1000 - 100)  # the data narrowed the prior
    assert abs(demand["median"] - 400) < 0.25 * (1000 - 100)

    posterior = pd.read_parquet(out / "posterior.parquet")
    assert len(posterior) == 16 and posterior["weight"].sum() == pytest.approx(1.0)
    for table in out.glob("*.parquet"):  # each page with its checksum
        assert assert_checksummed(table), table
    assert main(["verify", str(out), "--quiet"]) == 0
    assert (out / "posterior_pairs.png").stat().st_size > 1000
    calibrated = load_text((out / "tiny-calibrated.toml").read_text(), "calibrated")
    assert calibrated.demand.adoption.ceiling == pytest.approx(demand["median"])
    bands = pd.read_parquet(out / "posterior_predictive.parquet")
    assert bands["draw"].nunique() == 3 and bands["step"].max() == 17
    band = pd.read_csv(out / "forecast_bands.csv")
    last = band[(band["series"] == "graphite_ai_share") & (band["step"] == 17)].iloc[0]
    assert last["q05"] <= last["median"] <= last["q95"]
    assert last["median"] == pytest.approx(bands[bands["step"] == 17]["graphite_ai_share"].median())
    draws = posterior_settings(out, 8, seed=1)  # a posterior ensemble for runs and comparisons
    assert len(draws) == 8 and set(draws[0]) == set(TRUTH)
    assert all(100 <= d["demand.adoption.ceiling"] <= 1000 for d in draws)
    # `habsburg calibrate` on the finished directory: the same posterior, printed with the files
    capsys.readouterr()
    assert main(["calibrate", str(spec_path), "--serial", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "demand.adoption.ceiling" in printed and f"wrote {out}: " in printed
    ess = diag["effective_sample_size"].iloc[-1]
    assert f"last generation (2): threshold {diag['epsilon'].iloc[-1]:.3g}, " in printed
    assert f"effective sample size {ess:.1f} of 16 particles" in printed
    again = pd.read_parquet(out / "posterior.parquet")
    pd.testing.assert_frame_equal(again, posterior)


def test_the_prior_is_the_law_and_range_the_spec_names():
    """pyabc's prior for each parameter has the density the spec declares: uniform on [low,
    high] (pyabc's ``uniform`` takes loc and scale), or loguniform, whose density is
    1 / (x log(high / low)) on the same range."""
    import pyabc
    from scipy import stats

    from habsburg.experiments.calibrate import _prior

    spec = _spec(
        parameters=[
            {"path": "demand.adoption.ceiling", "range": [3000.0, 12000.0]},
            {"path": "demand.adoption.midpoint", "range": [2.0, 20.0], "prior": "loguniform"},
        ]
    )
    prior = _prior(pyabc, spec)
    for x in (1000.0, 3000.0, 7500.0, 12000.0, 13000.0):
        expected = stats.uniform(3000.0, 9000.0).pdf(x)
        assert prior["demand.adoption.ceiling"].pdf(x) == pytest.approx(expected)
    for x in (1.0, 2.0, 6.3, 20.0, 25.0):
        expected = 1 / (x * np.log(10.0)) if 2.0 <= x <= 20.0 else 0.0
        assert prior["demand.adoption.midpoint"].pdf(x) == pytest.approx(expected)


def _spec(**overrides):
    data = {
        "scenario": "baseline",
        "parameters": [{"path": "demand.adoption.ceiling", "range": [3000.0, 12000.0]}],
    }
    data.update(overrides)
    return spec_from_dict(data, "spec.toml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"abc": {"populaton": 10}}, "unknown key 'abc.populaton' (did you mean 'population'?)"),
        ({"abc": {"quantile": 1.0}}, "abc.quantile: 1.0 is out of range; allowed [0.05, 0.95]"),
        ({"studies": ["ahrefs"]}, "'ahrefs' published only after 2024-12; it is out-of-sample"),
        ({"studies": ["gartner"]}, "unknown study 'gartner'; studies: ['ahrefs', 'graphite'"),
        (
            {"targets": [{"series": "graphite_ai_share", "month": "2025-04", "value": 0.5}]},
            "targets[0].month: 2025-04 is after 2024-12",
        ),
        (
            {"targets": [{"series": "graphite_share", "month": "2024-04", "value": 0.5}]},
            "unknown series 'graphite_share'",
        ),
        ({"parameters": [{"path": "demand.adoption.cieling"}]}, "did you mean 'ceiling'"),
        (
            {"parameters": [{"path": "watermark.gamma", "range": [0.5, 1.5]}]},
            "watermark.gamma: 1.5 is out of range; allowed [0.01, 0.99]",
        ),
        (
            {"parameters": [{"path": "watermark.gamma", "prior": "normal"}]},
            "'uniform', 'loguniform'",
        ),
        ({"parameters": []}, "no [[parameters]]"),
        ({"end": "2025-06"}, "end: 2025-06 is after 2024-12"),
        (
            {
                "studies": ["graphite"],
                "targets": [{"series": "graphite_ai_share", "month": "2024-04", "value": 0.5}],
            },
            "give either 'studies' or [[targets]], not both",
        ),
        ({"targets": [{"series": "graphite_ai_share", "value": 0.5}]}, "targets[0]: needs"),
        (
            {
                "parameters": [
                    {"path": "demand.adoption.ceiling", "range": [3000.0, 12000.0]},
                    {"path": "demand.adoption.ceiling", "range": [3000.0, 9000.0]},
                ]
            },
            "parameters[1]: 'demand.adoption.ceiling' is listed twice",
        ),
        (
            {"parameters": [{"path": "demand.adoption.ceiling", "range": [5000.0, 5000.0]}]},
            "range [5000.0, 5000.0] of 'demand.adoption.ceiling' is empty",
        ),
        (
            {
                "parameters": [
                    {
                        "path": "demand.adoption.midpoint",
                        "range": [0.0, 20.0],
                        "prior": "loguniform",
                    }
                ]
            },
            "a loguniform prior needs low > 0, got 0.0",
        ),
        ({"studies": []}, "no targets to fit"),
        ({"scenario": "nosuch.toml"}, "spec.toml: scenario: scenario file 'nosuch.toml' does not"),
        # (the name is results/calibration/NAME: these wrote outside it)
        ({"name": "../../escaped"}, "name: '../../escaped' is not a valid calibration name"),
        ({"name": "/tmp/escaped"}, "name: '/tmp/escaped' is not a valid calibration name"),
        ({"end": "2023-01"}, "end 2023-01 is before the last target month 2024-"),
    ],
)
def test_a_bad_spec_names_the_file_the_key_and_what_is_allowed(overrides, message):
    with pytest.raises(CalibrationError) as err:
        _spec(**overrides)
    assert "spec.toml" in str(err.value) and message in str(err.value)


def test_default_targets_are_the_published_points_up_to_2024():
    spec = _spec()
    assert spec.targets and all(m.month <= "2024-12" for m in spec.targets)
    assert {m.study for m in spec.targets} == {"graphite", "graphite-2025b", "liang"}
    assert spec.end == "2024-12"  # last target (2024-11) plus the averaging window


def test_the_prediction_table_labels_the_points_fitted_not_their_statistics():
    """Fitting only Graphite's first analysis: its second analysis (graphite-2025b) measured the
    same statistic in 2023-11 but was not fitted; it was labelled "calibrated" (by statistic)
    and judged by the fitted points' rule."""
    sc = load_scenario("baseline")
    fitted = [m for m in calibration_targets() if m.study == "graphite"]
    months = sc.month_to_step("2025-12", "2025-12") + 1
    runs = [pd.DataFrame({"graphite_ai_share": np.full(months, v)}) for v in (0.37, 0.38, 0.39)]
    table = prediction_table(runs, sc, 1, fitted).set_index(["study", "month"])
    assert table.loc[("graphite", "2023-11"), "role"] == "calibrated"
    assert table.loc[("graphite", "2024-11"), "role"] == "calibrated"
    assert table.loc[("graphite-2025b", "2023-11"), "role"] == "not fitted"
    assert table.loc[("graphite", "2025-05"), "role"] == "out-of-sample"
    # one statistic, one simulated value: only the label and the rule that judges it differ
    same = table.loc[[("graphite", "2023-11"), ("graphite-2025b", "2023-11")]]
    assert same.simulated_median.nunique() == 1
    assert set(table.role) == {"calibrated", "not fitted", "out-of-sample"}


def test_scenario_toml_reads_back_to_the_same_scenario():
    sc = load_scenario("baseline")
    back = load_text(scenario_toml(sc, "a header\nof two lines"), "back")
    a, b = sc.to_dict(), back.to_dict()
    a.pop("source"), b.pop("source")
    assert a == b


def test_calibrate_refuses_a_history_of_another_spec(tmp_path):
    spec_path = _spec_file(tmp_path, generations=1, **{**ABC, "population": 4})
    out = tmp_path / "out"
    out.mkdir()
    (out / DB_NAME).write_bytes(b"")
    (out / ".habsburg-abc.json").write_text('{"fingerprint": "other"}')
    with pytest.raises(CalibrationError, match="another spec"):
        calibrate(load_spec(spec_path), out, serial=True)
    assert target_key(load_spec(spec_path).targets[0]) == "graphite_ai_share@2021-10"
    # a history that records what its fingerprint was made of: the refusal names what moved
    (tmp_path / "begun").mkdir()
    begun = load_spec(_spec_file(tmp_path / "begun", generations=1, **{**ABC, "population": 6}))
    begun.scenario.humans.error_rate = 0.03
    (out / ".habsburg-abc.json").write_text(
        json.dumps({"fingerprint": fingerprint(begun), "fingerprinted": fingerprinted(begun)})
    )
    with pytest.raises(CalibrationError) as err:
        calibrate(load_spec(spec_path), out, serial=True)
    assert str(err.value) == (
        f"{out} holds a calibration of another spec (or scenario): "
        "abc.population: 6 → 4; scenario.humans.error_rate: 0.03 → 0.02; pass --restart to "
        "discard it, or choose another --out"
    )
    assert sorted(p.name for p in out.iterdir()) == [DB_NAME, ".habsburg-abc.json"]


@pytest.fixture(scope="module")
def small_serial(tmp_path_factory):
    """A small serial calibration (two generations of 8, thresholds at the 0.8 quantile) and
    its spec, which two tests read: each threshold, and the same calibration on Dask workers."""
    tmp = tmp_path_factory.mktemp("small")
    spec = load_spec(
        _spec_file(
            tmp, generations=2, **{**ABC, "population": 8, "predictive_runs": 0, "quantile": 0.8}
        )
    )
    return spec, calibrate(spec, tmp / "serial", serial=True)


def test_each_threshold_is_the_specs_quantile_of_the_generation_befores_distances(small_serial):
    import pyabc
    from pyabc.weighted_statistics import weighted_quantile

    _, result = small_serial
    out = result.out
    history = pyabc.History(f"sqlite:///{out / DB_NAME}")
    first = history.get_weighted_distances(t=0)
    d, w = first["distance"].to_numpy(), first["w"].to_numpy() / first["w"].sum()
    slow, median = (weighted_quantile(d, w, alpha=a) for a in (0.8, 0.5))
    assert median < slow  # (so the median schedule would be told apart)
    assert result.diagnostics["epsilon"].iloc[1] == pytest.approx(slow)


def test_a_calibration_on_dask_workers_is_the_serial_one(tmp_path, small_serial):
    """Each proposal is seeded from its number and a generation keeps them in that order, so
    two workers finishing proposals in any order give the serial calibration, particle for
    particle (pyabc's Dask sampler seeds each job from the operating system's entropy)."""
    from habsburg.experiments.sweep.executors import close_client, connect

    spec, serial = small_serial
    client = connect(workers=2)
    try:
        dask = calibrate(spec, tmp_path / "dask", client=client)
    finally:
        close_client(client)
    pd.testing.assert_frame_equal(dask.posterior, serial.posterior)
    pd.testing.assert_frame_equal(dask.diagnostics, serial.diagnostics)
    assert serial.posterior.iloc[:, 0].nunique() > 1  # (particles, not one repeated)


def test_a_thin_last_generation_is_noted_even_when_quiet(tmp_path, monkeypatch, capsys):
    import habsburg.experiments.calibrate as calibrate_module
    from habsburg.experiments.calibrate import CalibrationResult
    from habsburg.experiments.calibration.outputs import THIN_SHARE, last_generation_line

    def diagnostics(ess):
        return pd.DataFrame(
            {
                "generation": [0, 1],
                "epsilon": [3.0, 0.6348],
                "simulations": [65, 119],
                "particles": [64, 64],
                "acceptance_rate": [0.98, 0.54],
                "effective_sample_size": [64.0, ess],
            }
        )

    assert last_generation_line(diagnostics(9.07)) == (
        "last generation (1): threshold 0.635, effective sample size 9.1 of 64 particles",
        True,
    )
    assert not last_generation_line(diagnostics(THIN_SHARE * 64))[1]

    def fake(spec, out, **_):
        empty = pd.DataFrame()
        return CalibrationResult(out, empty, empty, diagnostics(9.07), empty, spec.scenario, [])

    monkeypatch.setattr(calibrate_module, "calibrate", fake)
    spec = Path(__file__).parents[2] / "examples" / "calibration" / "baseline.toml"
    for quiet in ([], ["--quiet"]):
        args = ["calibrate", str(spec), "--serial", "--out", str(tmp_path / "out"), *quiet]
        assert main(args) == 0
        err = capsys.readouterr().err
        assert "note: last generation (1): threshold 0.635, effective sample size 9.1" in err
        assert "a higher [abc] quantile" in err


def test_the_median_schedule_keeps_the_fingerprint_of_specs_without_the_quantile_key():
    base = {"scenario": "baseline", "parameters": [{"path": "demand.adoption.ceiling"}]}
    without = fingerprint(spec_from_dict(base, "spec.toml"))
    median = fingerprint(spec_from_dict({**base, "abc": {"quantile": 0.5}}, "spec.toml"))
    slower = fingerprint(spec_from_dict({**base, "abc": {"quantile": 0.7}}, "spec.toml"))
    assert without == median != slower


def test_an_interrupted_calibration_names_its_generations_and_the_command_that_resumes(
    tmp_path, capsys, uninterrupted
):
    """Ctrl-C or SIGTERM keeps the generations pyabc finished; the line says how many and gives
    the command line that resumes at the next one (without --restart, which would discard
    them). It said "run the same command again to redo the work"."""
    spec_path = _spec_file(tmp_path, generations=3, **ABC)
    out = tmp_path / "out"
    argv = ["calibrate", str(spec_path), "--serial", "--out", str(out), "--quiet"]
    status, err = signal_when_ready(
        [sys.executable, "-m", "habsburg.cli", *argv, "--restart"],
        lambda: _populations(out / DB_NAME) >= 1,
        signal.SIGTERM,
    )
    done = _populations(out / DB_NAME)
    assert status == 130 and 1 <= done < 3, (status, err)
    (line,) = [x for x in err.splitlines() if x.startswith("habsburg: interrupted;")]
    assert f"the generations finished ({done}) are kept in {out / DB_NAME}" in line, line
    again = line.split("; resume with: ", 1)[1]
    assert shlex.split(again) == ["habsburg", *argv], again  # (--restart dropped)
    with sqlite3.connect(out / DB_NAME) as con:
        eps_before = con.execute("select epsilon from populations where t = 0").fetchone()[0]
    assert main(shlex.split(again)[1:]) == 0
    diag = pd.read_csv(out / "diagnostics.csv")
    assert list(diag["generation"]) == [0, 1, 2]
    assert diag["epsilon"].iloc[0] == pytest.approx(eps_before)  # resumed, not restarted
    # the calibration that was never interrupted, particle for particle
    posterior = pd.read_parquet(out / "posterior.parquet")
    pd.testing.assert_frame_equal(
        posterior, pd.read_parquet(uninterrupted.out / "posterior.parquet")
    )


def test_an_interrupt_while_pyabc_writes_a_generation_waits_for_the_write(
    tmp_path, capsys, monkeypatch, uninterrupted
):
    """SIGTERM arriving as pyabc writes the first generation is held until the write has
    committed: the generation is kept and the command ends as an interruption. Raised inside
    pyabc's database calls, an interrupt lost the generation, or ended as an internal error
    (pyabc's clean-up on a half-committed session), or waited 120 s on a leaked lock."""
    import pyabc

    spec_path = _spec_file(tmp_path, generations=3, **ABC)
    out = tmp_path / "out"
    real = pyabc.History.append_population

    @functools.wraps(real)
    def signalled(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # (a KeyboardInterrupt under the CLI)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pyabc.History, "append_population", signalled)
    argv = ["calibrate", str(spec_path), "--serial", "--out", str(out), "--quiet"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "the generations finished (1) are kept" in err and "Traceback" not in err, err
    assert pyabc.History.append_population is signalled  # pyabc's class as the command found it
    monkeypatch.undo()
    assert main(argv) == 0
    assert list(pd.read_csv(out / "diagnostics.csv")["generation"]) == [0, 1, 2]
    kept = pd.read_parquet(out / "posterior.parquet")  # (the kept generation, used as it was)
    pd.testing.assert_frame_equal(kept, pd.read_parquet(uninterrupted.out / "posterior.parquet"))


def test_a_history_begun_with_another_habsburg_or_pyabc_is_not_resumed(tmp_path, capsys):
    """Another habsburg may be another model, another pyabc another sampler or history format:
    a history begun with either is refused, naming both versions, and left as it was. Packages
    that change only the random numbers (numpy: resumed with a note, in the test above) and
    histories from before versions were recorded are resumed."""
    spec_path = _spec_file(tmp_path, generations=1, **{**ABC, "population": 4})
    key = fingerprint(load_spec(spec_path))
    out = tmp_path / "out"
    out.mkdir()
    (out / DB_NAME).write_bytes(b"a history")
    here = package_versions() | {"pyabc": installed_version("pyabc")}

    def state(**versions):
        (out / STATE_NAME).write_text(json.dumps({"fingerprint": key, "versions": versions}))

    # (another habsburg model code: a checkout at another commit, with the same version string)
    for package in ("habsburg", MODEL_CODE, "pyabc"):
        state(**{**here, package: "0.1"})
        assert main(["calibrate", str(spec_path), "--serial", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{package} 0.1 (" in err and f"here {here[package]})" in err, err
        assert "--restart" in err
        assert "Traceback" not in err and str(out) in err
        assert (out / DB_NAME).read_bytes() == b"a history"  # nothing run or written
        assert sorted(p.name for p in out.iterdir()) == [DB_NAME, STATE_NAME]
    # the versions agree, but the file is no history (a crash as pyabc created it): named
    state(**here)
    assert main(["calibrate", str(spec_path), "--serial", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds no calibration history pyabc can read" in err and "--restart" in err, err
    assert "Traceback" not in err and (out / DB_NAME).read_bytes() == b"a history"
    changed = {**here, "numpy": "0.1", "scipy": "0.1", "pandas": "0.1", "python": "3.0"}
    for accepted in (changed, {}):
        state(**accepted)
        assert check_history(out, key) == accepted  # resumed
    (out / STATE_NAME).write_text('{"fingerprint": ')  # a state file cut short
    with pytest.raises(CalibrationError, match="another spec"):
        check_history(out, key)


def test_cli_reports_a_bad_spec_without_a_traceback(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(
        'scenario = "baseline"\nstudies = ["ahrefs"]\n[[parameters]]\npath = "demand.adoption.ceiling"\n'
    )
    assert main(["calibrate", str(spec), "--serial", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "out-of-sample" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_malformed_spec_file_is_named_with_its_line(tmp_path):
    spec = tmp_path / "broken.toml"
    spec.write_text('scenario = "baseline"\n[abc\npopulation = 4\n')
    with pytest.raises(CalibrationError, match=r"broken\.toml: malformed TOML: .*line 2"):
        load_spec(spec)


def test_the_largest_particle_is_the_worst_corner_of_the_moving_priors():
    """Only priors that move the memory projection are searched; of those, every corner. The
    assistant's ceiling moves no document count; more demand and more authors both add
    documents, so the worst corner is both high, whatever the order of the priors."""
    spec = _spec(
        parameters=[
            {"path": "humans.assistant.ceiling", "range": [0.1, 0.9]},
            {"path": "demand.adoption.ceiling", "range": [3000.0, 12000.0]},
            {"path": "humans.authors", "range": [500, 4000]},
        ]
    )
    scenario, settings = largest_particle(spec)
    assert settings["demand.adoption.ceiling"] == 12000.0 and settings["humans.authors"] == 4000
    assert scenario.demand.adoption.ceiling == 12000.0 and scenario.humans.authors == 4000
    assert spec.scenario.humans.authors == 2000  # the spec's scenario is left as it was
    biggest = project(scenario).memory_bytes
    for ceiling in (3000.0, 12000.0):  # every other corner needs less
        for authors in (500, 4000):
            other = point_scenario(
                spec.scenario,
                [("demand.adoption.ceiling", ceiling), ("humans.authors", authors)],
            )
            assert project(other).memory_bytes <= biggest


def test_a_calibration_whose_priors_reach_too_large_a_run_is_refused(tmp_path, capsys):
    """A prior range reaching 1e9 requests a month ended, seconds in, in "Cannot allocate
    memory" and Dask workers' tracebacks. Refused before any work now, naming the corner."""
    spec = _spec(parameters=[{"path": "demand.adoption.ceiling", "range": [3000.0, 1e9]}])
    with pytest.raises(
        LimitError,
        match=r"^spec\.toml: a particle at demand\.adoption\.ceiling = "
        r"1e\+09 \(the corner of the prior ranges that needs the most memory\)",
    ):
        check_calibration_limits(spec, available=64 * 2**30)
    with pytest.raises(LimitError, match=r"\(2 simulations at once\).*use fewer --workers"):
        check_calibration_limits(
            _spec(parameters=[{"path": "demand.adoption.ceiling", "range": [3000.0, 12000.0]}]),
            runs=2,
            available=int(0.9 * 2**30),
        )
    check_calibration_limits(spec, force=True, available=2**30)  # --force: tried anyway
    check_calibration_limits(_spec(), available=64 * 2**30)  # the usual ranges fit
    path = tmp_path / "big.toml"
    path.write_text(
        'scenario = "baseline"\n[[parameters]]\npath = "demand.adoption.ceiling"\n'
        "range = [3000.0, 1e9]\n"
    )
    out = tmp_path / "out"
    assert main(["calibrate", str(path), "--serial", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "big.toml: a particle at demand.adoption.ceiling = 1e+09" in err
    assert "Traceback" not in err and not out.exists()  # refused before any work


class _OtherWorkers:
    """A Dask client whose one worker reports another model code (what ``check_workers`` asks)."""

    def run(self, function):
        return {"tcp://10.0.0.9:4000": {**function(), MODEL_CODE: "0123456789abcdef"}}


def test_a_given_client_whose_workers_run_other_model_code_is_refused(tmp_path):
    """The particles would be simulated by another model than the one the results name:
    refused before pyabc starts, naming the worker (``--scheduler`` goes through the sweep's
    ``connect``, tested with the sweeps)."""
    spec = load_spec(_spec_file(tmp_path, generations=1, **{**ABC, "population": 4}))
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"worker tcp://10\.0\.0\.9:4000 of the given Dask client"):
        calibrate(spec, out, client=_OtherWorkers())
    assert not (out / DB_NAME).exists()  # no history begun


def test_a_users_file_named_like_a_result_is_refused_before_any_work(tmp_path, capsys):
    """(It was refused only after every generation had run, the history left behind.)"""
    spec_path = _spec_file(tmp_path, generations=1, **{**ABC, "population": 4})
    out = tmp_path / "out"
    out.mkdir()
    (out / "posterior_summary.csv").write_text("my own summary")
    assert main(["calibrate", str(spec_path), "--serial", "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert "already holds posterior_summary.csv, which habsburg did not write" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["posterior_summary.csv"]  # no history


def test_a_directory_beside_the_spec_named_like_its_scenario_is_not_read(tmp_path):
    """A spec's ``scenario = "baseline"`` beside a directory ``baseline/`` (a run's results, say)
    read the directory as the scenario file and was refused: "scenario file '.../baseline' is
    a directory, not a file"."""
    spec = tmp_path / "spec.toml"
    spec.write_text((Path(__file__).parents[2] / "examples/calibration/baseline.toml").read_text())
    (tmp_path / "baseline").mkdir()
    assert load_spec(spec).scenario == load_scenario("baseline")
