"""Container adapters (veth): delete one — the host end goes, and the kernel takes the pair with it.

Both ends are snapshotted first (``PairSnapshot``), so the journal holds
what undo re-creates (``veth.plan_recreate``).  The step is a small typed
object (``DeleteHost``) that reads the snapshot it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from vnet_tui.core.errors import NotFound
from vnet_tui.core.model import Container
from vnet_tui.net.ipcommand import ip_command

from .endstate import EndSnapshot, read_end
from .live import HOST, Live
from .plan import Plan


@dataclass
class PairSnapshot:
    """A delete's view of the pair before it: prepare reads it, the step, verify and record use it."""

    ct: Container
    guest_name: str
    host_name: str
    host: Optional[EndSnapshot] = None
    guest: Optional[EndSnapshot] = None

    def prepare(self, live: Live) -> None:
        self.host = read_end(live.ns(HOST), self.host_name)
        self.guest = read_end(live.ns(self.ct.name), self.guest_name)
        if self.host is None or self.guest is None:
            raise NotFound(f"{self.ct.name}/{self.guest_name} ⇄ {self.host_name} is gone", rule="interface")

    def verify(self, live: Live) -> list[str]:
        assert self.host is not None and self.guest is not None
        left = []
        if read_end(live.ns(HOST), index=self.host.ifindex) is not None:
            left.append(f"{self.host_name} still exists")
        if read_end(live.ns(self.ct.name), index=self.guest.ifindex) is not None:
            left.append(f"{self.ct.name}/{self.guest_name} still exists")
        return left

    def record(self, live: Live) -> dict[str, Any]:
        h, g, ct = self.host, self.guest, self.ct
        assert h is not None and g is not None
        placement = {"bridge": h.master, "routed": bool(h.routes)}
        return {
            "target": {
                "kind": "veth",
                "owner": ct.name,
                "netns_inode": ct.netns.inode,
                "guest": self.guest_name,
                "host": self.host_name,
                "placement": placement,
            },
            "before": {"guest": g.to_json(), "host": h.to_json()},
            "after": None,
        }


@dataclass
class DeleteHost:
    """Step: delete the host end by the ifindex ``prepare`` read (which deletes the pair)."""

    hl: Optional[str]
    host: str
    snap: PairSnapshot

    def describe(self) -> str:
        return ip_command(self.hl, "link", "del", "dev", self.host)

    def do(self, live: Live) -> None:
        assert self.snap.host is not None
        live.ns(HOST).link_del(self.snap.host.ifindex)


def plan_delete(labels: dict[str, Optional[str]], ct: Container, guest: str, host: str) -> Plan:
    """Delete the host end (which deletes the pair); snapshot both ends first for undo."""
    plan = Plan("del", ct.name, f"delete {guest} from {ct.name}")
    plan.touched = [(HOST, host), (ct.name, guest)]
    snap = PairSnapshot(ct, guest, host)
    plan.prepare = snap.prepare
    plan.add_step(DeleteHost(labels[HOST], host, snap))
    plan.verify, plan.record = snap.verify, snap.record
    return plan
