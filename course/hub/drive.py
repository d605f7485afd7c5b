"""Drive a class through its APIs, as JupyterLab and the formgrader do: the hub tests and the
load benchmark use it.

* :class:`JupyterAPI` is one Jupyter server behind the hub's proxy (a user's
  ``/user/NAME/`` or the formgrader service's ``/services/COURSE/``) with one API token;
* the Assignments tab's calls: ``assignments``, ``fetch``, ``submit``, ``fetch_feedback``
  (nbgrader's ``assignment_list`` server extension);
* saving a notebook is a contents-API ``PUT``, exactly what JupyterLab sends;
* the formgrader's calls: ``assign`` (generate), ``release``, ``collect``,
  ``generate_feedback``, ``release_feedback``, ``submissions``;
* ``run_in_terminal`` types a shell command into a terminal of the server (the Jupyter
  terminals websocket) and returns its exit code and output: ``course grade`` runs so.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx

from course.errors import CourseHubError

__all__ = [
    "JupyterAPI",
]

DONE = re.compile(r"__COURSE_DONE__(\d+)")


class JupyterAPI:
    """One Jupyter server (``prefix``) behind the hub at ``hub_url``, seen with ``token``."""

    def __init__(self, hub_url: str, prefix: str, token: str, timeout: float = 300) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.prefix = "/" + prefix.strip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.hub_url + self.prefix, timeout=timeout,
                                 headers={"Authorization": f"token {token}"},
                                 follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kw) -> Any:
        """``method path`` on the server; its JSON answer. CourseHubError on another status."""
        response = self.http.request(method, path, **kw)
        if response.status_code not in ok:
            raise CourseHubError(f"{method} {self.prefix}{path}: HTTP {response.status_code} "
                                 f"{response.text[:500]}")
        try:
            return response.json() if response.content else None
        except ValueError:
            return response.text

    # --- the contents API (what JupyterLab's File > Save sends)
    def get_notebook(self, path: str) -> dict:
        return self.call("GET", f"/api/contents/{path}", params={"content": 1})["content"]

    def save_notebook(self, path: str, nb: dict) -> None:
        self.call("PUT", f"/api/contents/{path}",
                  json={"type": "notebook", "format": "json", "content": nb})

    def save_text(self, path: str, text: str) -> None:
        self.call("PUT", f"/api/contents/{path}",
                  json={"type": "file", "format": "text", "content": text})

    def listing(self, path: str = "") -> list[str]:
        return [item["name"] for item in self.call("GET", f"/api/contents/{path}")["content"]]

    # --- the Assignments tab (nbgrader's assignment_list server extension)
    def assignments(self, course: str) -> list[dict]:
        return self.call("GET", "/assignments", params={"course_id": course})["value"]

    def _action(self, action: str, course: str, lesson: str) -> Any:
        answer = self.call("POST", f"/assignments/{action}",
                           data={"course_id": course, "assignment_id": lesson})
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CourseHubError(f"{action} {lesson} failed for {self.prefix}: "
                                 f"{answer.get('value', answer)}")
        return answer

    def fetch(self, course: str, lesson: str) -> Any:
        return self._action("fetch", course, lesson)

    def submit(self, course: str, lesson: str) -> Any:
        return self._action("submit", course, lesson)

    def fetch_feedback(self, course: str, lesson: str) -> Any:
        return self._action("fetch_feedback", course, lesson)

    # --- the formgrader (on the grader service)
    def formgrader(self, action: str, lesson: str) -> dict:
        """POST ``/formgrader/api/assignment/LESSON/ACTION``; fails unless nbgrader says success."""
        answer = self.call("POST", f"/formgrader/api/assignment/{lesson}/{action}")
        if not answer.get("success"):
            raise CourseHubError(f"formgrader {action} {lesson}: {answer.get('error')}\n"
                                 f"{answer.get('log', '')[-2000:]}")
        return answer

    def submissions(self, lesson: str) -> list[dict]:
        return self.call("GET", f"/formgrader/api/submissions/{lesson}")

    # --- a terminal
    def run_in_terminal(self, command: str, timeout: float = 600) -> tuple[int, str]:
        """Type ``command`` into a new terminal; (exit code, everything it printed)."""
        name = self.call("POST", "/api/terminals")["name"]
        try:
            return asyncio.run(self._terminal(name, command, timeout))
        finally:
            self.call("DELETE", f"/api/terminals/{name}", ok=(204, 404))

    async def _terminal(self, name: str, command: str, timeout: float) -> tuple[int, str]:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = self.hub_url.replace("http", "ws", 1) + f"{self.prefix}/terminals/websocket/{name}"
        ws = await websocket_connect(HTTPRequest(
            url, headers={"Authorization": f"token {self.token}"}, request_timeout=60))
        ws.write_message(json.dumps(["stdin", f"{command}; echo __COURSE_DONE__$?\r"]))
        output, deadline = [], time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                message = await asyncio.wait_for(ws.read_message(),
                                                 max(1.0, deadline - time.monotonic()))
                if message is None:
                    break
                kind, *rest = json.loads(message)
                if kind == "stdout":
                    output.append(rest[0])
                    found = DONE.search("".join(output))
                    if found:
                        return int(found.group(1)), "".join(output)
        except asyncio.TimeoutError:
            pass
        finally:
            ws.close()
        raise CourseHubError(f"the terminal command did not finish in {timeout:.0f} s: "
                             f"{command}\n{''.join(output)[-2000:]}")
