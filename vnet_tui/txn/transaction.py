"""One change as a transaction: lock → validate again → journal ahead → arm → execute → complete.

``run`` is what ``txn.api.apply`` does once a plan is ready and the
privilege and SSH-guard checks passed:

1. take the server lock (``lock.server_lock``; another operator: refused);
2. finish what died before: incomplete journal entries (``recover``) and
   pending VM unplugs;
3. validate again under the lock: when a change was executed since the
   plan was made (``journal.generation``), the plan is made again from a
   fresh topology (``replan``), or refused (rule ``stale-view``);
4. in the live context: stale half-made adapters go, the plan snapshots,
   then the ``begin`` line (intent + before) is written and fsynced —
   before the first netlink call; a journal that cannot be written
   refuses the change with nothing changed;
5. a protected change's revert timer is started and seen running before
   the first step; if it cannot be, the change is refused;
6. the steps, verification, and the change's own line; when that line
   cannot be written, the change is rolled back;
7. on failure an ``aborted`` line (best effort: a missing one is found by
   the next command's recovery, which then finds nothing to do).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput, VnetError
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.ops.live import Live
from vnet_tui.ops.plan import Plan, execute
from vnet_tui.ops.planner import topology_of
from vnet_tui.ops.stale import remove_stale
from vnet_tui.safety import journal
from vnet_tui.safety.lock import server_lock

from . import confirm as confirmer
from . import finisher, recover

Replan = Callable[[Topology], "Plan"]


def namespaces_of(plan: "Plan", topology: Topology) -> dict[str, int]:
    """The inode of every namespace the plan touches (undo refuses a replaced one)."""
    out: dict[str, int] = {}
    keys = {k for k, _ in plan.touched}
    keys.add("host")
    for k in keys:
        if k == "host":
            out[k] = topology.host.inode or 0
        else:
            c = next((c for c in topology.containers if c.name == k), None)
            if c is not None:
                out[k] = c.netns.inode
    return out


def preview(plan: "Plan", live: "Live") -> dict[str, Any]:
    """The record as it stands before the first step: target and before-state."""
    try:
        rec = plan.record(live)
        if isinstance(rec, dict) and isinstance(rec.get("target"), dict):
            return {"target": rec["target"], "before": rec.get("before"), "planned": rec.get("after")}
    except Exception:  # a record that needs the steps' results: the intent is the commands
        pass
    return {"target": {"kind": "?", "owner": plan.target}, "before": None}


def run(
    server: Server,
    topology: Topology,
    plan: "Plan",
    *,
    hits: list[str],
    confirm_timeout: float,
    journal_op: Optional[str],
    ref: Optional[str],
    lock: bool,
    replan: Optional[Replan],
    generation: Optional[int],
    reguard: Callable[[Topology, "Plan"], list[str]],
) -> tuple["Plan", dict[str, Any], dict[str, Any], list[str], Optional[dict[str, Any]], list[str]]:
    """Run ``plan``; returns (plan, record, entry, notes, confirm, hits)."""
    with server_lock(plan.title):
        notes: list[str] = []
        if journal_op is None:
            notes += recover.run()
            notes += finisher.finish_pending()
            if generation is not None and journal.generation() != generation:
                if replan is None:
                    raise InvalidInput(
                        "another change was made on this server since this one was planned; "
                        "look again and repeat it (nothing was changed)",
                        rule="stale-view",
                    )
                topology = topology_of(server)
                plan = replan(topology)  # validation again, under the lock
                hits = reguard(topology, plan)
        entry_id = journal.new_id()
        armed: dict[str, Any] = {}
        base: dict[str, Any] = {"title": plan.title, "commands": plan.commands()}
        if ref:
            base["ref"] = ref
        if plan.owner:
            base["owner"] = plan.owner
        if plan.persists:
            base["persists"] = plan.persists
        base["namespaces"] = namespaces_of(plan, topology)
        if hits:
            base["confirm"] = {"timeout": confirm_timeout, "protected": hits}
        op = journal_op or plan.op

        def begin(live: "Live") -> None:
            body = {**base, "commands": plan.commands(), "change": plan.op, "journal_op": op, **preview(plan, live)}
            try:
                journal.append("begin", server, body, lock=lock, entry_id=entry_id)
            except journal.JournalError as e:
                raise journal.JournalError(f"{plan.title} refused: {e}; nothing was changed") from None
            if hits:
                try:
                    armed.update(confirmer.start(entry_id, confirm_timeout))
                except VnetError as e:
                    _abort(server, entry_id, f"revert timer not started: {e}", lock)
                    raise

        def commit(live: "Live", record: dict[str, Any]) -> None:
            body: dict[str, Any] = {**base, "commands": plan.commands(), **record}
            if plan.pending:
                body["pending"] = True
            armed["entry"] = journal.append(op, server, body, lock=lock, entry_id=entry_id)

        try:
            with Live(server, topology) as live:
                notes += remove_stale(live)
                record = execute(plan, live, begin=begin, commit=commit)
        except BaseException as e:
            if journal.outcome(entry_id) == "incomplete":
                _abort(server, entry_id, str(e) or type(e).__name__, lock)
            if armed:
                confirmer.stop_timer(entry_id)
            raise
        finally:
            if "entry" in armed or journal.outcome(entry_id) != "unknown":
                journal.bump_generation()
        dmg = journal.damage_note()
        if dmg:
            notes.append(dmg)
        confirm = {k: v for k, v in armed.items() if k != "entry"} or None
        return plan, record, armed["entry"], notes, confirm, hits


def _abort(server: Server, entry_id: str, why: str, lock: bool) -> None:
    try:
        journal.append("aborted", server, {"ref": entry_id, "title": f"aborted {entry_id}", "why": why}, lock=lock)
    except ChangeFailed:
        pass  # the next command's recovery finds the begin line and nothing to do
