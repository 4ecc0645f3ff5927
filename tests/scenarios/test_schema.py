"""Bad input gets a clear error naming the file, the key and the allowed values."""

import copy
import subprocess
import sys

import pytest
from tinyscenario import tiny_dict

from habsburg.cli import main
from habsburg.scenarios import ScenarioError, load_scenario
from habsburg.scenarios.schema import from_dict, get_setting, load_file, load_text, set_setting


def test_baseline_loads_with_the_required_populations():
    sc = load_scenario("baseline")
    assert (sc.start, sc.end, sc.chatbot_launch) == ("2020-01", "2030-12", "2022-11")
    assert sc.steps == 132 and sc.launch_step == 34
    assert (
        sc.humans.authors >= 2000 and len(sc.models) == 8 and len({m.lab for m in sc.models}) == 4
    )
    assert len(sc.scrapers) == 3 and len(sc.farms) == 2
    assert sc.web.sites >= 400 and sc.world.concepts >= 5000 and sc.world.facts >= 2000


def test_unknown_scenario_lists_the_available_ones():
    with pytest.raises(ScenarioError, match="available: baseline"):
        load_scenario("basline")
    with pytest.raises(ScenarioError, match="did you mean 'baseline'"):
        load_scenario("basline")


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nseed = 3\n[world\nconcepts = 10\n')
    with pytest.raises(ScenarioError, match=r"broken\.toml.*line 3"):
        load_file(path)


def test_unknown_key_names_the_key_and_a_close_match(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[world]\nconcept = 100\n")
    with pytest.raises(
        ScenarioError, match=r"typo\.toml.*'world\.concept'.*did you mean 'concepts'"
    ):
        load_file(path)


@pytest.mark.parametrize(
    ("section", "values", "pattern"),
    [
        (
            "humans",
            {"error_rate": 1.5},
            r"humans\.error_rate: 1\.5 is out of range; allowed \[0\.0, 1\.0\]",
        ),
        ("humans", {"authors": -5}, r"humans\.authors: -5 is out of range"),
        ("world", {"concepts": "many"}, r"world\.concepts: expected an integer"),
        ("watermark", {"adoption": -0.1}, r"watermark\.adoption"),
    ],
)
def test_out_of_range_values_are_named(section, values, pattern):
    with pytest.raises(ScenarioError, match=pattern):
        from_dict(tiny_dict(**{section: values}), "tiny.toml")


def test_zero_steps_wrong_choices_and_dangling_references_are_named():
    with pytest.raises(ScenarioError, match="zero steps"):
        from_dict(tiny_dict(end="2019-12"), "t.toml")
    bad_mode = tiny_dict()
    bad_mode["models"][0]["data"]["mode"] = "recycle"
    with pytest.raises(
        ScenarioError, match=r"mode: 'recycle' is not allowed; choose one of 'replace'"
    ):
        from_dict(bad_mode, "t.toml")
    bad_scraper = tiny_dict()
    bad_scraper["models"][0]["data"]["scrapers"] = ["crawl-9"]
    with pytest.raises(ScenarioError, match="'crawl-9'"):
        from_dict(bad_scraper, "t.toml")
    with pytest.raises(
        ScenarioError, match=r"interventions\[0\].*'watermark\.adoptoin'.*did you mean 'adoption'"
    ):
        from_dict(
            tiny_dict(interventions=[{"at": "2021-01", "set": {"watermark.adoptoin": 0.5}}]),
            "t.toml",
        )
    with pytest.raises(ScenarioError, match=r"'world\.concepts' is fixed when the run starts"):
        from_dict(
            tiny_dict(interventions=[{"at": "2021-01", "set": {"world.concepts": 50}}]), "t.toml"
        )
    with pytest.raises(ScenarioError, match=r"'farms\.farm\.link_farm_size' is fixed"):
        from_dict(
            tiny_dict(interventions=[{"at": "2021-01", "set": {"farms.farm.link_farm_size": 2}}]),
            "t.toml",
        )
    with pytest.raises(ScenarioError, match=r"'models\.a\.launch' is fixed"):
        from_dict(
            tiny_dict(interventions=[{"at": "2021-01", "set": {"models.a.launch": "2022-01"}}]),
            "t.toml",
        )
    with pytest.raises(ScenarioError, match="outside the run"):
        from_dict(
            tiny_dict(interventions=[{"at": "2031-01", "set": {"watermark.adoption": 0.5}}]),
            "t.toml",
        )


def test_a_model_launched_after_the_end_is_refused():
    """A model launching after the run's last month was accepted and never deployed (absent
    from every table and the report, silently). Refused now; launching in the last month, or
    before the run starts (deployed from its first month), is fine."""
    base = tiny_dict()
    late = copy.deepcopy(base)
    late["models"][1]["launch"] = "2024-01"  # tiny_dict ends 2023-12
    with pytest.raises(
        ScenarioError,
        match=r"t\.toml: models\[1\]\.launch \(2024-01\) is after the run's last month "
        r"\(end = 2023-12\): model 'b' would never be deployed",
    ):
        from_dict(late, "t.toml")
    for month in ("2023-12", "2019-06"):
        edge = copy.deepcopy(base)
        edge["models"][1]["launch"] = month
        assert from_dict(edge, "t.toml").models[1].launch == month


def test_one_setting_gets_one_value_a_month():
    """Two interventions setting one path in one month ran with the later value, silently;
    refused now, naming both. The same path in other months, and other paths in one month
    (an ``at`` and an ``at_step`` are the same month if they name it), are fine."""
    twice = [
        {"at": "2021-06", "set": {"watermark.adoption": 0.5}},
        {"at": "2021-06", "set": {"watermark.adoption": 0.9, "humans.error_rate": 0.1}},
    ]
    with pytest.raises(
        ScenarioError,
        match=r"t\.toml: interventions\[1\]\.set: 'watermark\.adoption' is also set by "
        r"interventions\[0\] at the same month \(2021-06\)",
    ):
        from_dict(tiny_dict(interventions=twice), "t.toml")
    by_step = [twice[0], {"at_step": 17, "set": {"watermark.adoption": 0.9}}]  # 2021-06 too
    with pytest.raises(ScenarioError, match=r"also set by interventions\[0\]"):
        from_dict(tiny_dict(interventions=by_step), "t.toml")
    apart = [twice[0], {"at": "2021-07", "set": {"watermark.adoption": 0.9}}]
    sc = from_dict(tiny_dict(interventions=apart), "t.toml")
    assert len(sc.interventions) == 2
    other = [twice[0], {"at": "2021-06", "set": {"humans.error_rate": 0.1}}]
    assert len(from_dict(tiny_dict(interventions=other), "t.toml").interventions) == 2


def test_an_intervention_multiplies_settings_with_times():
    """``times`` multiplies a setting's value as it stands that month (after earlier
    interventions; each item its own under ``*``); an integer setting is rounded."""
    ivs = [
        {"at": "2021-06", "set": {"farms.farm.output.ceiling": 200.0}},
        {
            "at": "2022-01",
            "times": {"farms.*.output.ceiling": 1.5, "models.*.data.budget": 1.25},
            "note": "more of everything",
        },
    ]
    sc = from_dict(tiny_dict(interventions=ivs), "t.toml")
    assert sc.interventions[1].times == {
        "farms.*.output.ceiling": 1.5,
        "models.*.data.budget": 1.25,
    }
    assert sc.interventions[1].set == {}
    from habsburg.scenarios.schema import multiply_setting

    multiply_setting(sc, "models.*.data.budget", 1.3)  # 2500 -> 3250, 2000 -> 2600
    multiply_setting(sc, "models.c.data.budget", 0.333)  # 2600 -> 865.8: rounded
    assert [m.data.budget for m in sc.models] == [3250, 3250, 866]


@pytest.mark.parametrize(
    ("intervention", "message"),
    [
        ({"at": "2021-06", "times": {"farms.*.output.ceiling": "2"}}, "expected a factor"),
        ({"at": "2021-06", "times": {"farms.*.output.ceiling": -1}}, "finite and not negative"),
        ({"at": "2021-06", "times": {"models.*.data.mode": 2}}, "times multiplies numbers"),
        ({"at": "2021-06", "times": {"world.concepts": 2}}, "'world.concepts' is fixed"),
        ({"at": "2021-06", "times": {"farms.*.output.cieling": 2}}, "did you mean 'ceiling'"),
        ({"at": "2021-06"}, r"interventions\[0\] changes nothing; name at least one setting"),
        (
            {"at": "2021-06", "set": {"humans.error_rate": 0.1}, "times": {"humans.error_rate": 2}},
            r"interventions\[0\]\.times: 'humans\.error_rate' is also set by its set",
        ),
        (
            {"at": "2021-06", "times": {"humans.error_rate": 60}},  # 0.02 x 60 = 1.2 > 1
            r"t\.toml: interventions\[0\]\.times \(2021-06\): humans\.error_rate: 1\.2.* out "
            r"of range",
        ),
    ],
)
def test_a_bad_times_in_an_intervention_is_refused(intervention, message):
    with pytest.raises(ScenarioError, match=message):
        from_dict(tiny_dict(interventions=[intervention]), "t.toml")


def test_the_assistant_ceiling_is_a_share():
    """Its range is a count's (the curve type serves documents a month too): a ceiling above 1
    ran as if every author had adopted sooner, without a word. Refused, also where a file's
    [times] or an intervention takes it there."""
    too_many = tiny_dict()
    too_many["humans"]["assistant"]["ceiling"] = 1.5
    with pytest.raises(ScenarioError, match=r"t\.toml: humans\.assistant\.ceiling: 1\.5 is more"):
        from_dict(too_many, "t.toml")
    later = [{"at": "2022-01", "times": {"humans.assistant.ceiling": 2.5}}]  # 0.5 -> 1.25
    with pytest.raises(ScenarioError, match=r"after interventions\[0\] \(2022-01\): humans"):
        from_dict(tiny_dict(interventions=later), "t.toml")
    with pytest.raises(ScenarioError, match=r"humans\.assistant\.ceiling: 1\.5 is more than 1"):
        load_text('scenario = "baseline"\nname = "x"\n[set]\n"humans.assistant.ceiling" = 1.5\n')
    everyone = tiny_dict()
    everyone["humans"]["assistant"]["ceiling"] = 1.0
    assert from_dict(everyone, "t.toml").humans.assistant.ceiling == 1.0


def test_times_multiplies_the_value_earlier_interventions_left():
    """Checked in the order they apply: a factor fine on the file's value but not on the value
    an earlier month's intervention left is refused, naming both."""
    ivs = [
        {"at": "2021-06", "set": {"watermark.adoption": 0.6}},
        {"at": "2022-06", "times": {"watermark.adoption": 2}},
    ]
    assert from_dict(tiny_dict(interventions=ivs[1:]), "t.toml")  # (the file's 0.0: fine)
    with pytest.raises(ScenarioError, match=r"interventions\[1\]\.times \(2022-06\)"):
        from_dict(tiny_dict(interventions=ivs), "t.toml")
    twice = [ivs[1], {"at": "2022-06", "times": {"watermark.adoption": 1.1}}]
    with pytest.raises(ScenarioError, match=r"also multiplied by interventions\[0\]"):
        from_dict(tiny_dict(interventions=twice), "t.toml")


def test_setting_paths_with_wildcards(tiny):
    set_setting(tiny, "models.*.temperature", 0.7)
    assert all(m.temperature == 0.7 for m in tiny.models)
    set_setting(tiny, "models.b.data.mode", "replace")
    assert get_setting(tiny, "models.b.data.mode") == "replace"
    with pytest.raises(ScenarioError, match="no models item 'z'"):
        set_setting(tiny, "models.z.temperature", 0.5)
    with pytest.raises(ScenarioError, match="out of range"):
        set_setting(tiny, "models.*.top_p", 2.0)


def test_cli_user_errors_print_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["run", "no-such-scenario", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("habsburg: error: unknown scenario") and "Traceback" not in err
    assert main(["run", "baseline", "--steps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--steps must be between 1 and 132" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_entry_point_exits_non_zero_on_bad_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[humans]\nauthors = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "habsburg.cli", "run", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr and "humans.authors" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scenarios_command_lists_the_library(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("baseline\n") and "Calibrated baseline" in out


def test_cli_output_into_a_closed_pipe_is_quiet():
    proc = subprocess.run(
        f"{sys.executable} -m habsburg.cli scenarios | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.strip() == "baseline"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def _mutated(change):
    data = tiny_dict()
    change(data)
    return data


def _set(path: str, value):
    """A change setting ``data[a][b]...`` (ints index arrays) to ``value``."""

    def change(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("humans.docs_per_month", float("nan")), r"humans\.docs_per_month: expected a finite"),
        (_set("models.0.data.scrapers", "crawl-1"), r"scrapers: expected a list of strings"),
        (_set("world", 5), r"t\.toml: world: expected a table, got 5"),
        (_set("models", {"name": "a"}), r"models: expected an array of tables \(\[\[models\]\]\)"),
        (_set("models.1.name", "a"), "duplicate model name 'a'"),
        (_set("models.0.data.distill_from", "zz"), r"distill_from 'zz' is not a model; models: "),
        (
            lambda d: d["models"][0]["data"].update(human_reservoir=0.6, sensor_fraction=0.6),
            r"models\[0\]\.data\.human_reservoir \+ models\[0\]\.data\.sensor_fraction \+ "
            r"models\[0\]\.data\.distill_fraction = 0\.6 \+ 0\.6 \+ 0 = 1\.2 > 1 \(model '",
        ),
        (
            _set("interventions", [{"at": "2021-01", "at_step": 3, "set": {"seed": 1}}]),
            r"interventions\[0\] needs exactly one of 'at' \(YYYY-MM\) or 'at_step'",
        ),
        (
            _set("interventions", [{"at": "2021-01", "set": {}}]),
            r"interventions\[0\] changes nothing; name at least one setting",
        ),
        (
            _set("instruments", {"graphite": {"floor": 0.5, "ceiling": 0.5}}),
            r"instruments\.graphite\.floor \(0\.5\) must be below instruments\.graphite\.ceiling "
            r"\(0\.5\)",
        ),
    ],
)
def test_scenario_errors_name_the_file_and_the_key(change, message):
    with pytest.raises(ScenarioError, match=message) as err:
        from_dict(_mutated(change), "t.toml")
    assert "t.toml" in str(err.value)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("world", "names a section, not a value"),
        ("models", r"must name an item: models\.<name>\.<setting>"),
        ("seed.x", "'seed' is a value, not a section"),
        ("wrld.concepts", r"no key 'wrld' \(did you mean 'world'\?\)"),
    ],
)
def test_setting_paths_that_name_no_value_are_refused(tiny, path, message):
    with pytest.raises(ScenarioError, match=message):
        set_setting(tiny, path, 1)
