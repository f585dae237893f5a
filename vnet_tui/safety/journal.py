"""The journal: one JSON line per applied change, under the state directory.

The state directory is ``$VNET_TUI_STATE`` or ``/var/lib/vnet-tui``; the
journal is ``journal.jsonl`` in it.  A change's line holds its id, time,
user, ``SSH_CONNECTION``, the server, the operation, its target, the
state before and after, and (for commit-confirmed changes) the deadline.
Later lines record what happened to it: ``undo``, ``confirm``, ``revert``
— each naming the change in ``ref``.  Lines are appended under an
exclusive lock so the TUI, the CLI and a revert timer never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from vnet_tui.core.server import Server

STATE_ENV = "VNET_TUI_STATE"
DEFAULT_STATE = "/var/lib/vnet-tui"
CHANGES = ("add", "set", "del")


def state_dir() -> Path:
    d = Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def journal_path() -> Path:
    return state_dir() / "journal.jsonl"


def who() -> str:
    """The operator: the sudo user if any, else the effective user."""
    sudo = os.environ.get("SUDO_USER")
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = str(os.geteuid())
    return f"{sudo} (as {me})" if sudo and sudo != me else me


def server_json(server: Server) -> dict[str, Optional[str]]:
    return {"lab": server.lab, "netns": server.netns}


def server_of(entry: dict[str, Any]) -> Server:
    s = entry.get("server") or {}
    return Server(lab=s.get("lab"), netns=s.get("netns"))


@contextmanager
def locked() -> Iterator[None]:
    """Hold the journal's lock (also serialises confirm against revert)."""
    fd = os.open(state_dir() / "journal.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def append(op: str, server: Server, body: dict[str, Any], *, lock: bool = True) -> dict[str, Any]:
    """Append one line; returns the entry (with its id)."""
    entry = {
        "id": new_id(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "user": who(),
        "ssh_connection": os.environ.get("SSH_CONNECTION"),
        "server": server_json(server),
        "op": op,
        **body,
    }
    line = json.dumps(entry, sort_keys=False) + "\n"
    if lock:
        with locked():
            _write(line)
    else:
        _write(line)
    return entry


def _write(line: str) -> None:
    fd = os.open(journal_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def entries() -> list[dict[str, Any]]:
    """Every line, oldest first (a torn last line is skipped)."""
    try:
        text = journal_path().read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def find(entry_id: str) -> Optional[dict[str, Any]]:
    return next((e for e in entries() if e.get("id") == entry_id), None)


def fate(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> Optional[str]:
    """What later happened to a change: "undo", "confirm", "revert" or None."""
    for e in reversed(all_entries if all_entries is not None else entries()):
        if e.get("ref") == entry_id and e.get("op") in ("undo", "confirm", "revert"):
            return str(e["op"])
    return None


FATE_WORDS = {"undo": "undone", "revert": "reverted", "confirm": "confirmed"}


def fate_word(fate: Optional[str]) -> str:
    return FATE_WORDS.get(fate or "", fate or "")


def unplug_pending(entry: dict[str, Any], all_entries: Optional[list[dict[str, Any]]] = None) -> bool:
    """A VM adapter delete whose guest has not released the NIC yet (it cannot be undone now)."""
    if entry.get("op") != "del" or not entry.get("pending"):
        return False
    return not any(
        e.get("op") == "unplugged" and e.get("ref") == entry["id"] for e in all_entries or entries()
    )


def last_change(
    server: Optional[Server] = None, skipped: Optional[list[str]] = None
) -> Optional[dict[str, Any]]:
    """The newest change not yet undone or reverted (on ``server`` if given).

    A VM unplug still pending cannot be undone until the guest lets go;
    it is passed over (its id appended to ``skipped``) so older changes
    stay undoable.
    """
    all_entries = entries()
    for e in reversed(all_entries):
        if e.get("op") not in CHANGES:
            continue
        if server is not None and server_of(e) != server:
            continue
        if fate(e["id"], all_entries) in ("undo", "revert"):
            continue
        if unplug_pending(e, all_entries):
            if skipped is not None:
                skipped.append(e["id"])
            continue
        return e
    return None


def pending_confirmations() -> list[dict[str, Any]]:
    """Commit-confirmed changes neither confirmed nor reverted yet."""
    all_entries = entries()
    return [
        e
        for e in all_entries
        if e.get("op") in CHANGES and e.get("confirm") and fate(e["id"], all_entries) is None
    ]
