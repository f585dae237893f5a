"""The journal file: where it lives, its lock, and line-atomic, fsynced appends with rotation.

Writes are line-atomic: one ``write`` of a whole line (``O_APPEND``),
checked for a short write (the torn part is cut off again), after a
newline when the file does not end with one (a torn line left by a crash
never swallows the next entry), then ``fsync``.  Past
``$VNET_TUI_JOURNAL_ROTATE`` bytes the file is renamed to
``journal-<seq>.jsonl`` (``KEEP`` of them are kept) and a new one begun.
The format of the lines is ``journal``'s.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server

from .origin import server_json, who

STATE_ENV = "VNET_TUI_STATE"
DEFAULT_STATE = "/var/lib/vnet-tui"


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


def summary_path(archive: Path) -> Path:
    """Where a rotated file's summary is kept (``journalsummary``): ``journal-N.summary.json``."""
    return archive.with_name(archive.name[: -len(".jsonl")] + ".summary.json")


def _rotate(path: Path) -> None:
    """Start a new file (called with the journal lock held); readers read the archives first."""
    old = archives()
    seq = int(old[-1].name[len("journal-"):-len(".jsonl")]) + 1 if old else 1
    try:
        os.rename(path, path.with_name(f"journal-{seq:06d}.jsonl"))
        _fsync_dir(path.parent)
        for stale in old[: max(0, len(old) + 1 - KEEP)]:
            stale.unlink()
            summary_path(stale).unlink(missing_ok=True)
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
