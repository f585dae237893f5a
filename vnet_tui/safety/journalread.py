"""Reading the journal: every good line, oldest first, across rotated files, and the damage skipped.

Readers skip damaged lines — bytes that are not UTF-8, text that is not
JSON, JSON that is not an object or lacks ``id``/``op`` — and report them
(``read()``'s second part; ``journalsummary.damage()`` without parsing the
history).  Rotated files never change, so each is parsed once.  The
current file only grows between two reads (every change appends to it):
when its bytes up to the last line read are the same, only the lines
after them are parsed (a journal near its 4 MB rotation took ~150 ms to
parse whole, at every change); anything else — another file, a file cut
or rewritten — is parsed whole again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional

from .journalfile import archives, journal_path


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


_archived: dict[tuple[str, int, int], tuple[list[dict[str, Any]], list[str]]] = {}


def _parse(data: bytes, label: str, before: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries and damage of ``data``, whose first line is line ``before + 1`` of its file."""
    out: list[dict[str, Any]] = []
    damage: list[str] = []
    lines = data.split(b"\n")
    last = len(lines) - 1
    for n, raw in enumerate(lines):
        if not raw.strip():
            continue
        entry, why = parse_line(raw)
        if entry is None:
            damage.append(f"{label}line {before + n + 1}: {why}" + (" (torn last line)" if n == last else ""))
        else:
            out.append(entry)
    return out, damage


class _Read(NamedTuple):
    """What was read of the current file: its whole lines (their bytes, count, entries and damage) and,
    for that size and mtime, the answer (a last line without its newline too).  One value, replaced
    whole: threads that read at once each see one read."""

    file: Optional[tuple[str, int, int]]  # (path, st_dev, st_ino)
    stamp: Optional[tuple[int, int]]  # (st_size, st_mtime_ns) of the answer
    whole: bytes  # the file's bytes up to and including its last newline
    lines: int
    entries: list[dict[str, Any]]
    damage: list[str]
    answer: tuple[list[dict[str, Any]], list[str]]


_current = _Read(None, None, b"", 0, [], [], ([], []))


def _read_current(f: Any, file: tuple[str, int, int], stamp: tuple[int, int]) -> tuple[list[dict[str, Any]],
                                                                                        list[str]]:
    global _current
    c = _current
    if c.file == file and c.stamp == stamp:
        return c.answer
    data = f.read()
    if c.file == file and data.startswith(c.whole):  # appended to: only the new lines are parsed
        start, lines, entries, damage = len(c.whole), c.lines, list(c.entries), list(c.damage)
    else:
        start, lines, entries, damage = 0, 0, [], []
    end = data.rfind(b"\n") + 1
    if end > start:
        more, hurt = _parse(data[start:end], "", lines)
        entries += more
        damage += hurt
        lines += data.count(b"\n", start, end)
    answer = (entries, damage)
    if end < len(data):  # a last line without its newline (torn, or being written)
        more, hurt = _parse(data[end:], "", lines)
        answer = (entries + more, damage + hurt)
    _current = _Read(file, stamp, data if end == len(data) else data[:end], lines, entries, damage, answer)
    return answer


def _archive(a: Path) -> Optional[tuple[list[dict[str, Any]], list[str]]]:
    """A rotated file's entries and damage (parsed once: it never changes); None if it is gone."""
    try:
        st = a.stat()
        key = (str(a), st.st_ino, st.st_size)
        if key not in _archived:
            _archived[key] = _parse(a.read_bytes(), f"{a.name} ")
    except OSError:
        return None  # removed by a rotation meanwhile
    return _archived[key]


def archived() -> tuple[list[dict[str, Any]], list[str]]:
    """The good entries and the damage of the rotated files only (each parsed once: they never change)."""
    out: list[dict[str, Any]] = []
    damage: list[str] = []
    paths = archives()
    for a in paths:
        got = _archive(a)
        if got is not None:
            out += got[0]
            damage += got[1]
    listed = {str(a) for a in paths}
    for key in [k for k in _archived if k[0] not in listed]:
        del _archived[key]  # removed by a rotation: not kept in memory
    return out, damage


def current() -> tuple[list[dict[str, Any]], list[str]]:
    """The good entries and the damage of the current file only."""
    try:
        path = journal_path()
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            return _read_current(f, (str(path), st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns))
    except FileNotFoundError:
        return [], []
    except OSError as e:
        return [], [f"journal unreadable: {e.strerror or e}"]


def read() -> tuple[list[dict[str, Any]], list[str]]:
    """(every good entry oldest first, across rotated files; what was skipped: "line N: why")."""
    out, damage = archived()
    cur, dmg = current()
    return out + cur, damage + dmg


def newest_first() -> Iterator[list[dict[str, Any]]]:
    """The entries file by file: the current file's, then each rotated file's, newest file first
    (oldest first within each).  For questions the newest lines answer (``journal.last_change``):
    a rotated file is parsed only when the files after it did not answer."""
    yield current()[0]
    for a in reversed(archives()):
        got = _archive(a)
        if got is not None:
            yield got[0]


def entries() -> list[dict[str, Any]]:
    """Every good line, oldest first (damaged lines are skipped: see ``journal.damage()``)."""
    return read()[0]
