"""The words of an adapter's detail: each end's facts and counters, the folded summary, as Text.

Pure (no widget): detail.py shows them; tests read them.  Their styles are looks.py's (app.tcss).
"""

from __future__ import annotations

from typing import Callable, Optional

from rich.text import Text

from vnet_tui.core.model import Counters
from vnet_tui.core.rates import Rate
from vnet_tui.core.text import safe
from vnet_tui.core.units import human_bytes, human_rate
from vnet_tui.live.feed import EndKey, Sample

from .looks import LOOKS
from .rows import End, Row, addresses, state_text


def host_ifname(row: Optional[Row]) -> Optional[str]:
    """The host end whose policy the detail shows: an adapter's (a row with both ends), else None."""
    if row is None or row.guest is None or row.host is None or row.host.iface is None:
        return None
    return row.host.iface.ifname

History = Callable[[EndKey], tuple[list[float], list[float]]]


def _swap(c: Counters) -> Counters:
    """A tap's counters as the guest sees them (its rx is the tap's tx)."""
    return Counters(c.tx_bytes, c.rx_bytes, c.tx_packets, c.rx_packets,
                    c.tx_errors, c.rx_errors, c.tx_dropped, c.rx_dropped)


def policy_text(words: Optional[list[str]], label: str = "policy ") -> Text:
    """A host end's policy in short words (read.summary), or nothing when it has none."""
    if not words:
        return Text("")
    t = Text(label, style=LOOKS.label)
    t.append_text(safe(" · ".join(words), style=LOOKS.words))
    return t


def end_text(end: Optional[End], counters: Optional[Counters], rate: Optional[Rate], seen_at_tap: bool,
             narrow: bool = False, tight: Optional[bool] = None, policy: Optional[list[str]] = None) -> Text:
    """The lines that describe one end (``narrow``: facts one a line, for a column under ~42 cells;
    ``tight``: counters without zero errors and drops, under ~56 cells — by default as ``narrow``)."""
    tight = narrow if tight is None else tight
    if end is None:
        return Text("no other end (not a pair)", style=LOOKS.aside)
    t = Text()
    t.append(f"{end.role} · ", style=LOOKS.label)
    t.append_text(safe(end.owner, style=LOOKS.label))
    i, a = end.iface, end.vm_adapter
    if a is not None and end.vm is not None:
        t.append("  VM " + ("running" if end.vm.running else "paused"), style=LOOKS.note)
        t.append("\n")
        t.append_text(safe(a.id, style=LOOKS.name))
        t.append(f"  {a.model or 'NIC'} inside the VM", style=LOOKS.note)
        t.append("\nwhere  ")
        t.append_text(safe(end.netns))
        t.append("\nMAC    ")
        t.append_text(safe(a.guest_mac or "?"))
        t.append("  (guest)", style=LOOKS.note)
        t.append("\nIPs    ")
        if end.guest_addrs:
            t.append_text(Text("\n       " if narrow else ", ").join([safe(x) for x in end.guest_addrs]))
        else:
            t.append("none, says the guest agent" if end.guest_addrs is not None else "inside the VM", style=LOOKS.note)
    elif i is not None:
        t.append("\n")
        t.append_text(safe(i.ifname, style=LOOKS.name))
        t.append(f"  {i.kind}  ", style=LOOKS.note)
        t.append_text(state_text(i.state))
        if i.alias:
            t.append("  alias ", style=LOOKS.note)
            t.append_text(safe(i.alias))
        t.append("\nnetns  ")
        t.append_text(safe(end.netns))
        t.append("\nMAC    ")
        t.append_text(safe(i.mac or "—"))
        t.append("\nMTU    " if narrow else "  MTU ")
        t.append(str(i.mtu))
        if i.master:
            t.append("  on ")
            t.append_text(safe(i.master))
        t.append("\nIPs    ")
        t.append_text(Text("\n       " if narrow else ", ").join([safe(a) for a in addresses(i)]) or Text("—"))
    if policy:
        t.append("\n")
        t.append_text(policy_text(policy, "policy "))
    if counters is None:
        t.append("\n\n(no counters yet)", style=LOOKS.note)
        return t
    c = _swap(counters) if seen_at_tap else counters
    r = rate
    for d in ("rx", "tx"):
        bps = None
        if r is not None:
            bps = (r.tx_bps if d == "rx" else r.rx_bps) if seen_at_tap else (r.rx_bps if d == "rx" else r.tx_bps)
        t.append(f"\n{d}  " if tight else f"\n{d}     ", style=LOOKS.label)
        t.append(f"{human_bytes(getattr(c, d + '_bytes')):>7} {getattr(c, d + '_packets'):>8} pkt")
        errs, drops = getattr(c, d + "_errors"), getattr(c, d + "_dropped")
        if tight:  # the rate first; errors and drops only when there are some
            t.append(f" {human_rate(bps) if bps is not None else '·':>9}", style=LOOKS.label)
            if errs:
                t.append(f" {errs} err", style=LOOKS.bad)
            if drops:
                t.append(f" {drops} drop", style=LOOKS.bad)
            continue
        t.append(f"  {errs} err", style=LOOKS.bad if errs else LOOKS.note)
        t.append(f"  {drops} drop", style=LOOKS.bad if drops else LOOKS.note)
        t.append(f"  {human_rate(bps) if bps is not None else '·':>9}", style=LOOKS.label)
    if seen_at_tap:
        t.append("\n(counted at the host tap)", style=LOOKS.note)
    return t


NO_ROW = Text("No row selected: the filter hides every row (esc clears it), or the panes are empty.",
              style=LOOKS.aside)
LOOKS.on_change(lambda: setattr(NO_ROW, "style", LOOKS.aside))  # a constant: restyled in place


def _end_line(label: str, end: Optional[End]) -> Text:
    t = Text(f"{label:<6}", style=LOOKS.note)
    if end is None:
        return t
    if end.vm_adapter is not None:
        t.append_text(safe(end.vm_adapter.id, style=LOOKS.ref))
        t.append(" MAC ", style=LOOKS.note)
        t.append_text(safe(end.vm_adapter.guest_mac or "?"))
        if end.guest_addrs:
            t.append("  ")
            t.append_text(safe(" ".join(end.guest_addrs)))
        else:
            t.append("  IPs inside the VM", style=LOOKS.note)
        return t
    i = end.iface
    if i is None:
        return t
    t.append_text(safe(i.ifname, style=LOOKS.ref))
    t.append(" MAC ", style=LOOKS.note)
    t.append_text(safe(i.mac or "—"))
    t.append(f" MTU {i.mtu}", style=LOOKS.note)
    if i.master:
        t.append(" on ", style=LOOKS.note)
        t.append_text(safe(i.master))
    ips = addresses(i)
    if ips:
        t.append("  ")
        t.append_text(safe(" ".join(ips)))
    return t


def summary_line(row: Optional[Row], sample: Optional[Sample], policy: Optional[list[str]] = None) -> Text:
    """The folded detail pane: the adapter, its state and rates; then a line per end, and the keys."""
    if row is None:
        return Text("no row selected", style=LOOKS.note)
    t = Text("▸ ", style=LOOKS.label)
    g, h = row.guest, row.host
    if g is not None and h is not None:
        gname = g.vm_adapter.id if g.vm_adapter else (g.iface.ifname if g.iface else "?")
        t.append_text(safe(f"{g.owner}:{gname}", style=LOOKS.label))
        t.append(" ⇄ ", style=LOOKS.note)
        t.append_text(safe(h.iface.ifname if h.iface else "?", style=LOOKS.label))
    else:
        t.append_text(safe(row.name, style=LOOKS.label))
    one = h if h is not None else g
    if one is not None and one.iface is not None:
        t.append("  ")
        t.append_text(state_text(one.iface.state))
    rate = sample.rates.get(row.end) if sample is not None and row.end is not None else None
    if rate is not None:
        rx, tx = (rate.tx_bps, rate.rx_bps) if row.swap else (rate.rx_bps, rate.tx_bps)
        t.append(f"  rx {human_rate(rx)}  tx {human_rate(tx)}")
    if policy:
        t.append("  ")
        t.append_text(policy_text(policy, "policy "))
    lines = [t]
    if g is not None and h is not None:
        lines += [_end_line("guest", g), _end_line("host", h)]
    elif one is not None:
        lines.append(_end_line("", one))
    lines.append(Text("enter: both ends full screen · i: unfold here", style=LOOKS.note))
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return Text("\n").join(lines)
