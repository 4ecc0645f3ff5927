"""Checkpoints: a run resumed from its last checkpoint gives the tables of an uninterrupted run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from habsburg.cli import main
from habsburg.model.model import EcosystemModel
from habsburg.experiments.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from habsburg.experiments.run import run_scenario, simulate
from habsburg.scenarios.schema import ScenarioError, load_file

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
STEPS = 24


@pytest.fixture(scope="module")
def tiny():
    return load_file(TINY)


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "run"
    run_scenario(tiny, steps=STEPS, out=out)
    return out


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))}


def _assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


class Interrupt(Exception):
    pass


def test_model_pickles_with_its_random_state(tiny):
    model = simulate(tiny, steps=8)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.steps == model.steps
    assert copy.rng.random() == model.rng.random()  # same generator state
    for m in (model, copy):
        m.step()
    pd.testing.assert_frame_equal(
        model.datacollector.get_model_vars_dataframe(),
        copy.datacollector.get_model_vars_dataframe(),
    )


def test_resume_after_interruption_gives_identical_tables(
    tiny, uninterrupted, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    # Interrupt inside the month (not by patching ``step``, which Mesa keeps as a bound method).
    real = EcosystemModel._apply_interventions

    def interrupted(self, t):
        if t == 18:  # months 0..17 done, so the checkpoint after month 16 exists
            raise Interrupt
        real(self, t)

    monkeypatch.setattr(EcosystemModel, "_apply_interventions", interrupted)
    with pytest.raises(Interrupt):
        run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8)
    ckpt = checkpoint_path(out)
    assert ckpt.exists()
    assert not (out / "model_metrics.parquet").exists()

    months = []

    def counting(self, t):
        months.append(t)
        real(self, t)

    monkeypatch.setattr(EcosystemModel, "_apply_interventions", counting)
    run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8, resume=True)
    assert months == list(range(16, STEPS))  # resumed after month 16, not from the start
    assert not ckpt.exists()  # removed once the results are written
    _assert_same_tables(uninterrupted, out)


def test_cli_flags_checkpoint_and_resume(uninterrupted, tmp_path):
    out = tmp_path / "cli"
    argv = ["run", str(TINY), "--steps", str(STEPS), "--out", str(out), "--no-report", "--quiet"]
    assert main([*argv, "--checkpoint-every", "10", "--resume"]) == 0
    assert not checkpoint_path(out).exists()
    _assert_same_tables(uninterrupted, out)
    assert main([*argv, "--checkpoint-every", "0"]) == 2


def test_checkpoint_of_another_scenario_or_seed_is_refused(tiny, tmp_path):
    model = simulate(tiny, steps=3)
    path = save_checkpoint(model, tmp_path / "c.pkl", tiny, None)
    assert load_checkpoint(path, tiny, None).steps == 3
    with pytest.raises(ScenarioError, match="different scenario or seed"):
        load_checkpoint(path, tiny, 99)
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ScenarioError, match=r"bad\.pkl"):
        load_checkpoint(tmp_path / "bad.pkl", tiny, None)
    with pytest.raises(ScenarioError, match="past the 2 months"):
        simulate(tiny, steps=2, checkpoint=path, resume=True)
