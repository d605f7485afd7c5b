"""The settings of one class hub: every choice ``course hub`` makes, with its default.

``course hub`` writes them to ``STATE_DIR/hub.json``; the hub's configuration file
(``classroom/jupyterhub_config.py``, copied next to it) reads them back. Everything listens
on 127.0.0.1 unless ``ip`` says otherwise; the hub's other ports never leave the loopback.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from course.config import ROOT
from course.errors import CourseHubError

__all__ = [
    "COURSE_ID",
    "EXCHANGES",
    "HubSettings",
    "NAME_PATTERN",
    "load_settings",
    "proxy_command",
]

COURSE_ID = "bert-ecommerce"  # nbgrader_config.py's CourseDirectory.course_id
EXCHANGES = ("folder", "ngshare")
# A name that is a valid Debian login, a JupyterHub user name and an nbgrader student id:
# lower-case letter first, then lower-case letters, digits, "_" or "-"; 32 characters at most.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PROXY_DIR = ROOT / "classroom" / "proxy"


def proxy_command() -> str:
    """configurable-http-proxy as ``make proxy`` installs it (npm, in classroom/proxy/)."""
    return str(PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy")


@dataclass
class HubSettings:
    """One class on one machine. Paths are absolute; ports are on 127.0.0.1 except ``port``."""

    course_id: str = COURSE_ID
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    formgrader_port: int = 9999
    ngshare_port: int = 10101
    state_dir: str = "/srv/course-hub"
    exchange: str = "folder"
    exchange_root: str = "/srv/nbgrader/exchange"
    home_root: str = "/home"
    grader: str = ""
    ngshare_account: str = ""
    idle_timeout: int = 3600
    spawn_timeout: int = 120
    python_bin: str = field(default_factory=lambda: str(Path(sys.executable).parent))
    user_env: dict[str, str] = field(default_factory=dict)
    proxy_command: str = field(default_factory=proxy_command)
    source: str = str(ROOT)

    def __post_init__(self) -> None:
        self.grader = self.grader or f"grader-{self.course_id}"
        self.ngshare_account = self.ngshare_account or f"ngshare-{self.course_id}"
        self.check()

    def check(self) -> None:
        """Raise :class:`CourseHubError` on a setting that cannot work."""
        if not NAME_PATTERN.match(self.course_id):
            raise CourseHubError(
                f"course id {self.course_id!r}: use lower-case letters, digits, '-' or '_' "
                "(it names the formgrader service and the exchange folder)")
        for account in (self.grader, self.ngshare_account):
            if not NAME_PATTERN.match(account):
                raise CourseHubError(f"account {account!r} is not a valid login name")
        if self.exchange not in EXCHANGES:
            raise CourseHubError(f"exchange {self.exchange!r}: choose one of {EXCHANGES}")
        ports = [self.port, self.hub_port, self.proxy_api_port, self.formgrader_port,
                 self.ngshare_port]
        if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
            raise CourseHubError(f"ports must be distinct and in 1-65535: {ports}")
        for name in ("state_dir", "exchange_root", "home_root", "source"):
            if not Path(getattr(self, name)).is_absolute():
                raise CourseHubError(f"{name} must be an absolute path: {getattr(self, name)}")

    @property
    def state(self) -> Path:
        """The hub's own folder (root only): config, database, secrets, logs."""
        return Path(self.state_dir)

    @property
    def grader_home(self) -> Path:
        return Path(self.home_root) / self.grader

    @property
    def course_dir(self) -> Path:
        """The instructors' course directory, owned by the grader account."""
        return self.grader_home / self.course_id

    @property
    def hub_url(self) -> str:
        """Where the hub answers, as seen from this machine."""
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0") else self.ip
        return f"http://{host}:{self.port}"

    @property
    def ngshare_url(self) -> str:
        """ngshare through the proxy, as ngshare_exchange reaches it from a user's server."""
        return f"{self.hub_url}/services/ngshare"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    def save(self) -> Path:
        """Write ``STATE_DIR/hub.json`` (root only, 0600)."""
        from course.hub.keys import write_private

        return write_private(self.state / "hub.json", self.to_json())


def load_settings(state_dir: Path | str) -> HubSettings:
    """The settings ``course hub`` saved in ``state_dir/hub.json``.

    Raises:
        CourseHubError: there is no hub.json (run ``course hub`` first), or it is unreadable.
    """
    path = Path(state_dir) / "hub.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseHubError(f"no {path}: set the class up first with `course hub`") from None
    except (OSError, ValueError) as exc:
        raise CourseHubError(f"cannot read {path}: {exc}") from exc
    known = {f.name for f in fields(HubSettings)}
    return HubSettings(**{k: v for k, v in data.items() if k in known})
