"""The change generation: how many changes were executed on this machine.

A plan records the generation it was validated at; under the server lock
the transaction validates again only when it moved.
"""

from __future__ import annotations

import os

from .journalfile import state_dir, state_path


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
