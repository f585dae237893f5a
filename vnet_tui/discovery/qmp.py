"""A tiny synchronous QMP client for discovery: status and guest MACs.

Why not ``qemu.qmp`` (a dependency, used elsewhere)?  It is asyncio-based,
and its sync shim (``qemu.qmp.legacy``) runs its own event loop, which
fails inside a running loop (Textual's) and is heavy to start in each
worker thread.  Discovery needs two read-only commands with a hard
deadline, which stdlib ``socket`` + ``json`` give in a few lines and in
any thread.

QMP speaks newline-delimited JSON: the server greets (``{"QMP": …}``),
the client must send ``qmp_capabilities`` first, then each command gets
``{"return": …}`` or ``{"error": {"class", "desc"}}``; asynchronous
``{"event": …}`` messages may arrive at any time and are skipped.

A QEMU monitor socket serves one client at a time: while another client
(libvirt, a lab manager) holds it, the greeting never comes and calls
here give up after ``timeout`` seconds (None / {} from the helpers).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Optional


class QMPError(Exception):
    """QEMU answered with an error, or the conversation broke down."""


class QMP:
    """One QMP connection over a unix socket; use as a context manager."""

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._buf = b""
        self._id = 0
        self.greeting: dict[str, Any] = {}

    def __enter__(self) -> "QMP":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, read the greeting, negotiate capabilities."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._recv(deadline)
            if "QMP" in msg:
                self.greeting = msg
                break
        self.cmd("qmp_capabilities")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _recv(self, deadline: float) -> dict[str, Any]:
        """The next JSON message (events included)."""
        assert self._sock is not None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"QMP {self.path}: no answer in {self.timeout} s")
            self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QMPError(f"QMP {self.path}: connection closed")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise QMPError(f"QMP {self.path}: bad JSON: {line[:80]!r}") from e
        if not isinstance(msg, dict):
            raise QMPError(f"QMP {self.path}: unexpected message {msg!r}")
        return msg

    def cmd(self, execute: str, **arguments: Any) -> Any:
        """Run one command and return its ``return`` value; QMPError on ``error``."""
        if self._sock is None:
            raise QMPError("QMP: not connected")
        self._id += 1
        request: dict[str, Any] = {"execute": execute, "id": self._id}
        if arguments:
            request["arguments"] = arguments
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._recv(deadline)
            if "event" in msg or msg.get("id") != self._id:
                continue
            if "error" in msg:
                err = msg["error"]
                raise QMPError(f"{execute}: {err.get('class')}: {err.get('desc')}")
            return msg.get("return")


def query_status(path: str, timeout: float = 2.0) -> Optional[str]:
    """The VM's run state ("running", "paused", "prelaunch" for ``-S``, …); None if unreachable."""
    try:
        with QMP(path, timeout) as q:
            status = q.cmd("query-status")
    except (OSError, QMPError):
        return None
    return status.get("status") if isinstance(status, dict) else None


def query_rx_filter_macs(path: str, timeout: float = 2.0) -> dict[str, str]:
    """NIC id -> the MAC the guest uses now (``query-rx-filter``); {} if unreachable.

    Only NICs with rx-filter support (virtio-net) are listed.  The key is
    the NIC's ``id=`` (or a generated name like ``virtio-net-pci.0``).
    """
    try:
        with QMP(path, timeout) as q:
            filters = q.cmd("query-rx-filter")
    except (OSError, QMPError):
        return {}
    out: dict[str, str] = {}
    for f in filters if isinstance(filters, list) else []:
        if isinstance(f, dict) and f.get("name") and f.get("main-mac"):
            out[str(f["name"])] = str(f["main-mac"]).lower()
    return out


def info_network(path: str, timeout: float = 2.0) -> str:
    """HMP ``info network`` (discovery/netinfo.py reads it); "" if unreachable."""
    try:
        with QMP(path, timeout) as q:
            text = q.cmd("human-monitor-command", **{"command-line": "info network"})
    except (OSError, QMPError):
        return ""
    return str(text or "")
