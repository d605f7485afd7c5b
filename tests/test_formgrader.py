"""The formgrader (``make lab`` -> Nbgrader -> Formgrader) lists the course's assignments.

A Jupyter server is started on 127.0.0.1 with a random token in a temporary
copy of the course (config, solutions/, notebooks/), so the repository's
gradebook is never touched, and the formgrader's JSON API is asked for the
assignment list. The server and its children are stopped afterwards. When no
server can be started here, the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course.config import ROOT
from course.release import lessons

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect (to the login page) as it is, instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, token: str) -> tuple[int, bytes]:
    """GET with a token; (HTTP status, body), redirects not followed."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _copy_course(where: Path) -> Path:
    where.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", where / "nbgrader_config.py")
    for part in ("solutions", "notebooks"):
        shutil.copytree(ROOT / part, where / part)
    return where


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("formgrader")
    course = _copy_course(tmp_path / "course")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.skip(f"jupyter server exited ({proc.returncode}): {log.read()[-600:]}")
            try:
                if _get(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.skip(f"jupyter server not up after {START_TIMEOUT_S} s: {log.read()[-600:]}")
            time.sleep(1)
        yield base, token, course
    finally:
        _stop(proc)
        log.close()


def test_formgrader_lists_the_course_assignments(server):
    base, token, course = server
    status, page = _get(f"{base}/formgrader/manage_assignments", token)
    assert status == 200 and b"formgrader" in page.lower(), f"formgrader page: HTTP {status}"
    status, body = _get(f"{base}/formgrader/api/assignments", token)
    assert status == 200, f"formgrader API: HTTP {status}: {body[:300]!r}"
    listed = {a["name"]: a for a in json.loads(body)}
    print("formgrader lists:", {n: a.get("status") for n, a in sorted(listed.items())})
    missing = sorted(set(lessons()) - set(listed))
    assert not missing, f"the formgrader does not list {missing}; it lists {sorted(listed)}"
    assert all(listed[n]["source_path"] for n in lessons())
    assert (course / "gradebook.db").exists(), "the formgrader's gradebook belongs to the copy"


def test_formgrader_api_needs_the_token(server):
    base, _, _ = server
    status, _ = _get(f"{base}/formgrader/api/assignments", "wrong-token")
    assert status in (302, 403), f"an unauthenticated request got HTTP {status}"
