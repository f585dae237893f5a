"""The TUI's change forms, as standalone modal screens with one entry function each.

Wire them to keys (``a``, ``e``, ``d``, ``u``) like this::

    from vnet_tui.ui.forms import open_add_form, open_edit_form, open_delete_form, open_undo

    async def action_add(self) -> None:
        await open_add_form(self, server, self.topo, target=selected_owner)

where ``server`` is the ``core.server.Server`` the app shows and
``topology`` the latest ``Topology``.  Each function pushes its screen and
returns at once; the screen validates and previews as the operator types
(pure: topology only), applies in a thread worker (group ``"change"``),
reports the result as a notification — never a traceback — and, for a
change to the SSH session's interfaces, asks for the interface name to be
typed, runs it commit-confirmed and offers to keep it.  The app's next
topology refresh shows the change.  Read-only apps should not call them
(``app.read_write``); if they do, the change is refused (exit-3 rule
``privilege``) and said so.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server

from .add import AddAdapterScreen
from .confirm import KeepChangeScreen, TypedConfirmScreen
from .delete import DeleteAdapterScreen, UndoScreen
from .edit import EditAdapterScreen

__all__ = [
    "AddAdapterScreen",
    "DeleteAdapterScreen",
    "EditAdapterScreen",
    "KeepChangeScreen",
    "TypedConfirmScreen",
    "UndoScreen",
    "open_add_form",
    "open_delete_form",
    "open_edit_form",
    "open_undo",
]


async def open_add_form(app: Any, server: Server, topology: Topology, target: Optional[str] = None) -> None:
    """``a``: add an adapter to ``target`` (a container or VM name; None: the first)."""
    await app.push_screen(AddAdapterScreen(server, topology, target))


async def open_edit_form(
    app: Any, server: Server, topology: Topology, target: str, ifname: str, end: Optional[str] = None
) -> None:
    """``e``: edit one end of ``target``'s adapter ``ifname`` (guest or host end name; a VM's id or tap).

    ``end="guest"`` on a VM adapter edits the guest NIC's MAC (by replug).
    """
    await app.push_screen(EditAdapterScreen(server, topology, target, ifname, end))


async def open_delete_form(app: Any, server: Server, topology: Topology, target: str, ifname: str) -> None:
    """``d``: delete ``target``'s adapter ``ifname`` after confirmation."""
    await app.push_screen(DeleteAdapterScreen(server, topology, target, ifname))


async def open_undo(app: Any, server: Server) -> None:
    """``u``: show the last change's inverse and undo it on confirmation."""
    await app.push_screen(UndoScreen(server))
