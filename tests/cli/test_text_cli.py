"""`habsburg run` and `habsburg scenarios` know the text-mode library."""

import pytest
from checksums import assert_checksummed

from habsburg.cli import main


def test_text_scenarios_are_listed(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("text_baseline", "text_closed_loop", "text_reservoir"):
        assert f"{name}  (text mode)" in out


def test_text_run_refuses_flags_of_the_abstract_mode_before_any_work(tmp_path, capsys):
    code = main(["run", "text_closed_loop", "--steps", "3", "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--steps" in err and "text_closed_loop" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_text_run_on_the_installed_corpus_writes_its_results_and_report(tmp_path):
    """`habsburg run FILE` of a small text scenario, on the installed Bible (the other text
    tests pass their own corpus): results, samples and the report."""
    import pandas as pd

    scenario = tmp_path / "tiny_text.toml"
    scenario.write_text(
        'mode = "text"\nname = "tiny_text"\nseed = 3\ngenerations = 2\n\n'
        "[corpus]\nmax_tokens = 20000\nmin_count = 3\n\n[humans]\ndocuments = 0\n\n"
        '[[models]]\nname = "self_trained"\npolicy = "replace"\ndocuments = 60\n'
        "document_tokens = 40\n"
    )
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    generations = pd.read_parquet(out / "text_generations.parquet")
    assert sorted(generations["generation"].unique()) == [0, 1]  # generations = 2
    tables = sorted(out.glob("*.parquet"))  # each page with its checksum
    assert len(tables) >= 4 and sum(assert_checksummed(f) for f in tables) >= 20  # chunks
    assert main(["verify", str(out), "--quiet"]) == 0
    report = (out / "text_report.md").read_text()
    assert report.startswith("# habsburg text-mode report: tiny_text\n")
    assert "Scenario tiny_text, seed 3, 2 generations, on the New Heart English Bible" in report
    assert "8 communities (law, history," in report
    assert any((out / "samples").iterdir())
    # written again from the finished directory (`habsburg report`): the same report
    assert main(["report", str(out), "--quiet"]) == 0
    assert (out / "text_report.md").read_text() == report


def test_habsburg_report_writes_a_text_runs_report_and_lists_it(tmp_path, capsys):
    import json

    from smallcorpus import make_corpus

    from habsburg.experiments.text_run import run_text_scenario
    from habsburg.scenarios.text_schema import load_text_scenario

    out = tmp_path / "run"
    scenario = load_text_scenario("text_closed_loop")
    scenario.generations = 2
    run_text_scenario(scenario, corpus=make_corpus(), out=out)  # no report (as --no-report)
    assert not (out / "text_report.md").exists()
    assert main(["report", str(out), "--counterfactual"]) == 2
    assert "--counterfactual: not available for the text-mode run" in capsys.readouterr().err
    (out / "text_roc.png").write_bytes(b"a user's figure")  # where the report's would go
    assert main(["report", str(out)]) == 2
    assert "already holds text_roc.png, which habsburg did not write" in capsys.readouterr().err
    assert (out / "text_roc.png").read_bytes() == b"a user's figure"
    assert not (out / "text_report.md").exists()  # nothing moved in
    (out / "text_roc.png").unlink()
    assert main(["report", str(out)]) == 0
    report = (out / "text_report.md").read_text()
    assert report.startswith("# habsburg text-mode report: text_closed_loop\n")
    assert "on a corpus passed to run_text_scenario" in report
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert {"text_report.md", "text_collapse.png", "text_roc.png"} <= set(listed)
    (out / "text_samples.parquet").unlink()
    assert main(["report", str(out)]) == 2
    assert "text_samples.parquet is missing" in capsys.readouterr().err


def test_a_directory_named_like_a_library_scenario_does_not_hide_it(tmp_path, monkeypatch):
    """A run's output directory in the working directory, named like the library scenario it
    ran (``text_closed_loop``, ``baseline``), was read as a scenario path: "unknown scenario"."""
    from habsburg.scenarios.library import load_scenario
    from habsburg.scenarios.text_schema import is_text_scenario, load_text_scenario

    monkeypatch.chdir(tmp_path)
    for name in ("text_closed_loop", "baseline"):
        (tmp_path / name).mkdir()
    assert is_text_scenario("text_closed_loop")
    assert load_text_scenario("text_closed_loop").name == "text_closed_loop"
    assert not is_text_scenario("baseline") and load_scenario("baseline").name == "baseline"
    # a path still means a file: a directory given as one is refused as a missing file
    assert not is_text_scenario("./text_closed_loop")


@pytest.mark.parametrize("command", [["run"], ["viz"], ["compare", "baseline"]])
def test_a_mistyped_text_scenario_is_matched_and_listed_with_the_text_library(
    command, tmp_path, monkeypatch, capsys
):
    """``text_basline`` was "did you mean 'baseline'?" with only the abstract scenarios listed,
    though ``run``, ``viz`` and ``compare`` all take the text ones."""
    from habsburg.scenarios.text_schema import list_text_scenarios

    monkeypatch.chdir(tmp_path)
    assert main([*command, "text_basline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "habsburg: error: unknown scenario 'text_basline' (did you mean 'text_baseline'?); "
        "available: baseline, "
    )
    assert err.rstrip().endswith(f"; text mode: {', '.join(list_text_scenarios())}")
    assert err.count("\n") == 1 and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("generations", True, "generations: expected an integer, got True"),
        ("corpus", {"documents": "many"}, "corpus.documents: expected an integer, got 'many'"),
        ("corpus", {"communities": True}, "corpus.communities: expected a list of names, got True"),
        ("corpus", {"communities": [1, 2]}, "corpus.communities: expected a list of names"),
    ],
)
def test_report_refuses_a_text_manifest_edited_by_hand(tmp_path, capsys, key, value, named):
    """A field the text report reads with another type is named (exit 2), not an internal
    error where the report formats it (a corpus's ``communities`` of ``true``, ``len()`` of a
    bool; ``documents`` as a string) or a title that reads "True generations"."""
    import json

    from smallcorpus import make_corpus

    from habsburg.experiments.text_run import run_text_scenario
    from habsburg.scenarios.text_schema import load_text_scenario

    out = tmp_path / "run"
    scenario = load_text_scenario("text_closed_loop")
    scenario.generations = 2
    run_text_scenario(scenario, corpus=make_corpus(), out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest[key] = {**manifest[key], **value} if isinstance(value, dict) else value
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'manifest.json'}: {named}" in err and "Traceback" not in err
    assert not (out / "text_report.md").exists()


def test_a_text_manifest_without_seed_or_generations_leaves_them_out_of_the_title(tmp_path):
    """The text report's opening says what the manifest records: without its seed and
    generations (an edited manifest) it said "seed None, None generations"."""
    import json

    from smallcorpus import make_corpus

    from habsburg.experiments.text_run import run_text_scenario
    from habsburg.reports.text_report import write_text_report
    from habsburg.scenarios.text_schema import load_text_scenario

    out = tmp_path / "run"
    scenario = load_text_scenario("text_closed_loop")
    scenario.generations = 2
    run_text_scenario(scenario, corpus=make_corpus(), out=out)
    assert "Scenario text_closed_loop, seed " in write_text_report(out).read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("seed", "generations"):
        del manifest[key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = write_text_report(out).read_text()
    assert "Scenario text_closed_loop, on " in report and "None" not in report
