"""Reading the journal: every good line, oldest first, across rotated files, and the damage skipped.

Readers skip damaged lines — bytes that are not UTF-8, text that is not
JSON, JSON that is not an object or lacks ``id``/``op`` — and report them
(``damage()``).  Rotated files never change, so each is parsed once; the
current file is parsed again only when it changed.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

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
