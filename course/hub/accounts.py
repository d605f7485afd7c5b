"""System accounts of a class: one Debian login per trainee and instructor, plus the grader.

Accounts are created with ``useradd`` and a *locked* password: nobody can log in until the
instructor gives the account a password (``passwd NAME``, or ``course hub roster
--new-passwords FILE``, which draws a random one per new account). Each home folder is
0700, so no trainee can read another's files. Every change needs root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from course.errors import CourseHubError

__all__ = [
    "account_home",
    "account_exists",
    "ensure_account",
    "new_password",
    "processes_of",
    "remove_account",
    "require_root",
    "set_password",
    "uid_gid",
]


def require_root(what: str) -> None:
    """Raise unless this process runs as root (system accounts and the hub need it)."""
    if os.geteuid() != 0:
        raise CourseHubError(
            f"{what} needs root: it creates system accounts and starts JupyterHub, which "
            "starts each user's server as that user. Run it with sudo.")


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def uid_gid(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def account_home(name: str) -> Path:
    return Path(pwd.getpwnam(name).pw_dir)


def _run(command: list[str], what: str, stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CourseHubError(f"{what} failed ({' '.join(command[:1])} exit "
                             f"{result.returncode}): {result.stderr.strip()}")


def ensure_account(name: str, home_root: Path | str = "/home", comment: str = "") -> bool:
    """Create the login ``name`` (locked password, own group, home 0700); False if it existed.

    An existing account is left as it is, apart from its home folder's mode (0700).
    """
    created = False
    if not account_exists(name):
        home = Path(home_root) / name
        Path(home_root).mkdir(parents=True, exist_ok=True)
        _run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
              "--user-group", "--comment", comment.replace(":", " ")[:60], name],
             f"creating the account {name!r}")
        created = True
    home = account_home(name)
    if home.is_dir():
        home.chmod(0o700)
    return created


def new_password() -> str:
    """A random password of 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)


def set_password(name: str, password: str) -> None:
    """Set the account's password through ``chpasswd`` (PAM logins then accept it)."""
    if ":" in password or "\n" in password:
        raise CourseHubError("a password may not contain ':' or a line break")
    _run(["chpasswd"], f"setting the password of {name!r}", stdin=f"{name}:{password}\n")


def processes_of(name: str) -> list[int]:
    """Ids of the processes that run as the account ``name`` (Linux /proc)."""
    uid = uid_gid(name)[0]
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if proc.stat().st_uid == uid:
                    found.append(int(proc.name))
    return found


def remove_account(name: str) -> None:
    """Delete the account, its group and its home folder (tests and benchmarks clean up)."""
    if not account_exists(name):
        return
    home = account_home(name)
    for pid in processes_of(name):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _run(["userdel", "--force", name], f"removing the account {name!r}")
    shutil.rmtree(home, ignore_errors=True)
