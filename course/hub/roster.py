"""``course hub roster FILE.csv``: the class list becomes accounts, hub users and gradebook rows.

The file is a CSV with a header. ``id`` is required (the login name, the hub user name and the
nbgrader student id); ``role`` (``student`` or ``instructor``, default ``student``),
``first_name``, ``last_name`` and ``email`` are optional. Every row that cannot be used is
reported with its line number, and none of them stops the others:

* a duplicate id (the first row wins), a bad name (not a valid login, or the name of a system
  account such as ``root`` or of the grader account), an unknown role;
* a row with fewer cells than the header (a missing column) or more.

Applying a roster is idempotent: an account, a gradebook student or a hub user that exists is
kept; nothing is ever removed. Students go into the gradebook; instructors into the hub's
``formgrade-<course>`` group, which reaches the formgrader.
"""

from __future__ import annotations

import csv
import json
import pwd
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course.errors import CourseDataError
from course.hub.settings import NAME_PATTERN, HubSettings

__all__ = [
    "ROLES",
    "Member",
    "Roster",
    "read_roster",
    "saved_roster",
    "save_roster",
]

ROLES = ("student", "instructor")
OPTIONAL = ("role", "first_name", "last_name", "email")
FIRST_USER_UID = 1000  # Debian: uids below are system accounts


@dataclass(frozen=True)
class Member:
    """One usable row of a roster."""

    id: str
    role: str = "student"
    first_name: str = ""
    last_name: str = ""
    email: str = ""


@dataclass
class Roster:
    """The usable rows of a roster file, and one message per row that could not be used."""

    members: list[Member] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def students(self) -> list[str]:
        return [m.id for m in self.members if m.role == "student"]

    @property
    def instructors(self) -> list[str]:
        return [m.id for m in self.members if m.role == "instructor"]


def _is_system_account(name: str) -> bool:
    try:
        return pwd.getpwnam(name).pw_uid < FIRST_USER_UID
    except KeyError:
        return False


def _name_problem(name: str, settings: HubSettings | None) -> str | None:
    if not NAME_PATTERN.match(name):
        return (f"bad name {name!r}: a login name is a lower-case letter, then lower-case "
                "letters, digits, '-' or '_', 32 characters at most")
    if _is_system_account(name):
        return f"bad name {name!r}: that is a system account of this machine"
    if settings is not None and name in (settings.grader, settings.ngshare_account):
        return f"bad name {name!r}: that is the class's own service account"
    return None


def _row_problem(row: dict, header: list[str]) -> str | None:
    if None in row:  # csv.DictReader puts surplus cells under the key None
        return f"{len(row[None])} cell(s) more than the header's {len(header)} columns"
    missing = [k for k in header if row.get(k) is None]
    if missing:
        return f"missing column(s) {', '.join(missing)}"
    return None


def read_roster(path: Path | str, settings: HubSettings | None = None) -> Roster:
    """Read a roster CSV; every unusable row becomes a message naming its line.

    Raises:
        CourseDataError: the file cannot be read, or its header has no ``id`` column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseDataError(f"cannot read the roster {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "id" not in header:
        raise CourseDataError(
            f"{path}: the header has no 'id' column (it has {header or 'nothing'}); the "
            f"first line must name the columns: id and optionally {', '.join(OPTIONAL)}")
    reader.fieldnames = header
    roster, seen = Roster(), dict[str, int]()
    for line, row in enumerate(reader, start=2):
        problem = _row_problem(row, header)
        name = (row.get("id") or "").strip()
        role = (row.get("role") or "student").strip().lower() or "student"
        if problem is None:
            problem = _name_problem(name, settings)
        if problem is None and name in seen:
            problem = f"duplicate id {name!r} (first on line {seen[name]})"
        if problem is None and role not in ROLES:
            problem = f"unknown role {role!r} (use {' or '.join(ROLES)})"
        if problem is not None:
            roster.problems.append(f"{path.name} line {line}: {problem}")
            continue
        seen[name] = line
        roster.members.append(Member(name, role, *((row.get(k) or "").strip()
                                                  for k in OPTIONAL[1:])))
    return roster


def saved_roster(settings: HubSettings) -> Roster:
    """The roster the hub knows (``STATE_DIR/roster.json``); empty before the first one."""
    path = settings.state / "roster.json"
    if not path.is_file():
        return Roster()
    return Roster([Member(**m) for m in json.loads(path.read_text(encoding="utf-8"))])


def save_roster(settings: HubSettings, roster: Roster) -> Roster:
    """Merge ``roster`` into the saved one (a known id keeps its first row) and save it."""
    from course.hub.keys import write_private

    merged = saved_roster(settings)
    known = {m.id for m in merged.members}
    merged.members += [m for m in roster.members if m.id not in known]
    write_private(settings.state / "roster.json",
                  json.dumps([asdict(m) for m in merged.members], indent=1) + "\n")
    return merged
