"""Packet sockets bound to one end of a pair, made inside that end's namespace.

A packet socket belongs to the namespace it was created in, so each is
made with the thread briefly inside the end's namespace (``entered``)
and then used from anywhere.  The interface is found by name *and*
checked against the ifindex discovery saw: a pair replaced in between is
refused rather than tested.

Capture sockets are bound to the one EtherType they wait for, on the
one interface.  That makes them the frame's protocol handler: an
``ETH_P_ALL`` tap sees a frame too, but the kernel then finds no handler
for 0x88b5 and counts it in the end's ``rx_dropped``.  (On a bridge port
a protocol socket sees only what the bridge passes back to the port —
our link-local destination is exactly that.)  A classic BPF filter keeps
the copy to our frames; our own transmissions are ignored
(``PACKET_IGNORE_OUTGOING``); the kernel's receive time comes with each
frame (``SO_TIMESTAMPNS``).
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
from typing import Iterator

from vnet_tui.core.errors import NotFound
from vnet_tui.net.netns import entered

from .framing import Insn

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
RCVBUF = 4 << 20
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def _attach(sock: socket.socket, prog: list[Insn]) -> None:
    code = b"".join(struct.pack("@HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def packet_socket(ns_fd: int, ifname: str, ifindex: int, capture: list[Insn] | None = None,
                  proto: int = 0) -> socket.socket:
    """A raw packet socket on ``ifname`` in namespace ``ns_fd``; with ``capture``, receiving what it accepts.

    ``proto``: the EtherType it receives (0: nothing, it only sends).
    """
    with entered(ns_fd):
        try:
            found = socket.if_nametoindex(ifname)
        except OSError:
            found = 0
        if found != ifindex:
            raise NotFound(f"{ifname} is not the interface discovery saw (ifindex {found or 'none'}, "
                           f"expected {ifindex}): did it change?", rule="interface")
        # protocol 0 at creation: not hooked anywhere until bind() hooks it to this one interface
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            if capture is not None:
                # the filter before the bind: nothing but candidates is ever queued
                _attach(s, capture)
                try:
                    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                except OSError:  # before Linux 4.20: the pkttype check below does the same
                    pass
                try:
                    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.bind((ifname, proto))
        except BaseException:
            s.close()
            raise
    s.setblocking(False)
    return s


def received(sock: socket.socket) -> Iterator[tuple[bytes, int]]:
    """Drain what the capture socket holds: (frame, kernel receive time in ns, CLOCK_REALTIME)."""
    while True:
        try:
            data, anc, _flags, addr = sock.recvmsg(2048, _CMSG_SPACE)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return
            raise
        if len(addr) > 2 and addr[2] == PACKET_OUTGOING:
            continue
        ts = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(value)
                ts = sec * 1_000_000_000 + nsec
        yield data, ts


def capture_drops(sock: socket.socket) -> int:
    """Frames the kernel could not queue to this socket (full buffer) since the last call."""
    try:
        raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    except OSError:
        return 0
    _packets, drops = struct.unpack("@II", raw)
    return int(drops)
