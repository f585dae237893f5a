"""The netlink message: its header (struct nlmsghdr), encoded and walked.

Every request is ``message(type, flags, seq, body)``; every read buffer
is walked with ``messages``, which yields offsets into it (no copies):
the decoders take ``(buf, body offset, end)`` and read in place.
"""

from __future__ import annotations

import struct
from typing import Iterator

# struct nlmsghdr: length, type, flags, sequence number, port id
NLMSGHDR = struct.Struct("=IHHII")
HEADER_SIZE = NLMSGHDR.size  # 16
# NLMSG_ERROR's body starts with the errno (negative; 0 is an ACK)
_ERRNO = struct.Struct("=i")


def align(n: int) -> int:
    """``n`` rounded up to netlink's 4-byte alignment (NLMSG_ALIGN, RTA_ALIGN)."""
    return (n + 3) & ~3


def message(type_: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message: the header, then ``body`` (already aligned by its encoders)."""
    return NLMSGHDR.pack(HEADER_SIZE + len(body), type_, flags, seq, 0) + body


def messages(buf: bytes, n: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (type, flags, seq, body offset, end) for each message in ``buf[:n]``."""
    off = 0
    unpack = NLMSGHDR.unpack_from
    while off + HEADER_SIZE <= n:
        length, mtype, flags, seq, _pid = unpack(buf, off)
        if length < HEADER_SIZE:
            return
        yield mtype, flags, seq, off + HEADER_SIZE, off + length
        off += (length + 3) & ~3


def error_code(buf: bytes, off: int) -> int:
    """The (negative) errno of an NLMSG_ERROR body at ``off``; 0 is an ACK."""
    return _ERRNO.unpack_from(buf, off)[0]


def seq_of(msg: bytes) -> int:
    """The sequence number of an encoded message (to match its answer)."""
    return NLMSGHDR.unpack_from(msg, 0)[3]
