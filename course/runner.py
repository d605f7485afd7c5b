"""Run lessons headless with papermill and collect their recorded metrics.

``course run`` (and ``make course``) executes every source notebook in
``solutions/`` with a profile, writes the executed copies under ``build/``,
and prints one table of every metric each lesson recorded, with its time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.config import PROFILES, ROOT
from course.errors import CourseError
from course.record import read_metrics
from course.release import lesson_notebook, lessons


@dataclass
class LessonRun:
    """The outcome of executing one lesson."""

    lesson: str
    output: Path
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _kernel_env(profile: str, offline: bool) -> None:
    """Environment inherited by the kernel papermill starts."""
    os.environ["COURSE_PROFILE"] = profile
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"


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
        pm.execute_notebook(
            str(notebook), str(output), parameters=parameters or {}, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
        )
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    seconds = time.perf_counter() - start
    metrics = read_metrics(output) if output.is_file() else {}
    return LessonRun(lesson, output, seconds, metrics, error)


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
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("COURSE_PROFILE", "cpu"))
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--online", action="store_true", help="allow hub downloads")
    args = parser.parse_args(argv)
    from tqdm.auto import tqdm

    chosen = args.lessons or lessons()
    runs = []
    for lesson in tqdm(chosen, desc=f"lessons ({args.profile})", unit="lesson"):
        runs.append(run_lesson(lesson, profile=args.profile, out_dir=args.out, offline=not args.online))
        tqdm.write(f"{lesson}: {runs[-1].seconds:.1f} s" + (f"  FAILED {runs[-1].error}" if runs[-1].error else ""))
    table = metrics_table(runs)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 80):
        print(table.to_string(index=False))
    print(f"\nexecuted notebooks: {args.out / args.profile}")
    failed = [r.lesson for r in runs if r.error]
    if failed:
        print(f"FAILED lessons: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
