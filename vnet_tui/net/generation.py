"""The link generation: a counter every change that adds, renames, moves or deletes a link bumps.

Deleting one end of a veth deletes the other in its namespace too, so a
name→ifindex cache (``ops/live.py``) must be dropped on any such change,
wherever made; it keeps the generation it was filled at.
"""

from __future__ import annotations

_generation = 0


def links_changed() -> None:
    """Count a change (any namespace) that adds, renames, moves or deletes a link."""
    global _generation
    _generation += 1


def link_generation() -> int:
    """Bumped by every change (any namespace) that adds, renames, moves or deletes a link."""
    return _generation
