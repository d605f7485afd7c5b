"""Book pages from the solutions ``make course`` already executed, without their answers.

``make course`` executes every solution notebook into ``build/<profile>/``. A lesson's
release (``notebooks/``) is the same notebook with each answer replaced by its starting
code and the hidden tests removed, so a page can take the executed outputs of the cells
the two share and need no second execution. :func:`transplant` walks the release next to
the executed solution, cell by cell:

* a cell whose source is the same in both keeps the solution run's outputs;
* an exercise (nbgrader solution) cell, a graded test cell, and any cell whose source
  differs take the release's source with no output;
* a cell that uses the trainee's answer (a name an exercise cell defines, a name computed
  from one, or ``exercise.attempt``) shows no output either: in the solution run it shows
  the answer's values, which the trainee's Run All never shows.

Cells are matched by nbgrader ``grade_id`` where a cell has one, else by position; two
notebooks that do not line up raise :class:`~course.errors.CourseError`.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING

from course.authoring.release import is_graded_test, lesson_notebook
from course.authoring.runner import _first_error, source_digest
from course.config import ROOT
from course.errors import CourseError

if TYPE_CHECKING:  # nbformat takes seconds to import: `course --help` stays fast
    import nbformat

__all__ = [
    "ATTEMPT",
    "INJECTED",
    "SCOPES",
    "answer_names",
    "fresh_solution_run",
    "page_from_solution_run",
    "transplant",
    "uses_answer",
]

ATTEMPT = re.compile(r"\battempt\(")
INJECTED = "injected-parameters"  # papermill's cell, when a run was given parameters


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _is_exercise(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution")) or is_graded_test(cell)


def fresh_solution_run(lesson: str, profile: str, build_dir: Path = ROOT / "build",
                       root: Path = ROOT) -> Path | None:
    """The lesson's solution executed by ``course run`` in ``build_dir/<profile>/``, if usable.

    Usable means: it exists, it is newer than the solution notebook, and it ran to its end.
    """
    executed = Path(build_dir) / profile / f"{lesson}.ipynb"
    source = lesson_notebook(lesson, "solutions", root)
    if not executed.is_file() or executed.stat().st_mtime <= source.stat().st_mtime:
        return None
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return None
    return None if _first_error(nb) else executed


def _parsed(source: str) -> ast.Module | None:
    """The cell's code (IPython magics and shell lines left out), or None when unparsable."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _defined(node: ast.AST) -> set[str]:
    """Names a statement binds in the notebook's namespace (assignments, loops, ``with ...
    as``, functions, classes), not those local to a function or comprehension."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, SCOPES):
        return set()
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Store) else set()
    return set().union(*(_defined(child) for child in ast.iter_child_nodes(node)))


def _local(node: ast.AST) -> set[str]:
    """Names a statement binds before it reads them: loop and comprehension targets, the
    arguments and variables of the functions it defines."""
    local: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.For | ast.AsyncFor | ast.comprehension):
            local |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            local |= {a.arg for a in ast.walk(n.args) if isinstance(a, ast.arg)}
            local |= {t.id for t in ast.walk(n) if isinstance(t, ast.Name)
                      and isinstance(t.ctx, ast.Store)}
    return local


def _uses(node: ast.AST, names: set[str]) -> bool:
    """True when the statement reads one of ``names`` that it did not bind itself first."""
    read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and not isinstance(n.ctx, ast.Store)}
    return bool((read - _local(node)) & names)


def answer_names(cells: list) -> set[str]:
    """Names the exercise (nbgrader solution) cells of a notebook bind at its top level."""
    names: set[str] = set()
    for cell in cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            tree = _parsed(cell.source)
            names |= set().union(*(_defined(s) for s in tree.body)) if tree else set()
    return names


def uses_answer(source: str, tainted: set[str]) -> bool:
    """True when the cell uses a name in ``tainted``; updates ``tainted`` statement by statement.

    A statement that uses a tainted name taints what it binds; one that does not clears
    what it binds (a new value). An unparsable cell counts as a use when it names one.
    """
    tree = _parsed(source)
    if tree is None:
        return bool(ATTEMPT.search(source)) or any(
            re.search(rf"\b{re.escape(name)}\b", source) for name in tainted)
    used = bool(ATTEMPT.search(source))
    for statement in tree.body:
        bound = _defined(statement)
        if _uses(statement, tainted):
            used = True
            tainted |= bound
        else:
            tainted -= bound
    return used


def _pairs(release, executed, lesson: str) -> list[tuple]:
    """(release cell, executed cell) pairs; CourseError when the notebooks do not line up."""
    ran = [c for c in executed.cells if INJECTED not in c.metadata.get("tags", [])]
    by_grade = {_grade_id(c): c for c in ran if _grade_id(c)}
    if len(ran) != len(release.cells):
        raise CourseError(f"{lesson}: the release has {len(release.cells)} cells and the "
                          f"executed solution {len(ran)}: they do not line up (run "
                          f"`course release {lesson}` and `course run {lesson}`).")
    pairs = []
    for index, (cell, at_index) in enumerate(zip(release.cells, ran, strict=True)):
        grade = _grade_id(cell)
        other = by_grade.get(grade) if grade else at_index
        if other is None or other is not at_index or other.cell_type != cell.cell_type:
            name = grade or cell.get("id") or "(no id)"
            raise CourseError(f"{lesson}: release cell {index} ({name}, {cell.cell_type}) has "
                              f"no counterpart at the same place in the executed solution.")
        pairs.append((cell, other))
    return pairs


def transplant(release, executed, lesson: str) -> nbformat.NotebookNode:
    """The release with the executed solution's outputs where they show no answer.

    Args:
        release: the lesson's release notebook (``notebooks/``).
        executed: its solution, executed (``build/<profile>/``).
        lesson: the lesson id, for error messages.

    Raises:
        CourseError: naming the lesson and cell, when the two do not line up.
    """
    page = copy.deepcopy(release)
    tainted = answer_names(release.cells)  # what the trainee's Run All has: the stubs' names
    for cell, ran in _pairs(page, executed, lesson):
        if cell.cell_type != "code":
            continue
        exercise = _is_exercise(cell) or _is_exercise(ran)  # binds the answer names: no update
        if exercise or cell.source != ran.source or uses_answer(cell.source, tainted):
            cell.outputs, cell.execution_count = [], None
        else:
            cell.outputs = copy.deepcopy(ran.outputs)
            cell.execution_count = ran.execution_count
    return page


def page_from_solution_run(lesson: str, executed: Path, out_dir: Path, profile: str,
                           root: Path = ROOT) -> Path:
    """Write ``out_dir/<lesson>.ipynb``: :func:`transplant` of the release and ``executed``."""
    import nbformat

    release_path = lesson_notebook(lesson, "notebooks", root)
    release = nbformat.read(release_path, as_version=4)
    page = transplant(release, nbformat.read(executed, as_version=4), lesson)
    page.metadata["course_run"] = {"lesson": lesson, "profile": profile,
                                   "kind": "solution outputs", "error": None,
                                   "source_sha256": source_digest(release_path),
                                   "outputs_from": executed.name}
    target = Path(out_dir) / f"{lesson}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(page, target)
    return target
