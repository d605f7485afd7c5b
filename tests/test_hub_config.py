"""``course hub`` without a hub: the roster's checks, the settings, the secrets, the generated
configuration and ``--help`` (fast; no root needed). The real hub is tests/test_hub.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from course.config import ROOT
from course.errors import CourseDataError, CourseHubError
from course.hub.cli import hub_main, start_parser
from course.hub.configure import STUDENT_HIDDEN, nbgrader_settings, write_jupyter_config
from course.hub.keys import ensure_secret
from course.hub.roster import read_roster
from course.hub.settings import HubSettings, load_settings

TEMPLATE = ROOT / "classroom" / "jupyterhub_config.py"


def roster_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "class.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_roster_reports_every_unusable_row_and_keeps_the_rest(tmp_path):
    path = roster_file(tmp_path, "id,role,first_name,last_name,email\n"
                                 "ada,student,Ada,L,a@x\n"
                                 "ada,student,Ada,Again,a@x\n"         # duplicate
                                 "Bob Smith,student,,,\n"               # bad name
                                 "root,student,,,\n"                    # a system account
                                 "carl,student\n"                       # missing columns
                                 "dora,teacher,,,\n"                    # unknown role
                                 "erin,instructor,Erin,M,e@x,extra\n"   # a cell too many
                                 "finn,instructor,Finn,N,f@x\n"
                                 "gus,,,,\n")                           # role defaults
    roster = read_roster(path, HubSettings(grader="grader-x"))
    assert roster.students == ["ada", "gus"] and roster.instructors == ["finn"]
    problems = "\n".join(roster.problems)
    print(problems)
    assert len(roster.problems) == 6
    for line, words in [(3, "duplicate id 'ada' (first on line 2)"), (4, "bad name 'Bob Smith'"),
                        (5, "system account"), (6, "missing column(s) first_name, last_name"),
                        (7, "unknown role 'teacher'"), (8, "more than the header")]:
        assert f"class.csv line {line}: " in problems and words in problems, (line, words)


def test_a_roster_without_an_id_column_says_what_the_header_must_be(tmp_path):
    with pytest.raises(CourseDataError, match="no 'id' column"):
        read_roster(roster_file(tmp_path, "name,role\nada,student\n"))


def test_the_grader_account_cannot_be_enrolled(tmp_path):
    roster = read_roster(roster_file(tmp_path, "id\ngrader-x\n"), HubSettings(grader="grader-x"))
    assert roster.members == [] and "service account" in roster.problems[0]


@pytest.mark.parametrize("bad", [dict(course_id="Bad Id"), dict(exchange="nfs"),
                                 dict(port=8081), dict(state_dir="relative/path")])
def test_settings_that_cannot_work_are_refused(bad):
    with pytest.raises(CourseHubError):
        HubSettings(**bad)


def test_secrets_are_generated_private_and_kept(tmp_path):
    path = tmp_path / "state" / "cookie_secret"
    first = ensure_secret(path)
    assert len(first) == 64 and path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    assert ensure_secret(path) == first and path.stat().st_mode & 0o777 == 0o600


def test_settings_round_trip_through_hub_json(tmp_path):
    settings = HubSettings(state_dir=str(tmp_path), port=9000, exchange="ngshare")
    settings.save()
    assert (tmp_path / "hub.json").stat().st_mode & 0o777 == 0o600
    assert load_settings(tmp_path) == settings
    with pytest.raises(CourseHubError, match="set the class up first"):
        load_settings(tmp_path / "missing")


def test_students_get_the_assignments_tab_without_the_formgrader(tmp_path):
    settings = HubSettings(state_dir=str(tmp_path), exchange_root="/srv/x")
    write_jupyter_config(settings)
    student, grader = tmp_path / "jupyter" / "student", tmp_path / "jupyter" / "grader"
    page = json.loads((student / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(STUDENT_HIDDEN["labextensions"])
    assert "@jupyter/nbgrader:assignment-list" not in page["disabledExtensions"]
    server = json.loads((student / "jupyter_server_config.json").read_text())["ServerApp"]
    assert server["jpserver_extensions"] == {n: False for n in STUDENT_HIDDEN["server"]}
    assert json.loads((grader / "labconfig" / "page_config.json").read_text()) == {
        "disabledExtensions": {}}
    assert "c.Exchange.root = '/srv/x'" in (student / "nbgrader_config.py").read_text()
    assert "CourseDirectory.root" in (grader / "nbgrader_config.py").read_text()
    ngshare = nbgrader_settings(HubSettings(exchange="ngshare"), grader=False)
    assert "configureExchange(c, 'http://127.0.0.1:8000/services/ngshare')" in ngshare


def load_template(tmp_path: Path, settings: HubSettings, roster: list[dict]):
    """Run classroom/jupyterhub_config.py as JupyterHub would; the config it built."""
    from traitlets.config import Config

    settings.state.mkdir(parents=True, exist_ok=True)
    settings.save()
    (settings.state / "roster.json").write_text(json.dumps(roster))
    for name in ("proxy_token", "admin_token", "cookie_secret"):
        ensure_secret(settings.state / name)
    copy = settings.state / "jupyterhub_config.py"
    copy.write_text(TEMPLATE.read_text())
    config = Config()
    exec(compile(copy.read_text(), str(copy), "exec"),  # noqa: S102 - the file under test
         {"get_config": lambda: config, "__file__": str(copy)})
    return config


def test_the_hub_config_listens_on_loopback_with_generated_secrets(tmp_path):
    settings = HubSettings(state_dir=str(tmp_path / "state"))
    roster = [{"id": "ada", "role": "student"}, {"id": "finn", "role": "instructor"}]
    c = load_template(tmp_path, settings, roster)
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.ConfigurableHTTPProxy.auth_token == (settings.state / "proxy_token").read_text(
        ).strip()
    assert c.JupyterHub.cookie_secret_file == str(settings.state / "cookie_secret")
    assert c.JupyterHub.authenticator_class == "pam" and c.Authenticator.allowed_users == {
        "ada", "finn"}
    assert c.JupyterHub.load_groups == {"formgrade-bert-ecommerce": ["finn"],
                                        "nbgrader-bert-ecommerce": ["ada"]}
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert set(services) == {"bert-ecommerce", "idle-culler", "course-admin"}
    assert all(s["url"].startswith("http://127.0.0.1:") for s in services.values() if "url" in s)
    assert services["bert-ecommerce"]["user"] == settings.grader
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["formgrade-bert-ecommerce"]["scopes"][0] == \
        "access:services!service=bert-ecommerce"
    assert "password" not in TEMPLATE.read_text().lower().replace("passwords", "")


def test_ngshare_is_a_service_of_its_own_account_on_loopback(tmp_path):
    settings = HubSettings(state_dir=str(tmp_path / "state"), exchange="ngshare")
    c = load_template(tmp_path, settings, [])
    ngshare = next(s for s in c.JupyterHub.services if s["name"] == "ngshare")
    assert ngshare["user"] == settings.ngshare_account
    assert ngshare["url"] == f"http://127.0.0.1:{settings.ngshare_port}"
    assert "course.hub.ngshare_service" in ngshare["command"]


def test_course_hub_help_explains_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as done:
        hub_main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for action in start_parser()._actions:
        assert action.help, f"{action.option_strings} has no help"
        if action.default not in (None, False, "", "==SUPPRESS=="):
            assert f"(default: {action.default})" in " ".join(text.split()), action.dest
    assert "127.0.0.1" in text and "classroom/README.md" in text


def test_course_hub_without_root_says_it_needs_root(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert hub_main(["--state-dir", str(tmp_path), "--setup-only"]) == 2
    assert "needs root" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing is written before the root check"


def test_the_single_user_image_installs_the_course_from_the_same_pins():
    dockerfile = (ROOT / "classroom" / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    torch = next(line.split(":=")[1].strip() for line in makefile.splitlines()
                 if line.startswith("TORCH"))
    assert f"ARG TORCH={torch}" in dockerfile
    assert 'pip install -c constraints.txt "$TORCH"' in dockerfile
    assert "pip install --no-deps -c constraints.txt ngshare-exchange" in dockerfile
    assert "COPY constraints.txt" in dockerfile or "constraints.txt README.md" in dockerfile
    assert "solutions" not in [w.strip("/") for line in dockerfile.splitlines()
                               if line.startswith("COPY") for w in line.split()]
    image = ROOT / "classroom" / "image"
    page = json.loads((image / "student" / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(STUDENT_HIDDEN["labextensions"])
    server = json.loads((image / "student" / "jupyter_server_config.json").read_text())
    assert set(server["ServerApp"]["jpserver_extensions"]) == set(STUDENT_HIDDEN["server"])


def test_the_cluster_values_use_ngshare_https_and_the_culler_and_hold_no_secret():
    import re

    import yaml

    values = yaml.safe_load((ROOT / "classroom" / "z2jh-values.yaml").read_text())
    ngshare = yaml.safe_load((ROOT / "classroom" / "ngshare-values.yaml").read_text())
    assert "http://ngshare:8080" in values["hub"]["extraConfig"]["ngshare.py"]
    assert values["proxy"]["https"]["enabled"] is True
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] == 3600
    assert values["singleuser"]["cmd"] == "jupyterhub-singleuser"
    assert "hub_api_token" not in ngshare["ngshare"]
    image_config = (ROOT / "classroom" / "image" / "nbgrader_config.py").read_text()
    assert "http://proxy-public/services/ngshare" in image_config
    for name in ("z2jh-values.yaml", "ngshare-values.yaml"):
        text = (ROOT / "classroom" / name).read_text()
        assert not re.search(r"\b[0-9a-fA-F]{32,}\b", text), f"{name} holds a token"


def test_ctrl_c_stops_course_hub_even_when_its_parent_ignored_sigint():
    """A shell script's background job inherits SIGINT ignored; ``course hub`` must still stop."""
    import signal
    import subprocess
    import sys

    child = ("import os, signal, sys\n"
             "from course.hub.launch import handle_stop_signals\n"
             "assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN, 'SIGINT starts ignored'\n"
             "stop = {'now': False}\n"
             "handle_stop_signals(stop)\n"
             "os.kill(os.getpid(), signal.SIGTERM)\n"
             "assert stop['now'], 'SIGTERM sets the flag'\n"
             "try:\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    __import__('time').sleep(2)  # the handler has run by now, if there is one\n"
             "except KeyboardInterrupt:\n"
             "    sys.exit(0)\n"
             "sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
