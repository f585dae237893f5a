"""Plain HTTP/1.1 over a unix socket (an engine's API), with the standard library only.

One ``UnixHTTP`` keeps one connection open (keep-alive), so a scan costs
one ``connect`` and then a fraction of a millisecond per request.  Every
socket operation has a timeout, and a whole conversation has a deadline,
so a daemon that accepts and never answers costs at most that long.

A path longer than a unix socket address allows (108 bytes, easily
reached through ``/proc/PID/root/…``) is reached through an ``O_PATH``
descriptor of the socket file (``/proc/self/fd/N``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from typing import Any, Optional

SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with its NUL


class HTTPError(Exception):
    """The server answered with a status ≥ 400; ``message`` is its own words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class _Conn(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            connect_unix(s, self.unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def connect_unix(s: socket.socket, path: str) -> None:
    """Connect ``s`` to the unix socket at ``path``, however long the path is."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        s.connect(path)
        return
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class UnixHTTP:
    """A keep-alive HTTP/1.1 client for one unix socket.

    ``timeout`` bounds each socket operation; ``deadline`` (seconds from
    now, optional) bounds the whole conversation: once it has passed, a
    request raises ``TimeoutError`` without touching the socket.
    """

    def __init__(self, path: str, timeout: float = 1.0, deadline: Optional[float] = None) -> None:
        self.path = path
        self.timeout = timeout
        self.until = None if deadline is None else time.monotonic() + deadline
        self._conn: Optional[_Conn] = None
        self.headers: dict[str, str] = {}  # the last response's headers (lower-case names)

    def __enter__(self) -> "UnixHTTP":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _budget(self) -> float:
        if self.until is None:
            return self.timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{self.path}: no answer in time")
        return min(self.timeout, left)

    def request(self, method: str, url: str, body: Any = None) -> tuple[int, bytes]:
        """(status, body bytes); raises OSError/TimeoutError/http.client errors on transport failures."""
        t = self._budget()
        if self._conn is None:
            self._conn = _Conn(self.path, t)
        elif self._conn.sock is not None:
            self._conn.sock.settimeout(t)
        self._conn.timeout = t
        data = None
        headers = {"Host": "docker"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self._conn.request(method, url, body=data, headers=headers)
            resp = self._conn.getresponse()
            raw = resp.read()
        except BaseException:
            self.close()
            raise
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            self.close()
        return resp.status, raw

    def json(self, method: str, url: str, body: Any = None) -> Any:
        """The decoded JSON answer; ``HTTPError`` with the server's message for status ≥ 400."""
        status, raw = self.request(method, url, body)
        if status >= 400:
            raise HTTPError(status, _message(raw))
        if not raw.strip():
            return None
        return json.loads(raw)


def _message(raw: bytes) -> str:
    text = raw.decode(errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return doc["message"]
    return text
