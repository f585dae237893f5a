"""The filter bar: '/' opens it; rows match by name, MAC, IP or container."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """An input docked at the bottom; every keystroke refilters the panes."""

    BINDINGS = [Binding("escape", "clear_and_close", "clear filter", id="filter-clear",
                        tooltip="Clear the filter and go back to the panes")]

    class FilterChanged(Message):
        """The filter text changed (or was cleared)."""

        def __init__(self, bar: "FilterBar", text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> "FilterBar":
            return self.bar

    class FilterDone(Message):
        """The operator left the filter bar (enter keeps the filter, esc clears it)."""

    def __init__(self) -> None:
        super().__init__(placeholder="filter: name, MAC, IP or container — enter keeps it, esc clears",
                         id="filter", compact=True)

    def open(self) -> None:
        """Show the bar and take the keyboard now: ``focus()`` would move it only after the keys
        already queued, and keys typed ahead of a busy app (``/ct102`` then enter) would go to the
        pane (its enter opened the row under the cursor: tests/ui/test_typeahead.py)."""
        self.add_class("open")
        self.screen.set_focus(self)

    def close(self) -> None:
        self.remove_class("open")
        self.post_message(self.FilterDone())

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(self, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()

    def action_clear_and_close(self) -> None:
        self.value = ""
        self.post_message(self.FilterChanged(self, ""))
        self.close()
