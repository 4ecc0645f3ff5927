"""Text-mode scenario files that start from another text scenario (``scenario = NAME|FILE``, a
``name`` and ``[set]`` with setting paths as in text sweep specs)."""

from __future__ import annotations

import dataclasses
import tomllib

import pandas as pd
import pytest
from smallcorpus import LOOP

import habsburg.experiments.text_compare as text_compare_module
from habsburg.cli import main
from habsburg.scenarios.errors import HabsburgError, ScenarioError
from habsburg.scenarios.text_schema import is_text_scenario, load_text_scenario


@pytest.fixture
def loop(tmp_path):
    path = tmp_path / "loop.toml"
    path.write_text(LOOP.format(name="loop", policy="replace"))
    return path


def plain(sc) -> dict:
    data = dataclasses.asdict(sc)
    data.pop("name"), data.pop("description")
    return data


def test_a_text_file_that_starts_from_another_is_the_base_with_its_settings(tmp_path, loop):
    (tmp_path / "keep.toml").write_text(
        'scenario = "loop.toml"\nname = "keep"\n'
        '[set]\n"models.*.policy" = "accumulate"\n"samples.tokens" = 7\n'
    )
    keep = load_text_scenario(tmp_path / "keep.toml")
    want = load_text_scenario(loop)
    want.models[0].policy, want.samples.tokens = "accumulate", 7
    assert plain(keep) == plain(want) and keep.name == "keep"
    assert keep.description == "loop, changed: models.*.policy = 'accumulate'; samples.tokens = 7."
    # files chain, and a library text scenario is a base too
    (tmp_path / "short.toml").write_text(
        'scenario = "keep.toml"\nname = "short"\ndescription = "two generations"\n'
        "[set]\ngenerations = 2\n"
    )
    short = load_text_scenario(tmp_path / "short.toml")
    assert (short.generations, short.models[0].policy, short.description) == (
        2,
        "accumulate",
        "two generations",
    )
    (tmp_path / "hot.toml").write_text(
        'scenario = "text_baseline"\nname = "hot"\n[set]\n"models.*.temperature" = 1.5\n'
    )
    hot = load_text_scenario(tmp_path / "hot.toml")
    base = load_text_scenario("text_baseline")
    assert all(m.temperature == 1.5 for m in hot.models)
    for m in base.models:
        m.temperature = 1.5
    assert plain(hot) == plain(base)
    for path in ("keep.toml", "short.toml", "hot.toml"):  # (the CLI picks the text runner)
        assert is_text_scenario(tmp_path / path)
    (tmp_path / "abstract.toml").write_text('scenario = "baseline"\nname = "a"\n')
    assert not is_text_scenario(tmp_path / "abstract.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('scenario = "loop.toml"\n', "name: a scenario that starts from another needs a name"),
        (
            'scenario = "loop.toml"\nname = "x"\n[times]\ngenerations = 2\n',
            "key 'times' is not allowed in a text-mode file that starts from another",
        ),
        (
            'scenario = "loop.toml"\nname = "x"\n[set]\n"models.*.temprature" = 2\n',
            "x.toml: set: unknown setting 'models.*.temprature' (did you mean 'temperature'?)",
        ),
        (
            'scenario = "loop.toml"\nname = "x"\n[set]\n"models.*.temperature" = 50.0\n',
            "x.toml: models[0].temperature: 50.0 is outside [0.05, 10.0] (from the file's [set] "
            "'models.*.temperature')",
        ),
        # the [set] key a refusal is about, named however it picks the model (and only it)
        (
            'scenario = "text_baseline"\nname = "x"\n[set]\n"models.lab_a.top_p" = 0.5\n'
            '"models.lab_b.top_p" = 2.0\n',
            "x.toml: models[1].top_p: 2.0 is outside [0.01, 1.0] (from the file's [set] "
            "'models.lab_b.top_p')",
        ),
        (
            'scenario = "text_baseline"\nname = "x"\n[set]\n"models.0.top_p" = 0.5\n'
            '"models.1.top_p" = 2.0\n',
            "x.toml: models[1].top_p: 2.0 is outside [0.01, 1.0] (from the file's [set] "
            "'models.1.top_p')",
        ),
        (  # (a whole-scenario check names both settings, so the note finds the one changed)
            'scenario = "loop.toml"\nname = "x"\n[set]\n"models.m.policy" = "distillation"\n',
            "x.toml: models[0].teacher: '' must name one of the scenario's models (m): "
            "models[0].policy is 'distillation' (from the file's [set] 'models.m.policy')",
        ),
        (  # (int('²') was an internal error: found by tests/fuzz/test_fuzz_text.py)
            'scenario = "loop.toml"\nname = "x"\n[set]\n"models.².temperature" = 2.0\n',
            "x.toml: set: path 'models.².temperature': '²' is not '*', an index below 1 or a "
            "name (m)",
        ),
        (  # (numpy's error for a negative seed was an internal one)
            'scenario = "loop.toml"\nname = "x"\n[set]\nseed = -1\n',
            "x.toml: seed: -1 is outside [0, 9223372036854775807]",
        ),
    ],
)
def test_mistakes_in_a_text_file_that_starts_from_another_are_refused(
    tmp_path, loop, capsys, monkeypatch, text, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_text_scenario(tmp_path / "x.toml")
    assert message in str(err.value), err.value
    assert main(["run", "x.toml", "--quiet", "--out", "out"]) == 2  # (the text runner's check)
    err_text = capsys.readouterr().err
    assert message in err_text and "Traceback" not in err_text, err_text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope.toml", "x.toml: scenario: scenario file 'nope.toml' does not exist (looked for"),
        ("baseline", "x.toml: scenario: 'baseline' is an abstract scenario; a text-mode file"),
        ("text_baselin", "x.toml: scenario: no scenario 'text_baselin'; a text-mode file starts"),
    ],
)
def test_a_text_file_must_start_from_a_text_scenario(tmp_path, ref, message):
    """(A file naming no text scenario is an abstract one to the CLI, whose loader refuses the
    first and last; this is the text loader's own refusal.)"""
    (tmp_path / "x.toml").write_text(f'scenario = "{ref}"\nname = "x"\n')
    with pytest.raises(ScenarioError) as err:
        load_text_scenario(tmp_path / "x.toml")
    assert message in str(err.value), err.value


def test_a_text_file_that_starts_from_itself_is_refused(tmp_path, loop, capsys):
    (tmp_path / "a.toml").write_text('scenario = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('scenario = "a.toml"\nname = "b"\n')
    assert main(["run", str(tmp_path / "a.toml"), "--quiet"]) == 2
    assert "cannot start from itself" in capsys.readouterr().err


def test_printed_in_full_and_compared(tmp_path, loop, small_corpus, monkeypatch, capsys):
    monkeypatch.setattr(text_compare_module, "load_installed_corpus", lambda **_: small_corpus)
    keep = tmp_path / "keep.toml"
    keep.write_text(
        'scenario = "loop.toml"\nname = "keep"\n[set]\n"models.m.policy" = "accumulate"\n'
    )
    assert main(["scenarios", str(keep)]) == 0
    printed = capsys.readouterr().out
    assert "scenario" not in tomllib.loads(printed) and 'policy = "accumulate"' in printed
    whole = tmp_path / "whole.toml"
    whole.write_text(printed)
    assert load_text_scenario(whole) == load_text_scenario(keep)
    out = tmp_path / "cmp"
    argv = ["compare", str(loop), str(keep), "--seeds", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["scenario"]) == {"loop", "keep"}


@pytest.mark.parametrize("body", ['mode = "text"\n', 'scenario = "text_closed_loop"\n'])
def test_a_text_scenario_name_cannot_steer_its_results_directory(
    tmp_path, monkeypatch, capsys, body
):
    """The name picks ``results/NAME``: ``../evil`` wrote beside ``results/`` (whole text files
    too, before files could start from another); refused now, as an abstract scenario's is."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.toml").write_text(body + 'name = "../evil"\n')
    assert main(["run", "evil.toml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "evil.toml: name: '../evil' is not a valid scenario name" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.toml"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"seed = -1\n", "seed: -1 is outside [0, 9223372036854775807]"),
        (b"seed = 100000000000000000000000\n", "seed: 100000000000000000000000 is outside"),
        (b'description = "caf\xe9"\n', "is not UTF-8 text (byte 0xe9 on line 3)"),
    ],
)
def test_a_whole_text_file_with_a_bad_seed_or_bytes_is_refused_by_the_text_loader(
    tmp_path, body, message
):
    """A whole text file the CLI gives the text runner (a seed outside a scenario's range was
    numpy's error, an internal one) or that only ``load_text_scenario`` reads (bytes that are not
    UTF-8 were a ``UnicodeDecodeError``: the CLI took such a file for an abstract one)."""
    path = tmp_path / "w.toml"
    path.write_bytes(b'mode = "text"\nname = "w"\n' + body)
    with pytest.raises(HabsburgError) as err:
        load_text_scenario(path)
    assert message in str(err.value) and str(path) in str(err.value), err.value
