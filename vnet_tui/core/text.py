"""Untrusted text (interface names, aliases, container names) made safe to show.

Names come from the system and may hold markup like ``[bold]``, ESC
sequences or bidi overrides.  We always build ``rich.text.Text`` (never
markup strings) and show control characters as visible escapes.
"""

from __future__ import annotations

from rich.text import Text

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
        return f"\\x{o:02x}"
    if o in _BIDI:
        return f"\\u{o:04x}"
    return ch


def visible(s: str | None) -> str:
    """``s`` with C0/C1 controls, DEL and bidi overrides as visible escapes."""
    if not s:
        return ""
    if s.isprintable() and not any(ord(c) in _BIDI for c in s):
        return s
    return "".join(_escape_char(c) for c in s)


def safe(s: str | None, style: str = "") -> Text:
    """A rich Text of ``s`` shown literally (no markup) with escapes."""
    return Text(visible(s), style=style)
