"""The Python that the class's accounts run: the course's own, or a bridge to its packages.

Each user's server runs as that user, so the course's interpreter must be reachable by every
account. When it is not (pyenv under ``/root``, which is 0700), ``course hub`` does not open
``/root``: it puts the *same* interpreter where the accounts can reach it, in
``STATE/python-base`` (hard links, or a copy across file systems: the binary, ``libpython``
and the standard library, about 125 MB copied), makes ``STATE/python`` a virtual environment
of it whose ``.pth`` adds the course's ``site-packages``, gives the course's console scripts
(``course``, ``jupyter``, ``nbgrader``, ``alembic`` ...) copies that start with it, and points
Jupyter at the course environment's data and settings (``JUPYTER_PATH``, ``JUPYTERLAB_DIR``,
``etc/jupyter``). Another interpreter of the same minor version is not enough: Debian's 3.11.2
cannot run soupsieve 2.x, which the course's 3.11.7 can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from course.errors import CourseHubError

__all__ = [
    "can_run",
    "make_bridge",
    "runtime_for",
]

PROBE = "import course, nbgrader, jupyterhub, ipykernel, soupsieve; soupsieve.compile('img')"
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def can_run(account: str, python: Path, env: dict[str, str] | None = None) -> tuple[bool, str]:
    """Whether ``account`` can start ``python`` and import the course's servers' packages."""
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    result = subprocess.run(["runuser", "-u", account, "--", "env", *extra, str(python), "-c",
                             PROBE], capture_output=True, text=True, check=False, cwd="/")
    return result.returncode == 0, result.stderr.strip()[-400:]


def _link_tree(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    """Hard-link (or, across file systems, copy) ``source`` into ``target``."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*skip))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            link(str(source), str(target))


def _base_interpreter(where: Path) -> Path:
    """This interpreter, its libpython and standard library, under ``where``; its binary."""
    prefix = Path(sys.base_prefix)
    binary = Path(os.path.realpath(sys.executable))
    _link_tree(binary, where / "bin" / binary.name)
    for lib in prefix.joinpath("lib").glob("libpython*.so*"):
        _link_tree(lib, where / "lib" / lib.name)
    _link_tree(prefix / "lib" / f"python{VERSION}", where / "lib" / f"python{VERSION}",
               skip=("site-packages", "test", "__pycache__", "idlelib", "tkinter", "turtledemo"))
    return where / "bin" / binary.name


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


def make_bridge(state: Path) -> tuple[Path, dict[str, str]]:
    """Build (or refresh) the bridge in ``state``; (its bin folder, the environment it needs)."""
    binary = _base_interpreter(state / "python-base")
    env = {"LD_LIBRARY_PATH": str(state / "python-base" / "lib")}
    where = state / "python"
    if not (where / "bin" / "python").exists():
        subprocess.run([str(binary), "-m", "venv", "--without-pip", str(where)], check=True,
                       capture_output=True, env={**os.environ, **env})
    site = where / "lib" / f"python{VERSION}" / "site-packages"
    (site / "course_environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n", encoding="utf-8")
    _copy_scripts(Path(sys.executable).parent, where / "bin")
    for top in (state / "python-base", where):
        for path in [top, *top.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
    return where / "bin", env


def runtime_for(account: str, state: Path) -> tuple[str, dict[str, str]]:
    """(the bin folder the accounts run, extra environment for their servers).

    Raises:
        CourseHubError: neither the course's Python nor a bridge works for ``account``.
    """
    here = Path(sys.executable).parent
    ok, _ = can_run(account, here / "python")
    if ok:
        return str(here), {}
    bridge, env = make_bridge(state)
    ok, error = can_run(account, bridge / "python", env)
    if not ok:
        raise CourseHubError(
            f"the account {account!r} cannot run {bridge / 'python'} with the course: every "
            f"folder above {sysconfig.get_path('purelib')} and the course's checkout must be "
            f"readable by all users (chmod o+rx). {error}")
    prefix = Path(sys.prefix)
    print(f"course hub: the accounts cannot run {sys.executable}; they run the same "
          f"interpreter as {bridge}/python (course/hub/runtime.py)")
    return str(bridge), {
        **env,
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(prefix / "share" / "jupyter" / "lab"),
        "COURSE_JUPYTER_ETC": str(prefix / "etc" / "jupyter"),
    }
