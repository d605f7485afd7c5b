"""The hub's secrets: generated on this machine, kept in its state folder, readable by root only.

The cookie secret signs the hub's login cookies; the proxy token lets the hub (and nothing
else) reconfigure configurable-http-proxy; the admin token is the ``course-admin`` service's
key to the hub's REST API (``course hub roster`` on a running hub, the tests, the load
benchmark). None of them is ever written into the repository: the state folder lives outside
it (``/srv/course-hub`` by default), and each file is created 0600 before anything is written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = [
    "SECRET_FILES",
    "ensure_secret",
    "make_private_dir",
    "read_secret",
    "write_private",
]

# file name -> bytes of randomness (hex-encoded in the file)
SECRET_FILES = {"cookie_secret": 32, "proxy_token": 32, "admin_token": 32}


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700, owned by whoever runs this."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` with mode 0600 from the first byte on."""
    if not path.parent.exists():
        make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)
    return path


def ensure_secret(path: Path, nbytes: int = 32) -> str:
    """The secret in ``path``; generated (``nbytes`` random bytes, hex) when it is missing.

    An existing secret is kept, so restarting the hub keeps its users logged in; its mode is
    set back to 0600 whatever it was.
    """
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        path.chmod(0o600)
        return read_secret(path)
    value = secrets.token_hex(nbytes)
    write_private(path, value + "\n")
    return value


def read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()
