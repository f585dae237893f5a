"""The journal: one JSON line per change, under the state directory, written ahead.

The state directory is ``$VNET_TUI_STATE`` or ``/var/lib/vnet-tui``; the
journal is ``journal.jsonl`` in it.  A change is two lines with one id:

* ``{"op": "begin", "id": C, "change": "add"|"set"|"del", "target", "before", …}``
  written and fsynced *before* the first netlink call (write-ahead);
* the change's own line ``{"op": "add"|"set"|"del"|"undo"|"revert", "id": C, …,
  "before", "after"}`` once it is applied and verified — or
  ``{"op": "aborted", "ref": C, "why"}`` when it was refused or rolled back.

A ``begin`` with neither is *incomplete*: its process died mid-change;
``txn.recover`` rolls it back or completes it on the next command.
Later lines record what happened to a change: ``undo``, ``confirm``,
``revert`` — each naming the change in ``ref``.

This module holds the format and the questions asked of it (``find``,
``fate``, ``incomplete``, ``last_change`` …).  The parts below it, each
re-exported here so callers keep writing ``journal.append`` and the like:
``journalfile`` (state directory, lock, line-atomic appends, rotation),
``journalread`` (reading), ``journalsummary`` (what every change asks:
interrupted changes, pending unplugs, damage), ``origin`` (who and which server made
an entry) and ``generation`` (the change counter).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from vnet_tui.core.server import Server

from .generation import bump_generation, generation
from .journalfile import (
    DEFAULT_STATE,
    KEEP,
    ROTATE_ENV,
    STATE_ENV,
    JournalError,
    append,
    archives,
    encode,
    journal_path,
    locked,
    new_id,
    rotate_bytes,
    state_dir,
    state_path,
)
from .journalread import archived, entries, newest_first, parse_line, read
from .journalsummary import damage, damage_note
from .journalsummary import incomplete as _summary_incomplete
from .origin import lab_instance, machine_id, same_server, server_json, server_of, who

__all__ = [
    "CHANGES", "RESTORES", "DEFAULT_STATE", "KEEP", "ROTATE_ENV", "STATE_ENV", "JournalError", "append",
    "archives", "archived", "bump_generation", "changes_here", "damage", "damage_note", "encode", "entries",
    "fate", "fate_word", "FATE_WORDS", "find", "generation", "incomplete", "journal_path", "lab_instance",
    "last_change", "locked", "machine_id", "new_id", "outcome", "parse_line", "unconfirmed", "read",
    "rotate_bytes", "same_server", "server_json", "server_of", "state_dir", "state_path", "unplug_pending",
    "who",
]

CHANGES = ("add", "set", "del")
RESTORES = ("undo", "revert")  # lines that undo a change (its id in "ref")


def _newest_lines() -> Iterator[dict[str, Any]]:
    """Every entry, newest first: a rotated file is parsed only when the reader gets that far."""
    for chunk in newest_first():
        yield from reversed(chunk)


def find(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> Optional[dict[str, Any]]:
    """The change line of ``entry_id`` (its ``begin`` line only when nothing else has the id).

    Without ``all_entries``, read newest first and no further back than the change's ``begin``
    (every line with its id comes after it).
    """
    if all_entries is None:
        found = None
        for e in _newest_lines():
            if e.get("id") == entry_id:
                if e.get("op") == "begin":
                    return found or e
                found = e
        return found
    begin = None
    for e in all_entries:
        if e.get("id") == entry_id:
            if e.get("op") != "begin":
                return e
            begin = begin or e
    return begin


def fate(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> Optional[str]:
    """What later happened to a change: "undo", "confirm", "revert" or None.

    Without ``all_entries``, read newest first and no further back than the change's ``begin``
    (what happened to it comes after it).
    """
    lines = reversed(all_entries) if all_entries is not None else _newest_lines()
    for e in lines:
        if e.get("ref") == entry_id and e.get("op") in ("undo", "confirm", "revert"):
            return str(e["op"])
        if all_entries is None and e.get("id") == entry_id and e.get("op") == "begin":
            return None
    return None


FATE_WORDS = {"undo": "undone", "revert": "reverted", "confirm": "confirmed"}


def fate_word(fate: Optional[str]) -> str:
    return FATE_WORDS.get(fate or "", fate or "")


def incomplete(all_entries: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """``begin`` lines with no change line and no ``aborted`` line: their process died mid-change.

    Without ``all_entries``, from the journal's summary (``journalsummary``: the history is not parsed).
    """
    if all_entries is None:
        return _summary_incomplete()
    es = all_entries
    closed = {e["id"] for e in es if e.get("op") != "begin"}
    closed |= {e["ref"] for e in es if e.get("op") == "aborted" and e.get("ref")}
    return [e for e in es if e.get("op") == "begin" and e["id"] not in closed]


def outcome(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> str:
    """"done", "aborted", "incomplete" or "unknown" for a change id."""
    es = all_entries if all_entries is not None else entries()
    if any(e.get("id") == entry_id and e.get("op") != "begin" for e in es):
        return "done"
    if any(e.get("op") == "aborted" and e.get("ref") == entry_id for e in es):
        return "aborted"
    if any(e.get("id") == entry_id and e.get("op") == "begin" for e in es):
        return "incomplete"
    return "unknown"


def unplug_pending(entry: dict[str, Any], all_entries: Optional[list[dict[str, Any]]] = None) -> bool:
    """A VM adapter delete whose guest has not released the NIC yet (it cannot be undone now)."""
    if entry.get("op") != "del" or not entry.get("pending"):
        return False
    return not any(
        e.get("op") == "unplugged" and e.get("ref") == entry["id"] for e in all_entries or entries()
    )


def _is_change(e: dict[str, Any]) -> bool:
    return e.get("op") in CHANGES and isinstance(e.get("target"), dict)


def changes_here(
    server: Optional[Server] = None, all_entries: Optional[list[dict[str, Any]]] = None
) -> list[dict[str, Any]]:
    """Change lines made on this machine (and the lab instance as it is now), on ``server`` if given."""
    es = all_entries if all_entries is not None else entries()
    return [e for e in es if _is_change(e) and same_server(e, server) is None]


def last_change(
    server: Optional[Server] = None, skipped: Optional[list[str]] = None
) -> Optional[dict[str, Any]]:
    """The newest change not yet undone or reverted, made on this server and lab instance.

    A VM unplug still pending cannot be undone until the guest lets go;
    it is passed over (its id appended to ``skipped``) so older changes
    stay undoable.

    Read newest file first (``journalread.newest_first``): a change's fate
    is in lines after it, so the files after the one being looked at are
    all that is needed; older rotated files are parsed only if no change
    in the newer ones answers.
    """
    later: list[dict[str, Any]] = []  # the entries of the files looked at so far, oldest first
    for chunk in newest_first():
        later = chunk + later
        for e in reversed(changes_here(server, chunk)):
            if fate(e["id"], later) in ("undo", "revert"):
                continue
            if unplug_pending(e, later):
                if skipped is not None:
                    skipped.append(e["id"])
                continue
            return e
    return None


def unconfirmed() -> list[dict[str, Any]]:
    """Commit-confirmed changes neither confirmed nor reverted yet."""
    all_entries = entries()
    return [
        e
        for e in all_entries
        if _is_change(e) and e.get("confirm") and fate(e["id"], all_entries) is None
    ]
