"""``course run``: kernels over local sockets (no TCP warning), progress, the previous time."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from course.authoring import runner
from course.authoring.runner import LessonRun, previous_run, read_timings, record_timing
from course.config import ROOT

WARNING = "Kernel is running over TCP without encryption"
# The cell prints how the kernel is connected: transport and socket address.
PROBE = ("import json\nfrom ipykernel import get_connection_info\n"
         "info = json.loads(get_connection_info())\n"
         "print('TRANSPORT', info['transport'], info['ip'])")


def _tiny_course(where: Path) -> Path:
    """A course directory with one lesson, ``tiny``, as a solution and as a release."""
    shutil.copy2(ROOT / "nbgrader_config.py", where / "nbgrader_config.py")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for kind in ("solutions", "notebooks"):
        path = where / kind / "tiny" / "tiny.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    return where


def _transport(executed: Path) -> list[str]:
    nb = nbformat.read(executed, as_version=4)
    text = "".join(out.get("text", "") for out in nb.cells[0].outputs)
    return text.split()[1:3]


# --------------------------------------------------------------------------- timings


def test_timings_round_trip(tmp_path):
    folder = tmp_path / "smoke"
    folder.mkdir()
    assert read_timings(folder) == {} and previous_run({}, "a") == "first run"
    record_timing(LessonRun("a", folder / "a.ipynb", 12.34, {}, None))
    record_timing(LessonRun("b", folder / "b.ipynb", 3.0, {}, "cell 2: ValueError: x"))
    timings = read_timings(folder)
    assert timings == {"a": {"seconds": 12.3, "ok": True}, "b": {"seconds": 3.0, "ok": False}}
    assert previous_run(timings, "a") == "previous run 12.3 s"
    assert previous_run(timings, "b") == "previous run 3.0 s, it failed"
    assert previous_run(timings, "c") == "first run"
    record_timing(LessonRun("a", folder / "a.ipynb", 20.0, {}, None))
    assert read_timings(folder)["a"]["seconds"] == 20.0, "the last run replaces the one before"
    assert json.loads((folder / "timings.json").read_text())["b"]["ok"] is False
    assert [p.name for p in folder.iterdir()] == ["timings.json"], "no scratch file is left"


def test_an_unreadable_timings_file_counts_as_none(tmp_path):
    (tmp_path / "timings.json").write_text("{not json")
    assert read_timings(tmp_path) == {}
    (tmp_path / "timings.json").write_text('["a list"]')
    assert read_timings(tmp_path) == {}


def test_the_autograders_kernels_use_ipc_too():
    from course.grading.kernels import IPCKernelManager
    from course.grading.preprocessors import SafeExecute, grading_config

    execute = SafeExecute(config=grading_config(ROOT, 30, 1000))
    assert execute.kernel_manager_class is IPCKernelManager
    assert IPCKernelManager().transport == "ipc"


# --------------------------------------------------------------------------- kernels


@pytest.fixture
def runtime_dir(monkeypatch):
    """A short private Jupyter runtime folder (a Unix socket path has at most 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="rt-"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_lessons_run_over_ipc_with_no_tcp_warning_and_leave_no_socket(tmp_path, runtime_dir,
                                                                       capfd):
    course = _tiny_course(tmp_path)
    solution = runner.run_lesson("tiny", profile="smoke", out_dir=tmp_path / "out", root=course,
                                 progress=True)
    release = runner.run_release("tiny", profile="smoke", out_dir=tmp_path / "rel", root=course)
    captured = capfd.readouterr()
    assert solution.error is None and release.error is None
    for run in (solution, release):
        transport, address = _transport(run.output)
        assert transport == "ipc", f"{run.output}: the kernel ran over {transport}"
        assert address.startswith(str(runtime_dir)), "its sockets were in the runtime folder"
    assert WARNING not in captured.out + captured.err
    assert "tiny" in captured.err, "the cell bar of run_lesson(progress=True)"
    assert list(runtime_dir.iterdir()) == [], "no socket or connection file is left behind"


@pytest.mark.slow
def test_course_run_says_how_long_the_previous_run_took(tmp_path, runtime_dir, capfd):
    (tmp_path / "course").mkdir()
    course = _tiny_course(tmp_path / "course")
    out = tmp_path / "out"
    args = ["tiny", "--root", str(course), "--out", str(out), "--profile", "smoke"]
    assert runner.run_main(args) == 0
    first = capfd.readouterr()
    assert "[1/1] tiny (smoke profile, first run)" in first.out
    seconds = read_timings(out / "smoke")["tiny"]["seconds"]
    assert runner.run_main(args) == 0
    second = capfd.readouterr()
    assert f"[1/1] tiny (smoke profile, previous run {seconds:.1f} s)" in second.out
    assert WARNING not in first.out + first.err + second.out + second.err
    assert (out / "smoke" / "tiny.ipynb").is_file() and not (course / "build").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fails", [False, True], ids=["ok", "last cell fails"])
def test_a_lesson_run_writes_its_copy_a_few_times_and_always_at_the_end(
        tmp_path, runtime_dir, monkeypatch, fails):
    import papermill.engines

    writes = []
    real_write = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb",
                        lambda nb, path: (writes.append(path), real_write(nb, path)))
    cells = [nbformat.v4.new_code_cell(f"print('cell {i}')") for i in range(8)]
    if fails:
        cells.append(nbformat.v4.new_code_cell("raise ValueError('planted')"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "solutions" / "many" / "many.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    run = runner.run_lesson("many", profile="smoke", out_dir=tmp_path / "out", root=tmp_path)
    assert (run.error is not None) == fails
    # papermill alone writes before and after each cell: 2 x 8 + 2 at least
    assert len(writes) <= 4, f"{len(writes)} writes of the executed copy"
    code = [c for c in nbformat.read(run.output, as_version=4).cells if c.cell_type == "code"]
    printed = [out.get("text", "") for c in code[:8] for out in c.outputs]
    assert printed == [f"cell {i}\n" for i in range(8)], "the last write holds every output"
    if fails:
        assert code[-1].outputs[-1]["ename"] == "ValueError"
    from papermill.engines import NotebookExecutionManager

    assert NotebookExecutionManager.cell_start.__name__ == "cell_start", "papermill is restored"
