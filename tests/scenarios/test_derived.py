"""Scenario files that start from another (``scenario = NAME|FILE``, ``[set]``, interventions
after the base's): each is the scenario it describes written out in full, and every mistake in
one is refused with the file and the key; ``[set]`` tables read nested tables as dotted paths."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from tinyscenario import MINI, tiny_scenario

from habsburg.cli import main
from habsburg.experiments.run import simulate
from habsburg.experiments.sweep.spec import spec_from_dict
from habsburg.scenarios import load_scenario
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import (
    DERIVED_KEYS,
    from_dict,
    item_lists,
    load_file,
    load_text,
    set_setting,
    setting_table,
)
from habsburg.scenarios.writer import scenario_toml


def plain(sc) -> dict:
    data = sc.to_dict()
    data.pop("source")
    return data


#: the what-if of examples/scenarios/ (the README's example of a file that starts from another)
MANDATE = Path(__file__).parents[2] / "examples" / "scenarios" / "mandate60.toml"


def test_the_example_what_if_is_the_baseline_with_its_settings():
    got = load_scenario(str(MANDATE))
    want = copy.deepcopy(load_scenario("baseline"))
    set_setting(want, "farms.*.paraphrase_share", 0.2)
    want.name = "mandate60"
    want.description = (
        "A watermark mandate at 60% compliance from 2025-01 (crawlers filter at z > 3); farms "
        "paraphrase 20% of their documents."
    )
    assert not want.interventions  # (the baseline has none: the file's is the only one)
    [iv] = got.interventions
    assert iv.set == {"watermark.adoption": 0.6, "scrapers.*.filters.watermark_threshold": 3.0}
    assert (iv.at, iv.note) == ("2025-01", "watermark mandate, 60% compliance")
    got.interventions.pop()
    assert plain(got) == plain(want)
    assert got.source == str(MANDATE)


def test_the_printed_whole_scenario_loads_back_and_runs_alike(tmp_path, capsys, monkeypatch):
    """``habsburg scenarios FILE`` writes every setting out: the file it prints is the same
    scenario, and a run of it the same run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(scenario_toml(tiny_scenario()))
    (tmp_path / "what_if.toml").write_text(
        'scenario = "tiny.toml"\nname = "what_if"\n[set]\n"humans.error_rate" = 0.2\n'
        '[[interventions]]\nat_step = 3\nset = { "models.*.temperature" = 1.3 }\n'
    )
    assert main(["scenarios", "what_if.toml"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# what_if, every setting written out by")
    whole = load_text(printed, "whole")
    derived = load_file(tmp_path / "what_if.toml")
    assert plain(whole) == plain(derived)
    assert derived.humans.error_rate == 0.2
    assert derived.interventions[-1].set == {"models.*.temperature": 1.3}
    a = simulate(whole, steps=6).datacollector.get_model_vars_dataframe()
    b = simulate(derived, steps=6).datacollector.get_model_vars_dataframe()
    pd.testing.assert_frame_equal(a, b)
    # and the plain tiny scenario runs differently (the [set] and the intervention take effect)
    c = simulate(tiny_scenario(), steps=6).datacollector.get_model_vars_dataframe()
    assert not a.equals(c)


def test_scenarios_prints_a_library_scenario_and_a_text_scenario(capsys):
    assert main(["scenarios", "human_reservoir"]) == 0
    printed = capsys.readouterr().out
    assert plain(load_text(printed, "printed")) == plain(load_scenario("human_reservoir"))
    assert main(["scenarios", "text_baseline"]) == 0
    text = capsys.readouterr().out
    assert 'mode = "text"' in text and 'name = "text_baseline"' in text
    assert main(["scenarios", "basline"]) == 2
    assert "did you mean 'baseline'?" in capsys.readouterr().err


def test_the_base_is_looked_for_beside_the_file_first(tmp_path, monkeypatch):
    here, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    (here / "mini.toml").write_text(MINI)
    (elsewhere / "mini.toml").write_text(MINI.replace('name = "mini"', 'name = "other"'))
    (here / "alt.toml").write_text('scenario = "mini.toml"\nname = "alt"\n')
    monkeypatch.chdir(elsewhere)
    sc = load_scenario(str(here / "alt.toml"))
    assert sc.description == "mini."  # (the default description names the base)
    assert plain(sc) | {"name": "mini", "description": ""} == plain(load_file(here / "mini.toml"))
    # a chain of files, each relative to its own directory
    (elsewhere / "deeper.toml").write_text(
        f'scenario = "{os.path.relpath(here / "alt.toml", elsewhere)}"\nname = "deeper"\n'
        "[set]\nseed = 9\n"
    )
    assert load_file(elsewhere / "deeper.toml").seed == 9


def test_keep_interventions_false_drops_the_base_ones(tmp_path):
    path = tmp_path / "no_mandate.toml"
    path.write_text(
        'scenario = "watermark_mandate"\nname = "no_mandate"\nkeep_interventions = false\n'
    )
    assert load_scenario("watermark_mandate").interventions
    assert load_file(path).interventions == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('scenario = "baseline"\n', "name: a scenario that starts from another needs a name of"),
        (
            'scenario = "basline"\nname = "x"\n',
            "scenario: unknown scenario 'basline' (did you mean",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[watermark]\nadoption = 0.5\n',
            "key 'watermark' is not allowed in a scenario that starts from another",
        ),
        (
            'scenario = "baseline"\nname = "x"\ndescripton = "y"\n',
            "key 'descripton' (did you mean 'description'?) is not allowed",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\n"watermark.adopton" = 0.5\n',
            "set: unknown setting path 'watermark.adopton': no key 'adopton' (did you mean",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\n"watermark.adoption" = 1.5\n',
            "set: watermark.adoption: 1.5 is out of range; allowed [0.0, 1.0]",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\nname = "y"\n',
            "set: setting path 'name': names cannot be changed",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\nsource = "y"\n',
            "set: setting path 'source': not a setting",
        ),
        ('scenario = "baseline"\nname = "x"\nset = 3\n', "set: expected a table of setting paths"),
        (
            'scenario = "baseline"\nname = "x"\nkeep_interventions = "no"\n',
            "keep_interventions: expected true or false, got 'no'",
        ),
        ('scenario = 3\nname = "x"\n', "scenario: expected a library scenario name or a scenario"),
        ('scenario = "baseline"\nname = "x y"\n', "'x y' is not a valid scenario name"),
        ('scenario = "me.toml"\nname = "x"\n', "a scenario file cannot start from itself: "),
        ('scenario = "missing.toml"\nname = "x"\n', "scenario file 'missing.toml' does not exist"),
        (
            'scenario = "baseline"\nname = "x"\n[remove]\nscraper = ["openweb"]\n',
            "remove: 'scraper' (did you mean 'scrapers'?) is not a list of items; lists: ",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[remove]\nscrapers = ["northwnd-bot"]\n',
            "remove: scrapers: no item 'northwnd-bot' (did you mean 'northwind-bot'?) to remove",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[remove]\nscrapers = "openweb"\n',
            "remove: scrapers: expected a list of item names (or [\"*\"]), got 'openweb'",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[remove]\nscrapers = ["northwind-bot"]\n',
            "models[0].data.scrapers names 'northwind-bot'; scrapers: ['meridian-bot', 'openweb'] "
            "([remove] takes out scrapers northwind-bot: change what names it in [set])",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\n"models.nw-pro.data.scrapers" = ["ghost"]\n',
            "models[1].data.scrapers names 'ghost'; scrapers: ['meridian-bot', 'northwind-bot', "
            "'openweb'] (from the file's [set] 'models.nw-pro.data.scrapers'; [[add.scrapers]] "
            "adds one the base lacks)",
        ),
        (  # the whole scenario's checks name settings by their paths: the [set] note finds them
            'scenario = "baseline"\nname = "x"\n[set]\n"humans.workflows.*.weight" = 0\n',
            "humans.workflows: the weights sum to 0 (humans.workflows[0].weight, "
            "humans.workflows[1].weight, humans.workflows[2].weight, humans.workflows[3].weight); "
            "give one a weight > 0 (from the file's [set] 'humans.workflows.*.weight')",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[set]\n"instruments.liang.floor" = 0.5\n'
            '"instruments.liang.ceiling" = 0.5\n',
            "instruments.liang.floor (0.5) must be below instruments.liang.ceiling (0.5) (from the "
            "file's [set] 'instruments.liang.floor'; from the file's [set] "
            "'instruments.liang.ceiling')",
        ),
        (  # a whole policy's check names each share by its path, so the [set] note finds it
            'scenario = "baseline"\nname = "x"\n[set]\n"models.*.data.human_reservoir" = 1\n',
            "models[6].data.human_reservoir + models[6].data.sensor_fraction + "
            "models[6].data.distill_fraction = 1 + 0 + 0.2 = 1.2 > 1 (model 'open-7b': shares of "
            "its training budget) (from the file's [set] 'models.*.data.human_reservoir')",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[[add.scrapers]]\nbudget_sites = 3\n',
            "add: scrapers[0]: an added item needs a name",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[[add.scrapers]]\nname = "openweb"\n',
            "add: scrapers[0]: the base already has a scrapers item 'openweb'; change its",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[[add.scrapers]]\nname = "y"\nbudget_site = 3\n',
            "add: unknown key 'scrapers[0].budget_site' (did you mean 'budget_sites'?)",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[add]\nscrapers = 3\n',
            "add: scrapers: expected an array of tables ([[add.scrapers]]), got 3",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"humans.authors" = 1.0001\n',
            "times: humans.authors: 2000 times 1.0001 is 2000.2; this setting takes a whole",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"farms.*.paraphrase_share" = 1e9\n',
            "times: farms.*.paraphrase_share: 300000000.0 is out of range; allowed [0.0, 1.0] (the "
            "base's 0.3 times 1000000000.0)",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"farms.*.output.ceiling" = -1\n',
            "times: farms.*.output.ceiling: the factor must be finite and not negative, got -1",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"models.*.data.mode" = 2\n',
            "times: models.*.data.mode: times multiplies numbers; this setting is 'accumulate",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"humans.authors" = "2"\n',
            "times: humans.authors: expected a factor (a number), got '2'",
        ),
        (
            'scenario = "baseline"\nname = "x"\n[times]\n"seed" = 2\n[set]\nseed = 3\n',
            "'seed' is in both [times] and [set]; give it in one of them",
        ),
        (
            'scenario = "watermark_mandate"\nname = "x"\n[[interventions]]\nat = "2025-01"\n'
            'set = { "watermark.adoption" = 0.5 }\n',
            "interventions[2].set: 'watermark.adoption' is also set by interventions[0] at the "
            "same month (2025-01); give each setting one change a month (interventions[0..1] are "
            "those of the scenario it starts from, 'watermark_mandate'; the file's own are "
            "numbered from 2)",
        ),
    ],
)
def test_mistakes_in_a_file_that_starts_from_another_are_refused(
    tmp_path, monkeypatch, capsys, text, message
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "me.toml").write_text(text)
    assert main(["run", "me.toml", "--quiet", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("habsburg: error: me.toml: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.toml"]  # (no results directory)


def test_a_cycle_through_two_files_names_both(tmp_path):
    (tmp_path / "a.toml").write_text('scenario = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('scenario = "a.toml"\nname = "b"\n')
    with pytest.raises(ScenarioError, match="cannot start from itself") as err:
        load_file(tmp_path / "a.toml")
    chain = f"{tmp_path / 'a.toml'} -> {tmp_path / 'b.toml'} -> {tmp_path / 'a.toml'}"
    assert chain in str(err.value)
    # (the same file read twice in a row is no cycle)
    (tmp_path / "c.toml").write_text('scenario = "d.toml"\nname = "c"\n')
    (tmp_path / "d.toml").write_text(MINI)
    assert load_file(tmp_path / "c.toml").name == load_file(tmp_path / "c.toml").name == "c"


def test_every_derived_key_is_documented_and_allowed(tmp_path):
    """Each key is in the README's paragraph on such files, and a file may give them all."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("**A what-if in a few lines.**")
    paragraph = readme[start : readme.index("\n\n", start)]
    for key in DERIVED_KEYS:
        assert f"`{key}" in paragraph or f"`[{key}]`" in paragraph or f"[[{key}" in paragraph, key
    path = tmp_path / "every.toml"
    path.write_text(
        'scenario = "baseline"\nname = "every"\ndescription = "d"\nkeep_interventions = true\n'
        '[remove]\nfarms = ["seo-harvest"]\n[times]\n"humans.authors" = 2\n'
        '[[add.farms]]\nname = "f2"\n[set]\nseed = 4\n'
        '[[interventions]]\nat = "2025-01"\nset = { "watermark.adoption" = 0.5 }\n'
    )
    assert set(tomllib.loads(path.read_text())) == set(DERIVED_KEYS)
    sc = load_file(path)
    assert [f.name for f in sc.farms] == ["clickmill", "f2"] and sc.seed == 4
    assert set(item_lists()) == {  # (what [remove] and [add] take)
        "labs",
        "models",
        "farms",
        "scrapers",
        "humans.workflows",
        "demand.workflows",
    }


#: a file that starts from the baseline and changes its items: a crawler and the authors'
#: workflows removed, a farm added, numbers multiplied, and settings set (of added items too)
ITEMS = """scenario = "baseline"
name = "items"
[remove]
scrapers = ["northwind-bot"]
humans.workflows = ["*"]
[times]
"farms.*.output.ceiling" = 1.5
"humans.authors" = 2
"scrapers.*.budget_sites" = 0.5
[[add.farms]]
name = "spamhaus"
sites = 5
output = { start = "2024-01", midpoint = 6.0, rate = 0.5, ceiling = 400.0 }
[[add.humans.workflows]]
name = "polished"
weight = 1.0
[set]
"models.*.data.scrapers" = ["openweb"]
"farms.*.paraphrase_share" = 0.25
"""


def test_remove_times_add_and_set_change_the_base_in_that_order(tmp_path):
    path = tmp_path / "items.toml"
    path.write_text(ITEMS)
    got, base = load_file(path), load_scenario("baseline")
    assert [x.name for x in got.scrapers] == ["openweb", "meridian-bot"]
    assert [x.budget_sites for x in got.scrapers] == [
        x.budget_sites // 2 for x in base.scrapers if x.name != "northwind-bot"
    ]
    assert got.humans.authors == 2 * base.humans.authors
    assert [x.name for x in got.farms] == [*(x.name for x in base.farms), "spamhaus"]
    # [times] multiplies the base's items (the added farm keeps its own 400), [set] sets all
    assert [x.output.ceiling for x in got.farms] == [
        *(1.5 * x.output.ceiling for x in base.farms),
        400.0,
    ]
    assert {x.paraphrase_share for x in got.farms} == {0.25}
    assert got.farms[-1].sites == 5 and got.farms[-1].output.start == "2024-01"
    assert [(w.name, w.weight) for w in got.humans.workflows] == [("polished", 1.0)]
    assert {tuple(m.data.scrapers) for m in got.models} == {("openweb",)}
    # what a whole file of the same scenario would be: everything else is the base's
    want = copy.deepcopy(base)
    want.scrapers = [x for x in want.scrapers if x.name != "northwind-bot"]
    for crawler in want.scrapers:
        crawler.budget_sites //= 2
    want.humans.authors *= 2
    for farm in want.farms:
        farm.output.ceiling *= 1.5
    want.farms.append(copy.deepcopy(got.farms[-1]))
    want.humans.workflows = copy.deepcopy(got.humans.workflows)
    set_setting(want, "models.*.data.scrapers", ["openweb"])
    set_setting(want, "farms.*.paraphrase_share", 0.25)
    want.name, want.description = got.name, got.description
    assert plain(got) == plain(want)
    assert got.description == (
        "baseline, changed: without scrapers northwind-bot; without humans.workflows human, "
        "polished, extended, edited; farms.*.output.ceiling times 1.5; humans.authors times 2; "
        "scrapers.*.budget_sites times 0.5; adding farms spamhaus; adding humans.workflows "
        "polished; models.*.data.scrapers = ['openweb']; farms.*.paraphrase_share = 0.25."
    )


def test_an_added_model_enters_the_run_at_its_launch(tmp_path):
    """The what-if of a new entrant: a model added by a file that starts from another is
    built, launched in its month and publishes like the base's models."""
    (tmp_path / "tiny.toml").write_text(scenario_toml(tiny_scenario()))
    (tmp_path / "entrant.toml").write_text(
        'scenario = "tiny.toml"\nname = "entrant"\n[[add.models]]\nname = "d"\n'
        'lab = "north"\nlaunch = "2021-04"\ndata = { budget = 1500, scrapers = ["crawl-1"] }\n'
    )
    model = simulate(load_file(tmp_path / "entrant.toml"), steps=18)
    entrant = model.model_by_name("d")
    assert entrant is not None and entrant.deployed and entrant.docs_published > 0
    assert [m.name for m in model.models][-1] == "d"
    before = simulate(load_file(tmp_path / "entrant.toml"), steps=15).model_by_name("d")
    assert (
        before is not None and not before.deployed and before.docs_published == 0
    )  # (launched in 2021-04)


def test_scenarios_names_an_item_only_one_side_has_once(capsys):
    assert main(["scenarios", "baseline", "diverse_crawlers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  scrapers.openweb: (item) → (none)" in lines
    assert "  scrapers.lattice-bot: (none) → (item)" in lines
    assert not [line for line in lines if "scrapers.openweb." in line]
    assert "  models.lat-base.data.scrapers: ['openweb'] → ['lattice-bot']" in lines


def test_set_tables_read_nested_tables_as_dotted_paths():
    flat = {"watermark.adoption": 0.6, "farms.*.paraphrase_share": 0.2, "seed": 3}
    nested = {"watermark": {"adoption": 0.6}, "farms": {"*": {"paraphrase_share": 0.2}}, "seed": 3}
    assert setting_table(nested, "set") == flat
    assert setting_table(flat, "set") == flat
    with pytest.raises(ScenarioError, match=r"'watermark\.adoption' is given twice"):
        setting_table({"watermark.adoption": 0.6, "watermark": {"adoption": 0.5}}, "set")
    with pytest.raises(ScenarioError, match="'watermark' is an empty table; name a setting"):
        setting_table({"watermark": {}}, "set")


def test_an_intervention_may_set_settings_with_dotted_keys():
    """``set = { watermark.adoption = 0.7 }`` (TOML's dotted keys: a nested table) was refused
    as "setting path 'watermark' names a section"."""
    dotted = load_text(
        MINI + "[[interventions]]\nat_step = 2\nset = { watermark.adoption = 0.7 }\n"
    )
    quoted = load_text(
        MINI + '[[interventions]]\nat_step = 2\nset = { "watermark.adoption" = 0.7 }\n'
    )
    assert dotted.interventions[0].set == {"watermark.adoption": 0.7}
    assert plain(dotted) == plain(quoted)


def test_a_sweep_spec_set_reads_nested_tables_as_dotted_paths(tmp_path):
    (tmp_path / "mini.toml").write_text(MINI)
    spec = {
        "name": "s",
        "scenario": "mini.toml",
        "set": {"humans": {"error_rate": 0.2}},
        "parameters": [{"path": "watermark.adoption", "values": [0.0, 0.5]}],
    }
    got = spec_from_dict(spec, "spec.toml", Path(tmp_path))
    assert got.base.humans.error_rate == 0.2
    spec["set"] = {"watermark": {"adoption": 0.3}}
    with pytest.raises(ScenarioError, match=r"'watermark\.adoption' is also swept"):
        spec_from_dict(spec, "spec.toml", Path(tmp_path))


def test_from_dict_starts_from_a_library_scenario_without_a_file():
    sc = from_dict({"scenario": "baseline", "name": "x", "set": {"seed": 4}}, "<mine>")
    assert (sc.name, sc.seed, sc.source) == ("x", 4, "<mine>")


def test_a_library_scenario_that_starts_from_itself_is_refused(tmp_path, monkeypatch):
    """Library scenarios start from each other by name, not by file: a loop among them is
    caught too (it recursed until Python's stack ran out)."""
    from habsburg.scenarios import library

    (tmp_path / "one.toml").write_text('scenario = "two"\nname = "one"\n')
    (tmp_path / "two.toml").write_text('scenario = "one"\nname = "two"\n')
    monkeypatch.setattr(library, "_library_dir", lambda: tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_scenario("one")
    assert "a scenario file cannot start from itself: library/one.toml -> library/two.toml -> " in (
        str(err.value)
    )


def test_a_set_table_without_a_scenario_to_start_from_says_what_is_missing():
    with pytest.raises(ScenarioError) as err:
        load_text(MINI + '[set]\n"seed" = 3\n', "mine.toml")
    assert str(err.value) == (
        "mine.toml: key 'set' is for a scenario that starts from another: add scenario = "
        "NAME|FILE (the one it starts from), or write the settings in their sections"
    )


def test_scenarios_with_two_names_prints_the_settings_the_second_changes(capsys):
    assert main(["scenarios", "baseline", "human_reservoir"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "human_reservoir differs from baseline in 10 settings or items:"
    assert "  models.nw-pro.data.human_reservoir: 0.1 → 0.4" in lines
    assert sum("data.human_reservoir" in line for line in lines) == 8  # every model's
    assert main(["scenarios", "baseline", "watermark_mandate"]) == 0
    out = capsys.readouterr().out
    assert "  interventions.1.set.watermark.adoption: (none) → 0.95" in out
    assert "interventions: [] → (none)" not in out  # (the empty list is not a setting)
    assert main(["scenarios", "baseline", "baseline"]) == 0
    assert capsys.readouterr().out == "baseline has every setting of baseline\n"
    assert main(["scenarios", "a", "b", "c"]) == 2
    assert "give one scenario to print, or two to compare; got 3" in capsys.readouterr().err


def test_an_abstract_loader_given_a_text_scenario_says_so(tmp_path, capsys):
    """``load_scenario("text_baseline")`` said "unknown scenario", listing text_baseline among
    the text-mode scenarios; a text scenario's file was "unknown key 'mode'"."""
    with pytest.raises(ScenarioError, match=r"'text_baseline' is a text-mode scenario, and this"):
        load_scenario("text_baseline")
    path = tmp_path / "mine.toml"
    path.write_text('mode = "text"\nname = "mine"\n')
    with pytest.raises(ScenarioError, match=r"mine\.toml' is a text-mode scenario"):
        load_scenario(str(path))
    assert main(["scenarios", "text_baseline", "baseline"]) == 2
    assert "is a text-mode scenario" in capsys.readouterr().err


def test_the_abstract_loader_refuses_a_file_that_starts_from_a_text_scenario(tmp_path):
    """(The CLI runs such a file in text mode: tests/text/test_text_derived.py.)"""
    path = tmp_path / "x.toml"
    path.write_text('scenario = "text_baseline"\nname = "x"\n')
    with pytest.raises(ScenarioError, match=r"scenario: 'text_baseline' is a text-mode scenario"):
        load_file(path)
