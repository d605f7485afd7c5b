"""Kernels that talk to their manager over local sockets, never over TCP.

A Jupyter kernel started the default way listens on TCP ports of 127.0.0.1 and
ipykernel warns, for each one, "Kernel is running over TCP without encryption": any
process on the machine could connect. :class:`IPCKernelManager` starts kernels with
ZeroMQ's ``ipc`` transport instead: the five channels are Unix sockets in the user's
private Jupyter runtime folder (mode 0700), and they are removed when the kernel stops.
``course run`` (papermill and nbclient) and ``course grade`` (nbgrader's autograde)
start every kernel with it. Windows has no ``ipc`` transport, so there the manager
keeps TCP.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import ensure_dir_exists
from traitlets import default

__all__ = [
    "IPC_SUPPORTED",
    "MAX_SOCKET_PATH",
    "IPCKernelManager",
    "ipc_socket_base",
]

IPC_SUPPORTED = os.name == "posix"
# A Unix socket path holds at most 107 bytes on Linux (103 on macOS); the manager appends
# "-<port>" to the base, with ports 1 to 5 on the ipc transport.
MAX_SOCKET_PATH = 100


def ipc_socket_base(runtime_dir: Path | str | None = None) -> str:
    """A fresh base path for one kernel's sockets, in a private folder.

    The folder is Jupyter's runtime folder (``JUPYTER_RUNTIME_DIR``, else
    ``~/.local/share/jupyter/runtime``), created with mode 0700. Where that path is too
    long for a Unix socket, a fresh private temporary folder is used instead.
    """
    folder = Path(runtime_dir or jupyter_runtime_dir())
    name = f"kernel-{uuid.uuid4().hex[:12]}-ipc"
    if len(str(folder / name)) + 2 > MAX_SOCKET_PATH:
        folder = Path(tempfile.mkdtemp(prefix="ck-"))  # mode 0700
    ensure_dir_exists(str(folder), mode=0o700)
    return str(folder / name)


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels use the ``ipc`` transport (Unix sockets).

    Pass it as ``kernel_manager_class`` to papermill's ``execute_notebook`` or nbclient's
    ``NotebookClient``. Its socket files are ``<ip>-1`` to ``<ip>-5`` where ``ip`` is
    :func:`ipc_socket_base`; ``cleanup_resources`` (run when the kernel shuts down)
    removes them.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc" if IPC_SUPPORTED else "tcp"

    @default("ip")
    def _default_ip(self) -> str:
        if self.transport == "ipc":
            return ipc_socket_base()
        return super()._ip_default()
