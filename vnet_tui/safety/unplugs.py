"""The journal's pending VM unplugs: deletes whose guest has not released the NIC yet.

Read incrementally: the journal is only ever appended to
(``journalfile._write``), so each call parses only the lines added since the
last one.  The transactions layer's finisher (``txn/finisher.py``) works
through what this finds.
"""

from __future__ import annotations

import os
from typing import Any

from . import journal


class _Scan:
    """What ``pending_unplugs`` has read of one journal file so far (it is append-only)."""

    def __init__(self, path: str, ident: tuple[int, int]) -> None:
        self.path, self.ident, self.offset = path, ident, 0
        self.candidates: list[dict[str, Any]] = []  # pending VM adapter deletes, journal order
        self.done: set[Any] = set()  # refs of unplugged/undo/revert entries


_scan: Any = None


def pending_unplugs() -> list[dict[str, Any]]:
    """Journal entries of VM adapter deletes still waiting for their guest.

    The journal is only ever appended to (``journalfile._write``), so only the
    lines added since the last call are parsed (whole lines: a line still
    being written is read next time); a different file (another state
    directory, a replaced or shorter file) is read from its start.  The
    result is the same as filtering ``journal.entries()``.
    """
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
