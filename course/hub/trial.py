"""A throwaway class: a real hub with real accounts in a temporary folder, removed afterwards.

The hub tests and ``benchmarks/hub_load.py`` use it. Everything it makes has a random prefix
(accounts ``<prefix>-s1``..., ``<prefix>-inst1``, ``<prefix>-grader``) and lives under one
``/tmp/course-hub-*`` folder (state, homes, exchange); on exit it stops the hub (and so every
server and service), deletes every account it created and that folder. Needs root.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from course.errors import CourseHubError
from course.hub.accounts import remove_account, require_root
from course.hub.api import HubClient
from course.hub.configure import setup_class
from course.hub.drive import JupyterAPI
from course.hub.enrol import enrol
from course.hub.launch import running_hub
from course.hub.roster import Member, Roster
from course.hub.settings import HubSettings

__all__ = [
    "TrialClass",
    "free_ports",
    "trial_class",
]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1."""
    sockets, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


@dataclass
class TrialClass:
    """A running throwaway class."""

    settings: HubSettings
    admin: HubClient
    students: list[str]
    instructors: list[str]
    base: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        if name not in self.tokens:
            self.tokens[name] = self.admin.new_token(name, "trial class")
        return self.tokens[name]

    def server(self, name: str) -> JupyterAPI:
        """``name``'s own JupyterLab, through the proxy, with ``name``'s token."""
        return JupyterAPI(self.settings.hub_url, f"/user/{name}", self.token(name))

    def formgrader(self, name: str) -> JupyterAPI:
        """The formgrader service, as ``name`` reaches it (instructors only get in)."""
        return JupyterAPI(self.settings.hub_url, f"/services/{self.settings.course_id}",
                          self.token(name))

    def spawn(self, names: list[str], workers: int = 4) -> dict[str, float]:
        """Start the servers of ``names`` (``workers`` at a time); seconds each took."""
        def one(name: str) -> float:
            self.admin.start_server(name)
            return self.admin.wait_for_server(name, self.settings.spawn_timeout + 30)

        with ThreadPoolExecutor(workers) as pool:
            return dict(zip(names, pool.map(one, names), strict=True))


def _settings(base: Path, prefix: str, exchange: str, overrides: dict) -> HubSettings:
    ports = dict(zip(("port", "hub_port", "proxy_api_port", "formgrader_port", "ngshare_port"),
                     free_ports(5), strict=True))
    return HubSettings(state_dir=str(base / "state" / "bert-ecommerce"), exchange=exchange,
                       exchange_root=str(base / "exchange"), home_root=str(base / "home"),
                       grader=f"{prefix}-grader", ngshare_account=f"{prefix}-ngshare",
                       **{**ports, **overrides})


@contextlib.contextmanager
def trial_class(students: int = 3, instructors: int = 1, exchange: str = "folder",
                **overrides) -> Iterator[TrialClass]:
    """Set up, start and (on exit) remove a class of ``students`` and ``instructors``.

    A hub that does not start (a port taken between choosing it and binding it, by a test
    running beside this one) is tried once more on new ports.
    """
    require_root("a trial class")
    prefix = "t" + secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix="course-hub-"))
    base.chmod(0o755)
    roster = Roster([Member(f"{prefix}-s{i}") for i in range(1, students + 1)]
                    + [Member(f"{prefix}-inst{i}", "instructor")
                       for i in range(1, instructors + 1)])
    accounts = [m.id for m in roster.members] + [f"{prefix}-grader", f"{prefix}-ngshare"]
    try:
        for attempt in (1, 2):
            settings = _settings(base, prefix, exchange, overrides)
            setup_class(settings)
            enrol(settings, roster)
            hub = contextlib.ExitStack()
            try:
                admin = hub.enter_context(running_hub(settings))
            except CourseHubError as exc:
                if attempt == 2:
                    raise
                print(f"trial class: the hub did not start, trying new ports: {exc}"[:2000])
                continue
            with hub:
                yield TrialClass(settings, admin, roster.students, roster.instructors, base)
            break
    finally:
        for name in accounts:
            with contextlib.suppress(Exception):
                remove_account(name)
        shutil.rmtree(base, ignore_errors=True)
