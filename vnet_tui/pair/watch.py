"""Watching a VM adapter's guest end: the guest agent's view of its NIC, read beside its tap.

The pair view polls this (in a thread) once a second.  Each reading
pairs the guest NIC's counters (agent) with the tap's (netlink), read as
close together as possible, so the live mirror check compares like with
like.  A paused VM, a VM without an agent channel or an agent that does
not answer give a reading that says so — never numbers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

from vnet_tui.core.model import VM, Counters, VMNic
from vnet_tui.core.server import Server
from vnet_tui.guest.qga import QGAError
from vnet_tui.net.netns import open_netns

from .counters import GuestNic, agent_nic, netlink_counters


@dataclass(frozen=True)
class GuestReading:
    """One look at a VM NIC's guest side (``status`` as in pair-test results)."""

    status: str  # "ok" | "guest-not-running" | "guest-not-observable"
    message: str = ""
    nic: Optional[GuestNic] = None
    tap: Optional[Counters] = None  # the tap's counters, read around the agent's
    at: float = 0.0  # monotonic time of the reading
    skew: float = 0.0  # s between the tap's read and the agent's answer (at most)


def guest_status(vm: VM) -> Optional[GuestReading]:
    """The reading for a VM whose guest side cannot be read at all (None: ask the agent)."""
    if not vm.running:
        return GuestReading("guest-not-running", f"{vm.name} is paused: no guest runs behind its tap")
    if not vm.qga:
        return GuestReading("guest-not-observable",
                            f"{vm.name} has no guest agent channel: the guest side is not observable")
    return None


class GuestWatch:
    """Reads one VM adapter's guest side (agent) with its tap (netlink); ``close`` when done."""

    def __init__(self, server: Server, vm: VM, adapter: VMNic, tap_ifindex: Optional[int]) -> None:
        self.vm = vm
        self.adapter = adapter
        self.tap_ifindex = tap_ifindex
        self._fd = open_netns(server.host_netns)

    def read(self) -> GuestReading:
        """One reading; blocks up to a few seconds (the agent's timeout)."""
        early = guest_status(self.vm)
        if early is not None:
            return early
        assert self.vm.qga is not None
        t0 = time.monotonic()
        try:
            h0 = netlink_counters(self._fd, self.tap_ifindex) if self.tap_ifindex else None
            nic = agent_nic(self.vm.qga, self.adapter.guest_mac, timeout=2.0)
            h1 = netlink_counters(self._fd, self.tap_ifindex) if self.tap_ifindex else None
        except QGAError as e:
            return GuestReading("guest-not-observable", f"the guest agent does not answer ({e}); booting?",
                                at=time.monotonic())
        except OSError as e:
            return GuestReading("guest-not-observable", f"cannot read the tap: {e.strerror or e}",
                                at=time.monotonic())
        now = time.monotonic()
        if nic is None:
            return GuestReading("guest-not-observable",
                                f"the guest lists no NIC with MAC {self.adapter.guest_mac}", at=now)
        # the tap moved while the agent answered: the later read is nearer the agent's
        return GuestReading("ok", "", nic, h1, now, skew=now - t0 if h0 != h1 else 0.0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
