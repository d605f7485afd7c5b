"""The hub tier's shared class: one real hub per exchange, started once per test session.

``require_hub()`` skips (printing why) where a hub cannot start, and fails in CI
(``COURSE_CI=1``). ``hub_class(exchange)`` (a session fixture in conftest.py) is a
:class:`course.hub.trial.TrialClass` with one instructor and four students: the first three
run the cycle of tests/test_hub.py, the fourth logs in with a browser in
tests/test_hub_browser.py. All hub tests share the xdist group "hub", so one worker runs them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

STUDENTS = 4
CYCLE_STUDENTS = 3


def hub_unavailable() -> str | None:
    """Why a hub cannot start here (None when it can)."""
    from course.hub.settings import proxy_command

    if os.geteuid() != 0:
        return "the hub tests need root (system accounts, PAM, a spawner that switches user)"
    if not Path(proxy_command()).exists():
        return "no configurable-http-proxy: run `make proxy` (needs Node.js and npm)"
    return None


def require_hub() -> None:
    """Skip with the reason, or fail in CI (COURSE_CI=1), when a hub cannot start here."""
    reason = hub_unavailable()
    if reason and os.environ.get("COURSE_CI") == "1":
        pytest.fail(f"{reason}; in CI, .ci/run runs as root and installs the proxy")
    if reason:
        pytest.skip(f"{reason}; leave these out with -m 'not hub'")


@contextlib.contextmanager
def hub_classes():
    """``start(exchange)`` -> a running trial class, started once; all stopped on exit.

    One hub runs at a time (2 cores): starting the other exchange's class stops the first.
    """
    from course.hub.trial import trial_class

    started: dict = {}
    with contextlib.ExitStack() as stack:

        def start(exchange: str | None = None):
            """The class with this exchange; with None, the one running (or "folder")."""
            require_hub()
            exchange = exchange or next(iter(started), "folder")
            if exchange not in started:
                # one hub at a time on 2 cores: the other exchange's class stops first
                for other in list(started):
                    started.pop(other)[1].close()
                inner = contextlib.ExitStack()
                klass = inner.enter_context(trial_class(STUDENTS, 1, exchange))
                stack.callback(inner.close)
                started[exchange] = (klass, inner)
            return started[exchange][0]

        yield start
