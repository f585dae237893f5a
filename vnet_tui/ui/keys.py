"""Every key of the app in one place: the bindings, the help screen and the palette read it.

Keys for changes and the pair demo (``a e d p u``) are reserved for the
issues that bring those actions; until then they say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    """One key: what to press, its action, and words for people."""

    keys: str  # Textual key names, comma-separated
    action: str
    label: str  # short, for the footer
    tooltip: str  # a sentence, for the help screen and the palette
    id: str
    show: bool = True
    shown_as: str = ""  # how the help screen writes the key


KEYS: list[Key] = [
    Key("tab", "app.focus_next", "next pane", "Move to the next pane (Host → Containers → VMs)",
        "next-pane", False, "tab"),
    Key("shift+tab", "app.focus_previous", "previous pane", "Move to the previous pane", "prev-pane",
        False, "shift+tab"),
    Key("enter", "detail", "detail", "Open the selected adapter: both ends side by side, 60 s sparklines",
        "detail", True, "enter"),
    Key("slash", "filter", "filter", "Filter rows by name, MAC, IP or container (esc clears)", "filter",
        True, "/"),
    Key("s", "cycle_sort", "sort", "Cycle the sort order: name → rx rate → tx rate", "sort", True, "s"),
    Key("space", "toggle_pause", "pause", "Pause or resume the live counters", "pause", True, "space"),
    Key("plus,equals_sign", "interval(1)", "slower", "Refresh less often (longer interval)",
        "interval-up", True, "+"),
    Key("minus", "interval(-1)", "faster", "Refresh more often (shorter interval)", "interval-down",
        True, "-"),
    Key("r", "resync", "resync", "Full resync: re-read every namespace and VM now", "resync", True, "r"),
    Key("question_mark", "help", "help", "Show every key", "help", True, "?"),
    Key("q", "quit", "quit", "Quit vnet-tui", "quit", True, "q"),
    # reserved for the change and pair-demo issues
    Key("a", "reserved('add an adapter')", "add", "Add an adapter (coming soon)", "add-adapter", False, "a"),
    Key("e", "reserved('edit an adapter')", "edit", "Edit the selected adapter (coming soon)", "edit-adapter",
        False, "e"),
    Key("d", "reserved('delete an adapter')", "delete", "Delete the selected adapter (coming soon)",
        "delete-adapter", False, "d"),
    Key("p", "reserved('pair view')", "pair", "Pair view: send frames end to end (coming soon)", "pair-view",
        False, "p"),
    Key("u", "reserved('undo')", "undo", "Undo the last change (coming soon)", "undo", False, "u"),
]

EXTRA_HELP: list[tuple[str, str]] = [
    ("↑ ↓ pgup pgdn home end", "Move in a pane; the detail pane follows the cursor"),
    ("mouse", "Click a row to select it, click it again to open its detail; wheel scrolls"),
    ("ctrl+p", "Command palette: every action, and 'go to' any adapter by name"),
    ("esc", "Close the filter, the detail view or this help"),
]


def bindings() -> list[Binding]:
    """The app's BINDINGS."""
    return [Binding(k.keys, k.action, k.label, show=k.show, id=k.id, tooltip=k.tooltip) for k in KEYS]
