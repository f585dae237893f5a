"""Typed confirmation for protected interfaces, and the keep-or-revert prompt that follows.

``TypedConfirmScreen`` dismisses True only when the operator types the
interface's name exactly.  ``KeepChangeScreen`` counts down to the revert
timer's deadline; Keep confirms the change (in a worker), closing the
prompt leaves the timer running — it reverts the change unless someone
confirms (``vnet-tui adapter confirm ID`` works too).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from vnet_tui.core.text import safe

from ..footer import KeyFooter
from ..looks import LOOKS
from .base import FORMS_CSS


class TypedConfirmScreen(ModalScreen[bool]):
    """ "Type the interface name to continue": for changes to the SSH session's interfaces."""

    CSS_PATH = FORMS_CSS
    BINDINGS = [Binding("escape", "no", "cancel", id="typed-cancel", tooltip="Do not make the change")]

    def __init__(self, expected: str, why: str) -> None:
        super().__init__()
        self.expected = expected
        self.why = why

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "This change touches your SSH session"
            yield Static(
                Text.assemble(
                    safe(self.why),
                    "\n\nType ",
                    (self.expected, LOOKS.label),
                    " to make it anyway. It runs commit-confirmed: it is reverted "
                    "after 60 s unless you keep it.",
                )
            )
            yield Input(placeholder=self.expected, id="typed-input", compact=True)
            with Horizontal():
                yield Button("Make the change", id="typed-ok", variant="error", disabled=True, compact=True)
                yield Button("Cancel", id="typed-cancel-button", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#typed-input", Input).focus()

    @on(Input.Changed, "#typed-input")
    def typed(self, event: Input.Changed) -> None:
        self.query_one("#typed-ok", Button).disabled = event.value != self.expected

    @on(Input.Submitted, "#typed-input")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value == self.expected:
            self.dismiss(True)

    @on(Button.Pressed, "#typed-ok")
    def ok(self) -> None:
        if self.query_one("#typed-input", Input).value == self.expected:
            self.dismiss(True)

    @on(Button.Pressed, "#typed-cancel-button")
    def action_no(self) -> None:
        self.dismiss(False)


class Confirmed(Message):
    def __init__(self, ids: list[str], error: Optional[BaseException] = None) -> None:
        super().__init__()
        self.ids = ids
        self.error = error


class KeepChangeScreen(ModalScreen[Optional[str]]):
    """Keep a commit-confirmed change before its revert timer fires."""

    CSS_PATH = FORMS_CSS
    BINDINGS = [
        Binding("escape", "later", "close", id="keep-later", tooltip="Close; the timer keeps running")
    ]

    def __init__(self, confirm: dict[str, Any]) -> None:
        super().__init__()
        self.confirm = confirm
        # held, not queried: a tick may run while the screen is being dismissed
        self.text = Static(id="keep-text")

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keep this change?"
            yield self.text
            with Horizontal():
                yield Button("Keep it", id="keep-ok", variant="success", compact=True)
                yield Button("Let it revert", id="keep-later-button", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#keep-ok", Button).focus()
        self.tick()
        self.set_interval(0.5, self.tick)

    def left(self) -> int:
        return max(0, round(self.confirm["deadline"] - time.time()))

    def tick(self) -> None:
        if not self.is_attached:
            return
        left = self.left()
        self.text.update(
            Text.assemble(
                "It touched: ",
                safe("; ".join(self.confirm.get("protected", []))),
                "\n",
                ("Reverting in ", LOOKS.label),
                (f"{left} s", LOOKS.alarm),
                " unless you keep it (or run ",
                (self.confirm.get("confirm_command", ""), LOOKS.label),
                ").",
            )
        )
        if left == 0:
            self.dismiss(None)

    @on(Button.Pressed, "#keep-ok")
    def keep(self) -> None:
        self.query_one("#keep-ok", Button).disabled = True
        self.worker_confirm(self.confirm["id"])

    @work(thread=True, exclusive=True, group="change", description="confirm a change", exit_on_error=False)
    def worker_confirm(self, entry_id: str) -> None:
        from vnet_tui.txn.confirm import confirm

        try:
            self.post_message(Confirmed(confirm(entry_id)))
        except Exception as e:
            self.post_message(Confirmed([], e))

    def on_confirmed(self, msg: Confirmed) -> None:
        if msg.error is not None:
            self.app.notify(
                str(msg.error), title="could not confirm", severity="error", timeout=10, markup=False
            )
        else:
            self.app.notify("the change is kept; its revert timer is stopped", title="confirmed", timeout=5)
        self.dismiss(self.confirm["id"] if msg.error is None else None)

    @on(Button.Pressed, "#keep-later-button")
    def action_later(self) -> None:
        self.app.notify(
            f"it reverts in {self.left()} s unless confirmed", title="not kept", severity="warning", timeout=5
        )
        self.dismiss(None)
