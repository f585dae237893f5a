"""Persistent taps, made with the tun driver's ioctls (linux/if_tun.h) inside a namespace.

Not netlink: TUNSETIFF takes a ``struct ifreq`` (name, flags), packed here.
"""

from __future__ import annotations

import fcntl
import os
import struct

from .netns import entered

TUNSETIFF, TUNSETPERSIST = 0x400454CA, 0x400454CB
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
# struct ifreq: the name (IFNAMSIZ 16), the flags (short), padding to its 40 bytes
_IFREQ = struct.Struct("16sH22x")


def make_tap(netns_fd: int, ifname: str) -> None:
    """A persistent tap ``ifname`` (TUNSETIFF + TUNSETPERSIST on /dev/net/tun, inside ``netns_fd``)."""
    with entered(netns_fd):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(ifname.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)
