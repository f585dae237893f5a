"""A request and its answer on a netlink socket: the reply messages of one request, an ACK.

The socket is any object with ``send`` and ``recv_into`` (a netlink
``socket.socket``); ``buf`` is the caller's receive buffer.  Offsets
yielded point into ``buf`` and are good until the next message is
asked for (the next ``recv_into`` overwrites it).
"""

from __future__ import annotations

import errno
from typing import Any, Iterator

from .message import error_code, messages, seq_of
from .numbers import NLMSG_ERROR


class SocketClosed(OSError):
    """The netlink socket ended before the answer came."""

    def __init__(self) -> None:
        super().__init__(errno.EPIPE, "netlink socket closed")


def replies(sock: Any, buf: bytearray, seq: int) -> Iterator[tuple[int, int, int, int]]:
    """(type, flags, body offset, end) of each message answering request ``seq``, read as needed.

    Messages of other requests are skipped; the caller stops when the
    answer is complete (NLMSG_DONE, NLMSG_ERROR, or the one reply it
    wanted).  Raises SocketClosed if the socket ends first.
    """
    recv_into = sock.recv_into
    while True:
        n = recv_into(buf)
        if n <= 0:
            raise SocketClosed()
        for mtype, flags, mseq, off, end in messages(buf, n):
            if mseq == seq:
                yield mtype, flags, off, end


def ack(sock: Any, buf: bytearray, msg: bytes) -> int:
    """Send the request ``msg`` (flagged NLM_F_ACK) and wait for its acknowledgement.

    Returns 0, or the errno the kernel refused it with.
    """
    seq = seq_of(msg)
    sock.send(msg)
    for mtype, _flags, off, _end in replies(sock, buf, seq):
        if mtype == NLMSG_ERROR:
            return -error_code(buf, off)
    raise SocketClosed()  # not reached: replies() reads until the answer or raises
