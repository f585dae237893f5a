"""The addresses a lab VM's guest agent reports for each of its NICs (what the VMs pane shows and filters on).

Only vnet-tui's own lab VMs are asked (``runtime == "lab"`` with an agent
socket beside the lab): another manager's agent is not ours to talk to,
and a VM without an agent simply has none shown.  The agent takes one
client at a time, so each VM is asked over one short connection, and one
that does not answer in ``timeout`` is skipped (its last answer stays on
screen, the caller keeps it).  Slow by nature (a socket round trip per
VM, a TCG guest can take a second): call from a worker, never from a UI
thread.
"""

from __future__ import annotations

from typing import Iterable

from vnet_tui.core.model import VM
from vnet_tui.guest.nicaddrs import nic_addresses
from vnet_tui.guest.qga import QGA, QGAError

GuestIps = dict[tuple[int, str], tuple[str, ...]]  # (VM pid, guest MAC lower-case) -> "addr/prefix", sorted


def askable(vms: Iterable[VM]) -> list[VM]:
    """The VMs whose agent vnet-tui may and can ask now."""
    return [vm for vm in vms if vm.runtime == "lab" and vm.qga and vm.running and vm.adapters]


def read(vms: Iterable[VM], timeout: float = 1.0) -> tuple[GuestIps, list[int]]:
    """(addresses by (pid, MAC), pids of the VMs that did not answer)."""
    out: GuestIps = {}
    silent: list[int] = []
    for vm in askable(vms):
        try:
            with QGA(vm.qga or "", timeout=timeout) as qga:
                items = qga.interfaces()
        except (QGAError, OSError):
            silent.append(vm.pid)
            continue
        by_mac = {(item.get("hardware-address") or "").lower(): tuple(nic_addresses(item)) for item in items}
        for a in vm.adapters:
            mac = (a.guest_mac or "").lower()
            if mac in by_mac:
                out[(vm.pid, mac)] = by_mac[mac]
    return out, silent

