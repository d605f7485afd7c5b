"""Issue 27 load: simulated students on a real class hub (this machine, 2 cores).

A throwaway class (course.hub.trial: real accounts, PAM, JupyterHub, the formgrader service,
the shared-folder exchange or ngshare) with N students and one instructor:

1. every student logs in on the hub's login form (PAM, a random password) and their
   JupyterLab starts, ``--arrive`` at a time: spawn time = login POST to server ready;
2. the hub's REST API is timed all along (GET /hub/api/users, every 0.5 s, in a thread);
3. memory per idle server: the resident memory of each student's processes after a pause;
4. the whole cycle of lesson 00 (course.hub.cycle: release, fetch, save, submit, collect,
   ``course grade``, release feedback, fetch feedback), answers right / blank / malformed in
   turn; checked: every collected file is what the student saved, every score is right;
5. with ``--limit N2``: more students arrive on the same hub, ``--arrive`` at a time, until a
   spawn fails or times out, or memory runs short: the N where it broke and what broke.

Usage (as root; the machine should be quiet for figures to quote)::

    COURSE_PROFILE=smoke HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/hub_load.py --students 30 --limit 80 \\
        --out benchmarks/results/hub-load-30.json

Exits 1 when anything was lost or a score was wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from course.hub.accounts import (
    ensure_account,
    new_password,
    processes_of,
    remove_account,
    set_password,
)
from course.hub.cycle import ANSWERS, run_cycle
from course.hub.trial import trial_class

LESSON = "00-course-map"
MIN_FREE_MB = 1500  # stop adding servers below this much available memory


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)


def log_in_and_spawn(klass, name: str, password: str) -> float:
    """The login form (with its _xsrf), then the spawn it leads to; seconds until ready."""
    start = time.monotonic()
    with httpx.Client(base_url=klass.settings.hub_url, timeout=120, trust_env=False) as web:
        web.get("/hub/login")
        answer = web.post("/hub/login", data={"username": name, "password": password,
                                              "_xsrf": web.cookies.get("_xsrf", "")})
        if answer.status_code != 302:
            raise RuntimeError(f"login of {name}: HTTP {answer.status_code}")
        web.get("/hub/spawn")
    klass.admin.wait_for_server(name, klass.settings.spawn_timeout + 30)
    return time.monotonic() - start


class ApiWatch(threading.Thread):
    """GET /hub/api/users every 0.5 s; the latencies, and the phase each fell in."""

    def __init__(self, klass) -> None:
        super().__init__(daemon=True)
        self.klass, self.phase, self.stop = klass, "idle", threading.Event()
        self.samples: list[tuple[str, float]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                self.klass.admin.api("GET", "/users?limit=5")
                self.samples.append((self.phase, time.monotonic() - start))
            except Exception:  # noqa: BLE001 - a failed call is a sample too
                self.samples.append((self.phase, float("inf")))
            time.sleep(0.5)

    def summary(self) -> dict:
        out = {}
        for phase in sorted({p for p, _ in self.samples}):
            values = [v for p, v in self.samples if p == phase]
            out[phase] = {"n": len(values), "p50_s": percentile(values, 0.5),
                          "p95_s": percentile(values, 0.95), "max_s": round(max(values), 3)}
        return out


def idle_memory_mb(names: list[str]) -> list[float]:
    """Resident memory (MB) of each user's processes: their server (and nothing else)."""
    sizes = []
    for name in names:
        total = 0
        for pid in processes_of(name):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        sizes.append(total / 1024)
    return sizes


def arrive(klass, names: list[str], passwords: dict[str, str], at_once: int) -> dict:
    """Log ``names`` in, ``at_once`` at a time; spawn seconds, or the error, per student.

    Between groups the machine's available memory is read: under MIN_FREE_MB the rest do
    not start (this is a shared machine), and that is recorded as what broke.
    """
    def one(name: str):
        try:
            return log_in_and_spawn(klass, name, passwords[name])
        except Exception as exc:  # noqa: BLE001 - what broke is the result
            return f"{type(exc).__name__}: {exc}"[:300]

    done: dict = {}
    with ThreadPoolExecutor(at_once) as pool:
        for start in range(0, len(names), at_once):
            group = names[start:start + at_once]
            free = _available_memory_mb()
            if free < MIN_FREE_MB:
                done.update({n: f"not started: {free:.0f} MB available" for n in group})
                continue
            done.update(zip(group, pool.map(one, group), strict=True))
    return done


def check_cycle(klass, done) -> list[str]:
    """What was lost or scored wrong (empty when all is well)."""
    wrong, rows = [], {r["student"]: r for r in done.submissions}
    for student, kind in done.answers.items():
        collected = klass.settings.course_dir / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        if not collected.is_file() or collected.read_bytes() != done.saved[student]:
            wrong.append(f"{student}: collected file differs from what was saved (lost)")
        row = rows.get(student, {})
        if kind == "right" and row.get("score") != row.get("max_score"):
            wrong.append(f"{student} (right): score {row.get('score')}")
        if kind == "blank" and row.get("score") != 0:
            wrong.append(f"{student} (blank): score {row.get('score')}")
        if kind == "malformed" and f"NOT GRADED: {student}" not in done.grade_output:
            wrong.append(f"{student} (malformed): not reported as not graded")
        if kind != "malformed" and len(done.feedback.get(student, [])) != 1:
            wrong.append(f"{student}: {len(done.feedback.get(student, []))} feedback files")
    return wrong


def find_limit(klass, watch: ApiWatch, start_n: int, limit: int, at_once: int,
               extra: list[str]) -> dict:
    """More students until something breaks: (N reached, what broke first).

    Every account it creates is appended to ``extra`` (the caller removes them).
    """
    prefix = klass.settings.grader.split("-")[0]
    n = start_n
    watch.phase = "limit"
    while n < limit:
        batch = [f"{prefix}-x{i}" for i in range(n + 1, min(limit, n + at_once) + 1)]
        passwords = {b: new_password() for b in batch}
        for name in batch:
            ensure_account(name, klass.settings.home_root)
            set_password(name, passwords[name])
            extra.append(name)
        klass.admin.add_users(batch)
        times = arrive(klass, batch, passwords, at_once)
        errors = {k: v for k, v in times.items() if isinstance(v, str)}
        n += len(batch)
        free = _available_memory_mb()
        ok = [v for v in times.values() if not isinstance(v, str)]
        print(f"  {n} students: batch spawn max {max(ok, default=float('nan')):.1f} s, "
              f"{len(errors)} failed, {free:.0f} MB available", flush=True)
        if errors:
            return {"broke_at": n, "what": errors, "batch_spawn_max_s": max(ok, default=None)}
        if free < MIN_FREE_MB:
            return {"broke_at": n, "what": f"memory: {free:.0f} MB available"}
    return {"broke_at": None, "reached": n}


def _available_memory_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--exchange", choices=("folder", "ngshare"), default="folder")
    p.add_argument("--arrive", type=int, default=10, help="students logging in at once")
    p.add_argument("--grade-jobs", type=int, default=2, help="course grade --jobs")
    p.add_argument("--limit", type=int, default=0, help="then add students up to this N")
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    result: dict = {"students": args.students, "exchange": args.exchange}
    started, extra = time.monotonic(), []
    try:
        failed = run(args, result, extra)
    finally:
        for name in extra:
            remove_account(name)
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["wrong"] or failed else 0


def run(args: argparse.Namespace, result: dict, extra: list[str]) -> dict:
    """Set up, arrive, idle, cycle, (limit); fills ``result``; the failed spawns."""
    started = time.monotonic()
    with trial_class(args.students, 1, args.exchange, spawn_timeout=300) as klass:
        result["setup_s"] = round(time.monotonic() - started, 1)
        watch = ApiWatch(klass)
        watch.start()
        passwords = {s: new_password() for s in klass.students}
        for name, password in passwords.items():
            set_password(name, password)
        watch.phase = "spawn"
        spawned = arrive(klass, klass.students, passwords, args.arrive)
        failed = {k: v for k, v in spawned.items() if isinstance(v, str)}
        times = [v for v in spawned.values() if not isinstance(v, str)]
        result["spawn"] = {"p50_s": percentile(times, 0.5), "p95_s": percentile(times, 0.95),
                           "max_s": round(max(times), 2), "failed": failed}
        klass.spawn(klass.instructors)
        watch.phase = "idle"
        time.sleep(20)
        memory = idle_memory_mb(klass.students)
        result["idle_server_mb"] = {"mean": round(statistics.mean(memory), 1),
                                    "max": round(max(memory), 1)}
        watch.phase = "cycle"
        answers = {s: ANSWERS[i % 3] for i, s in enumerate(klass.students) if s not in failed}
        done = run_cycle(klass, answers, LESSON, klass.instructors[0], workers=args.arrive,
                         grade_jobs=args.grade_jobs)
        result["cycle_s"] = done.seconds
        result["wrong"] = check_cycle(klass, done)
        result["grade_output_tail"] = done.grade_output[-8000:]
        result["lost"] = sum("lost" in w for w in result["wrong"])
        if args.limit > args.students:
            result["limit"] = find_limit(klass, watch, args.students, args.limit, args.arrive,
                                         extra)
        watch.stop.set()
        result["hub_api"] = watch.summary()
    return failed


if __name__ == "__main__":
    sys.exit(main())
