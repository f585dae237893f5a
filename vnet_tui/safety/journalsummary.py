"""What every change asks of the journal, without holding the journal: interrupted changes,
pending unplugs, damaged lines.

Each change (and the TUI's start) asks three things: which ``begin``
lines have no end (``txn.recover``), which VM unplugs still wait for
their guest (``txn.finisher``), and which lines are damaged.  Answered
from ``journal.entries()``, that parsed the whole history — up to 8
rotated files of 4 MB and the current one — in every CLI change (~0.8 s
for a full history) and kept it parsed in the TUI (~190 MB).

A ``Summary`` of a run of lines keeps only what those answers need: its
begins that it does not end, the ids it ends that it did not begin,
likewise for pending unplugs and the refs that release them, and its
damage.  Summaries of consecutive runs combine (``then``).

- A rotated file never changes: its summary is kept beside it
  (``journal-NNNNNN.summary.json``, naming the file's inode, size and
  mtime).  A summary that does not match its file, or cannot be read, is
  made again from the file; one that cannot be written is kept in memory.
- The current file only grows by appends: it is summarised from where
  the last call stopped, whole lines only (a last line without its
  newline counts in the answer, as ``journalread`` reads it, until it is
  finished).  Another file, a shorter one, or one whose first 4 KB or
  the 256 bytes before that point changed, is summarised whole again.
  A rewrite elsewhere in the file is not seen here (``journal.read()``,
  which the undo list and history use, compares every byte).

Every answer equals what the same question asked of ``journal.entries()``
gives: tests/unit/test_journal_summary.py checks that after each line of
long random journals, with damage, torn lines and rotation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

from . import journalread
from .journalfile import archives, journal_path, summary_path

HEAD, TAIL = 4096, 256  # the current file's bytes compared before reading on from the last point

Entry = dict[str, Any]
RELEASES = ("unplugged", "undo", "revert")  # lines whose ref releases a pending unplug


def _is_unplug(e: Entry) -> bool:
    """A VM adapter delete whose guest had not released the NIC when it was journaled."""
    t = e.get("target")
    return e.get("op") in ("del", "undo", "revert") and bool(e.get("pending")) and isinstance(t, dict) \
        and t.get("kind") == "vme"


@dataclass(frozen=True)
class Summary:
    """What a run of journal lines says to recovery, the finisher and the damage note."""

    begins: tuple[Entry, ...] = ()  # begin lines the run does not end, in order
    ends: frozenset[str] = frozenset()  # ids the run ends (change line, abort) that it did not begin
    unplugs: tuple[Entry, ...] = ()  # pending VM deletes the run does not release, in order
    released: frozenset[str] = frozenset()  # refs of unplugged/undo/revert lines naming none of its lines
    damage: tuple[str, ...] = ()  # "line N: why"

    @classmethod
    def of(cls, entries: list[Entry], damage: list[str]) -> "Summary":
        ids = {e["id"] for e in entries}
        begun = {e["id"] for e in entries if e.get("op") == "begin"}
        ends = {e["id"] for e in entries if e.get("op") != "begin"}
        ends |= {e["ref"] for e in entries if e.get("op") == "aborted" and e.get("ref")}
        released = {e["ref"] for e in entries if e.get("op") in RELEASES and e.get("ref")}
        return cls(
            tuple(e for e in entries if e.get("op") == "begin" and e["id"] not in ends),
            frozenset(ends - begun),
            tuple(e for e in entries if _is_unplug(e) and e["id"] not in released),
            frozenset(r for r in released if r not in ids),
            tuple(damage),
        )

    def then(self, later: "Summary") -> "Summary":
        """This run followed by ``later``."""
        if not later.begins and not later.ends and not later.unplugs and not later.released:
            return Summary(self.begins, self.ends, self.unplugs, self.released, self.damage + later.damage)
        ends, released = self.ends | later.ends, self.released | later.released
        return Summary(
            tuple(b for b in self.begins + later.begins if b["id"] not in ends),
            ends,
            tuple(u for u in self.unplugs + later.unplugs if u["id"] not in released),
            released,
            self.damage + later.damage,
        )

    def to_json(self) -> dict[str, Any]:
        return {"begins": list(self.begins), "ends": sorted(self.ends), "unplugs": list(self.unplugs),
                "released": sorted(self.released), "damage": list(self.damage)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Summary":
        lists = [d[k] for k in ("begins", "ends", "unplugs", "released", "damage")]
        if not all(isinstance(v, list) for v in lists):
            raise ValueError("not a summary")
        begins, ends, unplugs, released, damage = lists
        if not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in begins + unplugs) or \
                not all(isinstance(s, str) for s in ends + released + damage):
            raise ValueError("not a summary")
        return cls(tuple(begins), frozenset(ends), tuple(unplugs), frozenset(released), tuple(damage))


EMPTY = Summary()


# --- rotated files ------------------------------------------------------------------------------

_kept: dict[str, tuple[list[int], Summary]] = {}  # archive path → (its inode, size, mtime; summary)


def _load(side: Path, of: list[int]) -> Optional[Summary]:
    try:
        d = json.loads(side.read_bytes())
        if not isinstance(d, dict) or d.get("of") != of:
            return None
        return Summary.from_json(d)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None  # missing, torn, stale or not ours: made again


def _store(side: Path, of: list[int], s: Summary) -> None:
    tmp = side.with_name(f".{side.name}.{os.getpid()}")
    try:
        with open(tmp, "w", encoding="ascii", opener=lambda p, f: os.open(p, f, 0o600)) as f:
            json.dump({"of": of, **s.to_json()}, f, ensure_ascii=True)
        os.replace(tmp, side)
    except (OSError, ValueError, TypeError):
        try:
            tmp.unlink()
        except OSError:
            pass  # a state directory we cannot write: the summary lives in memory only


def _archive(path: Path) -> Optional[Summary]:
    try:
        st = path.stat()
    except OSError:
        return None  # removed by a rotation meanwhile
    of = [st.st_ino, st.st_size, st.st_mtime_ns]
    got = _kept.get(str(path))
    if got is not None and got[0] == of:
        return got[1]
    side = summary_path(path)
    s = _load(side, of)
    if s is None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        s = Summary.of(*journalread._parse(data, f"{path.name} "))
        _store(side, of, s)
    _kept[str(path)] = (of, s)
    return s


def archived() -> Summary:
    """The rotated files' summary, oldest first."""
    out = EMPTY
    paths = archives()
    for p in paths:
        s = _archive(p)
        if s is not None:
            out = out.then(s)
    for gone in set(_kept) - {str(p) for p in paths}:
        del _kept[gone]
    return out


# --- the current file ---------------------------------------------------------------------------

class _Point(NamedTuple):
    """How far the current file was summarised: whole lines up to ``offset``."""

    file: tuple[str, int, int]  # (path, st_dev, st_ino)
    offset: int
    lines: int
    head: bytes  # its first HEAD bytes (fewer while the file is shorter)
    tail: bytes  # the TAIL bytes before offset
    summary: Summary


_point: Optional[_Point] = None


def _same(fd: int, p: _Point, size: int) -> bool:
    return size >= p.offset and os.pread(fd, len(p.head), 0) == p.head and \
        os.pread(fd, len(p.tail), p.offset - len(p.tail)) == p.tail


def _read_from(fd: int, offset: int) -> bytes:
    chunks = []
    while True:
        b = os.pread(fd, 1 << 20, offset)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        offset += len(b)


def current() -> Summary:
    """The current file's summary (its unfinished last line too)."""
    global _point
    path = journal_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        _point = None
        return EMPTY
    except OSError as e:
        return Summary(damage=(f"journal unreadable: {e.strerror or e}",))
    try:
        st = os.fstat(fd)
        file = (str(path), st.st_dev, st.st_ino)
        p = _point
        if p is None or p.file != file or not _same(fd, p, st.st_size):
            p = _Point(file, 0, 0, b"", b"", EMPTY)
        data = _read_from(fd, p.offset)
    except OSError as e:
        return Summary(damage=(f"journal unreadable: {e.strerror or e}",))
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1
    if end:
        offset = p.offset + end
        head = p.head if len(p.head) >= HEAD else (p.head + data[:end])[:HEAD]
        p = _Point(file, offset, p.lines + data.count(b"\n", 0, end), head, (p.tail + data[:end])[-TAIL:],
                   p.summary.then(Summary.of(*journalread._parse(data[:end], "", p.lines))))
    _point = p
    if end < len(data):  # a last line without its newline (torn, or being written)
        return p.summary.then(Summary.of(*journalread._parse(data[end:], "", p.lines)))
    return p.summary


def whole() -> Summary:
    """The journal's summary: rotated files, then the current one."""
    return archived().then(current())


# --- the answers ----------------------------------------------------------------------------------

def incomplete() -> list[Entry]:
    """``begin`` lines with no change line and no ``aborted`` line (as ``journal.incomplete`` says)."""
    return list(whole().begins)


def pending_unplugs() -> list[Entry]:
    """VM adapter deletes whose guest has not released the NIC yet (no ``unplugged``/undo/revert line)."""
    return [e for e in whole().unplugs if isinstance(e.get("before"), dict)]


def damage() -> list[str]:
    """Damaged lines skipped by the readers, as "line N: why" (rotated files: "journal-N.jsonl line N")."""
    return list(whole().damage)


def damage_note() -> Optional[str]:
    d = damage()
    if not d:
        return None
    shown = "; ".join(d[:3]) + (f"; … {len(d) - 3} more" if len(d) > 3 else "")
    return f"the journal has {len(d)} damaged line(s), skipped: {shown}"
