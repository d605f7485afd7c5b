"""Run one lesson through papermill with a time limit, and record its wall time and metrics.

``benchmarks/gpu.sh`` calls it for lessons 03 and 04 in the ``full`` profile on the GPU
machine (and, with ``--dry-run``, on CPU with a tiny model). The parameters given override
the profile's; a run that reaches ``--timeout`` stops, and the metrics it had recorded so
far are kept, with ``error`` saying so.

Usage::

    python benchmarks/gpu_lessons.py 03-relevance-finetuning --profile full --timeout 180 \\
        --params '{"MAX_STEPS": 1500}' --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class LessonTimeout(Exception):
    """The lesson ran past its time limit."""


def _stop(signum, frame):
    raise LessonTimeout


def run(lesson: str, profile: str, params: dict, timeout: int, out: Path) -> dict:
    """Execute ``lesson``; returns ``{lesson, profile, seconds, error, parameters, metrics}``."""
    from course.authoring.runner import run_lesson
    from course.record import read_metrics

    notebooks = out / "notebooks"
    started = time.perf_counter()
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(timeout)
    try:
        result = run_lesson(lesson, profile=profile, out_dir=notebooks, parameters=params)
        error, metrics = result.error, result.metrics
    except LessonTimeout:
        executed = notebooks / profile / f"{lesson}.ipynb"
        error = f"stopped after the {timeout} s limit"
        metrics = read_metrics(executed) if executed.is_file() else {}
    finally:
        signal.alarm(0)
    seconds = round(time.perf_counter() - started, 1)
    return {"lesson": lesson, "profile": profile, "seconds": seconds, "error": error,
            "parameters": params, "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lesson")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--params", default="{}", help="JSON object of papermill parameters")
    parser.add_argument("--timeout", type=int, default=180, help="seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(args.lesson, args.profile, json.loads(args.params), args.timeout, args.out)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = args.out / f"lesson-{args.lesson[:2]}-{args.profile}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    status = "ok" if report["error"] is None else f"FAILED: {report['error']}"
    print(f"{args.lesson} ({args.profile}): {report['seconds']:.0f} s wall, {status}; "
          f"load average {os.getloadavg()[0]:.1f}; metrics in {path}")
    for name, value in report["metrics"].items():
        print(f"  {name:32} {value}")
    return 0 if report["error"] is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
