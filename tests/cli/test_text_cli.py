"""`habsburg run` and `habsburg scenarios` know the text-mode library."""

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
