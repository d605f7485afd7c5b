"""Run lessons headless with papermill and collect their recorded metrics.

``course run`` (and ``make course``) executes every source notebook in
``solutions/`` with a profile, writes the executed copies under ``build/``,
and prints one table of every metric each lesson recorded, with its time.
``course run --release`` executes the trainee's unsolved release (``notebooks/``)
instead, as Run All in JupyterLab does, into ``build/release/`` (the book uses these
for a lesson with no fresh solution run).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.authoring.release import lesson_notebook, lessons
from course.config import PROFILES, ROOT
from course.errors import CourseError
from course.record import read_metrics

__all__ = [
    "INLINE_PLOTS",
    "RELEASE_OUT",
    "LessonRun",
    "metrics_table",
    "release_lessons",
    "run_lesson",
    "run_main",
    "run_release",
    "source_digest",
]

INLINE_PLOTS = "module://matplotlib_inline.backend_inline"  # as make lab starts JupyterLab


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


def run_lesson(
    lesson: str,
    *,
    profile: str = "smoke",
    out_dir: Path = ROOT / "build",
    parameters: dict[str, Any] | None = None,
    offline: bool = True,
    source: str = "solutions",
) -> LessonRun:
    """Execute one lesson notebook with papermill; never raises on a failing cell.

    Returns:
        A :class:`LessonRun`; ``error`` holds the failing cell's message, if any.
    """
    import papermill as pm

    notebook = lesson_notebook(lesson, source)
    if not notebook.is_file():
        raise CourseError(f"No notebook {notebook}. Known lessons: {', '.join(lessons())}.")
    _kernel_env(profile, offline)
    output = Path(out_dir) / profile / f"{lesson}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        with _inline_plots():
            pm.execute_notebook(
                str(notebook), str(output), parameters=parameters or {}, kernel_name="python3",
                cwd=str(notebook.parent), progress_bar=False, log_output=False,
            )
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    seconds = time.perf_counter() - start
    metrics = read_metrics(output) if output.is_file() else {}
    return LessonRun(lesson, output, seconds, metrics, error)


RELEASE_OUT = ROOT / "build" / "release"


def release_lessons(root: Path = ROOT) -> list[str]:
    """Lesson ids with a release notebook ``notebooks/<id>/<id>.ipynb``, in lesson order."""
    return sorted(p.parent.name for p in (root / "notebooks").glob("*/*.ipynb")
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
    out_dir: Path = RELEASE_OUT,
    offline: bool = True,
    timeout: int = 1800,
) -> LessonRun:
    """Execute a lesson's unsolved release as Run All in JupyterLab does; never raises on a cell.

    Cells run in order and a failing cell stops the run, unless it is tagged
    ``raises-exception`` (every graded test of a release is: see
    :func:`course.authoring.release.let_run_all_continue`). Plots are drawn inline, as in
    ``make lab``. The executed copy is ``out_dir/<profile>/<lesson>.ipynb``; its
    metadata records the profile and the sha256 of the release it ran.

    Returns:
        A :class:`LessonRun`; ``error`` says which cell stopped the run, if one did.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = lesson_notebook(lesson, "notebooks")
    if not notebook.is_file():
        raise CourseError(f"No release {notebook}. Released lessons: "
                          f"{', '.join(release_lessons())}; run `course release {lesson}`.")
    nb = nbformat.read(notebook, as_version=4)
    env = {**os.environ, "COURSE_PROFILE": profile, "MPLBACKEND": INLINE_PLOTS,
           "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false"),
           **({"HF_HUB_OFFLINE": "1"} if offline else {})}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute(env=env)
    except CellExecutionError:
        error = _first_error(nb) or "a cell failed"
    seconds = time.perf_counter() - start
    nb.metadata["course_run"] = {"lesson": lesson, "profile": profile, "kind": "release",
                                 "source_sha256": source_digest(notebook), "error": error}
    output = Path(out_dir) / profile / f"{lesson}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)
    return LessonRun(lesson, output, seconds, read_metrics(output), error)


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
    """``course run [LESSON...] [--profile P] [--out DIR] [--online]``."""
    parser = argparse.ArgumentParser(prog="course run", description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    parser.add_argument(
        "--profile", choices=PROFILES, default=os.environ.get("COURSE_PROFILE", "cpu")
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--online", action="store_true", help="allow hub downloads")
    parser.add_argument("--release", action="store_true",
                        help="execute the unsolved release (notebooks/) as Run All does, "
                             "into OUT/release/PROFILE/ (the book's input)")
    args = parser.parse_args(argv)
    from tqdm.auto import tqdm

    chosen = args.lessons or (release_lessons() if args.release else lessons())
    runs = []
    for lesson in tqdm(chosen, desc=f"lessons ({args.profile})", unit="lesson"):
        if args.release:
            runs.append(run_release(lesson, profile=args.profile, out_dir=args.out / "release",
                                    offline=not args.online))
        else:
            runs.append(run_lesson(lesson, profile=args.profile, out_dir=args.out,
                                   offline=not args.online))
        note = f"  FAILED {runs[-1].error}" if runs[-1].error else ""
        tqdm.write(f"{lesson}: {runs[-1].seconds:.1f} s{note}")
    table = metrics_table(runs)
    import pandas as pd

    wide = ("display.max_rows", None, "display.width", 160, "display.max_colwidth", 80)
    with pd.option_context(*wide):
        print(table.to_string(index=False))
    where = args.out / "release" if args.release else args.out
    print(f"\nexecuted notebooks: {where / args.profile}")
    failed = [r.lesson for r in runs if r.error]
    if failed:
        print(f"FAILED lessons: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
