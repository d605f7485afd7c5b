import subprocess
import sys

from course import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("release", "run", "grade", "analytics", "data", "mindmap"):
        assert f"  {name}" in out


def test_unknown_command_exits_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_course_error_becomes_exit_1(capsys):
    assert cli.main(["release", "99-no-such-lesson"]) == 1
    assert "99-no-such-lesson" in capsys.readouterr().err


def test_console_script_runs_data_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "data", "summary", "--no-tokens", "--skip-minishop",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "missing" in result.stdout.lower()
