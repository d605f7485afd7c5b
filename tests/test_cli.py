import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import cli
from course.config import ROOT

LESSON = "00-course-map"


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("release", "run", "grade", "analytics", "data", "mindmap"):
        assert f"  {name}" in out


def test_unknown_command_exits_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_course_error_becomes_exit_1(capsys):
    assert cli.main(["release", "99-no-such-lesson", "--root", str(ROOT)]) == 1
    assert "99-no-such-lesson" in capsys.readouterr().err


def test_console_script_runs_data_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "data", "summary", "--no-tokens", "--skip-minishop",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "missing" in result.stdout.lower()


def test_importing_the_course_changes_nothing_in_the_environment():
    code = ("import os, sys; before = dict(os.environ); "
            "import course, course.grading, course.authoring.release, "
            "course.grading.analytics, course.cli; "
            "changed = {k for k in set(before) | set(os.environ) "
            "if before.get(k) != os.environ.get(k)}; "
            "print(sorted(changed)); sys.exit(1 if changed else 0)")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, f"import course changed {result.stdout} {result.stderr}"


def _course_copy(where: Path) -> Path:
    where.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", where / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / LESSON, where / "solutions" / LESSON)
    return where


def _course(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``course`` command as a user would, with the environment not activated."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "course.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_release_writes_where_it_is_run_and_where_root_says(tmp_path):
    before = (ROOT / "notebooks" / LESSON / f"{LESSON}.ipynb").stat().st_mtime_ns
    here = _course_copy(tmp_path / "here")
    result = _course(["release", LESSON], cwd=here)
    assert result.returncode == 0, result.stderr
    assert (here / "notebooks" / LESSON / f"{LESSON}.ipynb").is_file()
    assert (here / "gradebook.db").is_file()
    there = _course_copy(tmp_path / "there")
    result = _course(["release", "--root", str(there)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"released {there / 'notebooks' / LESSON / LESSON}.ipynb" in result.stdout
    assert not (tmp_path / "notebooks").exists() and not (tmp_path / "gradebook.db").exists()
    assert (ROOT / "notebooks" / LESSON / f"{LESSON}.ipynb").stat().st_mtime_ns == before


def test_release_outside_a_course_says_where_to_run_it(tmp_path):
    result = _course(["release"], cwd=tmp_path)
    assert result.returncode == 1
    assert "is not a course directory" in result.stderr and "--root" in result.stderr
