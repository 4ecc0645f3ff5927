"""The largest run of a sweep or a calibration, found before any work: the worst corner of
the swept values or prior ranges (``habsburg.experiments.limits.worst_corner``)."""

import itertools

import pytest

from habsburg.cli import main
from habsburg.experiments import limits
from habsburg.experiments.limits import project, worst_corner
from habsburg.experiments.sweep import point_scenario
from habsburg.scenarios.library import load_scenario

ENDS = {
    "demand.adoption.ceiling": [3000.0, 12000.0],
    "humans.tokens_per_concept": [5.0, 40.0],  # fewer tokens a concept: more concepts to store
    "humans.error_rate": [0.0, 0.3],  # moves no document and no byte
}


def test_the_worst_corner_is_the_largest_of_every_combination():
    base = load_scenario("baseline")

    def make(settings):
        return point_scenario(base, list(settings.items()))

    scenario, corner = worst_corner(ENDS, make)
    assert corner == {
        "demand.adoption.ceiling": 12000.0,
        "humans.tokens_per_concept": 5.0,  # its low end
        "humans.error_rate": 0.3,  # left at its last value
    }
    assert scenario.humans.tokens_per_concept == 5.0 and base.humans.tokens_per_concept == 50.0
    every = [dict(zip(ENDS, combo, strict=True)) for combo in itertools.product(*ENDS.values())]
    assert project(scenario).memory_bytes == max(project(make(s)).memory_bytes for s in every)


def test_a_sweep_past_256_points_is_checked_at_its_corner(tmp_path, capsys, monkeypatch):
    """Only a sweep's first 256 points were projected: a grid whose large value came at point
    300 started, and ran until that point's runs failed with "Cannot allocate memory"."""
    monkeypatch.setattr(limits, "available_memory", lambda: 16 * 2**30)  # a 16 GiB machine
    spec = tmp_path / "late.toml"
    spec.write_text(
        'name = "late"\nscenario = "baseline"\nseeds = 1\n'
        '[[parameters]]\npath = "demand.adoption.ceiling"\nvalues = [3000.0, 1e9]\n'
        '[[parameters]]\npath = "humans.error_rate"\nrange = [0.0, 0.3]\nnum = 300\n'
    )

    def forbidden(*args, **kwargs):
        raise AssertionError("the sweep started before its largest point was checked")

    monkeypatch.setattr("habsburg.experiments.sweep.orchestration.run_tasks", forbidden)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--serial", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "projected to publish ~87," in err
    assert (
        "(at demand.adoption.ceiling = 1000000000.0, humans.error_rate = 0.3: the corner of "
        "the swept values that needs the most memory)" in err
    )
    # a sweep is shortened by its spec's key: it has no --steps flag (the refusal named it)
    assert " or the spec's 'steps'," in err and "--steps" not in err
    assert "Traceback" not in err and not out.exists()


def test_a_corner_that_fits_is_not_refused(monkeypatch):
    base = load_scenario("baseline")
    ends = {"demand.adoption.ceiling": [3000.0, 6000.0], "humans.error_rate": [0.0, 0.3]}
    scenario, corner = worst_corner(ends, lambda s: point_scenario(base, list(s.items())))
    assert corner["demand.adoption.ceiling"] == 6000.0
    monkeypatch.setattr(limits, "available_memory", lambda: 16 * 2**30)
    assert limits.check_limits(scenario).documents > 0  # fits: the projection, no error


def test_the_memory_refusal_suggests_what_the_command_can_change(tmp_path):
    """Sweeps, sensitivity analyses and comparisons take --store-dir now: the refusal suggests
    it whatever the runs at once (it said "(habsburg run)", and only for one run), and with
    several runs at once, fewer of them."""
    base = load_scenario("baseline")
    with pytest.raises(limits.LimitError) as two:
        limits.check_limits(base, runs=2, available=2**29)
    assert "(2 runs at once)" in str(two.value)
    assert ", keep the store on disk with --store-dir DIR, run fewer at once (--workers)," in str(
        two.value
    )
    with pytest.raises(limits.LimitError) as one:
        limits.check_limits(base, available=2**29)
    assert "--store-dir DIR, or pass --force" in str(one.value) and "--workers" not in str(
        one.value
    )
    with pytest.raises(limits.LimitError) as on_disk:
        limits.check_limits(base, available=2**26, store_dir=tmp_path, free_disk=2**40)
    assert "--store-dir DIR" not in str(on_disk.value)


def test_the_refusal_names_how_the_command_shortens_a_run(tmp_path):
    base = load_scenario("baseline")
    for kwargs in ({}, {"store_dir": tmp_path, "free_disk": 2**20}):  # memory, then disk
        with pytest.raises(limits.LimitError) as default:
            limits.check_limits(base, available=2**29, **kwargs)
        assert " or --steps," in str(default.value)
        with pytest.raises(limits.LimitError) as none:  # a study that always runs to the end
            limits.check_limits(base, available=2**29, shorten=None, **kwargs)
        assert " or --steps" not in str(none.value) and "--force" in str(none.value)
