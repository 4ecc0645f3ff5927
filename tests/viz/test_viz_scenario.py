"""The viz-sized scenario, trimming models, and ``habsburg viz`` (the command, without a server)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from habsburg.cli import main
from habsburg.cli.viz import server_command, server_env
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.library import list_scenarios, load_scenario
from habsburg.scenarios.schema import from_dict
from habsburg.viz import assets
from habsburg.viz.scenario import VIZ_AUTHORS, keep_first_models, model_kwargs, pick, viz_sized

AUTHORS = 100


def test_viz_sized_scales_counts_and_keeps_rates():
    full = load_scenario("baseline")
    small = viz_sized(full, 400)
    f = 400 / full.humans.authors
    assert small.humans.authors == 400
    assert small.demand.adoption.ceiling == pytest.approx(full.demand.adoption.ceiling * f)
    assert small.world.concepts == round(full.world.concepts * f)
    for a, b in zip(full.models, small.models, strict=True):
        assert b.data.budget == round(a.data.budget * f)
        assert (b.temperature, b.retrain_interval, b.data.mode) == (
            a.temperature,
            a.retrain_interval,
            a.data.mode,
        )
    assert (small.start, small.end, small.chatbot_launch) == (
        full.start,
        full.end,
        full.chatbot_launch,
    )
    assert full.humans.authors == 2000  # the original is not touched
    # the site graph is the scenario's: farms hold crawlers as at full size (with the sites
    # scaled, the viz-sized baseline's farms held 0.17 of PageRank against 0.38)
    assert small.web.sites == full.web.sites
    assert [f.sites for f in small.farms] == [f.sites for f in full.farms]
    assert [s.budget_sites for s in small.scrapers] == [s.budget_sites for s in full.scrapers]
    assert [s.aggregator_sites for s in small.scrapers] == [
        s.aggregator_sites for s in full.scrapers
    ]


def test_the_viz_sized_baseline_tracks_the_web_curve():
    """The default viz-sized baseline's detector-measured share of new documents stays near the
    measured web curve (36% at +12 months, 48% at +24). (Its speed is benchmarks/bench_viz.py's.)"""
    model = EcosystemModel(**model_kwargs(pick("baseline", VIZ_AUTHORS)))
    launch = model.config.launch_step
    for _ in range(launch + 25):
        model.step()
    measured = model.datacollector.get_model_vars_dataframe().synthetic_share_new_measured
    assert measured.iloc[launch + 12] == pytest.approx(0.36, abs=0.06)
    assert measured.iloc[launch + 24] == pytest.approx(0.48, abs=0.06)


def test_every_library_scenario_opens_in_the_viz():
    for name in list_scenarios():
        model = EcosystemModel(**model_kwargs(pick(name, AUTHORS)))
        model.step()
        assert model.config.humans.authors == AUTHORS


def test_keeping_first_models_drops_dangling_references():
    sc = from_dict(
        {
            "labs": [{"name": "lab"}],
            "scrapers": [{"name": "crawler"}],
            "models": [
                {"name": "a", "data": {"distill_from": "b", "distill_fraction": 0.2}},
                {"name": "b"},
            ],
            "interventions": [
                {"at_step": 3, "set": {"models.b.temperature": 0.5}},
                {"at_step": 4, "set": {"models.*.temperature": 0.6, "models.b.top_p": 0.9}},
                {"at_step": 5, "times": {"models.b.temperature": 1.1}},
                {"at_step": 6, "times": {"models.*.temperature": 1.1}},
            ],
        }
    )
    dropped = keep_first_models(sc, 1)
    assert [m.name for m in sc.models] == ["a"]
    assert (sc.models[0].data.distill_from, sc.models[0].data.distill_fraction) == ("", 0.0)
    assert [(iv.set, iv.times) for iv in sc.interventions] == [
        ({"models.*.temperature": 0.6}, {}),
        ({}, {"models.*.temperature": 1.1}),
    ]
    assert len(dropped) == 5


def test_bundled_vega_is_served_under_major_versions(tmp_path, monkeypatch):
    cache = tmp_path / "cdn"
    for name in ("vega@5.21.0", "vega-lite@5.2.0", "vega-embed@6.20.2", "requirejs@2.3.6"):
        (cache / name / "build").mkdir(parents=True)
    settings = assets.solara.server.settings.assets
    monkeypatch.setattr(settings, "proxy_cache_dir", cache)
    served = assets.serve_bundled_vega(tmp_path / "served")
    assert served == tmp_path / "served" and settings.proxy_cache_dir == served
    assert (served / "vega@5").resolve() == (cache / "vega@5.21.0").resolve()
    assert (served / "requirejs@2.3.6").is_dir()


def _bundle(root):
    for name in ("vega@5.21.0", "vega-lite@5.2.0", "vega-embed@6.20.2", "requirejs@2.3.6"):
        (root / name / "build").mkdir(parents=True)
    return root


def _served() -> Path:
    """Where the page's vega bundle is served from (there is one in these tests)."""
    served = assets.serve_bundled_vega()
    assert served is not None
    return served


def test_each_bundle_has_its_own_links_and_stale_ones_are_replaced(tmp_path, monkeypatch):
    # Until 2026-12-02 every installation shared one directory of links into the bundle of the
    # first one to make it: deleting that installation left every other viz page blank offline.
    monkeypatch.setattr(assets.tempfile, "tempdir", str(tmp_path))
    settings = assets.solara.server.settings.assets
    first, second = _bundle(tmp_path / "a" / "cdn"), _bundle(tmp_path / "b" / "cdn")
    monkeypatch.setattr(settings, "proxy_cache_dir", first)
    served_first = _served()
    monkeypatch.setattr(settings, "proxy_cache_dir", second)
    served_second = _served()
    assert served_first != served_second
    for served, bundle in ((served_first, first), (served_second, second)):
        assert served.parent == tmp_path
        assert (served / "vega@5").resolve() == (bundle / "vega@5.21.0").resolve()
        assert (served / "requirejs@2.3.6").resolve() == (bundle / "requirejs@2.3.6").resolve()
    # a link into a bundle since deleted, one to another version, and a file that is not a link
    stale = served_second / "requirejs@2.3.6"
    stale.unlink()
    stale.symlink_to(tmp_path / "deleted" / "requirejs@2.3.6", target_is_directory=True)
    (served_second / "vega@5").unlink()
    (served_second / "vega@5").symlink_to(first / "vega@5.21.0", target_is_directory=True)
    (served_second / "notes.txt").write_text("not ours")
    (second / "notes.txt").write_text("bundled")
    monkeypatch.setattr(settings, "proxy_cache_dir", second)
    assert assets.serve_bundled_vega() == served_second
    assert stale.resolve() == (second / "requirejs@2.3.6").resolve() and stale.is_dir()
    assert (served_second / "vega@5").resolve() == (second / "vega@5.21.0").resolve()
    assert (served_second / "notes.txt").read_text() == "not ours"
    assert sorted(p.name for p in served_second.iterdir() if p.name.startswith(".")) == []


# --- the command --------------------------------------------------------------------------------
def test_server_binds_loopback_without_telemetry():
    cmd = server_command(8123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert "habsburg.viz.app" in cmd and "--no-check-version" in cmd
    env = server_env("baseline", VIZ_AUTHORS)
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["HABSBURG_VIZ_SCENARIO"] == "baseline"


def test_viz_command_rejects_unknown_scenario_and_bad_flags(capsys):
    assert main(["viz", "no-such-scenario"]) == 2
    assert "unknown scenario 'no-such-scenario'" in capsys.readouterr().err
    assert main(["viz", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["viz", "--authors", "3"]) == 2
    assert "--authors" in capsys.readouterr().err


def test_viz_refuses_a_scenario_too_large_for_the_machine(tmp_path, capsys, monkeypatch):
    """``--authors`` at or above a scenario's own authors serves it at full size: one too large
    for the machine is refused before the server starts, naming --authors, as ``habsburg run``
    refuses it (the page would have served it and run out of memory part-way through a session)."""
    from habsburg.cli import viz as viz_cli
    from habsburg.experiments import limits

    started: list[tuple] = []

    def serve(*args: object) -> int:  # the server is not started
        started.append(args)
        return 0

    monkeypatch.setattr(viz_cli, "_serve", serve)
    monkeypatch.setattr(viz_cli, "check_port", lambda port: None)  # (8765 may be taken here)
    machine = int(0.7 * 2**30)  # 0.56 GiB for a run: the baseline needs ~0.65, the viz's ~0.44
    monkeypatch.setattr(limits, "available_memory", lambda: machine)
    assert main(["viz", "baseline", "--authors", "2000"]) == 2  # the baseline at full size
    err = capsys.readouterr().err
    assert "projected to publish ~2,040,841 documents" in err and "lower --authors" in err
    assert "Traceback" not in err and not started
    assert main(["viz", "baseline"]) == 0  # the default viz size fits that machine
    assert len(started) == 1 and "baseline-viz (400 authors)" in capsys.readouterr().out
    monkeypatch.setattr(limits, "available_memory", lambda: 64 * 2**30)
    assert main(["viz", "baseline", "--authors", "100000"]) == 0
    assert "baseline (2000 authors)" in capsys.readouterr().out  # what it runs, not the flag
    sized = pick("baseline", VIZ_AUTHORS).scenario
    viz_cli.check_viz_size(sized, available=machine)  # no error
    with pytest.raises(limits.LimitError, match=r"\(400 authors\)"):
        viz_cli.check_viz_size(sized, available=2**20)


def test_viz_refuses_a_port_in_use_before_the_server_starts(capsys, monkeypatch):
    """A port another program listens on: one line naming --port and a free one, exit 2, no
    server started (Solara's server printed uvicorn's error and exited 3, which habsburg passed
    on as an internal error)."""
    from habsburg.cli import viz as viz_cli

    monkeypatch.setattr(viz_cli.subprocess, "Popen", _no_server)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for scenario in ("baseline", "text_baseline"):
            assert main(["viz", scenario, "--port", str(port)]) == 2
            out, err = capsys.readouterr()
            assert out == ""  # (no "serving on ..." line for a server that never starts)
            assert err.startswith(f"habsburg: error: --port {port}: 127.0.0.1:{port} is in use")
            free = int(err.rstrip().rsplit("--port ", 1)[1])
            assert free != port and err.count("\n") == 1
            with socket.socket() as probe:  # the port it suggests was free
                probe.bind(("127.0.0.1", free))
    viz_cli.check_port(port)  # let go: the port is accepted again


def _no_server(*args: object, **kwargs: object) -> None:
    raise AssertionError("the server started")
