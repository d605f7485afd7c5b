"""Execute every solutions/ notebook at smoke size and check what it recorded.

The thresholds are ones a broken lesson (an untrained model, an empty data
set, a skipped section) would miss.
"""

import operator

import pytest

from course.release import lessons
from course.runner import run_lesson

OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}

# lesson -> metric -> (operator, value)
EXPECTED = {
    "00-course-map": {
        "profile": ("==", "smoke"),
        "model_source": ("==", "packaged"),
        "datasets_found": (">=", 0),
        "exercise_precision_ok": ("==", True),
    },
}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("executed")
    cache = {}

    def run(lesson):
        if lesson not in cache:
            cache[lesson] = run_lesson(lesson, profile="smoke", out_dir=out)
        return cache[lesson]

    return run


def test_every_lesson_has_expectations():
    missing = sorted(set(lessons()) - set(EXPECTED))
    assert not missing, f"add expected metrics for {missing} to tests/test_notebooks.py"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", lessons())
def test_lesson_runs_and_records_its_metrics(lesson, executed):
    run = executed(lesson)
    assert run.error is None, f"{lesson} failed: {run.error} (see {run.output})"
    for name, (op, value) in EXPECTED.get(lesson, {}).items():
        assert name in run.metrics, f"{lesson} did not record {name!r}; it recorded {sorted(run.metrics)}"
        assert OPS[op](run.metrics[name], value), f"{lesson}: {name} = {run.metrics[name]!r}, expected {op} {value!r}"
