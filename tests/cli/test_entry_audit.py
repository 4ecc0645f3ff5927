"""An audit of the entry points (the command line, scenario files, sweep specs, results
directories): bad input the other tests did not try gets one line naming the file, the key and
the allowed values, exit status 2, before any work and without a directory made."""

from __future__ import annotations

import pytest
from tinyscenario import MINI

from habsburg.cli import main
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import load_text

#: the mini scenario's model, retrained every month (so a changed data policy is used at once)
MODEL = 'name = "m"\nlab = "l"\nlaunch = "2020-03"\n'


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a simulation, a comparison or a sweep starts."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    for target in (
        "habsburg.experiments.run.simulate",
        "habsburg.experiments.compare.run_sweep",
        "habsburg.experiments.sweep.orchestration.run_tasks",
    ):
        monkeypatch.setattr(target, forbidden)


def refused(argv: list[str], capsys) -> str:
    """The one line of a refusal (exit status 2, no traceback) of command ``argv``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def scenario_file(workdir, text: str, name: str = "case.toml") -> str:
    (workdir / name).write_text(text)
    return name


# --- --scale beyond any float a size can take ---------------------------------------------------
@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_huge_scale_is_refused_before_any_work(workdir, capsys, no_work, command):
    """``--scale 1e308`` made every size infinite: an internal error (OverflowError)."""
    scenarios = ["mini.toml"] if command == "run" else ["mini.toml", "mini.toml"]
    argv = [command, *scenarios, "--scale", "1e308", "--out", "out", "--quiet"]
    err = refused(argv, capsys)
    assert "--scale must be at most 1e+06 (as in a sweep), got 1e+308" in err
    assert not (workdir / "out").exists()


# --- sizes the document store cannot hold are refused when the scenario is read ----------------
def test_values_per_fact_is_declared_as_the_store_holds_it(workdir, capsys, no_work):
    """The schema allowed up to 1,000 values a fact; the store holds 127 (an int8 column), so
    128 was refused only when the run was built, after its directory was made, without the
    file's name."""
    text = MINI.replace("facts = 20\n", "facts = 20\nvalues_per_fact = 128\n")
    argv = ["run", scenario_file(workdir, text), "--out", "out", "--quiet", "--no-report"]
    err = refused(argv, capsys)
    assert "case.toml: world.values_per_fact: 128 is out of range; allowed [2, 127]" in err
    assert not (workdir / "out").exists()
    load_text(MINI.replace("facts = 20\n", "facts = 20\nvalues_per_fact = 127\n"))  # the edge
    from habsburg.scenarios.parameters import declarations

    assert declarations()["world.values_per_fact"].high == 127  # a sweep's default range too


def test_too_many_models_is_refused_naming_the_file(workdir, capsys, no_work):
    models = "".join(
        f'[[models]]\nname = "m{i}"\nlab = "l"\nlaunch = "2020-03"\n' for i in range(128)
    )
    text = MINI.replace(f"[[models]]\n{MODEL}", models)
    argv = ["run", scenario_file(workdir, text), "--steps", "2", "--out", "out", "--quiet"]
    err = refused(argv, capsys)
    assert "case.toml: 128 [[models]]; the document store holds at most 127" in err
    assert not (workdir / "out").exists()


def test_too_many_months_are_refused_naming_the_file(workdir, capsys, no_work):
    text = MINI.replace('end = "2020-06"', 'end = "9999-12"')
    argv = ["run", scenario_file(workdir, text), "--steps", "2", "--out", "out", "--quiet"]
    err = refused(argv, capsys)
    assert (
        "case.toml: start (2020-01) .. end (9999-12) is 95,760 months; the document store "
        "holds at most 32,767: move end closer to start"
    ) in err
    assert not (workdir / "out").exists()
    # the last month that fits
    load_text(
        MINI.replace('start = "2020-01"', 'start = "0001-01"').replace(
            'end = "2020-06"', 'end = "2731-07"'
        )
    )


def test_a_sweep_point_with_too_many_months_is_refused_before_any_run(workdir, capsys, no_work):
    """A swept ``end`` past the store's months failed in the run (exit status 1, a failed run),
    after the sweep directory was made."""
    (workdir / "spec.toml").write_text(
        'scenario = "mini.toml"\nsteps = 2\n[[parameters]]\npath = "end"\n'
        'values = ["2020-06", "9999-12"]\n'
    )
    err = refused(["sweep", "spec.toml", "--serial", "--quiet", "--out", "s"], capsys)
    assert "spec.toml: point 1: start (2020-01) .. end (9999-12) is 95,760 months" in err
    assert not (workdir / "s").exists()


# --- interventions cannot leave the scenario in a state its file could not be in ---------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            '"models.*.data.scrapers" = ["ghost"]',
            "models[0].data.scrapers names 'ghost'; scrapers: ['s']",
        ),
        (
            '"models.m.data.distill_from" = "ghost"',
            "models[0].data.distill_from 'ghost' is not a model; models: ['m']",
        ),
        (
            '"models.*.data.human_reservoir" = 0.8, "models.*.data.sensor_fraction" = 0.8',
            "models[0].data.human_reservoir + models[0].data.sensor_fraction + "
            "models[0].data.distill_fraction = 0.8 + 0.8 + 0 = 1.6 > 1 (model 'm': shares of its "
            "training budget)",
        ),
        (
            '"instruments.liang.floor" = 0.5, "instruments.liang.ceiling" = 0.5',
            "instruments.liang.floor (0.5) must be below instruments.liang.ceiling (0.5)",
        ),
    ],
)
def test_an_intervention_that_breaks_the_scenario_is_refused(
    workdir, capsys, no_work, settings, message
):
    """Each value of an intervention was checked alone, so a data policy buying from a scraper
    that does not exist (or distilling from no model, or more than its whole budget) ran without
    a word from the month it applied."""
    text = MINI + f'[[interventions]]\nat = "2020-04"\nset = {{ {settings} }}\n'
    argv = ["run", scenario_file(workdir, text), "--out", "out", "--quiet", "--no-report"]
    err = refused(argv, capsys)
    assert "case.toml: after interventions[0] (2020-04): " + message in err
    assert not (workdir / "out").exists()


def test_interventions_are_checked_in_the_order_they_apply():
    """A change another intervention makes valid again at the same month or later is fine; one
    undone only later is refused, naming the intervention that broke it."""
    fine = MINI + (
        '[[interventions]]\nat = "2020-05"\nset = { "models.m.data.sensor_fraction" = 0.1 }\n'
        '[[interventions]]\nat = "2020-04"\nset = { "models.m.data.human_reservoir" = 0.9 }\n'
    )
    load_text(fine)
    broken = fine.replace("0.1 }", "0.2 }")
    with pytest.raises(ScenarioError, match=r"after interventions\[0\] \(2020-05\).* = 1\.1 > 1"):
        load_text(broken, "case.toml")


# --- --store-dir is not made for a spec that is refused -----------------------------------------
@pytest.mark.parametrize("command", ["sweep", "sensitivity"])
def test_a_bad_spec_makes_no_store_dir(workdir, capsys, no_work, command):
    err = refused([command, "nope.toml", "--serial", "--store-dir", "store", "--out", "s"], capsys)
    assert "sweep spec 'nope.toml' does not exist" in err
    assert not (workdir / "store").exists() and not (workdir / "s").exists()


# --- --store-dir is not made for a command refused after it was checked ----------------------------
@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_a_refused_output_directory_makes_no_store_dir(workdir, capsys, no_work, command):
    """``--store-dir`` is checked (writable, or makeable) before ``--out`` is; a refusal of
    ``--out`` (a directory of the user's files) left an empty ``--store-dir`` made behind it."""
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("the user's")
    (workdir / "spec.toml").write_text(
        'scenario = "mini.toml"\nsteps = 2\n[[parameters]]\npath = "watermark.adoption"\n'
        "values = [0.0, 0.5]\n"
    )
    inputs = {"run": ["mini.toml"], "compare": ["mini.toml", "mini.toml"], "sweep": ["spec.toml"]}
    argv = [command, *inputs[command], "--store-dir", "new/store", "--out", "mine", "--quiet"]
    err = refused(argv + (["--serial"] if command == "sweep" else []), capsys)
    assert "'mine'" in err
    assert not (workdir / "new").exists()
    assert (workdir / "mine" / "notes.txt").read_text() == "the user's"


def test_a_store_dir_that_cannot_be_made_is_refused_naming_the_file_in_its_way(
    workdir, capsys, no_work
):
    (workdir / "afile").write_text("x")
    err = refused(["run", "mini.toml", "--store-dir", "afile/store", "--out", "o"], capsys)
    assert "--store-dir 'afile/store' cannot be created: 'afile' is not a directory" in err
    assert not (workdir / "o").exists() and (workdir / "afile").read_text() == "x"


# --- two axes of a sweep that set one setting --------------------------------------------------
def test_two_axes_setting_the_same_setting_are_refused(workdir, capsys, no_work):
    """``models.*.temperature`` and ``models.m.temperature`` both set model m's temperature:
    one of the two columns of the results was never used."""
    (workdir / "spec.toml").write_text(
        'scenario = "mini.toml"\nsteps = 2\n'
        '[[parameters]]\npath = "models.*.temperature"\nvalues = [1.0]\n'
        '[[parameters]]\npath = "models.m.temperature"\nvalues = [0.5, 2.0]\n'
    )
    err = refused(["sweep", "spec.toml", "--serial", "--quiet", "--out", "s"], capsys)
    assert (
        "spec.toml: parameters[1] ('models.m.temperature') sets models.m.temperature, which "
        "parameters[0] ('models.*.temperature') sets too"
    ) in err
    assert not (workdir / "s").exists()


def test_a_set_value_a_wider_axis_overrides_is_refused(workdir, capsys, no_work):
    (workdir / "spec.toml").write_text(
        'scenario = "mini.toml"\nsteps = 2\nset = { "models.m.temperature" = 0.7 }\n'
        '[[parameters]]\npath = "models.*.temperature"\nvalues = [0.5, 2.0]\n'
    )
    err = refused(["sweep", "spec.toml", "--serial", "--quiet", "--out", "s"], capsys)
    assert "spec.toml: set: 'models.m.temperature' is also swept (parameters[0])" in err


# --- paths Apache Arrow cannot take -------------------------------------------------------------
NOT_UTF8 = b"out\xff".decode("utf-8", "surrogateescape")  # a file name of bytes that are not UTF-8


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["run", "mini.toml", "--out", NOT_UTF8, "--quiet"], "--out"),
        (["run", "mini.toml", "--store-dir", NOT_UTF8, "--quiet"], "--store-dir"),
        (["compare", "mini.toml", "mini.toml", "--out", NOT_UTF8, "--quiet"], "--out"),
        (["sweep", "spec.toml", "--serial", "--out", NOT_UTF8, "--quiet"], "--out"),
    ],
)
def test_a_path_that_is_not_utf8_is_refused_before_any_work(workdir, capsys, no_work, argv, flag):
    """Arrow takes only UTF-8 paths: a run into ``out\\xff`` simulated, then failed writing its
    tables with an internal error (UnicodeEncodeError), leaving an empty directory."""
    (workdir / "spec.toml").write_text(
        'scenario = "mini.toml"\nsteps = 2\n[[parameters]]\npath = "humans.error_rate"\n'
        "values = [0.0]\n"
    )
    err = refused(argv, capsys)
    assert f"{flag} 'out\\udcff' is not UTF-8 text" in err and "rename it" in err
    assert not any(p.name.startswith("out") for p in workdir.iterdir())


def test_report_refuses_a_run_directory_whose_name_is_not_utf8(workdir, capsys):
    """It analysed the run, then failed reading a table: an internal error."""
    assert main(["run", "mini.toml", "--out", "r", "--quiet", "--no-report"]) == 0
    (workdir / "r").rename(workdir / NOT_UTF8)
    err = refused(["report", NOT_UTF8, "--quiet"], capsys)
    assert "RUN_DIR 'out\\udcff' is not UTF-8 text" in err
    assert sorted(p.name for p in (workdir / NOT_UTF8).iterdir()) == sorted(
        p.name for p in (workdir / NOT_UTF8).iterdir() if p.suffix in (".parquet", ".json")
    )  # no figures, no report
