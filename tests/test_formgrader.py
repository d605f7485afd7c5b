"""The formgrader works however JupyterLab was started, on a copy of the course.

Two start paths, each on 127.0.0.1 with a random token, in a temporary copy of
the course (config, solutions/, notebooks/, .jupyter/), so the repository's
gradebook is never touched:

* ``make lab``, exactly as a trainee runs it (the copy's ``.venv`` is a link to
  this environment, and the Makefile is the repository's);
* ``.venv/bin/jupyter lab`` with the environment *not* activated: ``PATH``
  lacks the environment's scripts, where nbgrader finds ``alembic``.

For each, the formgrader's page and assignment list answer without an HTTP
error, list every lesson, show no "exchange directory does not exist" banner,
and the server's log has no error; the gradebook it created has its migration
table. A server that does not start fails the test and prints its log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from course.authoring.release import lessons
from course.config import ROOT

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grading"))
import live_server  # noqa: E402

pytestmark = pytest.mark.slow
BARE_PATH = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if Path(p).is_dir())
VENV_BIN = Path(sys.executable).parent
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
START_PATHS = ("make lab", "jupyter lab, environment not activated")


def _copy_course(where: Path) -> Path:
    where.mkdir()
    for name in ("nbgrader_config.py", "Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, where / name)
    for part in ("solutions", "notebooks", ".jupyter"):
        shutil.copytree(ROOT / part, where / part)
    (where / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    return where


def _bare_env(tmp: Path) -> dict[str, str]:
    """A shell's environment with the course's environment not activated."""
    dropped = ("VIRTUAL_ENV", "JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN", "MAKEFLAGS", "MAKELEVEL",
               "COURSE_PROFILE", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM")  # set by conftest
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(PATH=BARE_PATH, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    return env


def _command(how: str, course: Path, tmp: Path, port: int, token: str,
             env: dict[str, str]) -> list[str]:
    if how == "make lab":
        # make lab's own flags stay; the test only adds where to listen, via a config file
        # on the JUPYTER_CONFIG_PATH that make lab extends, and the token via JUPYTER_TOKEN.
        config = tmp / "listen"
        config.mkdir()
        (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
            "ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False}}))
        env.update(JUPYTER_CONFIG_PATH=str(config), JUPYTER_TOKEN=token)
        return ["make", "-o", ".venv/.installed", "lab"]  # never reinstall from a test
    return [str(VENV_BIN / "jupyter"), "lab", *live_server.server_flags(port, token, course)]


@pytest.fixture(scope="module", params=START_PATHS)
def lab(request, tmp_path_factory):
    """A running JupyterLab on a copy of the course, started one way: (how, server, course)."""
    tmp = tmp_path_factory.mktemp("formgrader")
    course = _copy_course(tmp / "course")
    port, token = live_server.free_port(), live_server.new_token()
    env = _bare_env(tmp)
    command = _command(request.param, course, tmp, port, token, env)
    with live_server.running(command, cwd=course, env=env, log=tmp / "server.log", port=port,
                             token=token) as server:
        yield request.param, server, course


def _errors_in(log: str) -> list[str]:
    """Error lines of a Jupyter log: [E ...] records, tracebacks, HTTP 5xx."""
    pattern = re.compile(r"^\[E |Traceback|FileNotFoundError|\b5\d\d (GET|POST|PUT)\b")
    return [line for line in log.splitlines() if pattern.search(line)]


def test_the_formgrader_lists_every_lesson_without_an_error(lab):
    how, server, course = lab
    status, page = server.request("/formgrader/manage_assignments")
    assert status == 200 and b"formgrader" in page.lower(), f"{how}: formgrader page HTTP {status}"
    assert b"does not exist" not in page, f"{how}: the page shows the missing-exchange banner"
    status, body = server.request("/formgrader/api/assignments")
    assert status == 200, \
        f"{how}: formgrader API HTTP {status}: {body[:300]!r}\n{server.log_text()}"
    listed = {a["name"]: a for a in json.loads(body)}
    print(how, "formgrader lists:", {n: a.get("status") for n, a in sorted(listed.items())})
    missing = sorted(set(lessons()) - set(listed))
    assert not missing, f"{how}: the formgrader does not list {missing}; it lists {sorted(listed)}"
    assert all(listed[n]["source_path"] for n in lessons())
    errors = _errors_in(server.log_text())
    assert not errors, f"{how}: errors in the server log:\n" + "\n".join(errors)
    with sqlite3.connect(course / "gradebook.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alembic_version" in tables, f"{how}: the gradebook lacks its migration table"
    assert (course / "exchange").is_dir()


def test_the_formgrader_api_needs_the_token(lab):
    _, server, _ = lab
    status, _ = server.request("/formgrader/api/assignments", token="wrong-token")
    assert status in (302, 403), f"an unauthenticated request got HTTP {status}"


def test_make_lab_turns_the_news_pop_up_off(lab):
    how, server, _ = lab
    status, page = server.request("/lab")
    assert status == 200, f"{how}: /lab HTTP {status}"
    config = json.loads(re.search(rb'id="jupyter-config-data"[^>]*>(.*?)</script>', page,
                                  re.S).group(1))
    disabled = ANNOUNCEMENTS in config.get("disabledExtensions", [])
    print(how, "announcements (news pop-up) disabled:", disabled)
    assert disabled == (how == "make lab"), \
        f"{how}: disabledExtensions {config['disabledExtensions']}"


def _environ_of_kernel(kernel_id: str) -> dict[str, str]:
    """The environment of the kernel process with this id (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"kernel-{kernel_id}.json".encode() in cmdline:
            pairs = (proc / "environ").read_bytes().split(b"\0")
            return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)
    raise AssertionError(f"no process runs kernel {kernel_id}")


def test_the_grading_settings_stay_out_of_the_trainees_kernels(lab):
    how, server, _ = lab
    if not Path("/proc/self/environ").exists():
        pytest.skip("reading a kernel's environment needs Linux /proc")
    assert server.request("/formgrader/api/assignments")[0] == 200  # nbgrader_config.py is loaded
    status, body = server.request("/api/kernels", method="POST", body={"name": "python3"})
    assert status == 201, f"{how}: starting a kernel: HTTP {status}: {body[:300]!r}"
    environ = _environ_of_kernel(json.loads(body)["id"])
    leaked = {k: environ[k] for k in ("COURSE_PROFILE", "HF_HUB_OFFLINE") if k in environ}
    assert not leaked, f"{how}: a trainee's kernel inherits the autograder's settings {leaked}"


def test_validate_runs_the_lesson_small_and_offline(lab):
    how, server, course = lab
    import nbformat

    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nassert os.environ.get('COURSE_PROFILE') == 'smoke', os.environ.get("
        "'COURSE_PROFILE')\nassert os.environ.get('HF_HUB_OFFLINE') == '1'")])
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}
    nbformat.write(probe, course / "validate_probe.ipynb")
    status, body = server.request("/assignments/validate", method="POST",
                                  body={"path": "validate_probe.ipynb"})
    assert status == 200, f"{how}: validate HTTP {status}: {body[:300]!r}"
    answer = json.loads(body)
    assert answer["success"] and not answer["value"].get("failed"), f"{how}: {answer}"
