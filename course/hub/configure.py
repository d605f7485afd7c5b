"""Set a class up on this machine: the hub's folder and secrets, its config, the exchange.

``setup_class(settings)`` is what ``course hub`` does before it starts JupyterHub, and it is
safe to repeat: secrets, accounts, the course directory and the exchange are kept when they
exist. Layout (``STATE`` is ``--state-dir``):

* ``STATE/`` (0711 root): ``hub.json``, ``roster.json``, ``cookie_secret``,
  ``proxy_token``, ``admin_token`` and ``jupyterhub_config.py`` (all 0600 root), the hub's
  database and log;
* ``STATE/jupyter/student`` and ``STATE/jupyter/grader`` (readable by all): the Jupyter and
  nbgrader settings of the trainees' servers and of the formgrader service;
* the grader account's home (0700) holds the course directory (solutions/, notebooks/,
  nbgrader_config.py, the gradebook, submitted/ ...);
* the exchange: ``EXCHANGE/<course_id>`` owned by the grader account (nbgrader makes its
  ``inbound`` 0733 and ``feedback`` 0711 when it first releases), or ngshare's folder
  ``STATE/ngshare`` (0700, its own account).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from course.errors import CourseHubError
from course.hub.accounts import ensure_account, require_root, uid_gid
from course.hub.keys import SECRET_FILES, ensure_secret, write_private
from course.hub.runtime import runtime_for
from course.hub.settings import HubSettings

__all__ = [
    "STUDENT_HIDDEN",
    "chown_tree",
    "nbgrader_settings",
    "setup_class",
    "write_jupyter_config",
]

TEMPLATE = "jupyterhub_config.py"
# nbgrader's parts a trainee's JupyterLab leaves out (its docs' table: students get the
# Assignments tab and Validate only).
STUDENT_HIDDEN = {
    "labextensions": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list"],
    "server": ["nbgrader.server_extensions.formgrader",
               "nbgrader.server_extensions.course_list"],
}
COURSE_FILES = ("nbgrader_config.py",)
COURSE_FOLDERS = ("solutions", "notebooks")


def chown_tree(path: Path, owner: str) -> None:
    """Give ``path`` and everything under it to the account ``owner``."""
    uid, gid = uid_gid(owner)
    for base, dirs, files in os.walk(path):
        for name in [base, *(os.path.join(base, n) for n in dirs + files)]:
            os.lchown(name, uid, gid)


def nbgrader_settings(settings: HubSettings, grader: bool) -> str:
    """The nbgrader_config.py of the trainees' servers (or of the formgrader service)."""
    lines = ["# Written by `course hub` (course/hub/configure.py); rewritten at every start.",
             "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {settings.course_id!r}"]
    if grader:
        lines.append(f"c.CourseDirectory.root = {str(settings.course_dir)!r}")
    if settings.exchange == "folder":
        lines.append(f"c.Exchange.root = {settings.exchange_root!r}")
    else:
        lines += ["from ngshare_exchange import configureExchange",
                  f"configureExchange(c, {settings.ngshare_url!r})"]
    return "\n".join(lines) + "\n"


def _write_public(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)


def write_jupyter_config(settings: HubSettings) -> None:
    """``STATE/jupyter/{student,grader}``: each kind of server's JUPYTER_CONFIG_PATH."""
    for role in ("student", "grader"):
        where = settings.state / "jupyter" / role
        _write_public(where / "nbgrader_config.py", nbgrader_settings(settings, role == "grader"))
        hidden = STUDENT_HIDDEN if role == "student" else {"labextensions": [], "server": []}
        # terminals: a plain (not login) bash keeps the server's PATH, so `course` is found
        server = {"ServerApp": {"jpserver_extensions": {n: False for n in hidden["server"]},
                                "terminado_settings": {"shell_command": ["/bin/bash"]}}}
        _write_public(where / "jupyter_server_config.json", json.dumps(server, indent=1) + "\n")
        page = {"disabledExtensions": {n: True for n in hidden["labextensions"]}}
        _write_public(where / "labconfig" / "page_config.json", json.dumps(page, indent=1) + "\n")
    (settings.state / "jupyter").chmod(0o755)


def _course_directory(settings: HubSettings) -> None:
    """Copy the course (config, solutions, releases) into the grader's home; keep what exists.

    Raises:
        CourseHubError: the course's nbgrader_config.py names another course id.
    """
    from course.grading import course_directory

    source, target = Path(settings.source), settings.course_dir
    configured = course_directory(source).course_id
    if configured != settings.course_id:
        raise CourseHubError(
            f"{source / 'nbgrader_config.py'} says course_id {configured!r}, not "
            f"{settings.course_id!r}: pass --course-id {configured} or change that file")
    target.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        if not (target / name).exists():
            shutil.copy2(source / name, target / name)
    for folder in COURSE_FOLDERS:
        for lesson in sorted(p for p in (source / folder).iterdir() if p.is_dir()):
            if not (target / folder / lesson.name).exists():
                shutil.copytree(lesson, target / folder / lesson.name,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    chown_tree(target, settings.grader)


def _exchange(settings: HubSettings) -> None:
    if settings.exchange == "folder":
        root = Path(settings.exchange_root)
        root.mkdir(parents=True, exist_ok=True)
        # nbgrader's release insists on 0777 (it chmods the root otherwise); the sticky bit
        # keeps anyone but an entry's owner from deleting or renaming it
        root.chmod(0o1777)
        course = root / settings.course_id
        course.mkdir(exist_ok=True)
        course.chmod(0o755)
        uid, gid = uid_gid(settings.grader)
        os.chown(course, uid, gid)
        return
    account = settings.ngshare_account
    ensure_account(account, settings.home_root, "ngshare exchange service")
    where = settings.state / "ngshare"
    where.mkdir(exist_ok=True)
    where.chmod(0o700)
    chown_tree(where, account)


def setup_class(settings: HubSettings) -> None:
    """Everything the hub needs before it starts; repeatable. Needs root.

    Raises:
        CourseHubError: not root, configurable-http-proxy or Node.js missing, or the
            accounts cannot run the course's environment (course/hub/runtime.py).
    """
    require_root("course hub")
    if not Path(settings.proxy_command).exists():
        raise CourseHubError(f"no configurable-http-proxy at {settings.proxy_command}: run "
                             "`make proxy` (npm install from classroom/proxy/, needs Node.js)")
    if shutil.which("node") is None:
        raise CourseHubError("no Node.js on PATH: apt-get install nodejs npm")
    settings.state.mkdir(parents=True, exist_ok=True)
    settings.state.chmod(0o711)
    for name, nbytes in SECRET_FILES.items():
        ensure_secret(settings.state / name, nbytes)
    ensure_account(settings.grader, settings.home_root, f"grader of {settings.course_id}")
    settings.python_bin, settings.user_env = runtime_for(settings.grader, settings.state)
    settings.save()
    template = Path(settings.source) / "classroom" / TEMPLATE
    write_private(settings.state / TEMPLATE, template.read_text(encoding="utf-8"))
    write_jupyter_config(settings)
    _course_directory(settings)
    _exchange(settings)
