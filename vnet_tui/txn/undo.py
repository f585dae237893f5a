"""Undo: turn a journalled change into its inverse plan (``ops.inverse``) and apply it.

``undo()`` reverts the newest change not yet undone (``vnet-tui undo``,
the TUI's ``u``); the revert timer calls it with the change's id and
``op="revert"``.  The inverse is itself journalled, naming the change.
"""

from __future__ import annotations

from typing import Optional

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.server import Server
from vnet_tui.ops.inverse import inverse_plan
from vnet_tui.ops.planner import topology_of
from vnet_tui.safety import journal
from vnet_tui.safety.lock import server_lock

from . import api, recover


def undo(
    server: Optional[Server] = None,
    *,
    entry_id: Optional[str] = None,
    dry_run: bool = False,
    op: str = "undo",
    lock: bool = True,
) -> api.Result:
    """Revert one change: ``entry_id``, else the newest one not yet undone (on ``server``).

    Only changes made on this machine, and for a lab on the lab instance
    that exists now, are offered or applied (rules undo-other-server,
    undo-other-instance).  The choice is made under the server lock.
    """
    with server_lock(f"{op} {entry_id or 'the last change'}"):
        skipped: list[str] = []
        notes: list[str] = []
        if not dry_run:
            notes += recover.run(lock=lock)
        elif journal.incomplete():
            notes.append(
                f"{len(journal.incomplete())} interrupted change(s) are settled first when this runs "
                "(rolled back or completed); what is undone may then be another change"
            )
        if entry_id:
            entry = journal.find(entry_id)
            if entry is None or entry.get("op") not in journal.CHANGES:
                raise NotFound(f"no change {entry_id} in the journal", rule="undo-empty")
        else:
            entry = journal.last_change(server, skipped)
        if entry is None:
            raise NotFound(
                "nothing to undo: the journal has no change left to revert"
                + (f" on {server.label}" if server else " made on this server"),
                rule="undo-empty",
            )
        why = journal.same_server(entry, server)
        if why:
            rule = "undo-other-instance" if "earlier build" in why else "undo-other-server"
            raise InvalidInput(f"change {entry['id']} cannot be undone here: {why}", rule=rule)
        fate = journal.fate(entry["id"])
        if fate in ("undo", "revert"):
            raise InvalidInput(f"change {entry['id']} was already {journal.fate_word(fate)}", rule="undo-done")
        srv = journal.server_of(entry)
        topology = topology_of(srv)
        plan = inverse_plan(entry, srv, topology)
        plan.title = f"{op} {entry['id']} ({entry.get('title', entry['op'])}): {plan.title}"
        plan.warnings += [f"passed over {i}: a VM unplug still pending cannot be undone yet" for i in skipped]
        result = api.apply(
            srv, topology, plan, dry_run=dry_run, journal_op=op, ref=entry["id"], guard=False, lock=lock
        )
        result.warnings = notes + result.warnings
        return result
