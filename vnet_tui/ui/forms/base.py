"""What every change form shares: fields, a live preview, inline validation, apply in a worker.

A form builds a request from its fields on every keystroke and asks
``txn.api.plan_*`` (pure: topology only, no kernel call) for the plan: the
preview shows the exact ``ip``/QMP commands and warnings, or the refusal
with its rule, and Apply is enabled only for a valid request.  Apply runs
the change in a thread worker (``group="change"``) that only posts
messages; the screen turns them into a result or an error.  A change the
SSH guard holds back asks for typed confirmation, then runs
commit-confirmed and offers to keep it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.core.text import safe as safe_text
from vnet_tui.txn.api import Result
from vnet_tui.ops.plan import Plan

from ..looks import LOOKS
from .words import error_text, field_of, form_message, preview_text


class ChangeDone(Message):
    """The worker applied the change."""

    def __init__(self, result: Result) -> None:
        super().__init__()
        self.result = result


class ChangeRefused(Message):
    """The worker's change was refused or failed (and rolled back)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


def field(label: str, widget: Any) -> Horizontal:
    """A labelled row: one line, the input compact (no border), as nmtui lays a form out."""
    if hasattr(widget, "compact"):
        widget.compact = True
    return Horizontal(Label(label, classes="form-label"), widget, classes="form-row")


class Fields(VerticalScroll, can_focus=False):
    """The form's fields and its preview; scrolls when the terminal is short (the buttons stay)."""


FORMS_CSS = Path(__file__).with_name("forms.tcss")  # every screen of ui/forms loads it
RESERVED = 9  # lines of the screen that are not fields: box border (2), problem (≤3) and its margin, buttons
# and their margin, footer


class ChangeForm(ModalScreen[Optional[Result]]):
    """Base of the add and edit forms; subclasses give fields, ``plan`` and ``apply_change``."""

    CSS_PATH = FORMS_CSS
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="form-cancel", tooltip="Close without changing anything"),
        Binding("ctrl+s", "apply", "apply", id="form-apply", tooltip="Apply the change"),
    ]
    apply_label = "Apply"
    ready_text = "✓ valid — ctrl+s applies; the commands it runs are above"

    def __init__(self, server: Server, topology: Topology, title: str) -> None:
        super().__init__()
        self.server = server
        self.topology = topology
        self.form_title = title
        self.current: Optional[Plan] = None
        self.problem: Optional[BaseException] = None
        self.busy = False
        self.pristine = True  # nothing typed yet: no error is shown before the operator acts
        self._initial: dict[str, object] = {}

    # -- subclasses ---------------------------------------------------------------
    def compose_fields(self) -> ComposeResult:
        yield from ()

    def request(self) -> Any:
        """The request the fields describe (read on the UI thread)."""
        raise NotImplementedError

    def plan(self) -> Plan:
        raise NotImplementedError

    def apply_change(self, request: Any, confirm: bool, timeout: float) -> Result:
        """Apply ``request`` (called in the worker thread: no widget access here)."""
        raise NotImplementedError

    def guarded_name(self) -> str:
        """What the operator types to confirm a change to a protected interface."""
        return self.current.touched[0][1] if self.current and self.current.touched else "yes"

    # -- layout ------------------------------------------------------------------------
    AUTO_FOCUS = None  # on_mount focuses the first field

    def compose(self) -> ComposeResult:
        from ..footer import KeyFooter

        with Vertical(id="form-box") as box:
            box.border_title = self.form_title
            with Fields(id="form-fields"):
                yield from self.compose_fields()
                yield Static(id="form-preview")
            yield Static(id="form-problem")
            with Horizontal(id="form-buttons"):
                yield Button(self.apply_label, id="form-apply-button", variant="primary", disabled=True,
                             compact=True)
                yield Button("Cancel", id="form-cancel-button", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self._initial = self.values()
        self.refresh_preview()
        self.focus_first()

    def on_resize(self) -> None:
        self.query_one("#form-fields").styles.max_height = max(3, self.size.height - RESERVED)

    def focus_first(self) -> None:
        """The first field takes the keyboard (nothing typed is lost)."""
        for w in self.query_one("#form-fields").query("Input, Select, Checkbox"):
            if w.focusable:
                w.focus()
                return
        self.query_one("#form-apply-button", Button).focus()

    def values(self) -> dict[str, object]:
        """Every field's value, by id."""
        return {w.id or "": getattr(w, "value", None) for w in self.query("Input, Select, Checkbox")}

    # -- inline validation and preview -----------------------------------------------------
    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def refresh_preview(self) -> None:
        problem, preview = self.query_one("#form-problem", Static), self.query_one("#form-preview", Static)
        if self.pristine and self._initial and self.values() != self._initial:
            self.pristine = False
        self.fields_changed()
        try:
            self.current, self.problem = self.plan(), None
        except VnetError as e:
            self.current, self.problem = None, e
        bad = field_of(getattr(self.problem, "rule", None)) if self.problem is not None else None
        for w in self.query(".form-row Input"):
            w.set_class(bool(bad) and not self.pristine and (w.id or "").endswith("-" + bad), "-invalid")
        if self.problem is not None and self.pristine:  # before anything was typed: a hint, not an error
            problem.update(Text(form_message(getattr(self.problem, "rule", None), str(self.problem))
                                if getattr(self.problem, "rule", None) == "nothing-to-change"
                                else "Fill in the fields; the commands appear as you type.", style=LOOKS.note))
            preview.update("")
        elif self.problem is not None:
            problem.update(error_text(self.problem, self.field_label(bad)))
            preview.update("")
        else:
            assert self.current is not None
            ok = Text()
            for w in self.current.warnings[:2]:  # where they are seen, not only below the commands
                ok.append("⚠ ", LOOKS.caution)
                ok.append_text(safe_text(w))
                ok.append("\n")
            ok.append(self.ready_text, style=LOOKS.good)
            problem.update(ok)
            preview.update(preview_text(self.current))
        self.query_one("#form-apply-button", Button).disabled = self.problem is not None or self.busy

    def fields_changed(self) -> None:
        """Subclasses show or hide fields that apply only sometimes (called before each plan)."""

    def field_label(self, suffix: Optional[str]) -> str:
        """The label of the field whose id ends in ``-suffix`` ('' if none)."""
        if not suffix:
            return ""
        for row in self.query(".form-row"):
            w = row.children[1] if len(row.children) > 1 else None
            if w is not None and (w.id or "").endswith("-" + suffix) and w.display:
                return str(row.children[0].render()).strip()
        return ""

    # -- applying ---------------------------------------------------------------------------
    @on(Button.Pressed, "#form-apply-button")
    def action_apply(self) -> None:
        if self.current is not None and not self.busy:
            self.start(confirm=False)

    @on(Button.Pressed, "#form-cancel-button")
    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def start(self, confirm: bool) -> None:
        self.busy = True
        self.query_one("#form-apply-button", Button).disabled = True
        self.query_one("#form-problem", Static).update(Text("applying…", style=LOOKS.label))
        self.worker_apply(self.request(), confirm)

    @work(
        thread=True,
        exclusive=True,
        group="change",
        description="apply an adapter change",
        exit_on_error=False,
    )
    def worker_apply(self, request: Any, confirm: bool) -> None:
        try:
            self.post_message(ChangeDone(self.apply_change(request, confirm, 60.0)))
        except Exception as e:  # every failure becomes a message: never a traceback on screen
            self.post_message(ChangeRefused(e))

    def on_change_done(self, msg: ChangeDone) -> None:
        self.busy = False
        self.dismiss(msg.result)
        report(self.app, msg.result)

    def on_change_refused(self, msg: ChangeRefused) -> None:
        self.busy = False
        e = msg.error
        if isinstance(e, VnetError) and e.rule == "ssh-guard":
            from .confirm import TypedConfirmScreen

            def typed(ok: Optional[bool]) -> None:
                if ok:
                    self.start(confirm=True)
                else:
                    self.refresh_preview()

            self.app.push_screen(TypedConfirmScreen(self.guarded_name(), str(e)), typed)
            return
        self.query_one("#form-problem", Static).update(error_text(e))
        self.query_one("#form-apply-button", Button).disabled = False
        self.app.notify(
            str(e),
            title="change failed" if getattr(e, "code", 1) == 1 else "refused",
            severity="error",
            timeout=10,
            markup=False,
        )


def report(app: Any, result: Result) -> None:
    """A notification for a result; a commit-confirmed change opens the keep/revert prompt."""
    lines = [result.title + (" — unplug pending" if result.pending else "")]
    lines += [f"⚠ {w}" for w in result.warnings] + list(result.notes)
    app.notify(
        "\n".join(lines),
        title="done",
        severity="warning" if result.warnings else "information",
        timeout=8,
        markup=False,
    )
    if result.confirm:
        from .confirm import KeepChangeScreen

        app.push_screen(KeepChangeScreen(result.confirm))
