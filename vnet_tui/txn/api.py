"""The operations the CLI verbs and TUI forms call: add, edit, delete an adapter, and ``apply``.

Each builds a ``Plan`` from the discovered topology (``ops.planner``:
validation first, bad input raises ``InvalidInput`` before any netlink
call), then — unless it is a dry run — checks privilege and the SSH
guard, and runs the plan as a transaction (``txn.transaction``): lock,
validate again, journal ahead, arm the revert timer of a protected
change, execute (rollback on failure), complete the journal.

The previews ``plan_add``/``plan_edit``/``plan_delete`` and
``topology_of`` are ``ops.planner``'s, named here too so that a face
needs one module.  All are blocking: call them from a thread worker in
the TUI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.errors import NotPermitted
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.ops.plan import Plan
from vnet_tui.ops.planner import plan_add, plan_delete, plan_edit, topology_of, typed_macs, vm_nic_macs
from vnet_tui.ops.requests import AddRequest, DelRequest, SetRequest
from vnet_tui.safety import journal, sshguard

from . import finisher, transaction
from .confirm import check_confirm_timeout

__all__ = [
    "Result", "add", "apply", "check_confirm_timeout", "delete", "edit_adapter", "has_net_admin",
    "plan_add", "plan_delete", "plan_edit", "topology_of", "vm_nic_macs",
]

CAP_NET_ADMIN = 12


@dataclass
class Result:
    """What a change did (or, for a dry run, would do)."""

    op: str
    target: str
    title: str
    commands: list[str]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    journal_id: Optional[str] = None
    confirm: Optional[dict[str, Any]] = None  # {"id", "deadline", "timeout", "protected"}
    pending: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    persists: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "op": self.op,
            "target": self.target,
            "title": self.title,
            "dry_run": self.dry_run,
            "commands": self.commands,
            "warnings": self.warnings,
            "notes": self.notes,
            "journal_id": self.journal_id,
            "confirm": self.confirm,
            "pending": self.pending,
            "persists": self.persists,
            "after": self.record.get("after"),
            "before": self.record.get("before"),
        }


# -- applying ---------------------------------------------------------------------
def has_net_admin() -> bool:
    """CAP_NET_ADMIN in the effective set (root normally has it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


def apply(
    server: Server,
    topology: Topology,
    plan: Plan,
    *,
    dry_run: bool = False,
    confirm: bool = False,
    confirm_timeout: float = 60.0,
    ssh_connection: Optional[str] = None,
    journal_op: Optional[str] = None,
    ref: Optional[str] = None,
    guard: bool = True,
    lock: bool = True,
    replan: Optional[Any] = None,
) -> Result:
    """Guard, then run a plan as a transaction (txn/transaction.py): lock, validate again, journal ahead,
    arm the revert timer of a protected change, execute, complete the journal.

    ``journal_op``/``ref``: how undo and the revert timer journal their
    inverse plans ("undo"/"revert" naming the change); they skip the
    guard (restoring is what it asks for) and, holding the journal lock,
    ``lock``.  ``replan(topology) -> Plan`` makes the plan again when
    another change was executed since it was made (else: rule stale-view).
    """
    generation = journal.generation() if topology is not None else None
    stamped = getattr(topology, "_vnet_generation", None)
    if isinstance(stamped, int):
        generation = stamped
    result = Result(
        plan.op,
        plan.target,
        plan.title,
        plan.commands(),
        plan.warnings,
        plan.notes,
        dry_run=dry_run,
        pending=plan.pending,
        persists=plan.persists,
    )
    if confirm or journal_op is None and guard and confirm_timeout != 60.0:
        check_confirm_timeout(confirm_timeout)  # validated before anything, dry run or not
    if dry_run:
        return result
    if not has_net_admin():
        raise NotPermitted(
            "changing adapters needs root / CAP_NET_ADMIN (running read-only)", rule="privilege"
        )
    def reguard(topo: Topology, p: Plan) -> list[str]:
        if not guard:
            return []
        found = sshguard.protected(server, topo, ssh_connection).hits(p.touched, p.route_dsts)
        if found and not confirm:
            raise NotPermitted(
                f"{p.title} touches what carries your SSH session: {', '.join(found)}. "
                "Confirm it (CLI: --confirm; TUI: type the interface name) to run it commit-confirmed: "
                f"it is reverted after {confirm_timeout:g} s unless you confirm in time.",
                rule="ssh-guard",
            )
        if found:
            check_confirm_timeout(confirm_timeout)
        return found

    hits = reguard(topology, plan)
    plan, record, entry, notes, armed, hits = transaction.run(
        server,
        topology,
        plan,
        hits=hits,
        confirm_timeout=confirm_timeout,
        journal_op=journal_op,
        ref=ref,
        lock=lock,
        replan=replan,
        generation=generation if journal_op is None else None,
        reguard=reguard,
    )
    result.title = plan.title
    result.record = record
    result.pending = plan.pending
    result.warnings = notes + plan.warnings
    result.notes = plan.notes
    result.commands = plan.commands()
    result.persists = plan.persists
    result.journal_id = entry["id"]
    if plan.pending:
        finisher.spawn_finisher(entry["id"])
        result.notes.append(
            f"unplug pending: {plan.target}'s guest has not released the NIC yet; the tap is "
            "removed when it does (a background finisher watches)"
        )
    if armed:
        result.confirm = {**armed, "protected": hits}
    return result


def add(server: Server, req: AddRequest, *, topology: Optional[Topology] = None, **kw: Any) -> Result:
    topo = topology or topology_of(server)
    typed = typed_macs(req)
    kw.setdefault("replan", lambda t: plan_add(server, t, req, vm_nic_macs(t, typed)))
    return apply(server, topo, plan_add(server, topo, req, vm_nic_macs(topo, typed)), **kw)


def edit_adapter(
    server: Server, req: SetRequest, *, topology: Optional[Topology] = None, **kw: Any
) -> Result:
    topo = topology or topology_of(server)
    extra = vm_nic_macs(topo) if req.mac else {}
    kw.setdefault("replan", lambda t: plan_edit(server, t, req, vm_nic_macs(t) if req.mac else {}))
    return apply(server, topo, plan_edit(server, topo, req, extra), **kw)


def delete(server: Server, req: DelRequest, *, topology: Optional[Topology] = None, **kw: Any) -> Result:
    topo = topology or topology_of(server)
    kw.setdefault("replan", lambda t: plan_delete(server, t, req))
    return apply(server, topo, plan_delete(server, topo, req), **kw)
