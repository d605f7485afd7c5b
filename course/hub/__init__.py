"""A class on JupyterHub: ``course hub`` sets one up on this machine and starts it.

Parts (classroom/README.md is the instructors' guide):

* ``settings``: every choice with its default (``HubSettings``), saved as ``hub.json``;
* ``keys``: the generated secrets (cookie secret, proxy token, admin token), 0600 root;
* ``accounts``: system accounts with locked passwords and 0700 homes;
* ``roster`` and ``enrol``: ``course hub roster FILE.csv`` (checked rows, idempotent);
* ``configure``: the hub's folder, the Jupyter/nbgrader settings of each kind of server,
  the course directory and the exchange (a shared folder, or ngshare);
* ``api``: JupyterHub's (and ngshare's) REST API; ``launch``: the hub as a child process;
* ``ngshare_service``: ngshare bound to 127.0.0.1; ``cli``: ``hub_main``.

Nothing else in ``course`` imports this wing except ``course.cli``.
"""

from course.hub.cli import hub_main
from course.hub.settings import HubSettings, load_settings

__all__ = [
    "HubSettings",
    "hub_main",
    "load_settings",
]
