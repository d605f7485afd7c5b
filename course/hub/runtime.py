"""The Python that the class's accounts run: the course's own, or a bridge to its packages.

Each user's server runs as that user, so the course's interpreter must be reachable by every
account. When it is not (pyenv under ``/root``, which is 0700), ``course hub`` does not open
``/root``: it makes ``STATE/python``, a virtual environment of Debian's ``python3`` of the
same minor version (same ABI), whose ``.pth`` adds the course's ``site-packages``. The
course's console scripts (``course``, ``jupyter``, ``nbgrader``, ``alembic`` ...) get copies
there that start with the bridge's interpreter, and Jupyter is pointed at the course
environment's data and settings (``JUPYTER_PATH``, ``JUPYTERLAB_DIR``, ``etc/jupyter``).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from course.errors import CourseHubError

__all__ = [
    "SYSTEM_PYTHON",
    "can_run",
    "make_bridge",
    "runtime_for",
]

SYSTEM_PYTHON = Path("/usr/bin/python3")
PROBE = "import course, nbgrader, jupyterhub, ipykernel"


def can_run(account: str, python: Path) -> tuple[bool, str]:
    """Whether ``account`` can start ``python`` and import the course's servers' packages."""
    result = subprocess.run(["runuser", "-u", account, "--", str(python), "-c", PROBE],
                            capture_output=True, text=True, check=False, cwd="/")
    return result.returncode == 0, result.stderr.strip()[-400:]


def _same_minor(python: Path) -> bool:
    result = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() == str(tuple(sys.version_info[:2]))


def _copy_scripts(source_bin: Path, bridge_bin: Path) -> None:
    """The course's console scripts, started by the bridge's interpreter."""
    old = {f"#!{source_bin / n}" for n in ("python", "python3",
                                            f"python3.{sys.version_info[1]}")}
    for script in sorted(source_bin.iterdir()):
        target = bridge_bin / script.name
        if target.exists() or not script.is_file():
            continue
        try:
            first, rest = script.read_text(encoding="utf-8").split("\n", 1)
        except (UnicodeDecodeError, ValueError):
            continue
        if first.strip() in old:
            target.write_text(f"#!{bridge_bin / 'python'}\n{rest}", encoding="utf-8")
            target.chmod(0o755)


def make_bridge(where: Path) -> Path:
    """Build (or refresh) the bridge environment in ``where``; its ``bin`` folder.

    Raises:
        CourseHubError: no Debian ``python3`` of this minor version to build it from.
    """
    if not SYSTEM_PYTHON.exists() or not _same_minor(SYSTEM_PYTHON):
        raise CourseHubError(
            f"the class's accounts cannot run {sys.executable}, and {SYSTEM_PYTHON} is not "
            f"Python {sys.version_info[0]}.{sys.version_info[1]}: install the course with a "
            "Python every account can run (e.g. under /opt or /usr/local)")
    if not (where / "bin" / "python").exists():
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(where)],
                       check=True, capture_output=True)
    site = Path(subprocess.run(
        [str(where / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path("
         "'purelib'))"], check=True, capture_output=True, text=True).stdout.strip())
    course_site = sysconfig.get_path("purelib")
    (site / "course_environment.pth").write_text(
        f"import site; site.addsitedir({course_site!r})\n", encoding="utf-8")
    _copy_scripts(Path(sys.executable).parent, where / "bin")
    for path in [where, *where.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
    return where / "bin"


def runtime_for(account: str, state: Path) -> tuple[str, dict[str, str]]:
    """(the bin folder the accounts run, extra environment for their servers).

    Raises:
        CourseHubError: neither the course's Python nor a bridge works for ``account``.
    """
    here = Path(sys.executable).parent
    ok, _ = can_run(account, here / "python")
    if ok:
        return str(here), {}
    bridge = make_bridge(state / "python")
    ok, error = can_run(account, bridge / "python")
    if not ok:
        raise CourseHubError(f"the account {account!r} cannot run {bridge / 'python'}: {error}")
    prefix = Path(sys.prefix)
    print(f"course hub: the accounts cannot run {sys.executable}; they run {bridge}/python "
          f"(Debian's python3 over the course's packages)")
    return str(bridge), {
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(prefix / "share" / "jupyter" / "lab"),
        "COURSE_JUPYTER_ETC": str(prefix / "etc" / "jupyter"),
    }
