"""Every key of the app in one place: the bindings, the help screen and the palette read it.

Changes (``a e d u``) open the forms of ui/forms (changes.py decides
what the selection means); ``p`` opens the pair view (ui/pair).
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
    priority: bool = False  # acted on when it arrives, before the keys typed after it are routed


KEYS: list[Key] = [
    Key("tab", "app.focus_next", "next pane", "Move to the next pane (Host → Containers → VMs)",
        "next-pane", False, "tab"),
    Key("shift+tab", "app.focus_previous", "previous pane", "Move to the previous pane", "prev-pane",
        False, "shift+tab"),
    Key("enter", "detail", "detail", "Open the selected adapter: both ends side by side, 60 s sparklines",
        "detail", True, "enter"),
    Key("i", "toggle_detail", "fold", "Fold or unfold the detail pane below the panes (short terminals fold it)",
        "fold-detail", True, "i"),
    Key("p", "pair", "pair", "Pair view: both ends live with a mirror check; t there sends frames end to end",
        "pair-view", True, "p"),
    # priority: keys typed ahead of a busy app come as one burst, and each is sent to the focused widget
    # before the one before it has run its binding; `/` moves the keyboard to the filter bar, so it acts
    # at once and the rest of the burst lands there (an input focused types it: action_filter skips)
    Key("slash", "filter", "filter", "Filter rows by name, MAC, IP or container (esc clears)", "filter",
        True, "/", priority=True),
    Key("s", "cycle_sort", "sort", "Cycle the sort order: name → rx rate → tx rate", "sort", True, "s"),
    Key("space", "toggle_pause", "pause", "Pause or resume the live counters", "pause", True, "space"),
    Key("plus,equals_sign", "interval(1)", "slower", "Refresh less often (longer interval)",
        "interval-up", True, "+"),
    Key("minus", "interval(-1)", "faster", "Refresh more often (shorter interval)", "interval-down",
        True, "-"),
    Key("r", "resync", "resync", "Full resync: re-read every namespace and VM now", "resync", True, "r"),
    Key("question_mark", "help", "help", "Show every key", "help", True, "?"),
    Key("q", "quit", "quit", "Quit vnet-tui", "quit", True, "q"),
    Key("a", "add", "add", "Add an adapter to the selected container or VM (form with preview)",
        "add-adapter", True, "a"),
    Key("e", "edit", "edit", "Edit the selected adapter: MAC, addresses, MTU, up/down, bridge",
        "edit-adapter", True, "e"),
    Key("d", "delete", "delete", "Delete the selected adapter (after confirmation)", "delete-adapter", True, "d"),
    Key("u", "undo", "undo", "Undo the last change", "undo", True, "u"),
]

EXTRA_HELP: list[tuple[str, str]] = [
    ("↑ ↓ j k  pgup pgdn", "Move in a pane; the detail pane follows the cursor"),
    ("home end  g G", "First / last row of the pane"),
    ("mouse", "Click a row to select it, click it again to open its detail; wheel scrolls"),
    ("ctrl+p", "Command palette: every action, and 'go to' any adapter by name"),
    ("esc", "Clear the filter; close the detail view, a form or this help"),
    ("ctrl+s", "In a form (add, edit, delete) or the undo prompt: apply"),
    ("enter  y", "In the delete prompt: delete; esc or n: keep the adapter"),
    ("tab  shift+tab", "In a form: next / previous field"),
]


def bindings() -> list[Binding]:
    """The app's BINDINGS."""
    return [Binding(k.keys, k.action, k.label, show=k.show, id=k.id, tooltip=k.tooltip, priority=k.priority)
            for k in KEYS]
