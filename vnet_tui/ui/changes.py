"""The change keys (a, e, d, u): open the forms (ui/forms) on the selected adapter.

The forms validate, preview, apply and report by themselves; this only
decides what the selected row means (which container or VM, which end)
and refuses politely when the app is read-only or the row is no adapter.
The main screen's keys run them (main.py; ``u`` is the app's).
"""

from __future__ import annotations

from typing import Optional

from .protocol import VnetAppState
from .rows import Row


def adapter_of(row: Optional[Row]) -> Optional[tuple[str, str, Optional[str]]]:
    """(target, ifname, end) of a row's adapter: a container or VM name, the guest-side name, which end."""
    if row is None or row.guest is None:
        return None
    g = row.guest
    end = "host" if row.key.startswith("h:") else None
    if g.vm_adapter is not None:
        return g.owner, g.vm_adapter.id, end
    if g.iface is not None and g.role == "guest end":
        return g.owner, g.iface.ifname, end
    return None


def allowed(app: VnetAppState) -> bool:
    if app.read_write and app.server is not None and app.topo is not None:
        return True
    why = app.why if not app.read_write else "no live server (a recording)"
    app.notify(f"read-only: {why}", title="changes are off", severity="warning", timeout=4)
    return False


async def add(app: VnetAppState) -> None:
    from .forms import open_add_form

    if allowed(app):
        a = adapter_of(app.selected_row())
        await open_add_form(app, app.server, app.topo, target=a[0] if a else None)


async def edit(app: VnetAppState) -> None:
    from .forms import open_edit_form

    if allowed(app):
        a = adapter_of(app.selected_row())
        if a is None:
            app.notify("select an adapter (a container's or a VM's) to edit", timeout=3)
            return
        await open_edit_form(app, app.server, app.topo, a[0], a[1], a[2])


async def delete(app: VnetAppState) -> None:
    from .forms import open_delete_form

    if allowed(app):
        a = adapter_of(app.selected_row())
        if a is None:
            app.notify("select an adapter (a container's or a VM's) to delete", timeout=3)
            return
        await open_delete_form(app, app.server, app.topo, a[0], a[1])


async def undo(app: VnetAppState) -> None:
    from .forms import open_undo

    if allowed(app):
        await open_undo(app, app.server)
