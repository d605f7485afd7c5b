"""A student and an instructor of a real class hub, in a real browser.

The student logs in on the hub's login page (PAM, with the password the instructor gave the
account), JupyterLab starts, the student opens the Assignments tab (Nbgrader > Assignment
List), fetches lesson 00, opens it, runs Validate (its dialog lists the failing tests of the
unsolved lesson) and submits. The instructor logs in, opens the formgrader service, collects
and sees the student's submission listed.

Driven by Playwright in Debian's Chromium (tests/test_browser.py's ``browser`` fixture); on a
failure the screenshot, the browser console and the hub's log go to build/browser/. Needs
root and a browser: without them it skips and says why, except in CI, where it fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_browser import browser, watched  # noqa: E402, F401 - the browser fixture

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.xdist_group("hub")]
LESSON = "00-course-map"
SPAWN_MS = 240_000


def _log_in(page, hub_url: str, name: str, password: str) -> None:
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")


def _released(klass, student: str) -> None:
    """Lesson 00 is released (the cycle test may have done it already)."""
    lab = klass.server(student)
    try:
        klass.spawn([student])
        listed = {a["assignment_id"] for a in lab.assignments(klass.settings.course_id)}
    finally:
        lab.close()
    if LESSON not in listed:
        grader = klass.formgrader(klass.instructors[0])
        grader.formgrader("assign", LESSON)
        grader.formgrader("release", LESSON)
        grader.close()
    klass.admin.stop_server(student)  # the browser login starts it again


def _assignment_list(page):
    page.locator("li.lm-MenuBar-item", has_text="Nbgrader").first.click()
    page.locator("li.lm-Menu-item", has_text="Assignment List").first.click()
    return page.locator("#nbgrader-assignment-list, .nbgrader-AssignmentList, "
                        "[id^='nbgrader-assignment']").first


def _student_fetches_validates_submits(page, hub_url: str, student: str) -> None:
    page.get_by_text("Nbgrader", exact=True).first.wait_for(timeout=SPAWN_MS)
    _assignment_list(page)
    released = page.locator("#released_assignments_list")
    released.get_by_text(LESSON).first.wait_for(timeout=60_000)
    released.get_by_role("button", name="Fetch").first.click()
    fetched = page.locator("#fetched_assignments_list")
    fetched.get_by_text(LESSON).first.wait_for(timeout=60_000)
    page.goto(f"{hub_url}/user/{student}/lab/tree/{LESSON}/{LESSON}.ipynb")
    page.locator(".jp-Toolbar-item", has_text="Validate").first.click(timeout=120_000)
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.locator(".validation-failed").first.wait_for(timeout=180_000)
    assert dialog.locator("p", has_text="The following cell failed:").count() >= 1
    dialog.locator("button", has_text="Ok").first.click()
    _assignment_list(page)
    fetched = page.locator("#fetched_assignments_list")
    fetched.get_by_role("button", name="Submit").first.click(timeout=60_000)
    page.locator("#submitted_assignments_list").get_by_text(LESSON).first.wait_for(
        timeout=60_000)


def _instructor_sees_it(page, klass, student: str) -> None:
    base = f"{klass.settings.hub_url}/services/{klass.settings.course_id}/formgrader"
    page.goto(f"{base}/manage_assignments")
    row = page.locator("tr", has_text=LESSON).first
    row.wait_for(timeout=SPAWN_MS)
    row.locator("td.collect a").first.click()
    page.get_by_text("Successfully collected submissions").first.wait_for(timeout=60_000)
    page.goto(f"{base}/manage_submissions/{LESSON}")
    page.locator("table").get_by_text(student).first.wait_for(timeout=60_000)


def test_a_student_submits_and_the_instructor_sees_it(browser, hub_class):  # noqa: F811
    from course.hub.accounts import new_password, set_password

    klass = hub_class(None)
    student, instructor = klass.students[-1], klass.instructors[0]
    passwords = {name: new_password() for name in (student, instructor)}
    for name, password in passwords.items():
        set_password(name, password)
    _released(klass, student)
    hub = SimpleNamespace(log=klass.settings.state / "jupyterhub.log")
    with watched(browser, "hub-student", hub) as watch:  # each page: its own cookies
        _log_in(watch.page, klass.settings.hub_url, student, passwords[student])
        _student_fetches_validates_submits(watch.page, klass.settings.hub_url, student)
    with watched(browser, "hub-instructor", hub) as watch:
        _log_in(watch.page, klass.settings.hub_url, instructor, passwords[instructor])
        watch.page.wait_for_url("**/user/**", timeout=SPAWN_MS)
        _instructor_sees_it(watch.page, klass, student)
