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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from course.config import ROOT
from course.hub.cycle import ANSWERS, run_cycle

sys.path.insert(0, str(Path(__file__).parent))
from hubclass import CYCLE_STUDENTS, require_hub  # noqa: E402

pytestmark = [pytest.mark.hub, pytest.mark.xdist_group("hub")]
LESSON = "00-course-map"
SOURCE = ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"
NOTEBOOK = f"{LESSON}/{LESSON}.ipynb"


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
def cycle(request, hub_class):
    """The whole cycle, once per exchange: (the class, what the cycle left)."""
    klass = hub_class(request.param)
    students = klass.students[:CYCLE_STUDENTS]
    klass.spawn([*students, klass.instructors[0]])
    done = run_cycle(klass, dict(zip(students, ANSWERS, strict=True)), LESSON, klass.instructors[0],
                     grade_jobs=2)
    print(f"{request.param} exchange, seconds per step: {done.seconds}")
    return klass, done


def test_every_score_is_right(cycle):
    _, done = cycle
    people, rows = done.answers, {r["student"]: r for r in done.submissions}
    print("course grade said:\n", done.grade_output[-1500:])
    full = expected_max_score()
    by_kind = {kind: student for student, kind in people.items()}
    right, blank, bad = (rows[by_kind[k]] for k in ANSWERS)
    assert right["score"] == full and right["max_score"] == full, right
    assert blank["score"] == 0 and blank["max_score"] == full, blank
    assert not bad["autograded"] or bad["score"] == 0, bad
    assert f"NOT GRADED: {by_kind['malformed']}" in done.grade_output
    assert done.grade_exit == 1, "course grade exits 1 when a submission is not gradable"


def test_nothing_is_lost(cycle):
    klass, done = cycle
    for student, saved in done.saved.items():
        collected = klass.settings.course_dir / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        assert collected.read_bytes() == saved, f"{student}'s collected notebook differs"
    assert {r["student"] for r in done.submissions} >= set(done.answers)


def test_each_student_gets_only_their_own_feedback(cycle):
    klass, done = cycle
    course_dir = klass.settings.course_dir
    for student, kind in done.answers.items():
        files = done.feedback[student]
        if kind == "malformed":
            assert files == [], f"{student} got feedback for an ungradable notebook: {files}"
            continue
        assert len(files) == 1, f"{student} fetched {files}"
        ours = course_dir / "feedback" / student / LESSON / f"{LESSON}.html"
        assert files[0].read_bytes() == ours.read_bytes()
        others = [course_dir / "feedback" / s / LESSON / f"{LESSON}.html"
                  for s in done.answers if s != student]
        assert all(not o.exists() or o.read_bytes() != ours.read_bytes() for o in others)


def test_no_student_reads_another_students_work(cycle):
    klass, _ = cycle
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
        lab = klass.server(a)  # a's token, to ngshare through the proxy
        url = (f"{klass.settings.hub_url}/services/ngshare/submission/"
               f"{klass.settings.course_id}/{LESSON}/{b}")
        response = lab.http.get(url)
        lab.close()
        assert response.status_code == 403, f"ngshare gave {a} {b}'s submission: " \
            f"HTTP {response.status_code} {response.text[:200]}"


def test_a_student_gets_403_from_the_formgrader(cycle):
    klass, _ = cycle
    student = klass.formgrader(klass.students[0])
    for path in ("/formgrader/manage_assignments", "/formgrader/api/assignments",
                 f"/formgrader/api/submissions/{LESSON}",
                 "/api/contents/"):
        status = student.http.get(path).status_code
        assert status == 403, f"a student got HTTP {status} from the formgrader's {path}"
    assert klass.formgrader(klass.instructors[0]).http.get(
        "/formgrader/api/assignments").status_code == 200


def test_secrets_are_root_only_and_everything_listens_on_loopback(cycle):
    settings = cycle[0].settings
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


def test_the_roster_is_idempotent_and_enrols_in_the_gradebook(hub_class, tmp_path, capsys):
    from course.grading import course_directory
    from course.hub.accounts import account_exists, remove_account
    from course.hub.cli import hub_main

    klass = hub_class(None)
    late = klass.settings.grader.replace("grader", "late")
    roster = tmp_path / "class.csv"
    roster.write_text("id,role,first_name\n" + "".join(f"{s},student,\n" for s in klass.students)
                      + f"{late},student,Late\nNot A Name,student,\n", encoding="utf-8")
    passwords = tmp_path / "passwords.csv"
    state = str(klass.settings.state.parent)
    try:
        runs = []
        for _ in range(2):
            code = hub_main(["roster", str(roster), "--state-dir", state,
                             "--new-passwords", str(passwords)])
            runs.append((code, capsys.readouterr()))
        (code1, first), (code2, second) = runs
        print(first.out, first.err, second.out, sep="\n")
        assert code1 == code2 == 1, "a row was not used: exit 1"
        assert "line 7: bad name 'Not A Name'" in first.err
        assert f"accounts created: 1 {late}" in first.out
        assert "accounts created: 0" in second.out and "users and groups updated" in second.out
        assert account_exists(late)
        assert passwords.stat().st_mode & 0o777 == 0o600
        assert passwords.read_text().splitlines()[1].startswith(f"{late},")
        from nbgrader.api import Gradebook

        coursedir = course_directory(klass.settings.course_dir)
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            known = {s.id for s in gb.students}
        assert known >= {*klass.students, late}
        group = klass.admin.api("GET", f"/groups/nbgrader-{klass.settings.course_id}")
        assert late in group["users"]
    finally:
        remove_account(late)


def test_course_hub_starts_a_class_in_one_command_and_stops_on_ctrl_c(tmp_path):
    """`course hub --roster FILE` as make hub runs it: up on 127.0.0.1, then Ctrl-C stops it."""
    from course.hub.accounts import remove_account
    from course.hub.trial import free_ports

    require_hub()
    prefix = "c" + secrets.token_hex(2)
    base = Path(tempfile.mkdtemp(prefix="course-hub-"))
    base.chmod(0o755)
    (base / "class.csv").write_text(f"id,role\n{prefix}-s1,student\n{prefix}-i1,instructor\n")
    port, *others = free_ports(5)
    command = [sys.executable, "-m", "course.cli", "hub", "--roster", str(base / "class.csv"),
               "--state-dir", str(base / "state"), "--home-root", str(base / "home"),
               "--exchange-root", str(base / "exchange"), "--grader", f"{prefix}-grader",
               "--port", str(port), "--hub-port", str(others[0]),
               "--proxy-api-port", str(others[1]), "--formgrader-port", str(others[2])]
    hub = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(hub.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and hub.poll() is None and not any(
                "is up at" in line for line in lines):
            time.sleep(1)
        assert any("is up at http://127.0.0.1:" in line for line in lines), \
            f"course hub did not come up (exit {hub.poll()}):\n{''.join(lines)[-3000:]}"
        status = httpx.get(f"http://127.0.0.1:{port}/hub/login", timeout=30).status_code
        assert status == 200, f"the login page: HTTP {status}"
        assert listening_sockets().get(port) == {"127.0.0.1"}
        hub.send_signal(signal.SIGINT)
        hub.wait(timeout=120)
        reader.join(timeout=10)
        print("".join(lines)[-2000:])
        assert hub.returncode == 0, f"exit {hub.returncode}"
        assert port not in listening_sockets(), "the proxy still listens after Ctrl-C"
    finally:
        if hub.poll() is None:
            hub.kill()
        for name in (f"{prefix}-s1", f"{prefix}-i1", f"{prefix}-grader"):
            remove_account(name)
        shutil.rmtree(base, ignore_errors=True)
