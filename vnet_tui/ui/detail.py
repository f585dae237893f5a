"""The detail of one adapter: both ends side by side, counters, 60 s sparklines."""

from __future__ import annotations

from typing import Callable, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from vnet_tui.core.rates import HISTORY
from vnet_tui.core.text import safe
from vnet_tui.core.units import human_rate
from vnet_tui.live.feed import Sample

from .detailtext import NO_ROW, History, end_text, host_ifname, policy_text, summary_line
from .footer import KeyFooter
from .keys import MainKeysAbove, above_main_bindings
from .looks import LOOKS
from .protocol import vnet_app
from .rows import End, Row

__all__ = ["DetailScreen", "DetailView", "EndBox", "Facts", "end_text", "host_ifname", "policy_text",
           "summary_line"]  # the words are detailtext.py's


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
                (f"{d} bytes/s", LOOKS.label), f"  peak {peak}" if narrow else f" over the last {HISTORY} samples, peak {peak}")


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
        title.append_text(safe(row.name, style=LOOKS.label))
        if row.guest and row.host:
            g = row.guest.vm_adapter.id if row.guest.vm_adapter else (row.guest.iface.ifname if row.guest.iface else "?")
            h = row.host.iface.ifname if row.host.iface else "?"
            title = Text("Adapter ")
            title.append_text(safe(f"{row.guest.owner}:{g}", style=LOOKS.label))
            title.append("  guest end ⇄ host end  ", style=LOOKS.note)
            title.append_text(safe(h, style=LOOKS.label))
        self._title(title)
        guest, host = row.guest, row.host
        self.query_one("#guest-end", EndBox).show(guest if guest else host, sample, history)
        self.query_one("#host-end", EndBox).show(host if guest else None, sample, history,
                                                 policy=policy if guest else None)


class DetailScreen(MainKeysAbove):
    """The detail view, full size (``enter`` on a row): it follows the app's state, its row as
    ``row_of`` finds it (the main screen's row of that key, in each new topology).  The main
    screen's keys act here as there (``p a e d``; enter goes back)."""

    BINDINGS = [
        Binding("escape,enter,q", "app.pop_screen", "back", id="detail-back", tooltip="Back to the panes"),
    ] + above_main_bindings("detail")
    SHOWS_POLICY = True  # the app reads the shown host end's policy again while this is up

    def __init__(self, row_of: Optional[Callable[[], Optional[Row]]] = None) -> None:
        super().__init__()
        self.row_of = row_of or (lambda: None)

    def compose(self) -> ComposeResult:
        yield DetailView(id="detail-big", classes="big")
        yield KeyFooter()

    def on_mount(self) -> None:
        app = self.app
        for state in ("topo", "sample", "policy_words", "guest_ips"):
            self.watch(app, state, self.show, init=False)
        self.call_after_refresh(self.show)

    def show(self) -> None:
        """Show the row's adapter as the app's state has it now (while this screen is the one up)."""
        if not self.is_current:
            return
        app = vnet_app(self)
        row = self.row_of()
        try:
            self.query_one(DetailView).show(row, app.sample, app.feed.history, app.policy_for(row))
        except NoMatches:  # closing
            pass
