"""Persistent taps, made with the tun driver's ioctls (linux/if_tun.h).

Not netlink: TUNSETIFF takes a ``struct ifreq`` (name, flags), packed
here.  A tap belongs to the namespace /dev/net/tun was opened in.
"""

from __future__ import annotations

import fcntl
import os
import struct

from .netns import entered

TUNSETIFF, TUNSETPERSIST = 0x400454CA, 0x400454CB
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
# struct ifreq: the name (IFNAMSIZ 16), the flags (short), padding to its 40 bytes
_IFREQ = struct.Struct("16sH22x")


def persist_tap(ifname: str, vnet_hdr: bool = False) -> None:
    """A persistent tap ``ifname`` in the calling thread's namespace (``vnet_hdr``: virtio-net headers)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(ifname.encode(), flags))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)


def make_tap(netns_fd: int, ifname: str) -> None:
    """A persistent tap ``ifname`` (TUNSETIFF + TUNSETPERSIST on /dev/net/tun) in namespace ``netns_fd``."""
    with entered(netns_fd):
        persist_tap(ifname)
