"""The header line: server, privilege, interval, live/paused, filter, sort."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from vnet_tui.core.text import visible


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

    COMPONENT_CLASSES = {
        "status-header--brand", "status-header--server", "status-header--read-write", "status-header--read-only",
        "status-header--dim", "status-header--stopped", "status-header--problem", "status-header--paused",
        "status-header--live", "status-header--sort", "status-header--filter",
    }  # their colours are in app.tcss

    def _style(self, part: str) -> Style:
        return self.get_component_rich_style(f"status-header--{part}", partial=True)

    def render(self) -> Text:
        st = self._style
        t = Text(" vnet-tui ", style=st("brand"))
        t.append("  ")
        t.append(visible(self.server or "…"), style=st("server"))
        t.append("  │  ")
        if self.read_write:
            t.append("read-write", style=st("read-write"))
        else:
            t.append("read-only", style=st("read-only"))
        if self.why:
            t.append(f" ({self.why})", style=st("dim"))
        t.append("  │  ")
        t.append(f"every {fmt_interval(self.interval)}")
        t.append("  │  ")
        if self.problem:
            t.append("■ stopped: ", style=st("stopped"))
            t.append(visible(self.problem), style=st("problem"))
        elif self.paused:
            t.append("❚❚ paused", style=st("paused"))
        else:
            t.append("● live", style=st("live"))
        if self.sort != "name":
            t.append(f"  │  sort: {self.sort} rate", style=st("sort"))
        if self.filter_text:
            t.append("  │  filter: ", style=st("sort"))
            t.append(visible(self.filter_text), style=st("filter"))
        if self.counts:
            t.append("  │  " + self.counts, style=st("dim"))
        return t
