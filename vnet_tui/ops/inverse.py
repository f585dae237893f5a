"""The inverse of a journaled change: the plan that reverts it on the server as it is now.

* add → delete what was made (if it is still the same interface);
* delete → make it again exactly as the snapshot says;
* set → converge the end back to its "before" state (or replug the old
  guest MAC).

Each kind's inverse is built by the module that plans it (``veth``,
``vme``, ``vme_remove``, ``restore.plan_restore``, ``owned``, ``policy``,
``guestaddr``); this module checks the target is the one journaled and
picks the inverse.  ``txn.undo`` applies it.
"""

from __future__ import annotations

from typing import Any

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Adapter, Container, Topology, VMNic
from vnet_tui.core.server import Server
from vnet_tui.safety import journal

from . import guestaddr, owned, persist, policy, veth, vme, vme_remove
from .restore import plan_restore
from .endstate import EndSnapshot
from .live import labels
from .plan import Plan


def _owner(topology: Topology, name: str) -> Any:
    for c in topology.containers:
        if c.name == name:
            return c
    for v in topology.vms:
        if v.name == name:
            return v
    raise NotFound(f"{name} is gone: the change cannot be undone", rule="undo-target")


def check_identity(entry: dict[str, Any], topology: Topology) -> None:
    """Refuse when the change's container or VM is not the one journaled (restarted, re-made).

    A container whose network namespace inode differs from the journaled
    one, or a VM whose QEMU process id differs, is another instance under
    the same name: the change is never applied to it (rule undo-target-replaced).
    """
    t = entry.get("target") or {}
    owner = entry.get("owner") if isinstance(entry.get("owner"), dict) else {}
    name = t.get("owner")
    ct = next((c for c in topology.containers if c.name == name), None)
    vm = next((v for v in topology.vms if v.name == name), None)
    want_inode = t.get("netns_inode") or owner.get("netns_inode")
    if ct is not None and want_inode and ct.netns.inode != want_inode:
        raise NotFound(
            f"{name} is not the container the change was made on: its network namespace was replaced "
            f"(inode {want_inode} then, {ct.netns.inode} now; restarted?). Change {entry['id']} is not "
            "applied to it",
            rule="undo-target-replaced",
        )
    lead = owner.get("leader")
    if ct is not None and lead and persist.start_time(lead[0]) != lead[1] or \
            ct is not None and lead and lead[0] not in ct.netns.pids:
        raise NotFound(
            f"{name} is not the container the change was made on: the process that held its network "
            f"namespace (pid {lead[0]}) is gone (restarted?), even if the namespace's inode number was "
            f"reused. Change {entry['id']} is not applied to it",
            rule="undo-target-replaced",
        )
    if vm is not None and owner.get("pid") and vm.pid != owner.get("pid"):
        raise NotFound(
            f"{name} is not the VM the change was made on (QEMU pid {owner.get('pid')} then, {vm.pid} now; "
            f"restarted?). Change {entry['id']} is not applied to it",
            rule="undo-target-replaced",
        )
    for key, inode in (entry.get("namespaces") or {}).items():
        if key == "host":
            now = topology.host.inode
        else:
            c = next((c for c in topology.containers if c.name == key), None)
            now = c.netns.inode if c else None
        if now and inode and now != inode:
            raise NotFound(
                f"the namespace of {key} was replaced since change {entry['id']} (inode {inode} then, "
                f"{now} now): it is not applied to the new one",
                rule="undo-target-replaced",
            )


def inverse_plan(entry: dict[str, Any], server: Server, topology: Topology) -> Plan:
    """The plan that reverts ``entry`` on the server as it is now."""
    check_identity(entry, topology)
    if (entry.get("target") or {}).get("kind") in owned.OWNER_KINDS:  # made through its owner: undone so
        return owned.inverse(entry, topology)
    if (entry.get("target") or {}).get("kind") == "policy":  # the port back to the journaled settings
        return policy.inverse(entry, server, topology)
    if (entry.get("target") or {}).get("kind") == "guest-addr":  # a VM guest's addresses, through its agent
        return guestaddr.inverse(entry, server, topology)
    op, t = entry["op"], entry["target"]
    lab = labels(server, topology)
    owner = _owner(topology, t["owner"])
    if t["kind"] == "veth" and isinstance(owner, Container):
        if op == "add":
            host = next((i for i in topology.host.interfaces if i.ifname == t["host"]), None)
            # the same adapter: that name, paired with that guest end (possibly re-made by an undo since)
            if (
                host is None
                or host.peer is None
                or (host.peer.owner, host.peer.ifname) != (t["owner"], t["guest"])
            ):
                raise NotFound(
                    f"{t['owner']}/{t['guest']} ⇄ {t['host']} made by this change is gone", rule="undo-target"
                )
            return veth.plan_delete(lab, owner, t["guest"], t["host"])
        if op == "del":
            return veth.plan_recreate(lab, owner, entry["before"])
    if t["kind"] == "vme" and isinstance(owner, VM):
        if op == "add":
            if any(
                journal.unplug_pending(e) and (e.get("target") or {}).get("tap") == t["tap"] for e in journal.entries()
            ):
                raise InvalidInput(
                    f"{t['tap']} is already being unplugged (the guest has not released it yet)",
                    rule="unplug-pending",
                )
            nic = (entry.get("after") or {}).get("nic") or {}
            adapter = Adapter(
                "vme", owner.name, None, None, VMNic(nic.get("id", "?"), nic.get("mac"), t["tap"])
            )
            return vme_remove.plan_delete(lab, owner, adapter)
        if op == "del":
            if entry.get("pending") and journal.fate(entry["id"]) is None and not _unplugged(entry["id"]):
                raise InvalidInput(
                    f"{t['tap']}'s unplug is still pending: the guest has not released the NIC, "
                    "so it cannot be plugged back yet",
                    rule="unplug-pending",
                )
            return vme.plan_recreate(lab, owner, entry["before"])
        if op == "set" and t.get("end") == "guest":
            nic = entry["before"]["nic"]
            adapter = Adapter("vme", owner.name, None, None, VMNic(nic["id"], nic.get("mac"), t["tap"]))
            return vme_remove.plan_replug(lab, owner, adapter, nic["mac"])
    if op == "set":
        return plan_restore(lab, owner.name, t, EndSnapshot.from_json(entry["before"]), entry.get("after"))
    raise InvalidInput(f"cannot undo a {op} of a {t.get('kind')}", rule="undo-kind")


def _unplugged(entry_id: str) -> bool:
    return any(e.get("op") == "unplugged" and e.get("ref") == entry_id for e in journal.entries())
