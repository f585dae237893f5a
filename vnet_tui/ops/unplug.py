"""VM unplugs: ask the guest to release a NIC and wait for it.

``device_del`` only asks the guest to release the NIC; QEMU removes the
device (and emits DEVICE_DELETED) when the guest acknowledges.  A paused
or guest-less VM never does, so the adapter is "unplug pending".  We wait
``WAIT`` seconds (``$VNET_TUI_UNPLUG_WAIT``) by polling the device list
(the sync QMP client skips events; the device vanishing is the same fact);
after that the transactions layer's finisher (``txn/finisher.py``, found
through the journal's summary, ``safety/journalsummary.py``) removes the netdev and
the tap once the guest lets go, and journals ``unplugged``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from vnet_tui.discovery.qmp import QMPError
from vnet_tui.net.faults import qmp_call

from . import qmpview

WAIT = float(os.environ.get("VNET_TUI_UNPLUG_WAIT", "3"))
REPLUG_WAIT = float(os.environ.get("VNET_TUI_REPLUG_WAIT", "12"))


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
