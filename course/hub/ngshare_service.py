"""Start ngshare (the exchange service) for a class on one machine: two changes, no fork.

1. ngshare 0.6 binds ``0.0.0.0`` because on Kubernetes the proxy reaches it from another pod.
   On one machine the proxy is local, so its listening socket is bound to the host of
   ``JUPYTERHUB_SERVICE_URL`` (127.0.0.1) instead.
2. ngshare 0.6 was written for SQLAlchemy 1.x, where an object attached to a persistent one
   through a backref joined the session by itself ("cascade_backrefs"); SQLAlchemy 2 dropped
   that, so a released assignment was silently not stored ("Object of type <Assignment> not
   in session, add operation along 'Course.assignments' will not proceed"). An event on each
   of ngshare's relationships puts the object into the session at attribute time, as 1.x did.
   tests/test_hub.py runs the whole cycle through it.

Usage, as the hub runs it::

    python -m course.hub.ngshare_service --admins a,b --database URL --storage DIR
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

__all__ = [
    "cascade_like_sqlalchemy_1",
    "main",
    "service_host",
]

EVERY_INTERFACE = ("", "0.0.0.0", "::")


def service_host() -> str:
    """The host of ``JUPYTERHUB_SERVICE_URL``, or 127.0.0.1 when it has none."""
    return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "")).hostname or "127.0.0.1"


def cascade_like_sqlalchemy_1() -> None:
    """Attach an object to the session of the object it is attached to, as SQLAlchemy 1.x did.

    Listens on every relationship of ngshare's models: when a transient object is appended
    to, or set on, an object that is in a session, it joins that session at once.
    """
    from ngshare.database.database import Base
    from sqlalchemy import event
    from sqlalchemy.orm import object_session

    def join(target, value, initiator, *args):  # noqa: ARG001
        session = object_session(target)
        if session is not None and value is not None and object_session(value) is None:
            session.add(value)
        return value

    for mapper in Base.registry.mappers:
        for relation in mapper.relationships:
            attribute = getattr(mapper.class_, relation.key)
            event.listen(attribute, "append", join, retval=True)
            if not relation.uselist:
                event.listen(attribute, "set", join, retval=True)


def main(argv: list[str] | None = None) -> None:
    """Run ngshare with its socket on :func:`service_host`, on SQLAlchemy 2."""
    from ngshare import ngshare
    from tornado.tcpserver import TCPServer

    host = service_host()
    listen = TCPServer.listen

    def on_loopback(self, port, address="", *args, **kwargs):
        return listen(self, port, host if address in EVERY_INTERFACE else address,
                      *args, **kwargs)

    TCPServer.listen = on_loopback  # type: ignore[method-assign]
    cascade_like_sqlalchemy_1()
    ngshare.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # pragma: no cover
    main()
