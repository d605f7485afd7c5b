"""A small client of JupyterHub's REST API (and of ngshare's), with the ``course-admin`` key.

Used by ``course hub`` (after the hub answers), ``course hub roster`` on a running hub, the
hub tests and the load benchmark. JupyterHub's REST API: /hub/api/users, /groups, tokens,
servers (https://jupyterhub.readthedocs.io/en/stable/reference/rest-api.html).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from typing import Any

import httpx

from course.errors import CourseHubError

__all__ = [
    "HubClient",
    "sync_ngshare",
]


class HubClient:
    """Requests to one hub with one token (``Authorization: token ...``)."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0) -> None:
        self.base = base_url.rstrip("/")
        self.process: subprocess.Popen | None = None  # the hub, when this process started it
        self.http = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=timeout,
                                 follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.base + path, **kwargs)

    def api(self, method: str, path: str, body: Any = None, ok: Iterable[int] = ()) -> Any:
        """``/hub/api`` + ``path``; the decoded JSON answer (None when empty).

        Raises:
            CourseHubError: an HTTP status >= 400 that is not in ``ok``.
        """
        response = self.request(method, "/hub/api" + path,
                                content=None if body is None else json.dumps(body))
        if response.status_code >= 400 and response.status_code not in set(ok):
            raise CourseHubError(f"hub API {method} {path}: HTTP {response.status_code} "
                                 f"{response.text[:300]}")
        return response.json() if response.content else None

    def wait_until_up(self, timeout: float = 60.0) -> None:
        """Wait until the hub answers through its proxy."""
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/hub/api/").status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise CourseHubError(f"the hub at {self.base} did not answer in {timeout:.0f} s {last}")

    def add_users(self, names: Iterable[str]) -> None:
        """Create hub users that do not exist yet (idempotent)."""
        known = {u["name"] for u in self.api("GET", "/users?limit=10000") or []}
        new = sorted(set(names) - known)
        if new:
            self.api("POST", "/users", {"usernames": new})

    def add_to_group(self, group: str, names: Iterable[str]) -> None:
        names = sorted(names)
        self.api("POST", f"/groups/{group}", ok=(409,))
        if names:
            self.api("POST", f"/groups/{group}/users", {"users": names})

    def new_token(self, user: str, note: str = "course hub") -> str:
        """A new API token of ``user`` (with that user's permissions)."""
        return self.api("POST", f"/users/{user}/tokens", {"note": note, "expires_in": 86400})[
            "token"]

    def start_server(self, user: str) -> None:
        self.api("POST", f"/users/{user}/server", ok=(400,))  # 400: already running

    def server_ready(self, user: str) -> bool:
        model = self.api("GET", f"/users/{user}")
        server = (model.get("servers") or {}).get("", {})
        return bool(server.get("ready"))

    def wait_for_server(self, user: str, timeout: float = 180.0) -> float:
        """Seconds until ``user``'s server is ready; CourseHubError after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.server_ready(user):
                return time.monotonic() - start
            time.sleep(0.25)
        raise CourseHubError(f"the server of {user!r} was not ready after {timeout:.0f} s")

    def stop_server(self, user: str) -> None:
        self.api("DELETE", f"/users/{user}/server", ok=(400, 404))


def sync_ngshare(client: HubClient, ngshare_url: str, course_id: str,
                 instructors: list[str], students: list[str]) -> None:
    """Create the course on ngshare (once) and enrol the instructors and students.

    ``client`` holds the ``course-admin`` token, an ngshare admin. Idempotent.
    """
    base = ngshare_url.rstrip("/")

    def call(path: str, data: dict[str, str], ok: tuple[int, ...] = ()) -> None:
        response = client.http.post(base + path, data=data)
        if response.status_code >= 400 and response.status_code not in ok:
            raise CourseHubError(f"ngshare POST {path}: HTTP {response.status_code} "
                                 f"{response.text[:300]}")

    call(f"/course/{course_id}", {"instructors": json.dumps(instructors)}, ok=(409,))
    for name in instructors:
        call(f"/instructor/{course_id}/{name}", {"first_name": "", "last_name": "",
                                                  "email": ""})
    if students:
        rows = [{"username": s, "first_name": "", "last_name": "", "email": ""}
                for s in students]
        call(f"/students/{course_id}", {"students": json.dumps(rows)})
