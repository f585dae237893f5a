"""The change generation: how many changes were executed on this machine.

A plan records the generation it was validated at; under the server lock
the transaction validates again only when it moved.
"""

from __future__ import annotations

import os

from .journalfile import state_dir, state_path

WIDTH = 21  # the count, padded with spaces, and a newline: every write the same size


def generation() -> int:
    """How many changes were executed on this machine so far (read without creating anything)."""
    try:
        with open(state_path() / "generation", encoding="ascii") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def bump_generation() -> None:
    """Count one more executed change (call with the server lock held).

    Written in place, one fixed-width ``pwrite``: the file never changes
    size.  A temporary file renamed over it cost ~1 ms of every change (ext4
    writes a file renamed over another out at once).  A reader under the
    server lock never meets a write half done (the writer holds the lock);
    one outside it could only make a plan look stale, and that plan is then
    validated again.
    """
    try:
        fd = os.open(state_dir() / "generation", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        text = os.pread(fd, WIDTH, 0).decode("ascii", "replace").strip()
        n = int(text) if text.isdigit() else 0
        os.pwrite(fd, f"{n + 1:<{WIDTH - 1}}\n".encode("ascii"), 0)
    except OSError:
        pass
    finally:
        os.close(fd)
