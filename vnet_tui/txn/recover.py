"""Finish what a dead process left: journal ``begin`` lines with no completion.

Every change writes its ``begin`` line (intent + before) before the first
netlink call, under the server lock.  A ``begin`` with neither a change
line nor an ``aborted`` line, found while holding that lock, belongs to a
process that died mid-change (kill -9, power cut).  ``run`` (called by
every change, undo and the TUI's start) settles each one and says what it
did:

* a veth add whose pair is complete (paired, no pending tag) is
  **completed**: its change line is written from what is there now, so it
  is journaled and undoable; a half-made one is removed (``ops.stale``)
  and the entry **rolled back**; nothing there: rolled back;
* a veth delete whose host end is gone is completed (undo re-creates it
  from the journaled before-state); still there: nothing happened;
* an edit of one end (the ``begin`` line is its pending marker) is
  **rolled back**: the end converges to its journaled before-state;
* a VM adapter add whose NIC QEMU shows with the planned id and MAC on the
  tap is completed (undo unplugs it); otherwise its netdev and its tap are
  removed (rolled back);
* a VM adapter delete is completed: the unplug is asked again (it is
  idempotent), and once QEMU let go of the NIC its netdev and tap go; a
  guest that has not released it yet leaves the delete "unplug pending",
  journaled, with a finisher watching — as the delete itself would have;
* a VM replug (new guest MAC) that died with the NIC unplugged is rolled
  back: the NIC is plugged back with its old MAC (never left without it);
  with the NIC there, the entry is completed or closed by the MAC QEMU shows;
* anything else (a namespace replaced since, a
  lab gone) is closed with a note naming what to check, never guessed at.

A ``begin`` of a recovery itself is only closed: its change's own entry is
still incomplete and is settled again from its original before-state.
"""

from __future__ import annotations

import os
from typing import Any

from vnet_tui.core.errors import VnetError
from vnet_tui.discovery.qmp import QMP, QMPError
from vnet_tui.net.faults import qmp_call
from vnet_tui.ops import qmpview, unplug
from vnet_tui.ops.restore import plan_restore
from vnet_tui.ops.endstate import EndSnapshot, read_end
from vnet_tui.ops.live import HOST, Live, labels
from vnet_tui.ops.planner import topology_of
from vnet_tui.ops.stale import remove_stale
from vnet_tui.ops.vme import MODEL
from vnet_tui.safety import journal
from vnet_tui.safety.lock import server_lock

from . import finisher


def run(lock: bool = True) -> list[str]:
    """Settle every incomplete change (takes the server lock); returns notes.

    ``lock=False``: the caller holds the journal lock (the revert timer).
    """
    with server_lock("recovery"):
        todo = journal.incomplete()
        return [f"{b['id']} ({b.get('title', b.get('change'))}): " + recover_one(b, lock=lock) for b in todo]


def recover_one(begin: dict[str, Any], lock: bool = True) -> str:
    """Settle one incomplete change; returns what was done (also journaled)."""
    pid = begin.get("pid")
    head = f"interrupted (process {pid} died mid-change); "
    if begin.get("journal_op") == "recover":
        return _close(begin, head + "a recovery that died: its change is settled on its own", lock)
    why_not = journal.same_server(begin)
    if why_not:
        return _close(begin, head + f"not settled here: {why_not}", lock)
    try:
        how = _settle(begin, lock)
    except VnetError as e:
        how = f"could not settle it ({e}); check {', '.join(begin.get('commands') or [])[:300]}"
        return _close(begin, head + how, lock)
    except Exception as e:  # never a traceback at the next command's start
        how = f"could not settle it ({type(e).__name__}: {e})"
        return _close(begin, head + how, lock)
    return head + how


def _close(begin: dict[str, Any], why: str, lock: bool) -> str:
    journal.append(
        "aborted",
        journal.server_of(begin),
        {"ref": begin["id"], "title": f"aborted {begin['id']}", "why": why, "recovered": True},
        lock=lock,
    )
    return why


def _complete(begin: dict[str, Any], record: dict[str, Any], why: str, lock: bool) -> str:
    body = {
        k: v
        for k, v in begin.items()
        if k in ("title", "commands", "ref", "owner", "persists", "namespaces", "confirm")
    }
    body.update(record)
    body["recovered"] = why
    journal.append(
        begin.get("journal_op") or begin.get("change") or "add",
        journal.server_of(begin),
        body,
        lock=lock,
        entry_id=begin["id"],
    )
    return why


def _settle(begin: dict[str, Any], lock: bool) -> str:
    srv = journal.server_of(begin)
    t = begin.get("target") or {}
    change = begin.get("change")
    try:
        topology = topology_of(srv)
    except VnetError as e:
        return _close(begin, f"its server is gone ({e}); nothing to do", lock)
    for key, inode in (begin.get("namespaces") or {}).items():
        now = topology.host.inode if key == HOST else next(
            (c.netns.inode for c in topology.containers if c.name == key), None
        )
        if now is not None and inode and now != inode:
            return _close(begin, f"the namespace of {key} was replaced since (restarted?); nothing done", lock)
    kind = t.get("kind")
    owner = t.get("owner")
    with Live(srv, topology) as live:
        removed = remove_stale(live)
        if kind == "veth" and change == "add":
            h = read_end(live.ns(HOST), t.get("host"))
            g = read_end(live.ns(owner), t.get("guest")) if owner in live.labels else None
            if h is not None and g is not None and not (h.alias or "").startswith("vnet-tui:pending:"):
                record = {"target": t, "before": begin.get("before"), "after": {"guest": g.to_json(), "host": h.to_json()}}
                return _complete(begin, record, "completed: the adapter was made in full; journaled now (undo removes it)", lock)
            what = "rolled back: " + ("; ".join(removed) if removed else "nothing of it was left")
            return _close(begin, what, lock)
        if kind == "veth" and change == "del":
            h = read_end(live.ns(HOST), t.get("host"))
            if h is None:
                record = {"target": t, "before": begin.get("before"), "after": None}
                return _complete(begin, record, "completed: the adapter was deleted; journaled now (undo re-makes it)", lock)
            return _close(begin, "nothing had been deleted yet; left as it is", lock)
        if kind == "vme" and change == "add" and t.get("tap"):
            return _settle_vme_add(begin, live, removed, lock)
        if kind == "vme" and change == "del" and t.get("tap") and t.get("end") != "guest":
            return _settle_vme_del(begin, live, lock)
        if kind == "vme" and change == "set" and t.get("end") == "guest":
            return _settle_replug(begin, lock)
        if change == "set" and t.get("ns") and isinstance(begin.get("before"), dict):
            return _restore(begin, srv, topology, lock)
    return _close(
        begin,
        f"not settled automatically ({kind or '?'} {change or '?'}); check: " + "; ".join(begin.get("commands") or []),
        lock,
    )


def _restore(begin: dict[str, Any], srv: Any, topology: Any, lock: bool) -> str:
    """An edit that died half-way: converge the end back to the journaled before-state."""
    from . import api  # a real cycle: api.apply → transaction.run → recover.run → here

    t = begin["target"]
    plan = plan_restore(labels(srv, topology), t.get("owner"), t, EndSnapshot.from_json(begin["before"]), None)
    plan.title = f"recover {begin['id']}: {plan.title}"
    result = api.apply(srv, topology, plan, journal_op="recover", ref=begin["id"], guard=False, lock=lock)
    return _close(begin, "rolled back to the state before the edit: " + "; ".join(result.commands or ["nothing differed"]), lock)


def at_start() -> list[str]:
    """For the TUI's start (and any caller that must not fail): settle what is open, say what was done.

    Never raises: a lock held by another operator, or a state directory
    that cannot be read, becomes a note instead.
    """
    try:
        if not journal.incomplete():
            return []
        with server_lock("recovery", wait=2.0):
            return run()
    except VnetError as e:
        return [f"interrupted changes not settled yet: {e}"]
    except OSError as e:
        return [f"interrupted changes not settled yet: {e.strerror or e}"]


def _settle_vme_add(begin: dict[str, Any], live: Any, removed: list[str], lock: bool) -> str:
    """A VM adapter add that died: complete it when QEMU has the NIC, else remove netdev and tap."""
    t = begin["target"]
    planned = begin.get("planned") if isinstance(begin.get("planned"), dict) else {}
    nic = planned.get("nic") if isinstance(planned.get("nic"), dict) else None
    tap = t["tap"]
    host = live.ns(HOST)
    done: list[str] = list(removed)
    qmp_path = t.get("qmp")
    if nic and qmp_path and os.path.exists(qmp_path):
        with QMP(qmp_path, timeout=3.0) as q:
            found, loose = qmpview.nics(q)
            mine = next((n for n in found if n.id == nic.get("id")), None)
            if mine is not None and mine.ifname == tap and (mine.mac or "").lower() == (nic.get("mac") or "").lower():
                end = read_end(host, tap)
                record = {"target": t, "before": None, "after": {"tap": end.to_json() if end else None, "nic": nic}}
                return _complete(begin, record, "completed: QEMU has the NIC on the tap; journaled now (undo unplugs it)", lock)
            if mine is not None:
                return _close(begin, f"QEMU has a device {mine.id} that is not the one planned; left as it is", lock)
            if nic.get("netdev") in loose:
                qmp_call(q, "netdev_del", id=nic["netdev"])
                done.append(f"netdev {nic['netdev']} removed from {t.get('owner')}")
    end = read_end(host, tap)
    if end is not None:
        host.link_del(end.ifindex)
        done.append(f"tap {tap} removed")
    return _close(begin, "rolled back: " + ("; ".join(done) if done else "nothing of it was left"), lock)


def _settle_vme_del(begin: dict[str, Any], live: Any, lock: bool) -> str:
    """A VM adapter delete that died: finish it (unplug again, then netdev and tap), journaled."""
    t = begin["target"]
    before = begin.get("before") if isinstance(begin.get("before"), dict) else {}
    nic = before.get("nic") if isinstance(before.get("nic"), dict) else None
    if nic is None or not nic.get("id"):
        return _close(begin, "a VM adapter delete without its NIC in the journal: left as it is", lock)
    tap, qmp_path = t["tap"], t.get("qmp")
    gone = True
    if qmp_path and os.path.exists(qmp_path):
        with QMP(qmp_path, timeout=3.0) as q:
            if qmpview.device_present(q, nic["id"]):
                try:
                    qmp_call(q, "device_del", id=nic["id"])
                except QMPError as e:
                    if not unplug.already_unplugging(e):
                        raise
                gone = unplug.wait_gone(q, nic["id"], unplug.WAIT)
            if gone and nic.get("netdev") in qmpview.nics(q)[1]:
                qmp_call(q, "netdev_del", id=nic["netdev"])
    if gone:
        end = read_end(live.ns(HOST), tap)
        if end is not None:
            live.ns(HOST).link_del(end.ifindex)
        record = {"target": t, "before": before, "after": {"pending": False}}
        return _complete(begin, record, "completed: the NIC, its netdev and the tap are gone; journaled now "
                                        "(undo plugs it back)", lock)
    record = {"target": t, "before": before, "after": {"pending": True}, "pending": True}
    why = _complete(begin, record, "completed as unplug pending: the guest has not released the NIC yet; "
                                   "a finisher removes the tap when it does", lock)
    finisher.spawn_finisher(begin["id"])
    return why


def _settle_replug(begin: dict[str, Any], lock: bool) -> str:
    """A replug that died: never leave the VM without its NIC (plug it back with the old MAC)."""
    t = begin["target"]
    before = begin.get("before") if isinstance(begin.get("before"), dict) else {}
    n = before.get("nic") if isinstance(before.get("nic"), dict) else None
    planned = begin.get("planned") if isinstance(begin.get("planned"), dict) else {}
    new_mac = ((planned.get("nic") or {}) if isinstance(planned.get("nic"), dict) else {}).get("mac")
    qmp_path = t.get("qmp")
    if n is None or not qmp_path or not os.path.exists(qmp_path):
        return _close(begin, "the VM or its NIC record is gone: nothing to do", lock)
    with QMP(qmp_path, timeout=3.0) as q:
        now = next((x for x in qmpview.nics(q)[0] if x.id == n.get("id")), None)
        if now is None:
            qmp_call(q, "device_add", driver=n.get("model") or MODEL, id=n["id"], netdev=n.get("netdev"),
                     mac=n.get("mac"), bus=n.get("bus"))
            return _close(begin, f"rolled back: {n['id']} plugged back with its old MAC {n.get('mac')}", lock)
        if new_mac and (now.mac or "").lower() == new_mac.lower():
            record = {"target": t, "before": before, "after": {"nic": {**n, "mac": new_mac}}}
            return _complete(begin, record, "completed: the NIC is back with the new MAC; journaled now", lock)
    return _close(begin, f"{n['id']} still has its old MAC (an unplug may still be pending in the guest)", lock)
