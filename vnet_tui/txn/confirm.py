"""Commit-confirmed: a change to the session's interfaces reverts itself unless confirmed.

``start`` launches the revert timer outside our process (``detach.spawn``
→ ``python -m vnet_tui.txn.revert ID --after SECONDS``), so it fires
even if the TUI, the CLI and the SSH session are gone.  ``confirm`` —
``vnet-tui adapter confirm [ID]`` or the TUI's prompt — journals
``confirm`` for the change and stops the timer.  Confirm and revert take
the journal lock and check the change's fate first, so exactly one wins.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput, NotFound

from vnet_tui.safety import detach, journal


CONFIRM_TIMEOUT_MIN, CONFIRM_TIMEOUT_MAX = 2.0, 3600.0  # seconds (NetworkManager 15, netplan 120, Junos 600)


def check_confirm_timeout(value: Any) -> float:
    """A revert timer's timeout: a finite number of seconds within 2–3600 (rule confirm-timeout)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t) or not CONFIRM_TIMEOUT_MIN <= t <= CONFIRM_TIMEOUT_MAX:
        raise InvalidInput(
            f"confirm timeout {value!r}: give a number of seconds from {CONFIRM_TIMEOUT_MIN:g} to "
            f"{CONFIRM_TIMEOUT_MAX:g} (the change is reverted when it runs out unconfirmed)",
            rule="confirm-timeout",
        )
    return t


def pid_file(entry_id: str) -> Path:
    d = journal.state_dir() / "timers"
    d.mkdir(exist_ok=True)
    return d / f"{entry_id}.pid"


def unit(entry_id: str) -> str:
    return f"vnet-tui-revert-{entry_id}"


ARM_WAIT = 10.0  # seconds for the timer process to say it runs


def start(entry_id: str, timeout: float) -> dict[str, Any]:
    """Start the revert timer for change ``entry_id`` and see it running.

    Returns {"id", "deadline", "timeout", "via", "pid"}.  The timer writes
    its pid file once it runs; if that does not happen within ``ARM_WAIT``
    seconds the timer is stopped and ``ChangeFailed`` (rule revert-timer)
    refuses the change before anything was applied.
    """
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise InvalidInput(f"confirm timeout {timeout!r} is not a finite number of seconds", rule="confirm-timeout")
    deadline = time.time() + timeout
    try:
        pf = pid_file(entry_id)
        pf.unlink(missing_ok=True)
        how = detach.spawn("vnet_tui.txn.revert", [entry_id, "--after", f"{timeout!r}"], unit(entry_id))
    except OSError as e:
        raise ChangeFailed(
            f"the revert timer could not be started ({e.strerror or e}); nothing was changed", rule="revert-timer"
        ) from None
    pid = _wait_running(pf, time.monotonic() + ARM_WAIT)
    if pid is None:
        stop_timer(entry_id)
        raise ChangeFailed(
            f"the revert timer did not start within {ARM_WAIT:g} s (see {detach.log_of(unit(entry_id))}); "
            "nothing was changed",
            rule="revert-timer",
        )
    return {
        "id": entry_id,
        "deadline": deadline,
        "timeout": timeout,
        "via": how["via"],
        "pid": pid,
        "confirm_command": f"vnet-tui adapter confirm {entry_id}",
    }


def _wait_running(pf: Path, until: float) -> Optional[int]:
    while time.monotonic() < until:
        try:
            pid = int(pf.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            time.sleep(0.02)
        except PermissionError:
            return None
    return None


def unconfirmed() -> list[dict[str, Any]]:
    """Changes waiting for confirmation, newest last, with their deadlines."""
    out = []
    for e in journal.unconfirmed():
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
    """Confirm ``entry_id`` (default: every unconfirmed one); returns the ids confirmed."""
    with journal.locked():
        waiting = journal.unconfirmed()
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
