"""Start ngshare (the exchange service) on the address the hub gave it, not on every interface.

ngshare 0.6 binds ``0.0.0.0`` because on Kubernetes the proxy reaches it from another pod.
On one machine the hub and its proxy are local, so ``course hub`` starts ngshare through this
module, which changes only that: ngshare's own ``main`` runs, and its listening socket is
bound to the host of ``JUPYTERHUB_SERVICE_URL`` (127.0.0.1). Usage, as the hub runs it::

    python -m course.hub.ngshare_loopback --admins a,b --database URL --storage DIR
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

__all__ = [
    "main",
    "service_host",
]

EVERY_INTERFACE = ("", "0.0.0.0", "::")


def service_host() -> str:
    """The host of ``JUPYTERHUB_SERVICE_URL``, or 127.0.0.1 when it has none."""
    return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "")).hostname or "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    """Run ngshare with its socket on :func:`service_host`."""
    from ngshare import ngshare
    from tornado.tcpserver import TCPServer

    host = service_host()
    listen = TCPServer.listen

    def on_loopback(self, port, address="", *args, **kwargs):
        return listen(self, port, host if address in EVERY_INTERFACE else address,
                      *args, **kwargs)

    TCPServer.listen = on_loopback  # type: ignore[method-assign]
    ngshare.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # pragma: no cover
    main()
