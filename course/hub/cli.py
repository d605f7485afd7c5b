"""``course hub``: set a class up on this machine and start it; ``course hub roster FILE.csv``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.errors import CourseDataError, CourseHubError
from course.hub.settings import EXCHANGES, HubSettings, load_settings

__all__ = [
    "hub_main",
    "roster_main",
    "start_parser",
]

DEFAULTS = HubSettings.__dataclass_fields__
STATE_DIR = "/srv/course-hub"


def _default(name: str):
    return DEFAULTS[name].default


def start_parser() -> argparse.ArgumentParser:
    """The options of ``course hub`` (each one says its default)."""
    p = argparse.ArgumentParser(
        prog="course hub", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Set up a class on this machine and start it: JupyterHub (PAM logins with "
        "the system accounts, one JupyterLab per user, the idle culler), nbgrader's exchange "
        "(a shared folder or ngshare) and the formgrader for the instructors. Needs root. "
        "Stop it with Ctrl-C. Add people with `course hub roster FILE.csv` (before or while "
        "it runs). The instructors' guide is classroom/README.md.")
    p.add_argument("--roster", type=Path, help="apply this roster CSV first "
                   "(as `course hub roster FILE.csv`)")
    p.add_argument("--course-id", default=_default("course_id"),
                   help="nbgrader course id; names the formgrader service and the groups")
    p.add_argument("--ip", default=_default("ip"), help="address the hub listens on; "
                   "0.0.0.0 opens it to the network (put HTTPS in front: classroom/README.md)")
    p.add_argument("--port", type=int, default=_default("port"), help="the hub's public port")
    p.add_argument("--hub-port", type=int, default=_default("hub_port"),
                   help="the hub's internal port (127.0.0.1)")
    p.add_argument("--proxy-api-port", type=int, default=_default("proxy_api_port"),
                   help="configurable-http-proxy's API port (127.0.0.1)")
    p.add_argument("--formgrader-port", type=int, default=_default("formgrader_port"),
                   help="port of the formgrader service (127.0.0.1)")
    p.add_argument("--ngshare-port", type=int, default=_default("ngshare_port"),
                   help="port of the ngshare service (127.0.0.1), with --exchange ngshare")
    p.add_argument("--exchange", choices=EXCHANGES, default=_default("exchange"),
                   help="nbgrader's exchange: a shared folder on this machine, or ngshare "
                   "(the service Zero to JupyterHub uses past one machine)")
    p.add_argument("--exchange-root", default=_default("exchange_root"),
                   help="the shared exchange folder (--exchange folder)")
    p.add_argument("--state-dir", default=STATE_DIR, help="the hub's own folder (root "
                   "only): settings, secrets, database, log; one sub-folder per course id")
    p.add_argument("--home-root", default=_default("home_root"),
                   help="where the accounts' home folders are made")
    p.add_argument("--grader", default="", help="the account that runs the formgrader and "
                   "owns the course directory (default: grader-COURSE_ID)")
    p.add_argument("--idle-timeout", type=int, default=_default("idle_timeout"),
                   help="seconds of inactivity after which the idle culler stops a server")
    p.add_argument("--spawn-timeout", type=int, default=_default("spawn_timeout"),
                   help="seconds a user's server may take to start")
    p.add_argument("--setup-only", action="store_true",
                   help="write the configuration and accounts, do not start the hub")
    return p


def _settings(args: argparse.Namespace) -> HubSettings:
    return HubSettings(
        course_id=args.course_id, ip=args.ip, port=args.port, hub_port=args.hub_port,
        proxy_api_port=args.proxy_api_port, formgrader_port=args.formgrader_port,
        ngshare_port=args.ngshare_port, exchange=args.exchange,
        exchange_root=str(Path(args.exchange_root).resolve()),
        state_dir=str(Path(args.state_dir, args.course_id).resolve()),
        home_root=str(Path(args.home_root).resolve()), grader=args.grader,
        idle_timeout=args.idle_timeout, spawn_timeout=args.spawn_timeout)


def _start(argv: list[str]) -> int:
    from course.hub.configure import setup_class
    from course.hub.launch import serve

    args = start_parser().parse_args(argv)
    settings = _settings(args)
    setup_class(settings)
    print(f"course hub: set up {settings.course_id} in {settings.state} "
          f"({settings.exchange} exchange)")
    if args.roster is not None:
        if _apply(settings, args.roster, None) != 0:
            return 1
    return 0 if args.setup_only else serve(settings)


def _apply(settings: HubSettings, path: Path, passwords: Path | None,
           dry_run: bool = False) -> int:
    from course.hub.accounts import require_root
    from course.hub.enrol import enrol
    from course.hub.roster import read_roster

    roster = read_roster(path, settings)
    for problem in roster.problems:
        print(f"NOT USED: {problem}", file=sys.stderr)
    print(f"{path}: {len(roster.students)} students, {len(roster.instructors)} instructors, "
          f"{len(roster.problems)} rows not used")
    if dry_run:
        return 1 if roster.problems else 0
    require_root("course hub roster")
    for line in enrol(settings, roster, passwords).lines():
        print(line)
    return 1 if roster.problems else 0


def roster_main(argv: list[str]) -> int:
    """``course hub roster FILE.csv``: exit 0 when every row was used, 1 when any was not."""
    p = argparse.ArgumentParser(
        prog="course hub roster", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Create a system account per row (locked password), add the students to "
        "the gradebook and the hub (instructors to the formgrader's group). Idempotent; "
        "every row it cannot use is listed with its line. Columns: id (required), role "
        "(student|instructor), first_name, last_name, email.")
    p.add_argument("file", type=Path, help="the roster CSV")
    p.add_argument("--course-id", default=_default("course_id"), help="the class")
    p.add_argument("--state-dir", default=STATE_DIR, help="as given to `course hub`")
    p.add_argument("--new-passwords", type=Path, default=None, help="give each NEW account "
                   "a random password and write them to this CSV (0600); without it new "
                   "accounts have no password until you set one (passwd NAME)")
    p.add_argument("--dry-run", action="store_true", help="only check the file")
    args = p.parse_args(argv)
    settings = load_settings(Path(args.state_dir, args.course_id))
    return _apply(settings, args.file, args.new_passwords, args.dry_run)


def hub_main(argv: list[str] | None = None) -> int:
    """``course hub [OPTIONS]`` or ``course hub roster FILE.csv [OPTIONS]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["roster"]:
            return roster_main(argv[1:])
        return _start(argv)
    except (CourseHubError, CourseDataError) as exc:
        print(f"course hub: error: {exc}", file=sys.stderr)
        return 2
