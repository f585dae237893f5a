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

Writes are line-atomic: one ``write`` of a whole line (``O_APPEND``),
checked for a short write (the torn part is cut off again), after a
newline when the file does not end with one (a torn line left by a crash
never swallows the next entry), then ``fsync``.  Readers skip damaged
lines — bytes that are not UTF-8, text that is not JSON, JSON that is not
an object or lacks ``id``/``op`` — and report them (``damage()``).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pwd
import secrets
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server

STATE_ENV = "VNET_TUI_STATE"
DEFAULT_STATE = "/var/lib/vnet-tui"
CHANGES = ("add", "set", "del")
RESTORES = ("undo", "revert")  # lines that undo a change (its id in "ref")


class JournalError(ChangeFailed):
    """The journal could not be written: the change is refused (or rolled back)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="journal")


def state_path() -> Path:
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


def state_dir() -> Path:
    d = state_path()
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


# -- which server, which lab instance -------------------------------------------------
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


# -- locking and writing ------------------------------------------------------------------
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


def _finite(obj: Any) -> Any:
    """Refuse NaN/Infinity anywhere (they are not JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"{obj} is not a finite number")
    if isinstance(obj, dict):
        for v in obj.values():
            _finite(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _finite(v)
    return obj


def encode(entry: dict[str, Any]) -> bytes:
    """One journal line: ASCII JSON (non-UTF-8 names stay escapes), no NaN/Infinity."""
    return (json.dumps(entry, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def append(
    op: str, server: Server, body: dict[str, Any], *, lock: bool = True, entry_id: Optional[str] = None
) -> dict[str, Any]:
    """Append one line and fsync it; returns the entry.  JournalError when it cannot."""
    entry = {
        "id": entry_id or new_id(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "user": who(),
        "pid": os.getpid(),
        "ssh_connection": os.environ.get("SSH_CONNECTION"),
        "server": server_json(server),
        "op": op,
        **body,
    }
    try:
        line = encode(_finite(entry))
    except (ValueError, TypeError) as e:
        raise JournalError(f"the journal entry cannot be written: {e}") from None
    if lock:
        with locked():
            _write(line)
    else:
        _write(line)
    return entry


def _write(line: bytes) -> None:
    try:
        path = journal_path()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise JournalError(f"cannot open the journal in {state_path()}: {e.strerror or e}") from None
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            _fsync_dir(path.parent)
        elif os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn line before: end it, so this entry stands on its own
        try:
            n = os.write(fd, line)
        except OSError as e:
            _cut(fd, size)
            raise JournalError(f"cannot write the journal in {state_path()}: {e.strerror or e}") from None
        if n != len(line):
            _cut(fd, size)
            raise JournalError(
                f"short write to the journal in {state_path()} ({n} of {len(line)} bytes; disk full?)"
            )
        try:
            os.fsync(fd)
        except OSError as e:
            _cut(fd, size)
            raise JournalError(f"cannot sync the journal in {state_path()}: {e.strerror or e}") from None
        if size + n > rotate_bytes():
            _rotate(path)
    finally:
        os.close(fd)


ROTATE_ENV = "VNET_TUI_JOURNAL_ROTATE"
KEEP = 8  # archived files kept; the oldest goes first (its changes' later lines are in newer files)


def rotate_bytes() -> int:
    try:
        return max(1024, int(os.environ.get(ROTATE_ENV) or 4 << 20))
    except ValueError:
        return 4 << 20


def archives() -> list[Path]:
    """Rotated journal files, oldest first (``journal-<seq>.jsonl``; they are never written again)."""
    d = state_path()
    try:
        names = [n for n in os.listdir(d) if n.startswith("journal-") and n.endswith(".jsonl")]
    except OSError:
        return []
    return [d / n for n in sorted(names)]


def _rotate(path: Path) -> None:
    """Start a new file (called with the journal lock held); readers read the archives first."""
    old = archives()
    seq = int(old[-1].name[len("journal-"):-len(".jsonl")]) + 1 if old else 1
    try:
        os.rename(path, path.with_name(f"journal-{seq:06d}.jsonl"))
        _fsync_dir(path.parent)
        for stale in old[: max(0, len(old) + 1 - KEEP)]:
            stale.unlink()
    except (OSError, ValueError):
        pass  # a journal that does not rotate still works


def _cut(fd: int, size: int) -> None:
    """Remove a partly written line again (best effort: the reader skips it anyway)."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# -- reading ---------------------------------------------------------------------------------
def parse_line(raw: bytes) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """(entry, None) for a good line, (None, why) for a damaged one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 (byte {e.start})"
    try:
        obj = json.loads(text)
    except ValueError as e:
        return None, f"not JSON ({e.msg})"
    except RecursionError:
        return None, "not JSON (nested too deep)"
    if not isinstance(obj, dict):
        return None, f"not an object ({type(obj).__name__})"
    for key in ("id", "op"):
        if not isinstance(obj.get(key), str) or not obj.get(key):
            return None, f"no {key!r}"
    if "ref" in obj and not isinstance(obj["ref"], str):
        return None, "'ref' is not a string"
    return obj, None


_cache: dict[str, Any] = {}
_archived: dict[tuple[str, int, int], tuple[list[dict[str, Any]], list[str]]] = {}


def _parse(data: bytes, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[dict[str, Any]] = []
    damage: list[str] = []
    lines = data.split(b"\n")
    last = len(lines) - 1
    for n, raw in enumerate(lines):
        if not raw.strip():
            continue
        entry, why = parse_line(raw)
        if entry is None:
            damage.append(f"{label}line {n + 1}: {why}" + (" (torn last line)" if n == last else ""))
        else:
            out.append(entry)
    return out, damage


def archived() -> tuple[list[dict[str, Any]], list[str]]:
    """The good entries and the damage of the rotated files only (each parsed once: they never change)."""
    out: list[dict[str, Any]] = []
    damage: list[str] = []
    for a in archives():
        try:
            st = a.stat()
            key = (str(a), st.st_ino, st.st_size)
            if key not in _archived:
                _archived[key] = _parse(a.read_bytes(), f"{a.name} ")
        except OSError:
            continue  # removed by a rotation meanwhile
        out += _archived[key][0]
        damage += _archived[key][1]
    return out, damage


def read() -> tuple[list[dict[str, Any]], list[str]]:
    """(every good entry oldest first, across rotated files; what was skipped: "line N: why")."""
    out, damage = archived()
    try:
        path = journal_path()
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            key2 = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, len(out))
            if _cache.get("key") == key2:
                cur, dmg = _cache["entries"], _cache["damage"]
            else:
                cur, dmg = _parse(f.read(), "")
                _cache.update(key=key2, entries=cur, damage=dmg)
    except FileNotFoundError:
        cur, dmg = [], []
    except OSError as e:
        cur, dmg = [], [f"journal unreadable: {e.strerror or e}"]
    return out + cur, damage + dmg


def entries() -> list[dict[str, Any]]:
    """Every good line, oldest first (damaged lines are skipped: see ``damage()``)."""
    return read()[0]


def damage() -> list[str]:
    """Damaged lines skipped by the readers, as "line N: why"."""
    return read()[1]


def damage_note() -> Optional[str]:
    d = damage()
    if not d:
        return None
    shown = "; ".join(d[:3]) + (f"; … {len(d) - 3} more" if len(d) > 3 else "")
    return f"the journal has {len(d)} damaged line(s), skipped: {shown}"


def find(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> Optional[dict[str, Any]]:
    """The change line of ``entry_id`` (its ``begin`` line only when nothing else has the id)."""
    begin = None
    for e in all_entries if all_entries is not None else entries():
        if e.get("id") == entry_id:
            if e.get("op") != "begin":
                return e
            begin = begin or e
    return begin


def fate(entry_id: str, all_entries: Optional[list[dict[str, Any]]] = None) -> Optional[str]:
    """What later happened to a change: "undo", "confirm", "revert" or None."""
    for e in reversed(all_entries if all_entries is not None else entries()):
        if e.get("ref") == entry_id and e.get("op") in ("undo", "confirm", "revert"):
            return str(e["op"])
    return None


FATE_WORDS = {"undo": "undone", "revert": "reverted", "confirm": "confirmed"}


def fate_word(fate: Optional[str]) -> str:
    return FATE_WORDS.get(fate or "", fate or "")


def incomplete(all_entries: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """``begin`` lines with no change line and no ``aborted`` line: their process died mid-change."""
    es = all_entries if all_entries is not None else entries()
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
    """
    all_entries = entries()
    for e in reversed(changes_here(server, all_entries)):
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
        if _is_change(e) and e.get("confirm") and fate(e["id"], all_entries) is None
    ]


# -- the change generation: validation repeated under the lock when it moved ---------------------
def generation() -> int:
    """How many changes were executed on this machine so far (read without creating anything)."""
    try:
        with open(state_path() / "generation", encoding="ascii") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def bump_generation() -> None:
    """Count one more executed change (call with the server lock held)."""
    p = state_dir() / "generation"
    tmp = p.with_suffix(".tmp")
    try:
        tmp.write_text(str(generation() + 1))
        os.replace(tmp, p)
    except OSError:
        pass
