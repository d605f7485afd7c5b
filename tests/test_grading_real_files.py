"""Grading is right on the files students really submit: lesson 00, saved as JupyterLab saves it.

JupyterLab saves a notebook through the Jupyter server's contents API; the
server writes nbformat JSON in which each cell's ``source`` is a list of lines.
The pre-check must read it as nbgrader does (issue 12: every real submission
used to be flagged as "edited read-only cell").

Fast tests run the pre-check alone on lesson 00's real release; the slow ones
start a Jupyter server, save notebooks through it and grade them.
"""

from __future__ import annotations

import codecs
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from course import grading
from course.config import ROOT
from course.grading.gradebook import generate_assignment

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grading"))
import live_server  # noqa: E402

LESSON = "00-course-map"
CAP = 10**6


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Lesson 00 released in a private copy of the course: (root, source, release, cells)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / LESSON, root / "solutions" / LESSON)
    generate_assignment(root, LESSON)
    source = root / "solutions" / LESSON / f"{LESSON}.ipynb"
    release = root / "notebooks" / LESSON / f"{LESSON}.ipynb"
    return root, source, release, grading.source_cells(root, LESSON)


def _check(path: Path, cells: dict) -> grading.PreCheck:
    return grading.precheck(path, cells, max_output_bytes=CAP)


def _solved(course) -> nbformat.NotebookNode:
    _, source, release, _ = course
    return grading.solved(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4))


def test_the_release_saved_by_nbformat_is_not_flagged(course, tmp_path):
    root, _, release, cells = course
    saved = tmp_path / "release.ipynb"
    nbformat.write(nbformat.read(release, as_version=4), saved)
    assert '"source": [' in saved.read_text(), "nbformat writes sources as lists of lines"
    shutil.copy2(release, tmp_path / "bytes.ipynb")
    for path in (saved, tmp_path / "bytes.ipynb"):
        found = _check(path, cells)
        assert (found.fatal, found.notes, found.info, found.repaired) == ("", [], [], False), path


def test_the_solution_saved_by_nbformat_is_not_flagged(course, tmp_path):
    _, source, _, cells = course
    notebooks = {"canary": nbformat.read(source, as_version=4), "solved": _solved(course)}
    for name, nb in notebooks.items():
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        found = _check(path, cells)
        assert (found.fatal, found.notes, found.info) == ("", [], []), name


def test_an_edited_test_is_still_flagged(course, tmp_path):
    _, _, release, cells = course
    nb = nbformat.read(release, as_version=4)
    test = next(c for c in nb.cells if grading.cell_grade_id(c) == "test-profile")
    test.source += "\nassert True"
    nbformat.write(nb, tmp_path / "edited.ipynb")
    found = _check(tmp_path / "edited.ipynb", cells)
    assert found.notes == ["edited read-only cell(s) test-profile: restored from the source "
                           "before grading"]


def test_a_bom_and_crlf_are_read_and_repaired_in_a_copy(course, tmp_path):
    _, _, release, cells = course
    text = grading.jupyterlab_json(_solved(course))
    bom = tmp_path / "bom.ipynb"
    bom.write_bytes(codecs.BOM_UTF8 + text.encode())
    crlf = tmp_path / "crlf.ipynb"
    nb = _solved(course)
    for cell in nb.cells:
        cell.source = cell.source.replace("\n", "\r\n")
    crlf.write_bytes(grading.jupyterlab_json(nb).replace("\n", "\r\n").encode())
    found = _check(bom, cells)
    assert (found.fatal, found.notes, found.repaired) == ("", [], True)
    assert found.info == ["UTF-8 byte-order mark removed before grading"]
    found = _check(crlf, cells)
    assert (found.fatal, found.notes, found.repaired) == ("", [], True)
    assert "CRLF" in found.info[0]
    assert all("\r" not in c.source for c in found.notebook.cells)
    assert bom.read_bytes().startswith(codecs.BOM_UTF8), "the student's file is left as it was"


def test_empty_files_and_notebooks_have_their_own_reasons(course, tmp_path):
    _, _, _, cells = course
    (tmp_path / "zero.ipynb").write_bytes(b"")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "none.ipynb")
    blank = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("  "),
                                            nbformat.v4.new_markdown_cell("")])
    nbformat.write(blank, tmp_path / "blank.ipynb")
    assert _check(tmp_path / "zero.ipynb", cells).fatal.startswith("invalid notebook: empty file")
    assert _check(tmp_path / "none.ipynb", cells).fatal.startswith("empty notebook (0 cells")
    assert _check(tmp_path / "blank.ipynb", cells).fatal.startswith("empty notebook (2 cells")


def test_cells_copied_into_a_new_notebook_get_their_metadata_back(course, tmp_path):
    _, _, _, cells = course
    stripped = grading.copied_into_new_notebook(_solved(course))
    assert not any("nbgrader" in c.metadata for c in stripped.cells)
    nbformat.write(stripped, tmp_path / "stripped.ipynb")
    found = _check(tmp_path / "stripped.ipynb", cells)
    assert not found.fatal and found.repaired
    assert found.notes == [
        "nbgrader metadata missing (cells copied into a new notebook?): 5 cell(s) matched to "
        "the release by cell id, content or place, and graded"]
    ids = [grading.cell_grade_id(c) for c in found.notebook.cells]
    assert [i for i in ids if i] == cells["grade_ids"]


def test_stripped_cells_keep_their_ids_so_an_edited_test_is_still_found(course, tmp_path):
    _, _, release, cells = course
    nb = _solved(course)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
        if cell.id == "test-mindmap":
            cell.source = "pass  # the student's own test"
    nbformat.write(nb, tmp_path / "ids.ipynb")
    found = _check(tmp_path / "ids.ipynb", cells)
    assert not found.fatal
    assert "edited read-only cell(s) test-mindmap" in "; ".join(found.notes)


def test_stripped_answers_that_cannot_be_placed_fail_with_what_to_do(course, tmp_path):
    stripped = grading.copied_into_new_notebook(_solved(course))
    with_scratch = nbformat.v4.new_notebook(metadata=stripped.metadata)
    for cell in stripped.cells:  # a scratch cell after every code cell
        with_scratch.cells.append(cell)
        if cell.cell_type == "code":
            with_scratch.cells.append(nbformat.v4.new_code_cell("print('scratch')"))
    nbformat.write(with_scratch, tmp_path / "scratch.ipynb")
    found = _check(tmp_path / "scratch.ipynb", course[3])
    assert found.fatal.startswith("nbgrader metadata missing (cells copied into a new notebook?) "
                                  "and answer cell(s) device-report-answer"), found
    assert "resubmit" in found.fatal


def test_an_unrelated_notebook_without_metadata_is_named_as_such(course, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    nbformat.write(nb, tmp_path / "other.ipynb")
    fatal = _check(tmp_path / "other.ipynb", course[3]).fatal
    assert fatal.startswith("nbgrader metadata missing and no cell matches this lesson's release")


# ------------------------------------------------------------------ slow: a real Jupyter server


@pytest.fixture(scope="module")
def saved_by_server(course, tmp_path_factory):
    """Notebooks saved through a real Jupyter server's contents API: name -> file bytes."""
    _, source, release, _ = course
    where = tmp_path_factory.mktemp("server")
    port, token = live_server.free_port(), live_server.new_token()
    command = [sys.executable, "-m", "jupyter", "server",
               *live_server.server_flags(port, token, where)]
    env = {**grading.tools_env(), "JUPYTER_RUNTIME_DIR": str(where / ".runtime")}
    notebooks = {"release": nbformat.read(release, as_version=4),
                 "canary": nbformat.read(source, as_version=4), "solved": _solved(course)}
    with live_server.running(command, cwd=where, env=env, log=where / ".server.log",
                                port=port, token=token) as server:
        for name, nb in notebooks.items():
            server.save_notebook(f"{name}.ipynb", json.loads(json.dumps(nb)))
    return {name: (where / f"{name}.ipynb").read_bytes() for name in notebooks}


@pytest.mark.slow
def test_the_server_writes_what_the_benchmark_writes(course, saved_by_server):
    _, _, release, _ = course
    saved = saved_by_server["release"].decode()
    assert saved.endswith("}\n") and '\n "cells": [\n  {\n' in saved and '"source": [' in saved
    assert saved == grading.jupyterlab_json(nbformat.read(release, as_version=4))


@pytest.mark.slow
def test_notebooks_saved_by_jupyterlab_are_graded_right(course, saved_by_server):
    root, _, release, cells = course
    files = {f"server_{name}": data for name, data in saved_by_server.items()}
    files["nbformat_release"] = nbformat.writes(nbformat.read(release, as_version=4)).encode()
    for student, data in files.items():
        path = root / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    report = grading.grade_lesson(LESSON, root=root, students=sorted(files), cell_timeout=120)
    report.print()
    top = cells["max_score"]
    got = {r.student: (r.score, r.max_score, r.status) for r in report.rows}
    assert got == {"nbformat_release": (0, top, "graded"), "server_release": (0, top, "graded"),
                   "server_canary": (top, top, "graded"), "server_solved": (top, top, "graded")}
    for row in report.rows:
        assert "edited" not in row.reason and "metadata" not in row.reason, row
