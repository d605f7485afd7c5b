"""Lesson 06's story in every path: run the lesson and check what it recorded.

A trainee reaches lesson 06 with lesson 03's saved model (``make course`` runs 03 first)
or without it (the lesson then trains its own cross-encoder), in the ``smoke`` or the
``cpu`` profile. The lesson's prose must hold in each of these four paths. This script runs
the lesson in the paths asked for, checks each run's metrics against the expectations of
``tests/test_notebooks.py`` (every one except ``profile``, which names CI's profile), and
prints one table: the path, its time and every failed expectation.

Usage (lesson 03 must have saved a model of the same profile: run it first, or point
``--lesson03`` at a copy)::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lesson06_paths.py \\
        --profile smoke cpu --lesson03-smoke build/lesson03-smoke/final \\
        --lesson03-cpu build/lesson03-cpu/final

``--check NOTEBOOK`` only checks already executed notebooks (no run). The executed notebooks
go to ``build/lesson06-paths/<profile>-<path>/``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_notebooks import EXPECTED, OPS, selection_problems  # noqa: E402

from course.authoring.runner import run_lesson  # noqa: E402
from course.record import read_metrics  # noqa: E402

LESSON = "06-trust-business-value"


def problems(metrics: dict) -> list[str]:
    """Every expectation of tests/test_notebooks.py the metrics miss (``profile`` aside)."""
    expected = dict(EXPECTED[LESSON])
    out = [description for description, check in expected.pop("relations", [])
           if not check(metrics)]
    expected.pop("profile", None)
    for name, (op, value) in expected.items():
        if name not in metrics:
            out.append(f"{name} not recorded")
        elif not OPS[op](metrics[name], value):
            out.append(f"{name} = {metrics[name]!r}, expected {op} {value!r}")
    return out + selection_problems(metrics)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_path(profile: str, lesson03: Path | None) -> tuple[Path, float, float, str | None]:
    """Run the lesson once; lesson03 None means: train the cross-encoder in the lesson."""
    name = f"{profile}-{'with-lesson03' if lesson03 else 'own-model'}"
    parameters = {"REUSE_LESSON03": lesson03 is not None}
    if lesson03 is not None:
        if not (lesson03 / "config.json").is_file():
            raise SystemExit(f"No saved model in {lesson03}: run lesson 03 with --profile "
                             f"{profile} first, or give its final/ folder.")
        parameters["LESSON03_DIR"] = str(lesson03.resolve())
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    run = run_lesson(LESSON, profile=profile, out_dir=ROOT / "build" / "lesson06-paths" / name,
                     parameters=parameters)
    return run.output, time.perf_counter() - t0, cpu_seconds() - cpu0, run.error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="+", choices=("smoke", "cpu"), default=["smoke"])
    parser.add_argument("--lesson03-smoke", type=Path, default=None,
                        help="lesson 03's saved model (final/) of a smoke run")
    parser.add_argument("--lesson03-cpu", type=Path, default=None,
                        help="lesson 03's saved model (final/) of a cpu run")
    parser.add_argument("--paths", nargs="+", choices=("own-model", "with-lesson03"),
                        default=["own-model", "with-lesson03"])
    parser.add_argument("--check", nargs="*", type=Path, default=None,
                        help="check executed notebooks instead of running the lesson")
    args = parser.parse_args(argv)
    rows = []
    if args.check is not None:
        for notebook in args.check:
            rows.append((str(notebook), None, None, None, read_metrics(notebook)))
    else:
        for profile in args.profile:
            saved = {"smoke": args.lesson03_smoke, "cpu": args.lesson03_cpu}[profile]
            for path in args.paths:
                lesson03 = None
                if path == "with-lesson03":
                    lesson03 = saved or ROOT / "build" / "03-relevance" / "final"
                output, wall, cpu, error = run_path(profile, lesson03)
                rows.append((f"{profile} {path}", wall, cpu, error, read_metrics(output)))
    failed = 0
    for name, wall, cpu, error, metrics in rows:
        missed = [f"the run failed: {error}"] if error else problems(metrics)
        failed += bool(missed)
        timing = "" if wall is None else f" {wall:.0f} s wall, {cpu:.0f} s CPU (lesson's kernel " \
            f"{metrics.get('kernel_cpu_seconds', float('nan')):.0f} s);"
        print(f"{name}:{timing} model {metrics.get('model_origin')!r}, test macro-F1 "
              f"{metrics.get('test_macro_f1', float('nan')):.3f}: "
              + ("every expectation holds" if not missed else "MISSED " + "; ".join(missed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
