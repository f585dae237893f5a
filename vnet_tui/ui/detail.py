"""The detail of one adapter: both ends side by side, counters, 60 s sparklines."""

from __future__ import annotations

from typing import Callable, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from vnet_tui.core.model import Counters
from vnet_tui.core.rates import HISTORY, Rate
from vnet_tui.core.text import safe
from vnet_tui.core.units import human_bytes, human_rate
from vnet_tui.live.feed import EndKey, Sample

from .footer import KeyFooter
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
    t = Text(label, style="bold")
    t.append_text(safe(" · ".join(words), style="yellow"))
    return t


def end_text(end: Optional[End], counters: Optional[Counters], rate: Optional[Rate], seen_at_tap: bool,
             narrow: bool = False, tight: Optional[bool] = None, policy: Optional[list[str]] = None) -> Text:
    """The lines that describe one end (``narrow``: facts one a line, for a column under ~42 cells;
    ``tight``: counters without zero errors and drops, under ~56 cells — by default as ``narrow``)."""
    tight = narrow if tight is None else tight
    if end is None:
        return Text("no other end (not a pair)", style="dim italic")
    t = Text()
    t.append(f"{end.role} · ", style="bold")
    t.append_text(safe(end.owner, style="bold"))
    i, a = end.iface, end.vm_adapter
    if a is not None and end.vm is not None:
        t.append("  VM " + ("running" if end.vm.running else "paused"), style="dim")
        t.append("\n")
        t.append_text(safe(a.id, style="bold cyan"))
        t.append(f"  {a.model or 'NIC'} inside the VM", style="dim")
        t.append("\nwhere  ")
        t.append_text(safe(end.netns))
        t.append("\nMAC    ")
        t.append_text(safe(a.guest_mac or "?"))
        t.append("  (guest)", style="dim")
        t.append("\nIPs    ")
        if end.guest_addrs:
            t.append_text(Text("\n       " if narrow else ", ").join([safe(x) for x in end.guest_addrs]))
        else:
            t.append("none, says the guest agent" if end.guest_addrs is not None else "inside the VM", style="dim")
    elif i is not None:
        t.append("\n")
        t.append_text(safe(i.ifname, style="bold cyan"))
        t.append(f"  {i.kind}  ", style="dim")
        t.append_text(state_text(i.state))
        if i.alias:
            t.append("  alias ", style="dim")
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
        t.append("\n\n(no counters yet)", style="dim")
        return t
    c = _swap(counters) if seen_at_tap else counters
    r = rate
    for d in ("rx", "tx"):
        bps = None
        if r is not None:
            bps = (r.tx_bps if d == "rx" else r.rx_bps) if seen_at_tap else (r.rx_bps if d == "rx" else r.tx_bps)
        t.append(f"\n{d}  " if tight else f"\n{d}     ", style="bold")
        t.append(f"{human_bytes(getattr(c, d + '_bytes')):>7} {getattr(c, d + '_packets'):>8} pkt")
        errs, drops = getattr(c, d + "_errors"), getattr(c, d + "_dropped")
        if tight:  # the rate first; errors and drops only when there are some
            t.append(f" {human_rate(bps) if bps is not None else '·':>9}", style="bold")
            if errs:
                t.append(f" {errs} err", style="red")
            if drops:
                t.append(f" {drops} drop", style="red")
            continue
        t.append(f"  {errs} err", style="red" if errs else "dim")
        t.append(f"  {drops} drop", style="red" if drops else "dim")
        t.append(f"  {human_rate(bps) if bps is not None else '·':>9}", style="bold")
    if seen_at_tap:
        t.append("\n(counted at the host tap)", style="dim")
    return t


NO_ROW = Text("No row selected: the filter hides every row (esc clears it), or the panes are empty.",
              style="dim italic")


def _padded(values: list[float]) -> list[float]:
    """60 points, zeros before the first sample, so bars start from zero."""
    return [0.0] * (HISTORY - len(values)) + values if values else []


class Facts(Widget):
    """A block of text that repaints without a relayout (its size comes from CSS)."""

    text: reactive[Text] = reactive(Text(""), layout=False)
    """What it shows."""

    def render(self) -> Text:
        return self.text


class EndBox(Vertical):
    """One end: its facts, then rx and tx sparklines of the last 60 samples."""

    _shown: object = None
    _args: Optional[tuple] = None

    def compose(self) -> ComposeResult:
        yield Facts(classes="end-info")
        for d in ("rx", "tx"):
            yield Facts(classes=f"spark-title {d}-title")
            with Horizontal(classes="spark-row"):
                yield Label(d, classes="spark-label")
                yield Sparkline([], classes=d)

    def on_resize(self) -> None:
        if self._args is not None:  # narrow or wide now: lay the text out again
            self._shown = None
            self.show(*self._args)

    def show(self, end: Optional[End], sample: Optional[Sample], history: Optional[History],
             empty: Optional[Text] = None, policy: Optional[list[str]] = None) -> None:
        """Show ``end`` (None: ``empty``, or "no other end"); ``policy``: its policy in short words."""
        self._args = (end, sample, history, empty, policy)
        self.set_class(end is None, "empty")
        key = end.key if end else None
        seen_at_tap = bool(end and end.at_tap)
        counters = sample.counters_of(key) if sample and key else None
        rate = sample.rates.get(key) if sample and key else None
        narrow, tight = 0 < self.size.width < 42, 0 < self.size.width < 56
        text = end_text(end, counters, rate, seen_at_tap, narrow, tight, policy) \
            if end is not None or empty is None else empty
        rx, tx = history(key) if history and key else ([], [])
        if seen_at_tap:
            rx, tx = tx, rx
        shown = (text, rx, tx)
        if shown == self._shown:  # nothing moved: no repaint
            return
        self._shown = shown
        self.query_one(".end-info", Facts).text = text  # a reactive: repaints only if it differs
        for d, values in (("rx", rx), ("tx", tx)):
            spark = self.query_one(f".{d}", Sparkline)
            data = _padded(values)
            if spark.data != data:
                spark.data = data
            peak = human_rate(max(values)) if values else "—"
            self.query_one(f".{d}-title", Facts).text = Text.assemble(
                (f"{d} bytes/s", "bold"), f"  peak {peak}" if narrow else f" over the last {HISTORY} samples, peak {peak}")


def _end_line(label: str, end: Optional[End]) -> Text:
    t = Text(f"{label:<6}", style="dim")
    if end is None:
        return t
    if end.vm_adapter is not None:
        t.append_text(safe(end.vm_adapter.id, style="cyan"))
        t.append(" MAC ", style="dim")
        t.append_text(safe(end.vm_adapter.guest_mac or "?"))
        if end.guest_addrs:
            t.append("  ")
            t.append_text(safe(" ".join(end.guest_addrs)))
        else:
            t.append("  IPs inside the VM", style="dim")
        return t
    i = end.iface
    if i is None:
        return t
    t.append_text(safe(i.ifname, style="cyan"))
    t.append(" MAC ", style="dim")
    t.append_text(safe(i.mac or "—"))
    t.append(f" MTU {i.mtu}", style="dim")
    if i.master:
        t.append(" on ", style="dim")
        t.append_text(safe(i.master))
    ips = addresses(i)
    if ips:
        t.append("  ")
        t.append_text(safe(" ".join(ips)))
    return t


def summary_line(row: Optional[Row], sample: Optional[Sample], policy: Optional[list[str]] = None) -> Text:
    """The folded detail pane: the adapter, its state and rates; then a line per end, and the keys."""
    if row is None:
        return Text("no row selected", style="dim")
    t = Text("▸ ", style="bold")
    g, h = row.guest, row.host
    if g is not None and h is not None:
        gname = g.vm_adapter.id if g.vm_adapter else (g.iface.ifname if g.iface else "?")
        t.append_text(safe(f"{g.owner}:{gname}", style="bold"))
        t.append(" ⇄ ", style="dim")
        t.append_text(safe(h.iface.ifname if h.iface else "?", style="bold"))
    else:
        t.append_text(safe(row.name, style="bold"))
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
    lines.append(Text("enter: both ends full screen · i: unfold here", style="dim"))
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return Text("\n").join(lines)


class DetailView(Vertical):
    """The selected adapter's two ends, side by side (folded: one summary line)."""

    _title_shown: Optional[Text] = None

    def _title(self, title: Text) -> None:
        """Set the border title (a Text: never parsed as markup), only when it changes."""
        if title != self._title_shown:
            self._title_shown = title
            self.border_title = title

    def compose(self) -> ComposeResult:
        yield Facts(id="detail-line")
        with Horizontal(id="detail-ends"):
            yield EndBox(id="guest-end")
            yield Static("⇄", id="pair-arrow")
            yield EndBox(id="host-end")

    def show(self, row: Optional[Row], sample: Optional[Sample], history: Optional[History],
             policy: Optional[list[str]] = None) -> None:
        """Show ``row``'s adapter (None: nothing selected); ``policy``: its host end's, in short words."""
        if self.has_class("folded"):
            self.query_one("#detail-line", Facts).text = summary_line(row, sample, policy)
            return
        if row is None:
            self._title(Text("Adapter — select a row"))
            self.query_one("#guest-end", EndBox).show(None, None, None, NO_ROW)
            self.query_one("#host-end", EndBox).show(None, None, None, Text(""))
            return
        title = Text("Adapter ")
        title.append_text(safe(row.name, style="bold"))
        if row.guest and row.host:
            g = row.guest.vm_adapter.id if row.guest.vm_adapter else (row.guest.iface.ifname if row.guest.iface else "?")
            h = row.host.iface.ifname if row.host.iface else "?"
            title = Text("Adapter ")
            title.append_text(safe(f"{row.guest.owner}:{g}", style="bold"))
            title.append("  guest end ⇄ host end  ", style="dim")
            title.append_text(safe(h, style="bold"))
        self._title(title)
        guest, host = row.guest, row.host
        self.query_one("#guest-end", EndBox).show(guest if guest else host, sample, history)
        self.query_one("#host-end", EndBox).show(host if guest else None, sample, history,
                                                 policy=policy if guest else None)


class DetailScreen(Screen):
    """The detail view, full size (``enter`` on a row)."""

    BINDINGS = [
        Binding("escape,enter,q", "app.pop_screen", "back", id="detail-back", tooltip="Back to the panes"),
    ]

    def compose(self) -> ComposeResult:
        yield DetailView(id="detail-big", classes="big")
        yield KeyFooter()
