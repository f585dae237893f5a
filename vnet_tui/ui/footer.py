"""A footer that keeps the most important keys when the terminal is narrow.

Textual's Footer shows every key in binding order and cuts the line at
the right edge (at 120 columns ``u undo`` fell off).  This one ranks the
keys: the focused screen's own keys first (a form's ctrl+s and esc, the
pair view's t), then keys.py's (the app's and the main screen's) in
``RANK`` order; it drops the lowest ranked until the rest fit, and shows
them in their usual order (keys.py's in its order).
The change keys (a e d u) are left out of a read-only app's footer.
"""

from __future__ import annotations


from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from .keys import KEYS

# keys.py's keys (the app's and the main screen's), most important first (by id)
RANK = ["detail", "help", "pair-view", "filter", "add-adapter", "edit-adapter", "delete-adapter", "undo", "quit",
        "fold-detail", "sort", "pause", "resync", "interval-up", "interval-down"]
CHANGE_KEYS = {"add-adapter", "edit-adapter", "delete-adapter", "undo"}
ELSEWHERE = {"help", "quit"}  # the app keys a footer shows on screens other than the main one
PALETTE_WIDTH = 12  # "▏^p palette" and its margins
ORDER = {k.id: i for i, k in enumerate(KEYS)}  # keys.py's keys (the app's and the main screen's), in order


def key_width(display: str, description: str) -> int:
    """Cells a compact FooterKey takes, its right margin included."""
    return len(display) + (1 + len(description) if description else 0) + 1


class KeyFooter(Footer):
    """Footer(compact) that fits its width by dropping the least important keys."""

    def __init__(self, **kw: object) -> None:
        kw.setdefault("compact", True)
        super().__init__(**kw)  # type: ignore[arg-type]

    def on_resize(self) -> None:
        if self.is_attached and self._bindings_ready:
            self.call_after_refresh(self.recompose)

    def chosen(self) -> list[tuple[Binding, bool, str]]:
        """The bindings to show, in binding order."""
        app = self.app
        read_only = getattr(app, "read_write", True) is False
        main = self.screen.id == "main" or self.screen is app.screen_stack[0]
        seen: dict[str, tuple[Binding, bool, str, bool]] = {}
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if read_only and binding.id in CHANGE_KEYS:
                continue
            if node is app and not main and binding.id not in ELSEWHERE:
                continue
            seen[binding.action] = (binding, enabled, tooltip, binding.id in ORDER)
        items = list(seen.values())

        def rank(i: int) -> tuple[int, int]:
            b, _e, _t, registry = items[i]
            if not registry:
                return 0, i
            return 1, RANK.index(b.id) if b.id in RANK else len(RANK) + i

        def place(i: int) -> tuple[int, int]:  # a screen's own keys, then keys.py's in its order
            b, _e, _t, registry = items[i]
            return (1, ORDER[b.id]) if registry else (0, i)

        width = self.size.width or app.size.width
        room = width - (PALETTE_WIDTH if self.show_command_palette and app.ENABLE_COMMAND_PALETTE else 0)
        keep: set[int] = set()
        for i in sorted(range(len(items)), key=rank):
            b = items[i][0]
            w = key_width(app.get_key_display(b), b.description)
            if w <= room:
                keep.add(i)
                room -= w
        return [(items[i][0], items[i][1], items[i][2]) for i in sorted(keep, key=place)]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        chosen = self.chosen()
        self.styles.grid_size_columns = len(chosen)
        for binding, enabled, tooltip in chosen:
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            active = self.screen.active_bindings
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, tooltip = found
                yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                binding.action, classes="-command-palette", disabled=not enabled,
                                tooltip=binding.tooltip or binding.description)
