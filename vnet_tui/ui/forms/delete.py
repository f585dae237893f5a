"""Delete confirmation and undo confirmation: say what will happen, then do it in a worker.

Both show the exact commands first (the delete from the topology, the
undo from a dry run of the journal's last change).  The delete prompt
answers ``y`` or Enter (delete) and ``n`` or Esc (keep), as a yes/no
question does; the undo prompt's Undo button takes Enter once ready.
"""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.core.text import safe
from vnet_tui.ops.plan import Plan
from vnet_tui.ops.requests import DelRequest
from vnet_tui.txn import api
from vnet_tui.txn.api import Result

from ..footer import KeyFooter
from ..looks import LOOKS
from .base import FORMS_CSS, ChangeDone, ChangeForm, ChangeRefused, error_text, preview_text, report


class DeleteAdapterScreen(ChangeForm):
    """ "Delete ct101/eth1 ⇄ veth101.1?" with the commands it runs."""

    apply_label = "Delete"
    ready_text = "y or enter deletes it with the commands above; n or esc keeps it"
    BINDINGS = [
        Binding("y,enter", "yes", "delete", id="delete-yes", tooltip="Delete the adapter"),
        Binding("n", "no", "keep it", id="delete-no", tooltip="Keep the adapter (as esc)"),
    ]

    def action_yes(self) -> None:
        self.action_apply()

    def action_no(self) -> None:
        self.action_cancel()

    def __init__(self, server: Server, topology: Topology, target: str, ifname: str) -> None:
        super().__init__(server, topology, f"Delete an adapter of {target}")
        self.target, self.ifname = target, ifname

    def compose_fields(self) -> ComposeResult:
        yield Static(
            Text.assemble(
                "Delete ",
                safe(f"{self.target}/", LOOKS.label),
                safe(self.ifname, LOOKS.label),
                " — both ends of the adapter (a VM's NIC is unplugged first)?",
            ),
            classes="form-note",
        )

    def on_mount(self) -> None:
        super().on_mount()
        ok = self.query_one("#form-apply-button", Button)
        ok.variant = "error"
        if not ok.disabled:
            ok.focus()

    def request(self) -> DelRequest:
        return DelRequest(self.target, self.ifname)

    def plan(self) -> Plan:
        return api.plan_delete(self.server, self.topology, self.request())

    def guarded_name(self) -> str:
        return self.ifname

    def apply_change(self, request: DelRequest, confirm: bool, timeout: float) -> Result:
        return api.delete(self.server, request, confirm=confirm, confirm_timeout=timeout)


class UndoScreen(ModalScreen[Optional[Result]]):
    """Undo the journal's last change on this server, after showing what that runs."""

    CSS_PATH = FORMS_CSS
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="undo-cancel", tooltip="Close without undoing"),
        Binding("ctrl+s", "apply", "undo", id="undo-apply", tooltip="Undo it (as the Undo button)"),
    ]

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.ready = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Undo the last change"
            yield Static(Text("reading the journal…", style=LOOKS.note), id="undo-text")
            yield Static(id="undo-preview")
            with Horizontal():
                yield Button("Undo", id="undo-ok", variant="warning", disabled=True, compact=True)
                yield Button("Cancel", id="undo-cancel-button", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#undo-cancel-button", Button).focus()  # until the preview is ready
        self.worker_undo(True)

    @work(
        thread=True, exclusive=True, group="change", description="undo the last change", exit_on_error=False
    )
    def worker_undo(self, dry_run: bool) -> None:
        from vnet_tui.txn.undo import undo

        try:
            self.post_message(ChangeDone(undo(self.server, dry_run=dry_run)))
        except Exception as e:
            self.post_message(ChangeRefused(e))

    def on_change_done(self, msg: ChangeDone) -> None:
        r = msg.result
        if r.dry_run:
            self.ready = True
            self.query_one("#undo-text", Static).update(
                Text.assemble("This will ", safe(r.title, LOOKS.label), ":")
            )
            self.query_one("#undo-preview", Static).update(preview_text(_as_plan(r)))
            ok = self.query_one("#undo-ok", Button)
            ok.disabled = False
            ok.focus()  # Enter undoes, as ctrl+s does
            return
        self.dismiss(r)
        report(self.app, r)

    def on_change_refused(self, msg: ChangeRefused) -> None:
        self.query_one("#undo-text", Static).update(error_text(msg.error))
        self.query_one("#undo-ok", Button).disabled = True
        if self.ready:  # the undo itself failed (rolled back): say so loudly
            e = msg.error
            self.app.notify(str(e), title="undo failed", severity="error", timeout=10, markup=False)
        elif isinstance(msg.error, VnetError) and msg.error.rule == "undo-empty":
            self.query_one("#undo-text", Static).update(
                Text("Nothing to undo: no change left in the journal.")
            )

    def action_apply(self) -> None:
        if not self.query_one("#undo-ok", Button).disabled:
            self.ok()

    @on(Button.Pressed, "#undo-ok")
    def ok(self) -> None:
        self.query_one("#undo-ok", Button).disabled = True
        self.query_one("#undo-text", Static).update(Text("undoing…", style=LOOKS.label))
        self.worker_undo(False)

    @on(Button.Pressed, "#undo-cancel-button")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _as_plan(r: Result) -> Any:
    p = Plan(r.op, r.target, r.title, warnings=list(r.warnings))
    for c in r.commands:
        p.add(c, lambda live: None)
    return p
