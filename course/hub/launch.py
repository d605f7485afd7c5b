"""Start a set-up class: JupyterHub as a child process, then the roster synced into it.

``running_hub`` is a context manager (the tests and the load benchmark use it); ``serve``
is ``course hub`` in the foreground: it waits until Ctrl-C or SIGTERM, then stops the hub,
which stops every user's server, the formgrader service, the idle culler and the proxy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from course.errors import CourseHubError
from course.hub.api import HubClient
from course.hub.enrol import sync_running_hub
from course.hub.keys import read_secret
from course.hub.roster import saved_roster
from course.hub.settings import HubSettings

__all__ = [
    "handle_stop_signals",
    "hub_command",
    "running_hub",
    "serve",
    "start_hub",
    "stop_hub",
    "stop_orphan_proxy",
]

STOP_TIMEOUT_S = 30


def hub_command(settings: HubSettings) -> list[str]:
    return [str(Path(sys.executable).parent / "jupyterhub"), "-f",
            str(settings.state / "jupyterhub_config.py")]


def start_hub(settings: HubSettings, log: Path | None = None) -> subprocess.Popen:
    """Start JupyterHub for the class (files it writes are private: umask 077)."""
    log = log or settings.state / "jupyterhub.log"
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "/usr/bin:/bin")])}
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # root only, like the rest
    with os.fdopen(fd, "ab") as out:
        return subprocess.Popen(hub_command(settings), cwd=settings.state, env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.umask(0o077), start_new_session=True)


def stop_hub(process: subprocess.Popen) -> int:
    """SIGTERM the hub (it stops its servers, services and proxy); SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def stop_orphan_proxy(settings: HubSettings) -> None:
    """A hub that died at start may leave its proxy running: stop it (by its pid file)."""
    pid_file = settings.state / "proxy.pid"
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"configurable-http-proxy" in command and str(settings.proxy_api_port).encode() in command:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pid_file.unlink(missing_ok=True)


def _wait_up(settings: HubSettings, process: subprocess.Popen, client: HubClient,
             timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (settings.state / "jupyterhub.log").read_text(errors="replace")
            first = [line for line in log.splitlines() if line.startswith(("[E ", "[C "))][:10]
            raise CourseHubError(f"JupyterHub exited with {process.returncode}; its first "
                                 "errors:\n" + "\n".join(first) + f"\n...\n{log[-1500:]}")
        with contextlib.suppress(CourseHubError):
            client.wait_until_up(timeout=2)
            return
    raise CourseHubError(f"JupyterHub did not answer at {settings.hub_url} in {timeout:.0f} s; "
                         f"see {settings.state / 'jupyterhub.log'}")


@contextlib.contextmanager
def running_hub(settings: HubSettings, timeout: float = 120) -> Iterator[HubClient]:
    """The class's hub, up and synced with its roster; an admin client; stopped on exit."""
    process = start_hub(settings)
    client = HubClient(settings.hub_url, read_secret(settings.state / "admin_token"))
    client.process = process
    try:
        _wait_up(settings, process, client, timeout)
        sync_running_hub(settings, saved_roster(settings))
        yield client
    finally:
        client.close()
        stop_hub(process)
        stop_orphan_proxy(settings)


def handle_stop_signals(stop: dict[str, bool]) -> None:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM sets ``stop["now"]``, whatever was inherited.

    A process started in the background of a shell script inherits SIGINT ignored, and
    Python then leaves it ignored: Ctrl-C (or a supervisor's SIGINT) would not stop the class.
    """

    def on_signal(signum, frame):  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)


def serve(settings: HubSettings) -> int:
    """``course hub``: start, print where, and wait until interrupted."""
    stop = {"now": False}
    handle_stop_signals(stop)
    with running_hub(settings) as client:
        hub = client.process
        assert hub is not None
        print(f"course hub: {settings.course_id} is up at {settings.hub_url}/ "
              f"(log: {settings.state / 'jupyterhub.log'}); Ctrl-C stops it", flush=True)
        try:
            while not stop["now"] and hub.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        code = hub.poll()
    if code not in (None, 0):
        print(f"course hub: JupyterHub exited with {code}; see "
              f"{settings.state / 'jupyterhub.log'}", file=sys.stderr)
        return 1
    print("course hub: stopped", file=sys.stderr)
    return 0
