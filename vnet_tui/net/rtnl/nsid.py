"""Namespace ids: RTM_GETNSID asks which id one namespace gives another (by its fd)."""

from __future__ import annotations

from typing import Optional

from .attr import I32, attrs, u32_attr
from .message import message
from .numbers import NETNSA_FD, NETNSA_NSID, NLM_F_REQUEST, RTM_GETNSID


def get_nsid_request(seq: int, fd: int) -> bytes:
    """RTM_GETNSID for the namespace open as ``fd``."""
    body = b"\0\0\0\0" + u32_attr(NETNSA_FD, fd)  # rtgenmsg (family), aligned
    return message(RTM_GETNSID, NLM_F_REQUEST, seq, body)


def parse_nsid(buf: bytes, off: int, end: int) -> Optional[int]:
    """The id in a RTM_NEWNSID body (None: unassigned)."""
    for t, a, _b in attrs(buf, off + 4, end):
        if t == NETNSA_NSID:
            v = I32.unpack_from(buf, a)[0]
            return None if v < 0 else v
    return None
