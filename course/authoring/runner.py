"""Run lessons headless with papermill and collect their recorded metrics.

``course run`` (and ``make course``) executes every source notebook in
``solutions/`` of the course directory (``--root``) with a profile, writes the executed
copies under ``build/``, and prints one table of every metric each lesson recorded, with
its time. ``course run --release`` executes the trainee's unsolved release
(``notebooks/``) instead, as Run All in JupyterLab does, into ``build/release/`` (the
book uses these for a lesson with no fresh solution run).

While a lesson runs, a bar counts its cells; before it starts, the line says how long its
previous run took with the same profile (``timings.json`` beside the executed copies).
Kernels talk over local sockets, not TCP (:mod:`course.grading.kernels`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.authoring.release import lesson_notebook, lessons
from course.config import PROFILES, ROOT, ROOT_HELP, HelpFormatter, course_root
from course.errors import CourseError
from course.record import read_metrics

__all__ = [
    "INLINE_PLOTS",
    "RELEASE_OUT",
    "TIMINGS",
    "LessonRun",
    "metrics_table",
    "previous_run",
    "read_timings",
    "record_timing",
    "release_lessons",
    "run_lesson",
    "run_main",
    "run_release",
    "source_digest",
]

INLINE_PLOTS = "module://matplotlib_inline.backend_inline"  # as make lab starts JupyterLab
TIMINGS = "timings.json"  # beside the executed copies: OUT/PROFILE/ or OUT/release/PROFILE/


@dataclass
class LessonRun:
    """The outcome of executing one lesson."""

    lesson: str
    output: Path
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _kernel_env(profile: str, offline: bool) -> None:
    """Environment inherited by the kernel papermill starts (plots: see :func:`_inline_plots`)."""
    os.environ["COURSE_PROFILE"] = profile
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"


@contextmanager
def _inline_plots() -> Iterator[None]:
    """Kernels started inside draw plots inline, as in ``make lab``; this process keeps its own.

    So ``plt.show()`` leaves a picture in the executed notebook, which the book shows.
    """
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_PLOTS
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = before


SAVE_EVERY_S = 10.0  # how often a running lesson's executed copy is written (and at the end)


@contextmanager
def _fewer_saves(every: float = SAVE_EVERY_S) -> Iterator[None]:
    """papermill writes the whole notebook before and after every cell; write at most every
    ``every`` seconds instead (the last write, when the run ends or fails, always happens).

    A lesson of 70 cells and 1 MB of outputs otherwise spends seconds re-writing its file.
    """
    from papermill.engines import NotebookExecutionManager as Manager

    originals = {name: getattr(Manager, name) for name in ("cell_start", "cell_complete")}

    def throttled(method):
        def wrapper(self, *args, **kwargs):
            now = time.monotonic()
            if now - getattr(self, "_course_saved", float("-inf")) < every:
                self.save = lambda **_: None  # this call only: the instance attribute hides it
            else:
                self._course_saved = now
            try:
                return method(self, *args, **kwargs)
            finally:
                self.__dict__.pop("save", None)

        return wrapper

    for name, method in originals.items():
        setattr(Manager, name, throttled(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(Manager, name, method)


def run_lesson(
    lesson: str,
    *,
    profile: str = "smoke",
    out_dir: Path | None = None,
    parameters: dict[str, Any] | None = None,
    offline: bool = True,
    source: str = "solutions",
    root: Path | str = ROOT,
    progress: bool = False,
) -> LessonRun:
    """Execute one lesson notebook with papermill; never raises on a failing cell.

    The notebook is ``root/<source>/<lesson>/<lesson>.ipynb``; the executed copy is
    ``out_dir/<profile>/<lesson>.ipynb`` (``out_dir`` defaults to ``root/build``) and its
    time goes into ``timings.json`` there. With ``progress``, a bar counts the cells.

    Returns:
        A :class:`LessonRun`; ``error`` holds the failing cell's message, if any.
    """
    import papermill as pm

    from course.grading.kernels import IPCKernelManager

    root = Path(root)
    notebook = lesson_notebook(lesson, source, root)
    if not notebook.is_file():
        raise CourseError(f"No notebook {notebook}. Known lessons: {', '.join(lessons(root))}.")
    _kernel_env(profile, offline)
    output = Path(out_dir if out_dir is not None else root / "build") / profile / f"{lesson}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        with _inline_plots(), _fewer_saves():
            pm.execute_notebook(
                str(notebook), str(output), parameters=parameters or {}, kernel_name="python3",
                cwd=str(notebook.parent), log_output=False,
                progress_bar={"desc": lesson, "leave": False} if progress else False,
                kernel_manager_class=IPCKernelManager,
            )
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    seconds = time.perf_counter() - start
    metrics = read_metrics(output) if output.is_file() else {}
    run = LessonRun(lesson, output, seconds, metrics, error)
    record_timing(run)
    return run


def read_timings(folder: Path | str) -> dict[str, dict[str, Any]]:
    """``folder/timings.json``: lesson -> ``{"seconds", "ok"}`` of its last run ({} if none).

    An unreadable file counts as none: the timings are a hint, never an error.
    """
    try:
        data = json.loads((Path(folder) / TIMINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and "seconds" in v}


def record_timing(run: LessonRun) -> Path:
    """Store ``run``'s time in ``timings.json`` beside its executed copy; returns the file.

    The file is replaced in one step, so a reader never sees half of it.
    """
    folder = run.output.parent
    timings = read_timings(folder)
    timings[run.lesson] = {"seconds": round(run.seconds, 1), "ok": run.error is None}
    target = folder / TIMINGS
    scratch = folder / f".{TIMINGS}.{os.getpid()}"
    scratch.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(scratch, target)
    return target


def previous_run(timings: dict[str, dict[str, Any]], lesson: str) -> str:
    """How long the lesson's previous run took, in words: ``first run`` when none is known."""
    last = timings.get(lesson)
    if not last:
        return "first run"
    note = "" if last.get("ok", True) else ", it failed"
    return f"previous run {float(last['seconds']):.1f} s{note}"


RELEASE_OUT = ROOT / "build" / "release"


def release_lessons(root: Path | str = ROOT) -> list[str]:
    """Lesson ids with a release notebook ``notebooks/<id>/<id>.ipynb``, in lesson order."""
    return sorted(p.parent.name for p in (Path(root) / "notebooks").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def source_digest(path: Path) -> str:
    """sha256 of a notebook file: executed copies record the release they came from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _first_error(nb: Any) -> str | None:
    """The first error of a cell not allowed to fail (not tagged ``raises-exception``)."""
    for cell in nb.cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                return f"cell {cell.get('id')}: {out.ename}: {out.evalue}"
    return None


def run_release(
    lesson: str,
    *,
    profile: str = "smoke",
    out_dir: Path | None = None,
    offline: bool = True,
    timeout: int = 1800,
    root: Path | str = ROOT,
    progress: bool = False,
) -> LessonRun:
    """Execute a lesson's unsolved release as Run All in JupyterLab does; never raises on a cell.

    Cells run in order and a failing cell stops the run, unless it is tagged
    ``raises-exception`` (every graded test of a release is: see
    :func:`course.authoring.release.let_run_all_continue`). Plots are drawn inline, as in
    ``make lab``. The executed copy is ``out_dir/<profile>/<lesson>.ipynb`` (``out_dir``
    defaults to ``root/build/release``); its metadata records the profile and the sha256
    of the release it ran. With ``progress``, a bar counts the cells.

    Returns:
        A :class:`LessonRun`; ``error`` says which cell stopped the run, if one did.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from course.grading.kernels import IPCKernelManager

    root = Path(root)
    notebook = lesson_notebook(lesson, "notebooks", root)
    if not notebook.is_file():
        raise CourseError(f"No release {notebook}. Released lessons: "
                          f"{', '.join(release_lessons(root))}; run `course release {lesson}`.")
    nb = nbformat.read(notebook, as_version=4)
    env = {**os.environ, "COURSE_PROFILE": profile, "MPLBACKEND": INLINE_PLOTS,
           "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false"),
           **({"HF_HUB_OFFLINE": "1"} if offline else {})}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            kernel_manager_class=IPCKernelManager,
                            resources={"metadata": {"path": str(notebook.parent)}})
    start = time.perf_counter()
    error = None
    with _cell_bar(nb, lesson, progress) as bar:
        client.on_cell_executed = lambda **_: bar.update(1)
        try:
            client.execute(env=env)
        except CellExecutionError:
            error = _first_error(nb) or "a cell failed"
    seconds = time.perf_counter() - start
    nb.metadata["course_run"] = {"lesson": lesson, "profile": profile, "kind": "release",
                                 "source_sha256": source_digest(notebook), "error": error}
    folder = Path(out_dir if out_dir is not None else root / "build" / "release")
    output = folder / profile / f"{lesson}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)
    run = LessonRun(lesson, output, seconds, read_metrics(output), error)
    record_timing(run)
    return run


@contextmanager
def _cell_bar(nb: Any, lesson: str, show: bool) -> Iterator[Any]:
    """A bar over the code cells nbclient runs (empty ones are skipped); silent unless shown."""
    from tqdm.auto import tqdm

    cells = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    bar = tqdm(total=cells, desc=lesson, unit="cell", leave=False, disable=not show)
    try:
        yield bar
    finally:
        bar.close()


def metrics_table(runs: list[LessonRun]):
    """One row per (lesson, metric), plus each lesson's time and status."""
    import pandas as pd

    rows = []
    for run in runs:
        status = "ok" if run.error is None else f"FAILED ({run.error})"
        rows.append({"lesson": run.lesson, "metric": "seconds", "value": round(run.seconds, 1),
                     "status": status})
        rows += [{"lesson": run.lesson, "metric": k, "value": v, "status": status}
                 for k, v in run.metrics.items()]
    return pd.DataFrame(rows, columns=["lesson", "metric", "value", "status"])


def run_main(argv: list[str] | None = None) -> int:
    """``course run [LESSON...] [--root DIR] [--profile P] [--out DIR] [--online] [--release]``."""
    parser = argparse.ArgumentParser(prog="course run", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("lessons", nargs="*",
                        help="lesson ids, e.g. 00-course-map (default: every lesson)")
    parser.add_argument("--root", default=".", help=ROOT_HELP)
    parser.add_argument("--profile", choices=PROFILES,
                        default=os.environ.get("COURSE_PROFILE", "cpu"),
                        help="how big each lesson runs: smoke (seconds), cpu (minutes), "
                             "full (GPU); the default is COURSE_PROFILE, else cpu")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the executed notebooks go, in OUT/PROFILE/ "
                             "(default: build/ in the course directory)")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads from the Hugging Face hub")
    parser.add_argument("--release", action="store_true",
                        help="execute the unsolved release (notebooks/) as Run All does, "
                             "into OUT/release/PROFILE/ (the book's input)")
    args = parser.parse_args(argv)
    root = course_root(args.root)
    out = args.out if args.out is not None else root / "build"
    chosen = args.lessons or (release_lessons(root) if args.release else lessons(root))
    where = out / "release" if args.release else out
    timings = read_timings(where / args.profile)
    runs = []
    for number, lesson in enumerate(chosen, 1):
        print(f"[{number}/{len(chosen)}] {lesson} ({args.profile} profile, "
              f"{previous_run(timings, lesson)})", flush=True)
        if args.release:
            run = run_release(lesson, profile=args.profile, out_dir=where,
                              offline=not args.online, root=root, progress=True)
        else:
            run = run_lesson(lesson, profile=args.profile, out_dir=out,
                             offline=not args.online, root=root, progress=True)
        runs.append(run)
        note = f"  FAILED {run.error}" if run.error else ""
        print(f"{lesson}: {run.seconds:.1f} s{note}", flush=True)
    table = metrics_table(runs)
    import pandas as pd

    wide = ("display.max_rows", None, "display.width", 160, "display.max_colwidth", 80)
    with pd.option_context(*wide):
        print(table.to_string(index=False))
    print(f"\nexecuted notebooks: {where / args.profile}")
    failed = [r.lesson for r in runs if r.error]
    if failed:
        print(f"FAILED lessons: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
