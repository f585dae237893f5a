"""Who made a journal entry and where: the operator, this machine, the server and lab instance.

A journal line records its server (lab or netns, hostname, machine-id, the
lab's instance id); ``same_server`` says whether an entry was made here, so
undo and recovery never act on another machine's or an earlier lab build's
change.
"""

from __future__ import annotations

import os
import pwd
import socket
from typing import Any, Optional

from vnet_tui.core.server import Server


def who() -> str:
    """The operator: the sudo user if any, else the effective user."""
    sudo = os.environ.get("SUDO_USER")
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = str(os.geteuid())
    return f"{sudo} (as {me})" if sudo and sudo != me else me


def machine_id() -> Optional[str]:
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(p, encoding="ascii", errors="replace") as f:
                v = f.read().strip()
            if v:
                return v
        except OSError:
            continue
    return None


def lab_instance(lab: Optional[str]) -> Optional[str]:
    """The lab's instance id (a rebuilt lab gets a new one), or None."""
    if not lab:
        return None
    try:
        from vnet_tui.lab.registry import instance_id  # deferred: the lab package's init loads the lab builder

        return instance_id(lab)
    except Exception:  # an unreadable lab record: no instance (undo then refuses)
        return None


def server_json(server: Server) -> dict[str, Optional[str]]:
    return {
        "lab": server.lab,
        "netns": server.netns,
        "hostname": socket.gethostname(),
        "machine_id": machine_id(),
        "lab_instance": lab_instance(server.lab),
    }


def server_of(entry: dict[str, Any]) -> Server:
    s = entry.get("server") or {}
    if not isinstance(s, dict):
        s = {}
    return Server(lab=s.get("lab"), netns=s.get("netns"))


def same_server(entry: dict[str, Any], server: Optional[Server] = None) -> Optional[str]:
    """None when ``entry`` was made on this machine (and this lab instance); else why not.

    ``server`` given: the entry must also be on that server (lab/netns).
    """
    s = entry.get("server") if isinstance(entry.get("server"), dict) else {}
    if server is not None and server_of(entry) != server:
        return f"it was made on {server_of(entry).label}"
    mid = machine_id()
    if s.get("machine_id") != mid:
        host = s.get("hostname") or "an unknown server"
        return f"it was made on another server ({host}, machine-id {s.get('machine_id') or 'not recorded'})"
    if s.get("lab"):
        now = lab_instance(s["lab"])
        if now is None or s.get("lab_instance") != now:
            return (
                f"it was made on an earlier build of lab {s['lab']} (instance "
                f"{s.get('lab_instance') or 'not recorded'}; the lab now is {now or 'gone'})"
            )
    return None
