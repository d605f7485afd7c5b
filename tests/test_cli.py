"""The ``course`` command: one table of real functions, and a test that calls each one.

Which test calls each subcommand for real (``CALLED_BY``; a test checks that every
command of ``course.cli.COMMANDS`` has a row and that the test named there exists):

============  =======================================================================
release       test_release_writes_where_it_is_run_and_where_root_says (slow),
              test_course_error_becomes_exit_1
run           test_run_executes_a_lesson_of_a_course_copy (slow); tests/test_runner.py
grade         test_grade_without_a_lesson_lists_the_lessons_and_grades_nothing;
              tests/test_grading_batch.py::test_grade_main_* (slow)
analytics     test_analytics_on_a_synthetic_cohort
data          test_console_script_runs_data_summary
mindmap       test_mindmap_render_export_mermaid
serve         tests/test_serve.py::test_course_serve_command
book          test_book_command_built_the_book (slow: the session's book is built by
              ``course book``, tests/release_runs.py)
hub           tests/test_hub.py::test_course_hub_starts_a_class_in_one_command_and_stops_on_ctrl_c
              (hub tier, root); tests/test_hub_config.py calls it without root
============  =======================================================================
"""

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

from course import cli
from course.config import ROOT

LESSON = "00-course-map"
TESTS = Path(__file__).parent
CALLED_BY = {
    "release": "test_release_writes_where_it_is_run_and_where_root_says",
    "run": "test_run_executes_a_lesson_of_a_course_copy",
    "grade": "test_grade_without_a_lesson_lists_the_lessons_and_grades_nothing",
    "analytics": "test_analytics_on_a_synthetic_cohort",
    "data": "test_console_script_runs_data_summary",
    "mindmap": "test_mindmap_render_export_mermaid",
    "serve": "test_serve.py::test_course_serve_command",
    "book": "test_book_command_built_the_book",
    "hub": "test_hub.py::test_course_hub_starts_a_class_in_one_command_and_stops_on_ctrl_c",
}
COURSE_DIR_COMMANDS = ["release", "run", "grade", "analytics", "book"]
HEAVY = ["torch", "transformers", "fastapi", "uvicorn", "nbgrader", "papermill", "nbformat",
         "nbclient", "jupyter_client", "matplotlib", "sklearn", "datasets"]


# --------------------------------------------------------------------------- the table


def test_every_command_is_a_function_of_the_library():
    for name, (help_text, main) in cli.COMMANDS.items():
        assert help_text and inspect.isfunction(main), f"{name}: {main!r} is not a function"
        assert main.__module__.startswith("course."), f"{name}: {main.__module__}"
        assert list(inspect.signature(main).parameters) == ["argv"], name


def test_every_command_is_called_by_a_named_test():
    assert set(CALLED_BY) == set(cli.COMMANDS), "add the new command's test to CALLED_BY"
    for name, test in CALLED_BY.items():
        file, _, function = test.rpartition("::")
        source = (TESTS / (file or "test_cli.py")).read_text(encoding="utf-8")
        assert f"def {function}(" in source, f"{name}: no test {test}"


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"  {name}" in out


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: course {name}" in capsys.readouterr().out


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_argument_has_a_help_text_that_shows_its_default(name, monkeypatch):
    def capture(self, *args, **kwargs):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as parsed:
        cli.COMMANDS[name][1]([])
    for parser in _parsers(parsed.value.parser):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where}: no help text"
            has_default = action.option_strings or action.nargs in ("?", "*")
            if has_default and not action.required:
                shown = formatter._get_help_string(action) or ""
                assert "(default" in shown, f"{where}: the help does not show the default"


# --------------------------------------------------------------------------- version, -m


def test_version(capsys, monkeypatch):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"course {installed_version('course')}\n"
    import importlib.metadata

    import course

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.version() == course.__version__


def test_python_dash_m_course():
    for args, expected in ((["--help"], "usage: course"), (["--version"], "course ")):
        result = subprocess.run([sys.executable, "-m", "course", *args], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(expected)


def test_importing_the_command_line_leaves_the_heavy_libraries_unloaded():
    code = ("import sys, course.cli; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"course --help imports {result.stdout}"


def test_unknown_command_exits_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_course_error_becomes_exit_1(capsys):
    assert cli.main(["release", "99-no-such-lesson", "--root", str(ROOT)]) == 1
    assert "99-no-such-lesson" in capsys.readouterr().err


# --------------------------------------------------------------------------- --root


@pytest.mark.parametrize("name", COURSE_DIR_COMMANDS)
def test_root_is_the_course_directory_in_every_command(name, tmp_path, monkeypatch, capsys):
    assert cli.main([name, "--root", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a course directory" in err and "--root" in err
    monkeypatch.chdir(tmp_path)  # the default is the current directory
    assert cli.main([name]) != 0
    assert f"{tmp_path} is not a course directory" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["release", "run", "book"])
def test_commands_on_lessons_need_the_solutions_folder(name, tmp_path, capsys):
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    assert cli.main([name, "--root", str(tmp_path)]) == 1
    assert "has no solutions/" in capsys.readouterr().err


# --------------------------------------------------------------------------- each command


def test_grade_without_a_lesson_lists_the_lessons_and_grades_nothing(capsys):
    assert cli.main(["grade", "--root", str(ROOT)]) == 2
    err = capsys.readouterr().err
    assert "LESSON=" in err and LESSON in err and "instructors-course-optimisation" in err


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_grade_without_a_lesson_says_what_to_pass():
    # -o: take the environment as it is (never reinstall .venv from a test)
    result = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "grade",
                             "LESSON="], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "make grade LESSON=" in result.stderr and LESSON in result.stderr
    assert "course grade" not in result.stdout, "nothing was graded"


def test_analytics_on_a_synthetic_cohort(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["analytics", "--synthetic", "30", "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "items.csv").is_file()
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out


def test_mindmap_render_export_mermaid(tmp_path, capsys):
    png, opml = tmp_path / "map.png", tmp_path / "map.opml"
    assert cli.main(["mindmap", "render", LESSON, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["mindmap", "export", LESSON, "-o", str(opml)]) == 0
    assert "<opml" in opml.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["mindmap", "mermaid", LESSON]) == 0
    assert capsys.readouterr().out.startswith("mindmap\n")


def test_console_script_runs_data_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "course", "data", "summary", "--no-tokens", "--skip-minishop",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "missing" in result.stdout.lower()


@pytest.mark.slow
def test_book_command_built_the_book(built_book):
    report = built_book()  # built by `course book` (tests/release_runs.py)
    saved = json.loads((report.site.parent / "report.json").read_text(encoding="utf-8"))
    assert saved["exit_code"] == 0, (report.broken, report.stopped)
    assert (report.site / "index.html").is_file() and len(report.pages) >= 8


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


# --------------------------------------------------------------------------- slow: copies


def _course_copy(where: Path) -> Path:
    where.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", where / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / LESSON, where / "solutions" / LESSON)
    return where


def _course(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``course`` command as a user would, with the environment not activated."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


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


@pytest.mark.slow
def test_run_executes_a_lesson_of_a_course_copy(tmp_path):
    course, out = _course_copy(tmp_path / "course"), tmp_path / "out"
    result = _course(["run", LESSON, "--root", str(course), "--out", str(out),
                      "--profile", "smoke"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"[1/1] {LESSON} (smoke profile, first run)" in result.stdout
    assert (out / "smoke" / f"{LESSON}.ipynb").is_file()
    assert LESSON in json.loads((out / "smoke" / "timings.json").read_text())
    assert "without encryption" not in result.stdout + result.stderr
    assert not (course / "build").exists(), "--out, not the course's build/"
