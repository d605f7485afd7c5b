"""nbgrader preprocessors of the course's autograde pipeline, and the pipeline itself.

Imported by the grading child only (nbgrader's imports are slow). ``SafeExecute`` runs
kernels over local sockets (``course.grading.kernels``). Two of them work around
nbgrader 0.9.6:

* ``DropEmptyNbgraderMetadata``: with ``add_missing_cells`` on, a notebook
  with a duplicated grade cell fails with ``KeyError: 'grade_id'``.
* ``RestoreMissingCells``: a deleted grade cell whose preceding source cell is
  read-only (not a grade or solution cell) fails with a ``KeyError``.
"""

from __future__ import annotations

import json
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import from_dict
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Integer

from course.grading.gradebook import course_config
from course.grading.kernels import IPCKernelManager
from course.grading.marks import KERNEL_DIED, TRUNCATED_MARK, outputs_bytes

__all__ = [
    "CapOutputBytes",
    "DropEmptyNbgraderMetadata",
    "RestoreMissingCells",
    "SafeExecute",
    "died_output",
    "grading_config",
]


class CapOutputBytes(NbGraderPreprocessor):
    """Truncate a code cell's outputs beyond ``max_bytes`` (after execution)."""

    max_bytes = Integer(1_000_000).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or outputs_bytes(cell) <= self.max_bytes:
            return cell, resources
        kept, used = [], 0
        for output in cell.outputs:
            size = len(json.dumps(output, ensure_ascii=False).encode())
            if used + size > self.max_bytes:
                break
            kept.append(output)
            used += size
        kept.append({"output_type": "stream", "name": "stdout",
                     "text": f"{TRUNCATED_MARK} (over {self.max_bytes} bytes)\n"})
        cell.outputs = [from_dict(o) for o in kept]
        return cell, resources


def died_output(message: str):
    """The error output that marks a cell run (or skipped) after the kernel died."""
    return from_dict({"output_type": "error", "ename": KERNEL_DIED, "evalue": message,
                      "traceback": [f"{KERNEL_DIED}: {message}"]})


class SafeExecute(Execute):
    """nbgrader's Execute, but a dead kernel zeroes the remaining cells instead of failing.

    Its kernels use the ``ipc`` transport (:class:`~course.grading.kernels.IPCKernelManager`),
    not TCP. nbgrader's ``Execute`` sets ``kernel_manager_class`` as a constructor argument,
    which wins over any config, so the class is given here, the same way.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", IPCKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._dead_at = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead_at is not None:
            cell.outputs = [died_output("not run: the kernel died in an earlier cell")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead_at = index
            cell.outputs.append(died_output("the kernel died running this cell "
                                            "(os._exit(), a crash or out of memory)"))
            return cell, resources


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """Delete the empty ``metadata.nbgrader`` DeduplicateIds leaves on a duplicate."""

    def preprocess_cell(self, cell, resources, index):
        if "nbgrader" in cell.metadata and not cell.metadata.nbgrader.get("grade_id"):
            del cell.metadata["nbgrader"]
        return cell, resources


class RestoreMissingCells(OverwriteCells):
    """OverwriteCells that puts a deleted grade cell back after the nearest earlier nbgrader
    cell still present (or first), instead of failing on the cell order."""

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        cells = {c.name: c for c in source_nb.source_cells}
        order = [c.name for c in source_nb.source_cells]
        grades = {c.name: c for c in source_nb.grade_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        for position, name in enumerate(order):
            present = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
                       if c.metadata.get("nbgrader", {}).get("grade_id")}
            if name not in grades or name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", name)
            cell = self.missing_cell_transform(cells[name], grades[name].max_score,
                                               is_solution=name in solutions)
            earlier = [present[p] for p in order[:position] if p in present]
            nb.cells.insert(max(earlier) + 1 if earlier else 0, cell)
        return nb, resources


def grading_config(root: Path, cell_timeout: int, max_output_bytes: int):
    """The course's config with the autograde pipeline built from the classes above."""
    config = course_config(root)
    config.Execute.timeout = cell_timeout
    config.SafeExecute.timeout = cell_timeout
    config.SafeExecute.interrupt_on_timeout = True
    config.CapOutputBytes.max_bytes = max_output_bytes
    config.RestoreMissingCells.add_missing_cells = True
    config.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, DropEmptyNbgraderMetadata, OverwriteKernelspec,
        RestoreMissingCells, CheckCellMetadata,
    ]
    config.Autograde.autograde_preprocessors = [
        SafeExecute, CapOutputBytes, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    return config
