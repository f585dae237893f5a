"""From a Topology to the rows of the three panes (rich only, no Textual).

Every row knows which end's counters its rate columns show (``end``),
both ends of its adapter for the detail view, and a lower-case haystack
for the filter.  Every name that came from the system is rendered with
``core.text.safe``: shown literally, with visible escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from rich.text import Text

from vnet_tui.core.model import VM, Container, Interface, Topology, VMAdapter
from vnet_tui.core.text import safe, visible
from vnet_tui.live.feed import EndKey

STATE_STYLE = {"up": "green", "down": "red", "running": "green", "paused": "yellow"}


class SortText(Text):
    """A cell that also carries the value it sorts by."""

    def __init__(self, text: str = "", style: str = "", sort: object = 0, **kw: object) -> None:
        super().__init__(text, style=style, **kw)  # type: ignore[arg-type]
        self.sort_value = sort


@dataclass
class End:
    """One end of an adapter, as the detail view shows it."""

    role: str  # "guest end" | "host end" | "interface"
    owner: str  # container or VM name, or the server's label
    netns: str  # where it lives, for people
    iface: Optional[Interface] = None
    key: Optional[EndKey] = None
    vm: Optional[VM] = None
    vm_adapter: Optional[VMAdapter] = None
    at_tap: bool = False  # a VM's NIC: counted at its host tap (key), seen from the guest


@dataclass
class Row:
    """One row of a pane."""

    key: str
    cells: dict[str, Text]
    name: str  # what the row is called (owner/ifname), for the palette and sorting
    end: Optional[EndKey] = None  # whose counters the rate columns show
    swap: bool = False  # a VM row shows its tap's counters from the guest's side
    guest: Optional[End] = None
    host: Optional[End] = None
    haystack: str = ""
    natural: tuple = field(default_factory=tuple)


def natural_key(s: str) -> tuple:
    """'veth10.0' after 'veth9.0': digits compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s.lower()))


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, "yellow"))


def addresses(i: Optional[Interface]) -> list[str]:
    """Addresses worth showing: link-local IPv6 left out."""
    return [a for a in i.addresses if not a.startswith("fe80:")] if i else []


def addr_text(i: Optional[Interface]) -> Text:
    shown = addresses(i)
    if not shown:
        return Text("")
    t = Text(shown[0])
    if len(shown) > 1:
        t.append(f" +{len(shown) - 1}", style="dim")
    return t


def peer_text(i: Interface) -> Text:
    p = i.peer
    if p is None:
        return Text("")
    if p.kind == "vm":
        return safe(f"{p.owner}:{p.adapter}", style="magenta")
    if p.kind == "container":
        return safe(f"{p.owner}:{p.ifname}", style="cyan")
    return safe(f"host:{p.ifname}")


def _hay(*parts: object) -> str:
    return " ".join(visible(str(p)) for p in parts if p).lower()


def _iface_hay(i: Optional[Interface]) -> str:
    if i is None:
        return ""
    peer = i.peer
    return _hay(i.ifname, i.mac, i.alias, *i.addresses, peer and peer.owner, peer and peer.ifname,
                peer and peer.mac)


class Index:
    """Lookups over one Topology: ends by namespace and ifindex."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.label = topo.host.hostname or "host"
        self.host_inode = topo.host.inode
        self.host_by_index = {i.ifindex: i for i in topo.host.interfaces}
        self.host_by_name = {i.ifname: i for i in topo.host.interfaces}
        self.ct_by_name = {c.name: c for c in topo.containers}
        self.vm_by_name = {v.name: v for v in topo.vms}

    def host_end(self, i: Optional[Interface], role: str = "host end") -> Optional[End]:
        if i is None:
            return None
        where = self.topo.host.netns or "root namespace"
        return End(role, self.label, where, i, (self.host_inode, i.ifindex))

    def container_end(self, c: Container, i: Interface) -> End:
        where = c.netns.name or f"netns inode {c.netns.inode}"
        return End("guest end", c.name, where, i, (c.netns.inode, i.ifindex))

    def vm_end(self, vm: VM, a: VMAdapter) -> End:
        tap = self.host_by_name.get(a.host_ifname or "")
        key = (self.host_inode, tap.ifindex) if tap else None
        return End("guest end", vm.name, f"VM pid {vm.pid}", key=key, vm=vm, vm_adapter=a, at_tap=True)


def host_rows(ix: Index) -> list[Row]:
    rows = []
    for i in ix.topo.host.interfaces:
        guest: Optional[End] = None
        host = ix.host_end(i)
        p = i.peer
        if p is not None and p.kind == "container":
            c = ix.ct_by_name.get(p.owner or "")
            g = next((x for x in c.interfaces if x.ifindex == p.ifindex), None) if c else None
            guest = ix.container_end(c, g) if c and g else None
        elif p is not None and p.kind == "vm":
            vm = ix.vm_by_name.get(p.owner or "")
            a = next((x for x in vm.adapters if x.id == p.adapter), None) if vm else None
            guest = ix.vm_end(vm, a) if vm and a else None
        elif p is not None:
            guest = ix.host_end(ix.host_by_index.get(p.ifindex or -1), role="other end")
        if guest is None and host is not None:
            host.role = "interface"
        cells = {
            "name": safe(i.ifname),
            "kind": safe(i.kind, style="dim"),
            "state": state_text(i.state),
            "mac": safe(i.mac or ""),
            "addr": addr_text(i),
            "master": safe(i.master or ""),
            "peer": peer_text(i),
        }
        hay = _hay(i.kind, i.master) + " " + _iface_hay(i)
        if guest is not None:  # an adapter is found by either end's facts
            a = guest.vm_adapter
            hay += " " + (_hay(guest.owner, a.id, a.guest_mac) if a else _iface_hay(guest.iface))
        rows.append(Row(f"h:{i.ifindex}", cells, i.ifname, (ix.host_inode, i.ifindex), False, guest, host,
                        hay, (natural_key(i.ifname),)))
    return rows


def container_rows(ix: Index) -> list[Row]:
    rows = []
    for c in ix.topo.containers:
        ifaces = [i for i in c.interfaces if i.kind != "loopback"]
        if not ifaces:
            cells = {"owner": safe(c.name, style="bold"), "name": Text("(no adapter)", style="dim")}
            rows.append(Row(f"c:{c.netns.inode}:-", cells, c.name, haystack=_hay(c.name, c.runtime),
                            natural=(natural_key(c.name),)))
            continue
        for i in ifaces:
            p = i.peer
            h = ix.host_by_index.get(p.ifindex or -1) if p is not None and p.kind == "host" else None
            cells = {
                "owner": safe(c.name, style="bold"),
                "name": safe(i.ifname),
                "state": state_text(i.state),
                "mac": safe(i.mac or ""),
                "addr": addr_text(i),
                "hostend": safe(h.ifname if h else ""),
                "master": safe(h.master if h else ""),
            }
            name = f"{c.name}/{i.ifname}"
            rows.append(Row(f"c:{c.netns.inode}:{i.ifindex}", cells, name, (c.netns.inode, i.ifindex), False,
                            ix.container_end(c, i), ix.host_end(h),
                            _hay(c.name, c.runtime, c.netns.name) + " " + _iface_hay(i) + " " + _iface_hay(h),
                            (natural_key(c.name), natural_key(i.ifname))))
    return rows


def vm_rows(ix: Index) -> list[Row]:
    rows = []
    for vm in ix.topo.vms:
        status = "running" if vm.running else "paused"
        if not vm.adapters:
            cells = {"owner": safe(vm.name, style="bold"), "vmstate": state_text(status),
                     "name": Text("(no adapter)", style="dim")}
            rows.append(Row(f"v:{vm.pid}:-", cells, vm.name, haystack=_hay(vm.name), natural=(natural_key(vm.name),)))
            continue
        for a in vm.adapters:
            tap = ix.host_by_name.get(a.host_ifname or "")
            cells = {
                "owner": safe(vm.name, style="bold"),
                "vmstate": state_text(status),
                "name": safe(a.id),
                "mac": safe(a.guest_mac or "?"),
                "hostend": safe(a.host_ifname or "?"),
                "state": state_text(tap.state) if tap else Text("gone", style="red"),
                "master": safe(tap.master if tap else ""),
            }
            end = (ix.host_inode, tap.ifindex) if tap else None
            rows.append(Row(f"v:{vm.pid}:{a.id}", cells, f"{vm.name}/{a.id}", end, True,
                            ix.vm_end(vm, a), ix.host_end(tap),
                            _hay(vm.name, a.id, a.guest_mac, a.host_ifname) + " " + _iface_hay(tap),
                            (natural_key(vm.name), natural_key(a.id))))
    return rows


def all_rows(topo: Topology) -> dict[str, list[Row]]:
    """Rows of every pane, keyed by pane id, in name order."""
    ix = Index(topo)
    out = {"host": host_rows(ix), "containers": container_rows(ix), "vms": vm_rows(ix)}
    for rows in out.values():
        rows.sort(key=lambda r: r.natural)
    return out


def matches(row: Row, query: str) -> bool:
    """Every word of the filter appears in the row (names, MACs, IPs, container)."""
    return all(w in row.haystack for w in query.lower().split())
