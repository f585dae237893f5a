"""Commit-confirmed: a change to the session's interfaces reverts itself unless confirmed.

``start`` launches the revert timer outside our process (``detach.spawn``
→ ``python -m vnet_tui.safety.revert ID --after SECONDS``), so it fires
even if the TUI, the CLI and the SSH session are gone.  ``confirm`` —
``vnet-tui adapter confirm [ID]`` or the TUI's prompt — journals
``confirm`` for the change and stops the timer.  Confirm and revert take
the journal lock and check the change's fate first, so exactly one wins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotFound

from . import detach, journal


def pid_file(entry_id: str) -> Path:
    d = journal.state_dir() / "timers"
    d.mkdir(exist_ok=True)
    return d / f"{entry_id}.pid"


def unit(entry_id: str) -> str:
    return f"vnet-tui-revert-{entry_id}"


def start(entry_id: str, timeout: float) -> dict[str, Any]:
    """Start the revert timer for change ``entry_id``; returns {"id", "deadline", "timeout", "via"}."""
    deadline = time.time() + timeout
    how = detach.spawn("vnet_tui.safety.revert", [entry_id, "--after", f"{timeout:g}"], unit(entry_id))
    return {
        "id": entry_id,
        "deadline": deadline,
        "timeout": timeout,
        "via": how["via"],
        "confirm_command": f"vnet-tui adapter confirm {entry_id}",
    }


def pending() -> list[dict[str, Any]]:
    """Changes waiting for confirmation, newest last, with their deadlines."""
    out = []
    for e in journal.pending_confirmations():
        c = e.get("confirm") or {}
        out.append(
            {
                "id": e["id"],
                "title": e.get("title"),
                "timeout": c.get("timeout"),
                "protected": c.get("protected"),
            }
        )
    return out


def confirm(entry_id: Optional[str] = None) -> list[str]:
    """Confirm ``entry_id`` (default: every pending one); returns the ids confirmed."""
    with journal.locked():
        waiting = journal.pending_confirmations()
        if entry_id:
            chosen = [e for e in waiting if e["id"] == entry_id]
            if not chosen:
                e = journal.find(entry_id)
                if e is None:
                    raise NotFound(f"no change {entry_id} in the journal", rule="confirm")
                fate = journal.fate(entry_id)
                raise InvalidInput(
                    f"change {entry_id} is not waiting for confirmation"
                    + (f" (it was {journal.fate_word(fate)})" if fate else ""),
                    rule="confirm-late",
                )
        else:
            chosen = waiting
            if not chosen:
                raise NotFound("no change is waiting for confirmation", rule="confirm")
        for e in chosen:
            journal.append(
                "confirm", journal.server_of(e), {"ref": e["id"], "title": f"confirmed {e['id']}"}, lock=False
            )
    for e in chosen:
        stop_timer(e["id"])
    return [e["id"] for e in chosen]


def stop_timer(entry_id: str) -> None:
    """Stop the timer process (it would find the change confirmed and exit anyway)."""
    if detach.use_systemd():
        subprocess.run(["systemctl", "stop", unit(entry_id)], capture_output=True)
    p = pid_file(entry_id)
    try:
        pid = int(p.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass
    p.unlink(missing_ok=True)
