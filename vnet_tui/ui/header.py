"""The header line: server, privilege, interval, live/paused, filter, sort."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from vnet_tui.core.text import safe


def fmt_interval(s: float) -> str:
    return f"{s:g} s"


class StatusHeader(Widget):
    """One line that says what the operator is looking at, and how."""

    server: reactive[str] = reactive("")
    """The server as the feed names it (hostname, 'lab NAME', 'netns NAME')."""
    read_write: reactive[bool] = reactive(False)
    """Whether changes are allowed."""
    why: reactive[str] = reactive("")
    """Why read-only (or what is limited)."""
    interval: reactive[float] = reactive(1.0)
    """Refresh interval in seconds."""
    paused: reactive[bool] = reactive(False)
    """Counters frozen by the operator."""
    counts: reactive[str] = reactive("")
    """'3 containers · 2 VMs · 5 adapters'."""
    filter_text: reactive[str] = reactive("")
    """The active filter ('' for none)."""
    sort: reactive[str] = reactive("name")
    """The sort order of the panes."""
    problem: reactive[str] = reactive("")
    """Set when the feed stopped."""

    def render(self) -> Text:
        t = Text(" vnet-tui ", style="bold reverse")
        t.append("  ")
        t.append_text(safe(self.server or "…", style="bold"))
        t.append("  │  ")
        if self.read_write:
            t.append("read-write", style="bold green")
        else:
            t.append("read-only", style="bold yellow")
        if self.why:
            t.append(f" ({self.why})", style="dim")
        t.append("  │  ")
        t.append(f"every {fmt_interval(self.interval)}")
        t.append("  │  ")
        if self.problem:
            t.append("■ stopped: ", style="bold red")
            t.append_text(safe(self.problem, style="red"))
        elif self.paused:
            t.append("❚❚ paused", style="bold yellow")
        else:
            t.append("● live", style="bold green")
        if self.sort != "name":
            t.append(f"  │  sort: {self.sort} rate", style="cyan")
        if self.filter_text:
            t.append("  │  filter: ", style="cyan")
            t.append_text(safe(self.filter_text, style="bold cyan"))
        if self.counts:
            t.append("  │  " + self.counts, style="dim")
        return t
