"""Checkpoints: a run resumed from its last checkpoint gives the tables of an uninterrupted run,
and ``--resume`` loads only checkpoints this user wrote for this scenario, seed and version."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest
from resultdirs import assert_same_tables

from habsburg.cli import main
from habsburg.experiments import checkpoint as ckpt_mod
from habsburg.experiments import run as run_mod
from habsburg.experiments.checkpoint import (
    MAGIC,
    checkpoint_key,
    checkpoint_path,
    load_checkpoint,
    read_header,
    save_checkpoint,
)
from habsburg.experiments.run import run_scenario, simulate
from habsburg.experiments.versions import COMMIT, MODEL_CODE, model_code
from habsburg.scenarios.errors import CheckpointError, Interrupted, ScenarioError
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import load_file

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
STEPS = 24


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    """Each test gets its own user configuration directory (and so its own checkpoint key)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture(scope="module")
def tiny():
    return load_file(TINY)


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "run"
    run_scenario(tiny, steps=STEPS, out=out)
    return out


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
    real_save, real_load = run_mod.save_checkpoint, run_mod.load_checkpoint
    saved = []

    def save_then_interrupt(model, *args):
        real_save(model, *args)
        saved.append(model.steps)
        if model.steps == 16:  # Ctrl-C in the month after the second checkpoint
            raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "save_checkpoint", save_then_interrupt)
    with pytest.raises(Interrupted, match=r"after month 16 .*resume with"):
        run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8)
    ckpt = checkpoint_path(out)
    assert ckpt.exists() and saved == [8, 16]
    assert not (out / "model_metrics.parquet").exists()

    resumed_at = []

    def loading(*args, **kwargs):
        model = real_load(*args, **kwargs)
        resumed_at.append(model.steps)
        return model

    monkeypatch.setattr(run_mod, "save_checkpoint", real_save)
    monkeypatch.setattr(run_mod, "load_checkpoint", loading)
    run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8, resume=True)
    assert resumed_at == [16]  # resumed after month 16, not from the start
    assert not ckpt.exists()  # removed once the results are written
    assert_same_tables(uninterrupted, out)


def test_ctrl_c_while_the_results_are_written_replaces_nothing_and_keeps_the_checkpoint(
    tiny, uninterrupted, tmp_path, monkeypatch
):
    """Ctrl-C while a rerun writes its tables: the results already in the directory stay byte
    for byte, the message says nothing was replaced and how to resume (the checkpoint after the
    last month is kept), and the resume writes the uninterrupted run's tables. Without a
    checkpoint the message says none was written."""
    out = tmp_path / "run"
    run_scenario(tiny, steps=STEPS, out=out, seed=5)  # earlier results in the directory
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_write = run_mod.write_tables

    def interrupted(*args, **kwargs):
        real_write(*args, **kwargs)  # (the tables are in the temporary directory, not moved)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "write_tables", interrupted)
    with pytest.raises(
        Interrupted,
        match=rf"interrupted while writing the results \(nothing was replaced\); checkpoint "
        rf"after month {STEPS} kept in .*; resume with",
    ):
        run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".pkl"} == (
        before
    )
    assert checkpoint_path(out).exists()
    with pytest.raises(
        Interrupted,
        match=r"interrupted while writing the results \(nothing was replaced\); no checkpoint",
    ):
        run_scenario(tiny, steps=STEPS, out=tmp_path / "plain")
    monkeypatch.setattr(run_mod, "write_tables", real_write)
    run_scenario(tiny, steps=STEPS, out=out, checkpoint_every=8, resume=True)
    assert not checkpoint_path(out).exists()
    assert_same_tables(uninterrupted, out)


def test_a_run_never_removes_another_runs_checkpoint(tiny, tmp_path):
    """A run into a directory holding the checkpoint of an interrupted run of another scenario
    or seed is refused before any work (it removed that checkpoint once its own results were
    written); the same run started over without --resume replaces its own checkpoint."""
    out = tmp_path / "run"
    out.mkdir()
    ckpt = checkpoint_path(out)
    save_checkpoint(simulate(tiny, steps=3), ckpt, tiny, None)
    written = ckpt.read_bytes()
    with pytest.raises(CheckpointError, match=r"run of 'sweep-tiny' \(after month 3\)"):
        run_scenario(scaled(tiny, 2), steps=4, out=out)
    with pytest.raises(CheckpointError, match=rf"'sweep-tiny' with seed {tiny.seed} .*--out"):
        run_scenario(tiny, seed=5, steps=4, out=out, checkpoint_every=2)
    assert ckpt.read_bytes() == written and not (out / "manifest.json").exists()
    run_scenario(tiny, steps=4, out=out)  # this run's own checkpoint: started over
    assert not ckpt.exists() and (out / "manifest.json").exists()


def test_cli_flags_checkpoint_and_resume(uninterrupted, tmp_path):
    out = tmp_path / "cli"
    argv = ["run", str(TINY), "--steps", str(STEPS), "--out", str(out), "--no-report", "--quiet"]
    assert main([*argv, "--checkpoint-every", "10", "--resume"]) == 0
    assert not checkpoint_path(out).exists()
    assert_same_tables(uninterrupted, out)
    assert main([*argv, "--checkpoint-every", "0"]) == 2


def test_checkpoint_of_another_scenario_seed_or_version_is_refused(tiny, tmp_path, monkeypatch):
    model = simulate(tiny, steps=3)
    path = save_checkpoint(model, tmp_path / "c.pkl", tiny, None)
    assert load_checkpoint(path, tiny, None).steps == 3
    with pytest.raises(CheckpointError, match="different seed"):
        load_checkpoint(path, tiny, 99)
    other = load_file(TINY)
    other.humans.authors += 1
    before = tiny.humans.authors
    with pytest.raises(
        CheckpointError,
        match=rf"scenario 'sweep-tiny' with other settings \(humans\.authors: {before} → "
        rf"{before + 1}\); resume",
    ):
        load_checkpoint(path, other, None)  # the same name, other settings (named)
    # a checkpoint written before the header kept the settings says only that they differ
    header, _, _, body = read_header(path)
    del header["settings"]
    old = tmp_path / "old.pkl"
    new_head = json.dumps(header, sort_keys=True).encode() + b"\n"
    mac = hmac.new(checkpoint_key(), new_head + body, hashlib.sha256).digest()
    old.write_bytes(MAGIC + mac + new_head + body)
    with pytest.raises(CheckpointError, match=r"'sweep-tiny' with other settings; resume"):
        load_checkpoint(old, other, None)
    # a scaled run's checkpoint is named by its scenario, not by hashes nobody can read
    with pytest.raises(
        CheckpointError, match=r"different scenario \('sweep-tiny', this run has 'sweep-tiny-x2'\)"
    ):
        load_checkpoint(path, scaled(tiny, 2), None)
    with monkeypatch.context() as patch:
        patch.setattr(ckpt_mod, "installed_version", lambda name: "9.9.9")
        with pytest.raises(CheckpointError, match="different habsburg version"):
            load_checkpoint(path, tiny, None)
    # written where numpy was another version: the rest of the run would draw other numbers
    here = ckpt_mod.result_versions()
    with monkeypatch.context() as patch:
        patch.setattr(ckpt_mod, "result_versions", lambda: {**here, "numpy": "1.26.4"})
        elsewhere = save_checkpoint(model, tmp_path / "numpy.pkl", tiny, None)
    with pytest.raises(
        CheckpointError, match=rf"written with numpy 1\.26\.4 \(here {here['numpy']}\)"
    ):
        load_checkpoint(elsewhere, tiny, None)
    # written by other code of the model (a checkout at another commit; the version string is
    # the same): named with the commit it was written at, which the header records
    with monkeypatch.context() as patch:
        other_code = {**here, MODEL_CODE: "0123456789abcdef", COMMIT: "a1b2c3d4e5f6"}
        patch.setattr(ckpt_mod, "result_versions", lambda: other_code)
        elsewhere = save_checkpoint(model, tmp_path / "code.pkl", tiny, None)
    with pytest.raises(
        CheckpointError,
        match=rf"written with {MODEL_CODE} 0123456789abcdef \(git commit a1b2c3d4e5f6; here "
        rf"{model_code()}\); a seed gives the same run only with the same versions",
    ):
        load_checkpoint(elsewhere, tiny, None)
    (tmp_path / "bad.pkl").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pkl.*not a habsburg checkpoint"):
        load_checkpoint(tmp_path / "bad.pkl", tiny, None)
    with pytest.raises(CheckpointError, match="past the 2 months"):
        simulate(tiny, steps=2, checkpoint=path, resume=True)


class _Exploit:
    """A pickle that would create a file when loaded."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_tampered_or_foreign_checkpoint_is_refused_before_unpickling(
    tiny, tmp_path, private_config, monkeypatch
):
    model = simulate(tiny, steps=2)
    path = save_checkpoint(model, tmp_path / "c.pkl", tiny, None)
    key = private_config / "habsburg" / "checkpoint.key"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600  # the user's own secret
    assert not (tmp_path / "checkpoint.key").exists()

    # A crafted checkpoint: the header copied from a real one, the body an exploit pickle.
    pwned = tmp_path / "pwned"
    data = path.read_bytes()
    head_end = data.index(b"\n", len(MAGIC) + 32) + 1
    crafted = data[:head_end] + pickle.dumps(_Exploit(pwned))
    (tmp_path / "crafted.pkl").write_bytes(crafted)
    with pytest.raises(CheckpointError, match="not authenticated by your key"):
        load_checkpoint(tmp_path / "crafted.pkl", tiny, None)
    assert not pwned.exists()  # nothing was unpickled

    # One flipped byte anywhere in the body.
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    (tmp_path / "flipped.pkl").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="not authenticated"):
        load_checkpoint(tmp_path / "flipped.pkl", tiny, None)

    # Written by another user (another key): refused too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))
    assert checkpoint_key() != key.read_bytes()
    with pytest.raises(CheckpointError, match="another account or machine"):
        load_checkpoint(path, tiny, None)


def test_cli_resume_refuses_a_tampered_checkpoint(tmp_path):
    out = tmp_path / "run"
    argv = ["run", str(TINY), "--steps", "6", "--out", str(out), "--no-report", "--quiet"]
    ckpt = checkpoint_path(out)
    out.mkdir()
    model = simulate(load_file(TINY), steps=4)
    save_checkpoint(model, ckpt, load_file(TINY), None)
    data = bytearray(ckpt.read_bytes())
    data[-5] ^= 0x01
    ckpt.write_bytes(bytes(data))
    assert main([*argv, "--resume"]) == 2
    assert not (out / "manifest.json").exists()
    os.unlink(ckpt)
    assert main([*argv, "--resume"]) == 0  # no checkpoint: starts from the beginning


def test_a_damaged_checkpoint_or_key_is_named_not_loaded(tiny, tmp_path, private_config):
    model = simulate(tiny, steps=2)
    path = save_checkpoint(model, tmp_path / "c.pkl", tiny, None)
    data = path.read_bytes()
    # not a checkpoint at all, or one cut short before its header ends
    for name, content in (("other.pkl", b"PK\x03\x04 a zip file"), ("short.pkl", data[:40])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match="is not a habsburg checkpoint"):
            load_checkpoint(tmp_path / name, tiny, None)
    # the magic and a MAC, then a header that is not JSON
    head_end = data.index(b"\n", len(MAGIC) + 32) + 1
    garbled = data[: len(MAGIC) + 32] + b"{not json\n" + data[head_end:]
    (tmp_path / "garbled.pkl").write_bytes(garbled)
    with pytest.raises(CheckpointError, match="has a damaged header; delete it"):
        load_checkpoint(tmp_path / "garbled.pkl", tiny, None)
    # a directory where the checkpoint should be
    (tmp_path / "dir.pkl").mkdir()
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*dir\.pkl"):
        load_checkpoint(tmp_path / "dir.pkl", tiny, None)
    # a key file cut short: refused, never silently replaced (its checkpoints would be lost)
    key = private_config / "habsburg" / "checkpoint.key"
    key.write_bytes(b"short")
    with pytest.raises(CheckpointError, match=r"is damaged \(shorter than 32 bytes\)"):
        load_checkpoint(path, tiny, None)
    assert key.read_bytes() == b"short"


class RenamedSince:
    """Stands for a class a checkpoint's pickle names and this code no longer has."""


def _signed(path: Path, head: bytes, body: bytes) -> Path:
    """A checkpoint of ``head`` and ``body`` signed with this user's key (as habsburg writes)."""
    mac = hmac.new(checkpoint_key(), head + body, hashlib.sha256).digest()
    path.write_bytes(MAGIC + mac + head + body)
    return path


def test_an_authenticated_checkpoint_that_cannot_be_used_is_named(tiny, tmp_path, monkeypatch):
    """Written by this user for this run, yet unusable: a pickle naming a class this code no
    longer has, or a model at another month than its header says. Refused, naming the file and
    what to do, and left where it is."""
    model = simulate(tiny, steps=2)
    path = save_checkpoint(model, tmp_path / "c.pkl", tiny, None)
    _, _, head, body = ckpt_mod.read_header(path)

    renamed = _signed(tmp_path / "renamed.pkl", head, pickle.dumps(RenamedSince()))
    monkeypatch.delattr(sys.modules[__name__], "RenamedSince")
    with pytest.raises(
        CheckpointError,
        match=r"cannot resume from checkpoint .*renamed\.pkl'.*RenamedSince.*delete it to start",
    ):
        load_checkpoint(renamed, tiny, None)
    assert renamed.exists()

    header = json.loads(head)
    header["steps"] += 1
    moved = json.dumps(header, sort_keys=True).encode() + b"\n"
    inconsistent = _signed(tmp_path / "inconsistent.pkl", moved, body)
    with pytest.raises(CheckpointError, match=r"inconsistent\.pkl' is inconsistent; delete it"):
        load_checkpoint(inconsistent, tiny, None)
    assert load_checkpoint(path, tiny, None).steps == model.steps  # (the real one loads)


def test_checkpoint_settings_are_checked_before_any_work(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", str(TINY), "--steps", "4", "--out", str(out), "--quiet"]
    assert main([*argv, "--checkpoint-every", "0"]) == 2
    assert "--checkpoint-every must be >= 1 month, got 0" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ScenarioError, match=r"need an output directory"):
        run_scenario(tiny, steps=4, checkpoint_every=2)
    with pytest.raises(ScenarioError, match=r"--checkpoint-every must be >= 1"):
        simulate(tiny, steps=4, checkpoint_every=0)
