"""A small synchronous client for the QEMU guest agent on a unix socket.

Protocol (qemu-ga-ref, "guest-sync-delimited"): on connecting, and after
any timeout, the client sends a 0xFF byte (flushes the agent's JSON
parser) and ``guest-sync-delimited`` with a fresh id; the agent answers
with 0xFF followed by the id.  Everything before that answer is stale and
dropped.  After that, one JSON response line per command, in order.

While the guest has not opened its port yet, QEMU leaves our bytes in
the socket; they are answered when the agent starts.
"""

from __future__ import annotations

import json
import random
import socket
import time
from typing import Any, Self

from vnet_tui.core.errors import VnetError

SENTINEL = b"\xff"


class QGAError(VnetError):
    """The guest agent did not answer, or answered with an error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="guest-agent", code=1)


class QGATimeout(QGAError):
    """The agent did not answer in time (the stream must be resynchronised)."""


class QGADisconnected(QGAError):
    """The socket could not be opened or was closed (QEMU not started yet, or gone)."""


class QGA:
    """A connection to one guest agent; ``with QGA(path) as qga: qga.ping()``."""

    def __init__(self, path: str, timeout: float = 3.0, *, sync: bool = True) -> None:
        """Connect and (unless ``sync=False``) synchronise; QGAError if the agent doesn't answer."""
        self.path = path
        self.timeout = timeout
        self._buf = b""
        self._synced = False
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(path)
        except OSError as e:
            self._sock.close()
            raise QGADisconnected(f"cannot connect to the guest agent socket {path}: {e.strerror or e}") from e
        if sync:
            try:
                self.sync()
            except BaseException:
                self.close()
                raise

    # -- lifecycle

    def close(self) -> None:
        """Close the socket (the agent keeps running)."""
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands

    def sync(self, timeout: float | None = None) -> None:
        """Resynchronise the stream (guest-sync-delimited); QGAError on timeout."""
        ident = random.randint(1, 2**31 - 1)
        self._synced = False
        self._send({"execute": "guest-sync-delimited", "arguments": {"id": ident}}, flush=True)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            # Drop everything up to the sentinel, then look for our id (older syncs may answer first).
            while SENTINEL not in self._buf:
                self._buf = b""
                self._fill(deadline, "guest-sync-delimited")
            self._buf = self._buf[self._buf.index(SENTINEL) + 1 :]
            while b"\n" not in self._buf and SENTINEL not in self._buf:
                self._fill(deadline, "guest-sync-delimited")
            if SENTINEL in self._buf.split(b"\n", 1)[0]:
                continue  # another sentinel before this line ended: start again from it
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if isinstance(reply, dict) and reply.get("return") == ident:
                self._synced = True
                return

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one agent command and return its ``return`` value."""
        if not self._synced:
            self.sync()
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._send(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" not in self._buf:
                self._fill(deadline, command)
            line, self._buf = self._buf.split(b"\n", 1)
            line = line.strip().lstrip(SENTINEL)
            if not line:
                continue
            try:
                reply = json.loads(line)
            except ValueError as e:
                self._synced = False
                raise QGAError(f"guest agent sent something that is not JSON for {command}: {line[:80]!r}") from e
            if not isinstance(reply, dict):
                continue
            if "error" in reply:
                err = reply["error"]
                raise QGAError(f"guest agent: {command}: {err.get('desc', err)}")
            if "return" in reply:
                return reply["return"]

    def ping(self) -> None:
        """guest-ping: returns when the agent answered."""
        self.execute("guest-ping")

    def info(self) -> dict[str, Any]:
        """guest-info: the agent's version and supported commands."""
        return dict(self.execute("guest-info"))

    def interfaces(self) -> list[dict[str, Any]]:
        """guest-network-get-interfaces, with keys always present.

        Each item: ``name``, ``hardware-address`` (None if none),
        ``ip-addresses`` (list of ``{ip-address, ip-address-type, prefix}``),
        ``statistics`` (``rx-bytes``, ``rx-packets``, ``tx-bytes``, ``tx-packets``,
        errors and drops; empty if the agent didn't report them).
        """
        out = []
        for item in self.execute("guest-network-get-interfaces"):
            out.append(
                {
                    "name": item.get("name"),
                    "hardware-address": item.get("hardware-address"),
                    "ip-addresses": list(item.get("ip-addresses", [])),
                    "statistics": dict(item.get("statistics", {})),
                }
            )
        return out

    def shutdown(self, mode: str = "powerdown") -> None:
        """guest-shutdown (``powerdown``, ``reboot``, ``halt``); no answer comes on success.

        The lab guest powers off at once (QEMU exits within ~50 ms).
        """
        if not self._synced:
            self.sync()
        self._send({"execute": "guest-shutdown", "arguments": {"mode": mode}})
        self._synced = False

    # -- wire

    def _send(self, msg: dict[str, Any], flush: bool = False) -> None:
        data = json.dumps(msg).encode() + b"\n"
        try:
            self._sock.sendall((SENTINEL if flush else b"") + data)
        except OSError as e:
            self._synced = False
            raise QGADisconnected(f"guest agent socket {self.path}: {e.strerror or e}") from e

    def _fill(self, deadline: float, command: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            self._synced = False
            raise QGATimeout(f"guest agent did not answer {command} in time")
        self._sock.settimeout(left)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            self._synced = False
            raise QGATimeout(f"guest agent did not answer {command} in time") from None
        except OSError as e:
            self._synced = False
            raise QGADisconnected(f"guest agent socket {self.path}: {e.strerror or e}") from e
        if not chunk:
            self._synced = False
            raise QGADisconnected(f"guest agent socket {self.path} closed (QEMU gone?)")
        self._buf += chunk


def wait_for_agent(path: str, timeout: float = 30.0, *, attempt: float = 1.0) -> QGA:
    """Connect to the agent at ``path`` and wait until it answers a sync; QGAError after ``timeout`` s.

    Waits for the socket to appear (QEMU starting) and for the guest to
    boot; each sync attempt lasts up to ``attempt`` seconds on one connection.
    """
    deadline = time.monotonic() + timeout
    last = "the socket did not appear"
    qga: QGA | None = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            if qga is None:
                qga = QGA(path, timeout=3.0, sync=False)
            qga.sync(timeout=min(attempt, left))
            return qga
        except QGATimeout as e:
            last = str(e)
        except QGADisconnected as e:
            last = str(e)
            if qga is not None:
                qga.close()
                qga = None
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    if qga is not None:
        qga.close()
    raise QGATimeout(f"guest agent at {path} did not answer within {timeout:g} s ({last})")
