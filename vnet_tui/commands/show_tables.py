"""`vnet-tui show`'s tables: the topology as rich tables fitted to the terminal.

Each column has a priority, and the least needed columns are left out
(never squeezed to nothing) until the rest fit.  Imported by ``show``
only when it prints tables, so rich stays out of the CLI's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from rich import box
from rich.table import Table
from rich.text import Text

from vnet_tui.core.text import safe
from vnet_tui.core.units import human_bytes


@dataclass
class Column:
    """One column: its header, how much it is needed (0 = always shown), and its cells."""

    header: str
    priority: int
    cells: list[Any] = field(default_factory=list)
    justify: str = "left"

    def width(self) -> int:
        lines = [self.header] + [ln for c in self.cells for ln in c.plain.split("\n")]
        return max(len(s) for s in lines)


def fit(columns: list[Column], width: int) -> list[Column]:
    """The columns that fit ``width``, the most needed first (each takes its widest text and 3 cells
    of padding and rule); priority 0 is always kept.  In their own order."""
    used = -3  # the last column has no rule after it
    keep: set[int] = set()
    for i in sorted(range(len(columns)), key=lambda i: columns[i].priority):
        w = columns[i].width() + 3
        if columns[i].priority == 0 or used + w <= width:
            keep.add(i)
            used += w
    return [c for i, c in enumerate(columns) if i in keep]


def table(title: str, columns: list[Column], width: int) -> Any:
    t = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
              pad_edge=False, padding=(0, 1))
    shown = fit(columns, width)
    for c in shown:
        t.add_column(c.header, no_wrap=True, justify=c.justify)  # type: ignore[arg-type]
    rows = len(columns[0].cells) if columns else 0
    for r in range(rows):
        t.add_row(*[c.cells[r] for c in shown])
    left_out = [c.header for c in columns if c not in shown]
    if left_out:
        t.caption = Text(f"left out at {width} columns: {', '.join(left_out)} (see --json)", style="dim")
        t.caption_justify = "left"
    return t


def _addrs(i: Any) -> Any:
    if i is None:
        return Text("")
    return Text("\n").join([safe(a) for a in i.addresses if not a.startswith("fe80:")])


def _state(state: Optional[str]) -> Any:
    colour = {"up": "green", "running": "green", "down": "red", "exited": "red", "shut off": "red",
              "paused": "yellow"}.get(state or "", "yellow")
    return safe(state or "—", style=colour)


def _counters(i: Any) -> Any:
    if i is None:
        return Text("")
    s = i.stats
    return Text(f"rx {human_bytes(s.rx_bytes)}/{s.rx_packets}p tx {human_bytes(s.tx_bytes)}/{s.tx_packets}p")


def host_columns(topo: Any) -> list[Column]:
    cols = [Column("IFNAME", 0), Column("KIND", 3), Column("STATE", 1), Column("MAC", 6), Column("MTU", 7),
            Column("ADDRESSES", 5), Column("MASTER", 4), Column("PEER", 2), Column("COUNTERS", 8)]
    for i in topo.host.interfaces:
        peer = ""
        if i.peer is not None:
            p = i.peer
            peer = f"{p.owner}:{p.adapter}" if p.kind == "vm" else f"{p.owner or 'host'}:{p.ifname}"
        for c, v in zip(cols, [safe(i.ifname), safe(i.kind), _state(i.state), safe(i.mac or ""), Text(str(i.mtu)),
                               _addrs(i), safe(i.master or ""), safe(peer), _counters(i)]):
            c.cells.append(v)
    return cols


def owner_columns(topo: Any) -> list[Column]:
    """Containers and VMs: who runs them (RUNTIME) and in what state (STATE)."""
    cols = [Column("NAME", 0), Column("TYPE", 3), Column("RUNTIME", 1), Column("STATE", 2),
            Column("ADAPTERS", 4, justify="right"), Column("WHERE", 5), Column("IMAGE", 6)]
    for c in topo.containers:
        owner = getattr(c, "owner", None)
        state = getattr(c, "state", None) or (owner.state if owner is not None else None) or "running"
        adapters = sum(1 for i in c.interfaces if i.peer is not None and i.peer.kind == "host")
        row = [safe(c.name), Text("container"), safe(c.runtime), _state(state), Text(str(adapters)),
               safe(c.netns.name or f"netns inode {c.netns.inode}"), safe(owner.image if owner and owner.image else "")]
        for col, v in zip(cols, row):
            col.cells.append(v)
    for vm in topo.vms:
        owner = getattr(vm, "owner", None)
        state = getattr(vm, "state", None) or ("running" if vm.running else "paused")
        row = [safe(vm.name), Text("VM"), safe(getattr(vm, "runtime", "qemu")), _state(state),
               Text(str(len(vm.adapters))), Text(f"pid {vm.pid}"),
               safe(owner.image if owner and owner.image else "")]
        for col, v in zip(cols, row):
            col.cells.append(v)
    return cols


def adapter_columns(topo: Any) -> list[Column]:
    """Every adapter with its guest end and host end side by side."""
    cols = [Column("OWNER", 0), Column("TYPE", 6), Column("GUEST END", 0), Column("GUEST MAC", 7),
            Column("GUEST IPS", 5), Column("GUEST COUNTERS", 10), Column("HOST END", 0), Column("HOST MAC", 8),
            Column("BRIDGE", 4), Column("STATE", 3), Column("HOST COUNTERS", 9)]
    for a in topo.adapters():
        g, h = a.guest, a.host
        if a.kind == "vme":
            gname = a.vm_adapter.id if a.vm_adapter else "?"
            gmac = (a.vm_adapter.guest_mac if a.vm_adapter else None) or ""
            gips, gcnt = Text("(inside the VM)", style="dim"), Text("(inside the VM)", style="dim")
        else:
            gname = g.ifname if g else "?"
            gmac = (g.mac or "") if g else ""
            gips, gcnt = _addrs(g), _counters(g)
        row = [safe(a.owner), Text(a.kind), safe(gname), safe(gmac), gips, gcnt, safe(h.ifname if h else "—"),
               safe((h.mac or "") if h else ""), safe((h.master or "") if h else ""),
               _state(h.state if h else None), _counters(h)]
        for col, v in zip(cols, row):
            col.cells.append(v)
    return cols


def tables(topo: Any, width: int) -> list[Any]:
    """The tables `show` prints, in order, fitted to ``width`` columns."""
    out = [table(f"Host — {topo.host.hostname}", host_columns(topo), width)]
    if topo.containers or topo.vms:
        out.append(table("Containers and VMs", owner_columns(topo), width))
    out.append(table("Adapters — guest end ⇄ host end", adapter_columns(topo), width))
    return out
