"""The help screen: every key, from the one list the bindings are made of (styles: looks.py)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .footer import CHANGE_KEYS, KeyFooter
from .keys import EXTRA_HELP, KEYS
from .looks import LOOKS


def keys_table(read_only: bool = False) -> Table:
    """A two-column table: key, what it does (change keys marked off when ``read_only``)."""
    t = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    t.add_column(style=LOOKS.key, no_wrap=True, width=14)
    t.add_column()
    for k in KEYS:
        soon = "coming soon" in k.tooltip
        off = read_only and k.id in CHANGE_KEYS
        what = Text(k.tooltip, style=LOOKS.note if soon or off else "")
        if off:
            what.append("  (off: read-only)", style=LOOKS.warn)
        t.add_row(Text(k.shown_as or k.keys), what)
    t.add_row("", "")
    for key, what in EXTRA_HELP:
        t.add_row(Text(key), Text(what))
    return t


def intro() -> Text:
    """What the help opens with."""
    return Text.assemble(
        ("vnet-tui", LOOKS.label),
        " shows this server's virtual network: each container's veth adapter and each VM's "
        "vme (tap) adapter, both ends paired from netlink, counters live.\n",
        ("Rates in the Containers and VMs panes are seen from the guest; a VM's are counted at its host tap.",
         LOOKS.note),
    )


class HelpScreen(ModalScreen):
    """Every key, with what it does."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close", id="help-close",
                        tooltip="Close the help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys — esc to close"
            yield Static(intro(), id="help-intro")
            yield Static(keys_table(getattr(self.app, "read_write", True) is False), id="help-keys")
        yield KeyFooter()
