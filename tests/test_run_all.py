"""Run All on the trainee's unsolved release reaches the last cell.

Each release notebook is executed headless as a trainee's untouched copy would run under
JupyterLab's Run All (a failing cell stops the run unless it is tagged ``raises-exception``;
``tests/test_browser.py`` does it in JupyterLab itself): the only cells that may fail are
the graded test cells of the unsolved exercises, and every one of them fails (so Validate
lists exactly those).
Cells after an exercise use the library's reference, not the unfinished answer.
No output may hold an absolute path from this machine.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest

from course.authoring.release import lessons
from course.config import ROOT

pytestmark = pytest.mark.slow

_ABSOLUTE = re.compile(
    "|".join(re.escape(p) for p in {str(ROOT), os.path.expanduser("~"), "/tmp/"} if len(p) > 1)
)


def _graded_tests(nb: nbformat.NotebookNode) -> set[str]:
    return {
        c.id
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    }


def _output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts += [str(v) for k, v in out.get("data", {}).items() if not k.startswith("image/")]
        parts += [out.get("evalue", "")] + out.get("traceback", [])
    return "\n".join(parts)


@pytest.mark.parametrize("lesson", lessons())
def test_run_all_on_the_unsolved_release_reaches_the_end(lesson, executed_release):
    # Executed as JupyterLab's Run All does: a failing cell stops the run unless it is
    # tagged raises-exception (course.authoring.runner.run_release).
    run = executed_release(lesson)
    assert run.error is None, f"{lesson}: Run All stopped at {run.error}"
    nb = nbformat.read(run.output, as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in ran), "every code cell ran"
    errored = {c.id for c in ran if any(o.output_type == "error" for o in c.outputs)}
    graded = _graded_tests(nb)
    assert graded, f"{lesson} has no graded test cell"
    print(f"{lesson}: {len(ran)} code cells ran; errors in {sorted(errored)}")
    assert errored <= graded, f"cells that are not graded tests failed: {errored - graded}"
    assert errored == graded, f"graded tests that passed unsolved: {graded - errored}"
    for cell in ran:
        text = _output_text(cell)
        leaked = _ABSOLUTE.findall(text)
        assert not leaked, f"{lesson}, cell {cell.id}: an absolute path in the output: {leaked}"
        assert "MindMap(" not in text, f"{lesson}, cell {cell.id} prints a MindMap repr"
