"""The pair view's ends: found in the app's topology, shown with counters as deltas since the view opened.

The view follows the app's state (``VnetApp.topo``, ``VnetApp.sample``):
``find_ends`` looks the adapter up in each new topology by its owner and
guest-side name — never in another screen's widgets — and ``EndsView``
turns a sample into both columns' text.  A VM's guest end is painted
from its guest agent's last reading (guest.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from vnet_tui.core.model import Counters, Topology
from vnet_tui.live.feed import EndKey

from ..rowbuild import Index
from ..rows import End, addresses
from .widgets import facts_text


@dataclass(frozen=True)
class PairEnds:
    """The two ends of the adapter on view (``host`` None: its host end is gone)."""

    guest: End
    host: Optional[End]

    @property
    def is_vm(self) -> bool:
        return self.guest.vm is not None


def find_ends(topo: Optional[Topology], target: str, ifname: str) -> Optional[PairEnds]:
    """The adapter TARGET IFNAME (a container and its guest end's name, or a VM and its adapter id) in ``topo``."""
    if topo is None:
        return None
    ix = Index(topo)
    ct = ix.ct_by_name.get(target)
    if ct is not None:
        g = next((i for i in ct.interfaces if i.ifname == ifname), None)
        if g is None:
            return None
        p = g.peer
        h = ix.host_by_index.get(p.ifindex or -1) if p is not None and p.kind == "host" else None
        return PairEnds(ix.container_end(ct, g), ix.host_end(h))
    vm = ix.vm_by_name.get(target)
    if vm is not None:
        a = next((x for x in vm.adapters if x.id == ifname), None)
        if a is None:
            return None
        return PairEnds(ix.vm_end(vm, a), ix.host_end(ix.host_by_name.get(a.host_ifname or "")))
    return None


class Deltas:
    """Counters as deltas since the view opened, per end key (a restarted counter starts again)."""

    def __init__(self) -> None:
        self.base: dict[Any, Counters] = {}

    def of(self, sample: Any, key: Optional[EndKey]) -> Optional[Counters]:
        now = sample.counters_of(key) if sample is not None and key else None
        if now is None:
            return None
        base = self.base.get(key)
        if base is None or now.rx_packets < base.rx_packets or now.tx_packets < base.tx_packets:
            self.base[key] = base = now  # first sight, or the counters restarted (a new interface)
        return now.minus(base)


def host_facts(h: End) -> Any:
    hi = h.iface
    assert hi is not None
    return facts_text("host end", h.owner, hi.ifname, hi.kind, hi.state, h.netns, hi.mac, addresses(hi),
                      f"on {hi.master}" if hi.master else "")


def container_facts(g: End) -> Any:
    gi = g.iface
    assert gi is not None
    note = "up, no carrier: the cable is unplugged" if gi.admin_up and gi.state in ("lowerlayerdown", "down") else ""
    return facts_text("guest end", g.owner, gi.ifname, gi.kind, gi.state, g.netns, gi.mac, addresses(gi), note)


def title_of(ends: PairEnds) -> str:
    g = ends.guest
    if g.vm_adapter is not None:
        return f"{g.owner}:{g.vm_adapter.id}"
    return f"{g.owner}:{g.iface.ifname if g.iface else '?'}"


def since(opened: float, clock: Callable[[], float] = time.monotonic) -> float:
    return clock() - opened
