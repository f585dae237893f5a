"""What a failed change says to the operator: its errno, in the words of SAFETY.md's table."""

from __future__ import annotations

import errno as E
import os

from pyroute2.netlink.exceptions import NetlinkError


def errno_of(exc: BaseException) -> int:
    """The errno behind a failed change (0 if there is none)."""
    if isinstance(exc, NetlinkError):
        return int(exc.code or 0)
    if isinstance(exc, OSError):
        return int(exc.errno or 0)
    return 0


def explain(exc: BaseException, where: str) -> str:
    """What the operator reads for a failed change (SAFETY.md's errno table)."""
    err = errno_of(exc)
    words = {
        E.EEXIST: f"already exists in {where}",
        E.ENODEV: "it disappeared (deleted by someone else?)",
        E.EPERM: "needs root / CAP_NET_ADMIN",
        E.EACCES: "not allowed here (IPv6 disabled?)",
        E.EADDRNOTAVAIL: "address not usable here",
        E.EBUSY: "device busy",
        E.EINVAL: "the kernel refused the value (EINVAL)",
    }
    base = words.get(err, os.strerror(err) if err else str(exc))
    injected = " [injected fault]" if "injected" in str(exc) else ""
    return base + injected
