"""lxc: what it runs, in its own words (written by the lxc owner work; see owners/base.py)."""

from __future__ import annotations

from .base import Owned, ProcTable


def scan(procs: ProcTable) -> list[Owned]:
    """Every container/VM lxc reports, with the processes inside each one."""
    return []
