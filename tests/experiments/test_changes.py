"""What a refusal to resume names when the scenario changed since the work began: the settings
that differ, by path, old value and new."""

from __future__ import annotations

import copy

import pytest
from tinyscenario import tiny_scenario

from habsburg.experiments.changes import describe_changes, flat_settings, setting_changes
from habsburg.experiments.sweep import SweepError, plan_scenarios
from habsburg.experiments.sweep.storage import check_output, write_manifest


def test_flat_settings_names_items_by_name_and_leaves_the_source_out():
    sc = tiny_scenario().to_dict()
    flat = flat_settings(sc)
    assert "source" not in flat
    model = sc["models"][0]["name"]
    assert flat[f"models.{model}.temperature"] == sc["models"][0]["temperature"]
    assert flat["humans.authors"] == sc["humans"]["authors"]
    iv = {"interventions": [{"at": "2025-01", "set": {"watermark.adoption": 0.5}}]}
    assert flat_settings(iv) == {
        "interventions.0.at": "2025-01",
        "interventions.0.set.watermark.adoption": 0.5,
    }


def test_changes_name_path_old_and_new_in_order_and_cut_long_values():
    old = tiny_scenario().to_dict()
    new = copy.deepcopy(old)
    new["humans"]["authors"] += 5
    new["description"] = "x" * 100
    del new["models"][0]["data"]["budget"]
    changes = setting_changes(old, new)
    assert changes[0] == f"description: {old['description']!r} → '{'x' * 36}..."
    assert f"humans.authors: {old['humans']['authors']} → {old['humans']['authors'] + 5}" in changes
    model = old["models"][0]["name"]
    assert (
        changes[-1] == f"models.{model}.data.budget: {old['models'][0]['data']['budget']} → (none)"
    )
    assert setting_changes(old, copy.deepcopy(old)) == []
    assert describe_changes(old, old) == ""
    text = describe_changes(old, new)
    assert text.count("; ") == 2 and text.endswith(f"{changes[2]}")
    new["seed"] += 1
    assert describe_changes(old, new).endswith("; and 1 more")


def test_a_sweep_resumed_with_another_base_names_the_setting(tmp_path):
    """A sweep's refusal to resume said only "settings, seeds, outcomes, steps or scale
    differ"; it names the base's settings that moved when they did."""
    base = tiny_scenario()
    plan = plan_scenarios("cmp", {"a": base, "b": tiny_scenario(name="b")}, seeds=1)
    out = tmp_path / "sweep"
    write_manifest(plan, out)
    changed = tiny_scenario(name="b")
    changed.humans.error_rate = 0.25
    again = plan_scenarios("cmp", {"a": base, "b": changed}, seeds=1)
    with pytest.raises(
        SweepError, match=r"\(settings that differ: b\.humans\.error_rate: 0\.02 → 0\.25\)"
    ):
        check_output(again, out, resume=True)
    renamed = plan_scenarios("cmp", {"a": base, "c": tiny_scenario(name="c")}, seeds=1)
    with pytest.raises(
        SweepError, match=r"\(other scenarios: a, b were run, this comparison runs a, c\)"
    ):
        check_output(renamed, out, resume=True)
    assert check_output(plan, out, resume=True) == set()
