"""Ask every runtime we know what it runs; index the answers by the processes inside.

A runtime that is not there costs a dictionary lookup (its daemon's or
monitor's comm is absent from the process table).  A runtime that is
there but does not answer (a stopped daemon, unreadable state) is
reported in ``notes`` and left out: discovery then names its containers
from their cgroups, as before.  Nothing here raises.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from .base import Owned, ProcTable

# the runtime modules, each with scan(procs) -> list[Owned]
MODULES = ("docker", "podman", "lxc", "nspawn", "libvirt")


@dataclass
class Owners:
    """What the owners said, by the processes inside each container/VM."""

    records: list[Owned] = field(default_factory=list)
    by_pid: dict[int, Owned] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    procs: Optional[ProcTable] = None  # the processes as they were read for this scan

    def of_pids(self, pids: Iterable[int]) -> Optional[Owned]:
        """The record whose processes include one of ``pids`` (a namespace's holders)."""
        for pid in pids:
            found = self.by_pid.get(pid)
            if found is not None:
                return found
        return None

    def runtime(self, name: str) -> list[Owned]:
        return [r for r in self.records if r.runtime == name]


Scanner = Callable[[ProcTable], list[Owned]]


def scanners() -> list[tuple[str, Scanner]]:
    out = []
    for mod in MODULES:
        m = importlib.import_module(f"{__package__}.{mod}")
        out.append((mod, m.scan))
    return out


def scan_all(procs: Optional[ProcTable] = None, only: Optional[Iterable[str]] = None) -> Owners:
    """Every runtime's records; a runtime that fails is noted, never fatal."""
    procs = procs or ProcTable()
    owners = Owners(procs=procs)
    wanted = set(only) if only is not None else None
    for name, scan in scanners():
        if wanted is not None and name not in wanted:
            continue
        try:
            found = scan(procs)
        except Exception as e:  # a runtime's odd state must never stop discovery
            owners.notes.append(f"{name}: not asked ({type(e).__name__}: {e})")
            continue
        for rec in found:
            owners.records.append(rec)
            for pid in rec.pids:
                owners.by_pid.setdefault(pid, rec)
    return owners
