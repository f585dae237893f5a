"""Untrusted text (interface names, aliases, container names) made safe to show: one path for all.

Names come from the system and may hold markup like ``[bold]``, ESC
sequences, bidi overrides — or bytes that are not UTF-8 (an interface
name is any 1–15 bytes).  Everything that decodes system bytes uses
``from_bytes`` (UTF-8 with ``surrogateescape``: each undecodable byte
becomes one lone surrogate U+DC80–U+DCFF, so nothing is lost), and
everything that shows a system string goes through one of:

* ``visible(s)`` — for terminals and plain text: C0/C1 controls, DEL and
  undecodable bytes as ``\\xNN``, bidi overrides/isolates and other
  unpaired surrogates as ``\\uNNNN``;
* ``safe(s)`` — the same as a ``rich.text.Text`` (never parsed as markup:
  DataTable cells, widget titles, dialogs, notifications);
* ``for_json(obj)`` — for ``--json``: every string in ``obj`` with each
  undecodable byte as the four characters ``\\xNN`` (so the output is
  valid UTF-8 JSON with no lone surrogates); controls stay as JSON's own
  ``\\u00NN`` escapes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from rich.style import Style
from rich.text import Text

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def from_bytes(raw: bytes) -> str:
    """System bytes as text, losslessly (undecodable bytes as lone surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
        return f"\\x{o:02x}"
    if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    if o in _BIDI or 0xD800 <= o <= 0xDFFF:
        return f"\\u{o:04x}"
    return ch


def _clean(s: str) -> bool:
    if s.isascii():  # the usual name: no bidi override can be in it
        return s.isprintable()
    return s.isprintable() and not any(ord(c) in _BIDI for c in s)


def visible(s: str | None) -> str:
    """``s`` with controls, DEL, undecodable bytes and bidi overrides as visible escapes."""
    if not s:
        return ""
    if not isinstance(s, str):
        s = from_bytes(s) if isinstance(s, (bytes, bytearray)) else str(s)
    if _clean(s):
        return s
    return "".join(_escape_char(c) for c in s)


def safe(s: str | None, style: str | Style = "") -> Text:
    """A rich Text of ``s`` shown literally (no markup) with escapes."""
    return Text(visible(s), style=style)


def json_string(s: str) -> str:
    """``s`` for JSON: undecodable bytes as ``\\xNN``, other unpaired surrogates as ``\\uNNNN`` text."""
    if s.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    out = []
    for c in s:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


_SURROGATE_ESCAPE = re.compile(r"\\ud[89a-f][0-9a-f]{2}")


def dumps(obj: Any, indent: Optional[int] = None) -> str:
    """``json.dumps(for_json(obj))``, without walking ``obj`` when no string in it needs ``json_string``.

    The C encoder writes every non-ASCII character as ``\\uXXXX``; only a
    surrogate (an undecodable byte, or half of a character beyond the
    BMP) shows as ``\\udXXX``.  Without one the text is what ``for_json``
    would give; with one the walk makes it (5,000 containers: 1.1 million
    values walked for nothing, a third of ``show --json``).
    """
    text = json.dumps(obj, indent=indent)
    if not has_surrogate_escape(text):
        return text
    return json.dumps(for_json(obj), indent=indent)


def has_surrogate_escape(text: str) -> bool:
    """Whether JSON text from the C encoder holds a lone surrogate's escape (``dumps`` then redoes it)."""
    return _SURROGATE_ESCAPE.search(text) is not None


def for_json(obj: Any) -> Any:
    """``obj`` with every string (keys too) passed through ``json_string``."""
    if isinstance(obj, str):
        return json_string(obj)
    if isinstance(obj, dict):
        return {for_json(k) if isinstance(k, str) else k: for_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [for_json(v) for v in obj]
    return obj


_DIGITS = re.compile(r"(\d+)")


def natural_key(s: str) -> tuple:
    """'veth10.0' after 'veth9.0': digits compare as numbers (the panes' name order, and the
    watcher's first picture of a big server, which reads the first screen's rows first)."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(s.lower()))

