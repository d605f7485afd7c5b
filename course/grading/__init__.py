"""Batch autograding with nbgrader that is right on real submissions and survives broken ones.

``grade_lesson`` autogrades every ``submitted/<student>/<lesson>/`` folder of a
course through nbgrader's Python API. Each student is graded in a child
process with a wall-clock limit, so an infinite loop, ``os._exit()`` or a
kernel crash costs that student only. Before nbgrader runs, a pre-check reads
the submission as nbformat does and records what is wrong with it; after
nbgrader runs, the autograded notebook is read back to say what happened
(timeouts, a dead kernel, ``sys.exit()``, exceptions).

Policy, one line per case (the instructor guide repeats it):

* an empty file or a notebook with no cells -> ``failed`` ("empty ...").
* invalid JSON / not a notebook -> ``failed`` ("invalid notebook: ...").
* a notebook from another lesson (no grade id of this lesson) -> ``failed``.
* a UTF-8 BOM or Windows line endings -> ``graded``; the reason says it was read.
* nbgrader metadata lost (cells copied into a new notebook) -> the metadata is
  matched back from the release by cell id, content or place and the copy is
  graded -> ``flagged``; an answer cell that cannot be placed -> ``failed``.
* a deleted autograded test cell -> nbgrader puts the cell back from the
  gradebook and runs it -> ``flagged``.
* a duplicated cell (same grade id, or same cell id) -> nbgrader keeps the
  last copy of a grade id -> ``flagged``.
* an edited read-only cell (visible tests) -> nbgrader restores it from the
  gradebook (checksum mismatch) and runs the original tests -> ``flagged``.
* an infinite loop -> the cell is interrupted after ``cell_timeout`` seconds
  and scores 0 -> ``flagged`` ("timeout ...").
* ``sys.exit()`` -> IPython turns it into an error in that cell -> ``flagged``.
* ``os._exit()`` or a kernel crash -> the cell and every later cell score 0
  -> ``flagged`` ("kernel died ...").
* an exception at import -> ``graded``; dependent cells score 0; the reason
  names the error.
* stored outputs over ``max_output_bytes`` -> nbgrader clears outputs before
  executing -> ``flagged`` ("... stripped"); outputs produced while grading
  are truncated at the same cap -> ``flagged``.
* anything else nbgrader cannot grade -> ``failed`` with its last log line.

Modules: ``report`` (the outcome), ``gradebook`` (config, gradebook, release
cells, ``PATH`` for nbgrader's tools), ``kernels`` (kernels over local sockets, not
TCP; ``course run`` uses them too), ``precheck``, ``preprocessors`` (the
autograde pipeline, imported by the child), ``worker`` (the child and its
protocol), ``parallel`` (private copies and the merge), ``batch``
(``grade_lesson``), ``cases`` (generated submissions), ``cli``.

Above the grader: ``analytics`` (the gradebook as item statistics, ``course analytics``),
``irt`` (the 2PL model of a simulated cohort) and ``cohort`` (a simulated cohort graded for
real, lesson "instructors"). Import them as ``from course.grading import analytics, cohort``.
"""

from course.grading.batch import grade_lesson, inspect_autograded
from course.grading.cases import (
    EXPECTED_OUTCOME,
    GOOD_CASES,
    SUBMISSION_CASES,
    cohort_cases,
    copied_into_new_notebook,
    inject,
    jupyterlab_json,
    make_case,
    make_submissions,
    nbgrader_cell,
    python_notebook,
    solved,
)
from course.grading.cli import grade_main
from course.grading.gradebook import (
    course_config,
    course_directory,
    generate_assignment,
    gradebook_path,
    source_cells,
    student_scores,
    tools_env,
    tools_on_path,
)
from course.grading.marks import KERNEL_DIED, TRUNCATED_MARK
from course.grading.precheck import PreCheck, cell_grade_id, precheck, read_submission
from course.grading.report import FAILED, FLAGGED, GRADED, GradeReport, GradeRow
from course.grading.worker import RESULT_MARK, GradingWorker, autograde_one

__all__ = [
    "EXPECTED_OUTCOME",
    "FAILED",
    "FLAGGED",
    "GOOD_CASES",
    "GRADED",
    "GradeReport",
    "GradeRow",
    "GradingWorker",
    "KERNEL_DIED",
    "PreCheck",
    "RESULT_MARK",
    "SUBMISSION_CASES",
    "TRUNCATED_MARK",
    "autograde_one",
    "cell_grade_id",
    "cohort_cases",
    "copied_into_new_notebook",
    "course_config",
    "course_directory",
    "generate_assignment",
    "grade_lesson",
    "grade_main",
    "gradebook_path",
    "inject",
    "inspect_autograded",
    "jupyterlab_json",
    "make_case",
    "make_submissions",
    "nbgrader_cell",
    "precheck",
    "python_notebook",
    "read_submission",
    "solved",
    "source_cells",
    "student_scores",
    "tools_env",
    "tools_on_path",
]
