"""A class on a real JupyterHub: one instructor and three students, each a system account.

For each exchange (nbgrader's shared folder, and ngshare as Zero to JupyterHub would use
it), everything goes through the hub's REST API and each user's Jupyter server API, as
JupyterLab and the formgrader send it:

1. the instructor releases lesson 00 (formgrader: generate, release);
2. each student fetches it (Assignments tab) and saves answers with the contents API, as
   JupyterLab saves: one right, one blank, one malformed (not JSON);
3. each student submits; the instructor collects, runs ``course grade`` in a terminal of the
   formgrader service, and releases the feedback; each student fetches their own.

Asserted: every score (the right answer gets the points of lesson 00's test cells, read
from the source notebook; blank 0; malformed not graded and said so), nothing lost (each
collected file is byte for byte what the student saved), each student sees only their own
feedback, no student can read another's submission (exchange, ngshare API, home folder), a
student gets 403 from the formgrader; and the security defaults: secrets 0600 root, every
socket of the class on 127.0.0.1.

Needs root (accounts, PAM, a spawner that switches user): without it the tests skip and say
why, except in CI (``COURSE_CI=1``), where they fail. ``-m "not hub"`` leaves them out.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from course.config import ROOT
from course.grading import solved

pytestmark = [pytest.mark.hub, pytest.mark.xdist_group("hub")]
LESSON = "00-course-map"
SOURCE = ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"
RELEASE = ROOT / "notebooks" / LESSON / f"{LESSON}.ipynb"
NOTEBOOK = f"{LESSON}/{LESSON}.ipynb"
ANSWERS = ("right", "blank", "malformed")
MALFORMED = '{"cells": [{"cell_type": "code", "source": "x = 1"'  # a save cut short


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


def expected_max_score() -> float:
    """Points of lesson 00's autograded test cells, read from the source notebook."""
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    return float(sum(c["metadata"]["nbgrader"].get("points", 0) for c in nb["cells"]
                     if c["metadata"].get("nbgrader", {}).get("grade")
                     and not c["metadata"]["nbgrader"].get("solution")))


def as_user(name: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", name, "--", *command], capture_output=True,
                          text=True, check=False, cwd="/")


@pytest.fixture(scope="module", params=["folder", "ngshare"])
def cycle(request):
    """The whole cycle run once per exchange; what each step left, for the tests to read."""
    require_hub()
    from course.hub.trial import trial_class

    with trial_class(students=3, instructors=1, exchange=request.param) as klass:
        yield run_cycle(klass)


def answer(kind: str, fetched: dict) -> tuple[str, object]:
    """('notebook', nb) or ('text', str): what a student with this kind of answer saves."""
    if kind == "right":
        source = nbformat.read(SOURCE, as_version=4)
        return "notebook", solved(nbformat.from_dict(fetched), source)
    if kind == "blank":
        return "notebook", fetched
    return "text", MALFORMED


def run_cycle(klass) -> dict:
    course, inst = klass.settings.course_id, klass.instructors[0]
    people = dict(zip(klass.students, ANSWERS))
    spawn_s = klass.spawn([*klass.students, inst])
    grader = klass.formgrader(inst)
    grader.formgrader("assign", LESSON)
    grader.formgrader("release", LESSON)
    saved = {}
    for student, kind in people.items():
        lab = klass.server(student)
        listed = {a["assignment_id"]: a["status"] for a in lab.assignments(course)}
        assert listed.get(LESSON) == "released", f"{student} sees {listed}"
        lab.fetch(course, LESSON)
        how, content = answer(kind, lab.get_notebook(NOTEBOOK))
        if how == "notebook":
            lab.save_notebook(NOTEBOOK, content)
        else:
            lab.save_text(NOTEBOOK, content)
        home = klass.settings.home_root
        saved[student] = (Path(home) / student / NOTEBOOK).read_bytes()
        lab.submit(course, LESSON)
    grader.formgrader("collect", LESSON)
    code, output = grader.run_in_terminal(f"course grade {LESSON}", timeout=600)
    grader.formgrader("release_feedback", LESSON)
    feedback = {}
    for student in klass.students:
        lab = klass.server(student)
        lab.fetch_feedback(course, LESSON)
        feedback[student] = sorted(
            p for p in (Path(klass.settings.home_root) / student / LESSON / "feedback").rglob("*")
            if p.is_file())
    return {"klass": klass, "people": people, "saved": saved, "grade_exit": code,
            "grade_output": output, "submissions": grader.submissions(LESSON),
            "feedback": feedback, "spawn_s": spawn_s}


def test_every_score_is_right(cycle):
    people, rows = cycle["people"], {r["student"]: r for r in cycle["submissions"]}
    print("course grade said:\n", cycle["grade_output"][-1500:])
    print("spawn seconds:", cycle["spawn_s"])
    full = expected_max_score()
    by_kind = {kind: student for student, kind in people.items()}
    right, blank, bad = (rows[by_kind[k]] for k in ANSWERS)
    assert right["score"] == full and right["max_score"] == full, right
    assert blank["score"] == 0 and blank["max_score"] == full, blank
    assert not bad["autograded"] or bad["score"] == 0, bad
    assert f"NOT GRADED: {by_kind['malformed']}" in cycle["grade_output"]
    assert cycle["grade_exit"] == 1, "course grade exits 1 when a submission is not gradable"


def test_nothing_is_lost(cycle):
    course_dir = cycle["klass"].settings.course_dir
    for student, saved in cycle["saved"].items():
        collected = course_dir / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        assert collected.read_bytes() == saved, f"{student}'s collected notebook differs"
    assert {r["student"] for r in cycle["submissions"]} >= set(cycle["people"])


def test_each_student_gets_only_their_own_feedback(cycle):
    course_dir = cycle["klass"].settings.course_dir
    for student, kind in cycle["people"].items():
        files = cycle["feedback"][student]
        if kind == "malformed":
            assert files == [], f"{student} got feedback for an ungradable notebook: {files}"
            continue
        assert len(files) == 1, f"{student} fetched {files}"
        ours = course_dir / "feedback" / student / LESSON / f"{LESSON}.html"
        assert files[0].read_bytes() == ours.read_bytes()
        others = [course_dir / "feedback" / s / LESSON / f"{LESSON}.html"
                  for s in cycle["people"] if s != student]
        assert all(not o.exists() or o.read_bytes() != ours.read_bytes() for o in others)


def test_no_student_reads_another_students_work(cycle):
    klass = cycle["klass"]
    a, b = klass.students[0], klass.students[1]
    home_b = Path(klass.settings.home_root) / b
    for target in (home_b, home_b / NOTEBOOK):
        result = as_user(a, "cat" if target.suffix else "ls", str(target))
        assert result.returncode != 0 and "Permission denied" in result.stderr, \
            f"{a} read {target}: {result.stdout[:200]}"
    if klass.settings.exchange == "folder":
        course = Path(klass.settings.exchange_root) / klass.settings.course_id
        for folder in ("inbound", "feedback"):
            result = as_user(a, "ls", str(course / folder))
            assert result.returncode != 0 and "Permission denied" in result.stderr, \
                f"{a} listed {folder}: {result.stdout[:300]}"
        # what the folder does NOT protect: a submission's exact name (it holds a timestamp
        # and 9 random bytes) opens it to anyone who learns it (classroom/README.md)
        name = next(p.name for p in (course / "inbound").iterdir() if p.name.startswith(b))
        assert as_user(a, "cat", str(course / "inbound" / name / f"{LESSON}.ipynb")
                       ).returncode == 0
    else:
        ngshare = klass.server(a).http  # a's token, straight to ngshare through the proxy
        url = (f"{klass.settings.hub_url}/services/ngshare/submission/"
               f"{klass.settings.course_id}/{LESSON}/{b}")
        response = ngshare.get(url)
        assert response.status_code == 403, f"ngshare gave {a} {b}'s submission: " \
            f"HTTP {response.status_code} {response.text[:200]}"


def test_a_student_gets_403_from_the_formgrader(cycle):
    klass = cycle["klass"]
    student = klass.formgrader(klass.students[0])
    for path in ("/formgrader/api/assignments", f"/formgrader/api/submissions/{LESSON}",
                 "/api/contents/"):
        status = student.http.get(path).status_code
        assert status == 403, f"a student got HTTP {status} from the formgrader's {path}"
    assert klass.formgrader(klass.instructors[0]).http.get(
        "/formgrader/api/assignments").status_code == 200


def test_secrets_are_root_only_and_everything_listens_on_loopback(cycle):
    settings = cycle["klass"].settings
    for name in ("cookie_secret", "proxy_token", "admin_token", "hub.json",
                 "jupyterhub_config.py"):
        info = (settings.state / name).stat()
        assert info.st_uid == 0 and info.st_mode & 0o777 == 0o600, \
            f"{name}: mode {oct(info.st_mode & 0o777)} uid {info.st_uid}"
    ports = {settings.port, settings.hub_port, settings.proxy_api_port,
             settings.formgrader_port}
    if settings.exchange == "ngshare":
        ports.add(settings.ngshare_port)
    listening = listening_sockets()
    found = {port: hosts for port, hosts in listening.items() if port in ports}
    assert set(found) == ports, f"not listening: {ports - set(found)}"
    assert all(hosts == {"127.0.0.1"} for hosts in found.values()), found


def listening_sockets() -> dict[int, set[str]]:
    """Port -> local addresses of every listening TCP socket (Linux /proc/net/tcp{,6})."""
    found: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            host = ("127.0.0.1" if address == "0100007F" else
                    "::1" if address == "0" * 31 + "1" else
                    "0.0.0.0" if set(address) == {"0"} else address)
            found.setdefault(int(port, 16), set()).add(host)
    return found
