"""Batches: many change requests in one ``sendall``, every acknowledgement checked.

The kernel runs a batch's requests one by one and queues an ACK (or a
refusal) for each; ``Batch.run`` sends them ``chunk`` at a time and
raises ``RequestFailed`` naming the first that was refused.  The lab
builds thousands of links and addresses this way (``lab/nl.py``).
"""

from __future__ import annotations

import os
import socket
from typing import Iterable, Optional

from .exchange import replies
from .links import get_link_request, parse_link
from .message import error_code, messages, seq_of
from .numbers import NLMSG_ERROR, RTM_NEWLINK


class RequestFailed(OSError):
    """A change request was refused; ``what`` says which."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.what = what


class Batch:
    """Requests sent in batches on ``sock`` (a netlink socket it then owns), every ACK checked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._seq = 0
        self._buf = bytearray(1 << 16)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def run(self, requests: Iterable[tuple[bytes, str]], chunk: int = 128) -> dict[int, int]:
        """Send (message, description) pairs ``chunk`` at a time; raise RequestFailed on the first refusal.

        Returns {seq: IFLA_LINK} of each echoed RTM_NEWLINK that carries one
        (``new_veth(…, echo=True)``: the peer's ifindex).
        """
        echoed: dict[int, int] = {}
        pending: list[tuple[bytes, str]] = []
        for req in requests:
            pending.append(req)
            if len(pending) >= chunk:
                self._flush(pending, echoed)
                pending = []
        if pending:
            self._flush(pending, echoed)
        return echoed

    def _flush(self, reqs: list[tuple[bytes, str]], echoed: dict[int, int]) -> None:
        what = {seq_of(msg): desc for msg, desc in reqs}
        self.sock.sendall(b"".join(m for m, _ in reqs))
        failure: Optional[RequestFailed] = None
        buf = self._buf
        while what:
            n = self.sock.recv_into(buf)
            for mtype, _flags, seq, off, end in messages(buf, n):
                if mtype == NLMSG_ERROR:
                    desc = what.pop(seq, None)
                    if desc is not None:
                        code = error_code(buf, off)
                        if code and failure is None:
                            failure = RequestFailed(-code, desc)
                elif mtype == RTM_NEWLINK and seq in what:
                    link = parse_link(buf, off, end).link
                    if link:
                        echoed[seq] = link
        if failure is not None:
            raise failure

    def link_index(self, name: str) -> int:
        """The ifindex of link ``name`` in this socket's namespace."""
        seq = self.next_seq()
        self.sock.send(get_link_request(seq, ifname=name))
        for mtype, _flags, off, end in replies(self.sock, self._buf, seq):
            if mtype == NLMSG_ERROR:
                code = error_code(self._buf, off)
                raise RequestFailed(-code if code else 2, f"find {name}")
            if mtype == RTM_NEWLINK:
                return parse_link(self._buf, off, end).ifindex
        raise RequestFailed(2, f"find {name}")  # not reached: replies() reads until the answer or raises
