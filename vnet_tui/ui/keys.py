"""Every key of the app in one place: the bindings, the help screen and the palette read it.

Each key says where it is bound (``Key.on``): ``"app"`` keys act on any
screen (help, filter, sort, pause, interval, resync, quit, undo); ``"main"``
keys act on the selected adapter (``enter p a e d``) and are the main
screen's (main.py), bound again, hidden, on the screens above it that
still take them (the detail screen, the pair view: ``MainKeysAbove``).
Changes (``a e d u``) open the forms of ui/forms (changes.py decides
what the selection means); ``p`` opens the pair view (ui/pair).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.screen import Screen

from .protocol import vnet_app


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
    on: str = "app"  # "app": bound on the App; "main": on the main screen (it acts on the selection)


KEYS: list[Key] = [
    Key("tab", "app.focus_next", "next pane", "Move to the next pane (Host → Containers → VMs)",
        "next-pane", False, "tab"),
    Key("shift+tab", "app.focus_previous", "previous pane", "Move to the previous pane", "prev-pane",
        False, "shift+tab"),
    Key("enter", "detail", "detail", "Open the selected adapter: both ends side by side, 60 s sparklines",
        "detail", True, "enter", on="main"),
    Key("i", "toggle_detail", "fold", "Fold or unfold the detail pane below the panes (short terminals fold it)",
        "fold-detail", True, "i"),
    Key("p", "pair", "pair", "Pair view: both ends live with a mirror check; t there sends frames end to end",
        "pair-view", True, "p", on="main"),
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
        "add-adapter", True, "a", on="main"),
    Key("e", "edit", "edit", "Edit the selected adapter: MAC, addresses, MTU, up/down, bridge",
        "edit-adapter", True, "e", on="main"),
    Key("d", "delete", "delete", "Delete the selected adapter (after confirmation)", "delete-adapter",
        True, "d", on="main"),
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


def _binding(k: Key, action: str, show: bool) -> Binding:
    return Binding(k.keys, action, k.label, show=show, id=k.id, tooltip=k.tooltip, priority=k.priority)


def bindings() -> list[Binding]:
    """The App's BINDINGS: the keys that act on any screen."""
    return [_binding(k, k.action, k.show) for k in KEYS if k.on == "app"]


def main_bindings() -> list[Binding]:
    """The main screen's BINDINGS: the keys that act on the selected adapter."""
    return [_binding(k, k.action, k.show) for k in KEYS if k.on == "main"]


def above_main_bindings(*but: str) -> list[Binding]:
    """BINDINGS for a screen above the main one that still takes the main screen's keys: each runs the
    main screen's action (``MainKeysAbove``), hidden (that screen's footer shows its own keys);
    ``but``: the ids of keys the screen binds to something else (the detail screen's enter goes back)."""
    return [_binding(k, f"on_main({k.action!r})", False) for k in KEYS if k.on == "main" and k.id not in but]


class MainKeysAbove(Screen):
    """A screen above the main one on which the main screen's keys act as they do there, on its
    selection: bind ``above_main_bindings()``."""

    async def action_on_main(self, action: str) -> None:
        """Run the main screen's ``action``."""
        await vnet_app(self).main.run_action(action)
