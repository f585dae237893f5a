"""The unplug finisher: completes VM adapter deletes once the guest releases the NIC.

A delete whose guest did not let go within ``ops.unplug.WAIT`` is
journaled "unplug pending".  A detached finisher (``python -m
vnet_tui.txn.finisher ID``) then polls briefly every few seconds, and when
the device is gone removes the netdev and the tap and journals
``unplugged``.  ``finish_pending`` does one pass over what the journal's
summary (``safety.journalsummary.pending_unplugs``) finds: every change calls it under the server
lock before its own steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from vnet_tui.discovery.qmp import QMP, QMPError
from vnet_tui.net.change import ChangeNs
from vnet_tui.net.faults import qmp_call
from vnet_tui.ops import qmpview
from vnet_tui.safety import journal
from vnet_tui.safety.detach import daemonize, drop_empty_log, spawn
from vnet_tui.safety.journalsummary import pending_unplugs

FINISH_FOR = float(os.environ.get("VNET_TUI_UNPLUG_FINISH_FOR", "3600"))
POLL = 2.0


def finish(entry: dict[str, Any]) -> bool:
    """Complete one pending unplug if its device is gone; True when finished."""
    target, before = entry["target"], entry["before"]
    nic, tap = before["nic"], target["tap"]
    qmp_path = target.get("qmp")
    vm_gone = not qmp_path or not os.path.exists(qmp_path)
    if not vm_gone:
        try:
            with QMP(qmp_path, timeout=3.0) as q:
                if qmpview.device_present(q, nic["id"]):
                    return False
                _, loose = qmpview.nics(q)
                if nic.get("netdev") in loose:
                    qmp_call(q, "netdev_del", id=nic["netdev"])
        except (OSError, QMPError):
            vm_gone = not os.path.exists(qmp_path or "")
            if not vm_gone:
                return False
    server = journal.server_of(entry)
    with ChangeNs(server.host_netns) as ns:
        found = ns.ipr.link_lookup(ifname=tap)
        if found:
            ns.link_del(found[0])
    journal.append(
        "unplugged", server, {"ref": entry["id"], "title": f"{tap} removed after the guest released it"}
    )
    return True


def finish_pending() -> list[str]:
    """One pass over pending unplugs; returns notes about those finished."""
    notes = []
    for e in pending_unplugs():
        try:
            if finish(e):
                notes.append(f"finished the pending unplug of {e['target']['tap']} ({e['target']['owner']})")
        except Exception:  # a VM that is busy now is tried again later
            continue
    return notes


def spawn_finisher(entry_id: str) -> None:
    spawn("vnet_tui.txn.finisher", [entry_id], f"vnet-tui-unplug-{entry_id}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vnet_tui.txn.finisher")
    p.add_argument("entry_id")
    p.add_argument("--detached", action="store_true")
    args = p.parse_args(argv)
    if args.detached:
        daemonize()
    try:
        return _finish_loop(args.entry_id)
    finally:
        drop_empty_log(f"vnet-tui-unplug-{args.entry_id}")


def _finish_loop(entry_id: str) -> int:
    deadline = time.monotonic() + FINISH_FOR
    while time.monotonic() < deadline:
        entry = next((e for e in pending_unplugs() if e["id"] == entry_id), None)
        try:
            if entry is None or finish(entry):
                return 0
        except Exception as e:  # the server itself is gone (a lab taken down): nothing left to finish
            print(f"unplug finisher {entry_id}: {e}", file=sys.stderr)
            return 1
        time.sleep(POLL)
    return 1


if __name__ == "__main__":
    sys.exit(main())
