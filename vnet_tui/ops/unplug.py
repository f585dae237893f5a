"""VM unplugs: wait for the guest, and finish pending ones later.

``device_del`` only asks the guest to release the NIC; QEMU removes the
device (and emits DEVICE_DELETED) when the guest acknowledges.  A paused
or guest-less VM never does, so the adapter is "unplug pending".  We wait
``WAIT`` seconds (``$VNET_TUI_UNPLUG_WAIT``) by polling the device list
(the sync QMP client skips events; the device vanishing is the same fact);
after that a detached finisher (``python -m vnet_tui.ops.unplug``) polls
briefly every few seconds, and when the device is gone removes the netdev
and the tap and journals ``unplugged``.  ``finish_pending`` does one pass
(the CLI calls it before each change; the TUI may call it on refresh).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from vnet_tui.discovery.qmp import QMP, QMPError
from vnet_tui.net.change import ChangeNs, qmp_call

from . import qmpview

WAIT = float(os.environ.get("VNET_TUI_UNPLUG_WAIT", "3"))
REPLUG_WAIT = float(os.environ.get("VNET_TUI_REPLUG_WAIT", "12"))
FINISH_FOR = float(os.environ.get("VNET_TUI_UNPLUG_FINISH_FOR", "3600"))
POLL = 2.0


def wait_gone(q: Any, dev_id: str, timeout: float) -> bool:
    """Poll until device ``dev_id`` is gone (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if not qmpview.device_present(q, dev_id):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def already_unplugging(e: Exception) -> bool:
    """QEMU's answer to a second device_del ("… in progress", QEMU 7.2: "already in the process of unplug")."""
    text = str(e)
    return "in progress" in text or "in the process of unplug" in text


def unplug_now(q: Any, dev_id: str) -> list[str]:
    """device_del and wait ``WAIT``; [] when gone, else why it is still there."""
    try:
        qmp_call(q, "device_del", id=dev_id)
    except QMPError as e:
        if not already_unplugging(e):
            raise
    if wait_gone(q, dev_id, WAIT):
        return []
    return [f"{dev_id}: unplug pending (the guest has not released it)"]


class _Scan:
    """What ``pending_unplugs`` has read of one journal file so far (it is append-only)."""

    def __init__(self, path: str, ident: tuple[int, int]) -> None:
        self.path, self.ident, self.offset = path, ident, 0
        self.candidates: list[dict[str, Any]] = []  # pending VM adapter deletes, journal order
        self.done: set[Any] = set()  # refs of unplugged/undo/revert entries


_scan: Any = None


def pending_unplugs() -> list[dict[str, Any]]:
    """Journal entries of VM adapter deletes still waiting for their guest.

    The journal is only ever appended to (``journal._write``), so only the
    lines added since the last call are parsed (whole lines: a line still
    being written is read next time); a different file (another state
    directory, a replaced or shorter file) is read from its start.  The
    result is the same as filtering ``journal.entries()``.
    """
    from vnet_tui.safety import journal

    global _scan
    path = str(journal.journal_path())
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        _scan = None
        return []
    try:
        st = os.fstat(fd)
        ident = (st.st_dev, st.st_ino)
        scan = _scan
        if scan is None or scan.path != path or scan.ident != ident or st.st_size < scan.offset:
            scan = _Scan(path, ident)  # a new file (or rotated): what the archives hold first
            _take(scan, journal.archived()[0])
        chunks = []
        os.lseek(fd, scan.offset, os.SEEK_SET)
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    whole = data.rfind(b"\n") + 1  # only complete lines; a torn tail is read once finished
    new: list[dict[str, Any]] = []
    for line in data[:whole].split(b"\n"):
        entry, _why = journal.parse_line(line) if line.strip() else (None, None)
        if entry is not None:  # damaged lines are skipped (journal.damage() reports them)
            new.append(entry)
    scan.offset += whole
    _take(scan, new)
    _scan = scan
    return [e for e in scan.candidates if e["id"] not in scan.done and isinstance(e.get("target"), dict)
            and isinstance(e.get("before"), dict)]


def _take(scan: _Scan, new: list[dict[str, Any]]) -> None:
    scan.done.update(e.get("ref") for e in new if e.get("op") in ("unplugged", "undo", "revert"))
    scan.candidates += [
        e
        for e in new
        if e.get("op") in ("del", "undo", "revert")
        and e.get("pending")
        and isinstance(e.get("target"), dict)
        and e["target"].get("kind") == "vme"
    ]


def finish(entry: dict[str, Any]) -> bool:
    """Complete one pending unplug if its device is gone; True when finished."""
    from vnet_tui.safety import journal

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
    from vnet_tui.safety.detach import spawn

    spawn("vnet_tui.ops.unplug", [entry_id], f"vnet-tui-unplug-{entry_id}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vnet_tui.ops.unplug")
    p.add_argument("entry_id")
    p.add_argument("--detached", action="store_true")
    args = p.parse_args(argv)
    if args.detached:
        from vnet_tui.safety.detach import daemonize

        daemonize()
    try:
        return _finish_loop(args.entry_id)
    finally:
        from vnet_tui.safety.detach import drop_empty_log

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
