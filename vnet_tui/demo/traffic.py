"""Demo traffic: a small periodic UDP exchange between a lab's containers.

Every ``period`` seconds one container sends a few datagrams to the next
one's address over the lab bridge, with sizes that swell and ebb, so the
rates and sparklines of a newcomer's first screen are alive.

Safety: each socket is created inside a lab container's namespace (opened
by its lab name and checked to be a ``vl-LAB-ct…`` namespace), bound to
that container's adapter, and sends only to addresses the lab gave its
containers (198.18.0.0/15 or fd00:5654::/32).  Nothing is ever sent from,
or to, any other namespace.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import threading
from typing import Any, Optional

from vnet_tui.net.netns import entered, open_netns

LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("fd00:5654::/32"))
DISCARD_PORT = 9


def lab_address(cidr: str) -> str:
    """The address part of a lab container's address; refuses anything outside the lab's ranges."""
    addr = ipaddress.ip_interface(cidr).ip
    if not any(addr in n for n in LAB_NETS):
        raise ValueError(f"{addr} is not a lab address")
    return str(addr)


class Traffic:
    """A background thread that exchanges UDP datagrams between lab containers."""

    def __init__(self, lab: Any, period: float = 0.5, burst: int = 4) -> None:
        self.lab = lab
        self.period = period
        self.burst = burst
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._socks: list[tuple[socket.socket, str]] = []
        self.sent = 0

    def _open(self) -> None:
        cts = list(self.lab.containers)
        prefix = f"vl-{self.lab.name}-ct"
        for i, ct in enumerate(cts):
            if not ct.netns.startswith(prefix):
                raise ValueError(f"{ct.netns} is not a container namespace of lab {self.lab.name}")
            peer = cts[(i + 1) % len(cts)]
            dst = lab_address(peer.ipv4)
            fd = open_netns(ct.netns)
            try:
                with entered(fd):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ct.ifname.encode())
                    s.setblocking(False)
                except OSError:
                    s.close()
                    raise
            finally:
                os.close(fd)
            self._socks.append((s, dst))

    def start(self) -> "Traffic":
        """Open the sockets (in the lab's namespaces) and start sending."""
        if len(self.lab.containers) < 2:
            return self
        self._open()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(self.period):
            tick += 1
            n = len(self._socks)
            for j, (s, dst) in enumerate(self._socks):
                # each container has its own slow wave: sizes 100..1400 bytes
                size = int(750 + 650 * math.sin(tick / 6 + j * 2 * math.pi / n))
                for _ in range(self.burst if (tick + j) % 3 else self.burst * 3):
                    try:
                        s.sendto(b"vnet-tui demo " + b"." * size, (dst, DISCARD_PORT))
                        self.sent += 1
                    except OSError:
                        pass

    def stop(self) -> None:
        """Stop sending and close every socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for s, _ in self._socks:
            s.close()
        self._socks.clear()
