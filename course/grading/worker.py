"""The grading child: one Python process that autogrades students one at a time.

Protocol: the parent writes one JSON request per line on the child's stdin
(``{"root", "lesson", "student"}``); the child answers each with one line that
starts with ``RESULT_MARK`` followed by ``{"success", "feedback", "error"}``.
Anything else the child prints is ignored. The parent kills the child (its
whole process group) when a request overruns its wall-clock limit, and starts
a fresh one for the next student.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from course.grading.gradebook import tools_env, tools_on_path

__all__ = [
    "RESULT_MARK",
    "GradingWorker",
    "autograde_one",
    "last_error",
    "serve_main",
]

RESULT_MARK = "@@course-grading-result "


def autograde_one(root: Path | str, lesson: str, student: str, *, cell_timeout: int = 60,
                  max_output_bytes: int = 1_000_000, feedback: bool = True) -> dict[str, Any]:
    """Autograde (and give feedback to) one student in this process. Used by the child.

    Returns ``{"success": bool, "error": str, "feedback": bool}``.
    """
    from nbgrader.apps import NbGraderAPI

    from course.grading.preprocessors import grading_config

    root = Path(root).resolve()
    with tools_on_path():
        api = NbGraderAPI(config=grading_config(root, cell_timeout, max_output_bytes))
        result = api.autograde(lesson, student, force=True, create=True)
        ok = bool(result.get("success"))
        out = {"success": ok, "error": "" if ok else last_error(result), "feedback": False}
        if ok and feedback:
            fb = api.generate_feedback(lesson, student, force=True)
            out["feedback"] = bool(fb.get("success"))
            if not out["feedback"]:
                out["error"] = "feedback: " + last_error(fb)
    return out


def last_error(result: dict) -> str:
    """The most telling line of an nbgrader result: the last exception line, else the last."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pattern = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))\b")
    errors = [line for line in lines if pattern.match(line)]
    causes = [line for line in errors if "NbGraderException" not in line]
    picked = (causes or errors or lines or ["no log"])[-1]
    return picked[:300]


class GradingWorker:
    """A child Python that autogrades students one at a time (imports nbgrader once).

    Each request has a wall-clock limit; a child that overruns it, or dies, is
    killed with its process group and replaced for the next student.
    """

    def __init__(self, *, cell_timeout: int, max_output_bytes: int, feedback: bool):
        self.settings = [str(cell_timeout), str(max_output_bytes), "1" if feedback else "0"]
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.stderr: IO[str] | None = None

    def _start(self) -> subprocess.Popen:
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "course.grading", "--_serve", *self.settings],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            start_new_session=True, bufsize=1, env=tools_env())
        self.lines = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        return self.proc

    def grade(self, root: Path, lesson: str, student: str, wall_timeout: float) -> dict[str, Any]:
        """Autograde one student in the child; a failure comes back as ``success: False``."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        assert proc.stdin is not None  # started with stdin=PIPE
        request = json.dumps({"root": str(root), "lesson": lesson, "student": student})
        try:
            proc.stdin.write(request + "\n")
            proc.stdin.flush()
        except OSError:
            return self._crashed()
        deadline = time.monotonic() + wall_timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                return {"success": False, "feedback": False, "error":
                        f"autograde took over {wall_timeout:.0f} s (wall clock) and was killed"}
            if line is None:
                return self._crashed()
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK):])

    def _crashed(self) -> dict[str, Any]:
        self.close()
        tail: list[str] = []
        if self.stderr is not None:
            self.stderr.seek(0)
            tail = [t for t in self.stderr.read().splitlines() if t.strip()][-1:]
        code = self.proc.returncode if self.proc else None
        return {"success": False, "feedback": False,
                "error": f"autograde process died (exit {code}): {(tail or [''])[0][:300]}"}

    def close(self) -> None:
        """Stop the child and everything in its process group."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def serve_main(argv: list[str]) -> int:
    """The child: read JSON requests on stdin, answer one result line each."""
    timeout, cap, feedback = argv
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            out = autograde_one(request["root"], request["lesson"], request["student"],
                                cell_timeout=int(timeout), max_output_bytes=int(cap),
                                feedback=feedback == "1")
        except Exception as exc:
            out = {"success": False, "feedback": False,
                   "error": f"{type(exc).__name__}: {exc}"[:300]}
        sys.stdout.write("\n" + RESULT_MARK + json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0
