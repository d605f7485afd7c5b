"""Apply a roster: system accounts, gradebook students, hub users and groups, ngshare enrolment.

Idempotent: what exists is kept, nothing is removed. New accounts have a locked password
unless ``passwords`` names a file, which then receives one random password per *new* account
(``id,password``; 0600 root) for the instructor to hand out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from course.hub.accounts import ensure_account, new_password, set_password
from course.hub.api import HubClient, sync_ngshare
from course.hub.configure import chown_tree
from course.hub.keys import read_secret, write_private
from course.hub.roster import Roster, save_roster
from course.hub.settings import HubSettings

__all__ = [
    "NOT_RUNNING",
    "Enrolment",
    "add_to_gradebook",
    "enrol",
    "sync_running_hub",
]


NOT_RUNNING = "not running: the roster applies at the next `course hub` start"


@dataclass
class Enrolment:
    """What applying a roster changed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    gradebook: list[str] = field(default_factory=list)
    hub: str = ""

    def lines(self) -> list[str]:
        return [f"accounts created: {len(self.created)} {' '.join(self.created)}".rstrip(),
                f"accounts already there: {len(self.existing)}",
                f"students in the gradebook: {len(self.gradebook)}",
                f"hub: {self.hub}"]


def add_to_gradebook(settings: HubSettings, roster: Roster) -> list[str]:
    """Add (or update) every student of ``roster`` in the course's nbgrader gradebook."""
    from nbgrader.api import Gradebook

    from course.grading import course_directory, tools_on_path

    coursedir = course_directory(settings.course_dir)
    added = []
    with tools_on_path(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for m in roster.members:
            if m.role == "student":
                gb.update_or_create_student(m.id, first_name=m.first_name or None,
                                            last_name=m.last_name or None,
                                            email=m.email or None)
                added.append(m.id)
    chown_tree(settings.course_dir, settings.grader)  # the gradebook stays the grader's
    return added


def sync_running_hub(settings: HubSettings, roster: Roster) -> str:
    """Tell a running hub (and ngshare) about the roster; say what happened."""
    client = HubClient(settings.hub_url, read_secret(settings.state / "admin_token"))
    try:
        try:
            client.request("GET", "/hub/api/")
        except Exception:  # noqa: BLE001 - any connection error means: not running
            return NOT_RUNNING
        client.add_users(roster.instructors + roster.students)
        client.add_to_group(f"formgrade-{settings.course_id}", roster.instructors)
        client.add_to_group(f"nbgrader-{settings.course_id}", roster.students)
        if settings.exchange == "ngshare":
            # the formgrader service speaks to ngshare as the service: its name is the course id
            sync_ngshare(client, settings.ngshare_url, settings.course_id,
                         [settings.course_id, *roster.instructors], roster.students)
        return f"running at {settings.hub_url}: users and groups updated"
    finally:
        client.close()


def enrol(settings: HubSettings, roster: Roster, passwords: Path | None = None) -> Enrolment:
    """Accounts, gradebook, saved roster, and the running hub if there is one. Needs root."""
    done = Enrolment()
    new_passwords = []
    for m in roster.members:
        if ensure_account(m.id, settings.home_root, f"{m.first_name} {m.last_name}".strip()):
            done.created.append(m.id)
            if passwords is not None:
                secret = new_password()
                set_password(m.id, secret)
                new_passwords.append(f"{m.id},{secret}")
        else:
            done.existing.append(m.id)
    if passwords is not None and new_passwords:
        write_private(Path(passwords), "id,password\n" + "\n".join(new_passwords) + "\n")
    done.gradebook = add_to_gradebook(settings, roster)
    merged = save_roster(settings, roster)
    done.hub = sync_running_hub(settings, merged)
    return done
