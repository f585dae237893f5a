"""Rich renderables of a Topology for `show` (plain rich, no Textual)."""

from __future__ import annotations

from typing import Optional

from rich.table import Table
from rich.text import Text

from .model import Interface, Topology
from .text import safe
from .units import human_bytes


def _addrs(i: Optional[Interface]) -> Text:
    if i is None:
        return Text("")
    shown = [a for a in i.addresses if not a.startswith("fe80:")]
    return safe("\n".join(shown))


def _counters(i: Optional[Interface]) -> Text:
    if i is None:
        return Text("")
    s = i.stats
    return Text(f"rx {human_bytes(s.rx_bytes)}/{s.rx_packets}p tx {human_bytes(s.tx_bytes)}/{s.tx_packets}p")


def _state(i: Optional[Interface]) -> Text:
    if i is None:
        return Text("")
    return safe(i.state, style="green" if i.state == "up" else "red" if i.state == "down" else "yellow")


def host_table(topo: Topology) -> Table:
    t = Table(title=Text(f"Host — {topo.host.hostname}"), title_justify="left", expand=False)
    for col in ("ifname", "kind", "state", "MAC", "MTU", "addresses", "master", "peer", "counters"):
        t.add_column(col, no_wrap=col != "addresses")
    for i in topo.host.interfaces:
        peer = ""
        if i.peer is not None:
            p = i.peer
            peer = f"{p.owner}:{p.adapter} ({p.mac})" if p.kind == "vm" else f"{p.owner or 'host'}:{p.ifname}"
        t.add_row(safe(i.ifname), safe(i.kind), _state(i), safe(i.mac), Text(str(i.mtu)), _addrs(i),
                  safe(i.master), safe(peer), _counters(i))
    return t


def adapters_table(topo: Topology) -> Table:
    """Every adapter with its guest end and host end side by side."""
    t = Table(title="Adapters — guest end ⇄ host end", title_justify="left")
    for col in ("owner", "type", "guest end", "guest MAC", "guest IPs", "guest counters",
                "host end", "host MAC", "bridge", "state", "host counters"):
        t.add_column(col, no_wrap="IPs" not in col)
    for a in topo.adapters():
        g, h = a.guest, a.host
        if a.kind == "vme":
            gname = a.vm_adapter.id if a.vm_adapter else "?"
            gmac = (a.vm_adapter.guest_mac if a.vm_adapter else None) or ""
            gips: Text = Text("")
            gcnt = Text("(inside the VM)", style="dim")
        else:
            gname = g.ifname if g else "?"
            gmac = g.mac or "" if g else ""
            gips = _addrs(g)
            gcnt = _counters(g)
        t.add_row(safe(a.owner), Text(a.kind), safe(gname), safe(gmac), gips, gcnt,
                  safe(h.ifname if h else "—"), safe(h.mac if h else None),
                  safe(h.master if h else None), _state(h), _counters(h))
    return t


def vms_table(topo: Topology) -> Table:
    t = Table(title="VMs", title_justify="left")
    for col in ("name", "pid", "state", "QMP", "adapters"):
        t.add_column(col)
    for vm in topo.vms:
        ads = "\n".join(f"{a.id}: {a.guest_mac or '?'} ⇄ {a.host_ifname or '?'}" for a in vm.adapters)
        t.add_row(safe(vm.name), Text(str(vm.pid)), Text("running" if vm.running else "paused"), safe(vm.qmp),
                  safe(ads))
    return t


def render_topology(topo: Topology) -> list[Table]:
    """The tables `show` prints, in order."""
    out = [host_table(topo), adapters_table(topo)]
    if topo.vms:
        out.append(vms_table(topo))
    return out
