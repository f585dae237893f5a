"""Both ends' counters: from netlink for interfaces, from the guest agent for a VM's NIC.

Netlink counters are read with one stats-only dump of the end's
namespace (``RTM_GETSTATS``).  A VM's guest end is read through its QEMU
guest agent (``guest-network-get-interfaces``): the NIC whose MAC is the
adapter's guest MAC, as the guest's kernel counts it.  The agent's
socket takes one client at a time, so every read is a short connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.model import Counters
from vnet_tui.guest.qga import QGA
from vnet_tui.net.session import NetnsSocket

# guest-network-get-interfaces' statistics → our counter names
AGENT_KEYS = {
    "rx-bytes": "rx_bytes", "tx-bytes": "tx_bytes", "rx-packets": "rx_packets", "tx-packets": "tx_packets",
    "rx-errs": "rx_errors", "tx-errs": "tx_errors", "rx-dropped": "rx_dropped", "tx-dropped": "tx_dropped",
}
AGENT_TIMEOUT = 3.0


def netlink_counters(ns_fd: int, ifindex: int) -> Optional[Counters]:
    """One interface's counters (None when it is gone)."""
    with NetnsSocket(ns_fd) as s:
        for m in s.stats():
            if m.ifindex == ifindex:
                rxp, txp, rxb, txb, rxe, txe, rxd, txd = m.values[:8]
                return Counters(rxb, txb, rxp, txp, rxe, txe, rxd, txd)
    return None


@dataclass
class GuestNic:
    """A VM's NIC as its guest agent reports it."""

    name: str
    mac: Optional[str]
    addresses: list[str] = field(default_factory=list)  # address/prefix
    counters: Optional[Counters] = None  # None: the agent reported no statistics

    @property
    def ipv4(self) -> list[str]:
        return [a.split("/")[0] for a in self.addresses if ":" not in a]


def nic_from_agent(items: list[dict[str, Any]], mac: Optional[str]) -> Optional[GuestNic]:
    """The NIC with ``mac`` among ``guest-network-get-interfaces`` items (QGA.interfaces())."""
    want = (mac or "").lower()
    for item in items:
        if not want or (item.get("hardware-address") or "").lower() != want:
            continue
        addrs = [f"{a['ip-address']}/{a['prefix']}" for a in item.get("ip-addresses", [])
                 if "ip-address" in a and "prefix" in a]
        stats = item.get("statistics") or {}
        counters = None
        if stats:
            counters = Counters(**{ours: int(stats.get(theirs, 0)) for theirs, ours in AGENT_KEYS.items()})
        return GuestNic(str(item.get("name") or "?"), item.get("hardware-address"), addrs, counters)
    return None


def agent_nic(qga_path: str, mac: Optional[str], timeout: float = AGENT_TIMEOUT) -> Optional[GuestNic]:
    """Ask the guest agent at ``qga_path`` for the NIC with ``mac`` (QGAError when it does not answer)."""
    with QGA(qga_path, timeout=timeout) as qga:
        return nic_from_agent(qga.interfaces(), mac)


def delta_json(after: Optional[Counters], before: Optional[Counters]) -> Optional[dict[str, int]]:
    """``after - before`` as the JSON of ``ends`` (None when either is unknown)."""
    if after is None or before is None:
        return None
    return after.minus(before).to_json()
