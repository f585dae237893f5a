"""What every runtime module shares: the record it returns and a snapshot of /proc.

``Owned`` is one container or VM as its owner sees it.  ``pids`` are the
processes *inside* it (a container's init, a VM's QEMU), which is how
discovery matches it to a network namespace or a QEMU process.

``ProcTable`` reads ``/proc/PID/stat`` of every process once (comm,
parent, state, kernel thread or not: ~10 ms per 1,000 processes) and command lines only when a module
asks, so looking for five runtimes costs one pass over /proc.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Optional

PF_KTHREAD = 0x00200000
_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


@dataclass
class Owned:
    """One container or VM as its owner reports it."""

    runtime: str  # docker | podman | lxc | nspawn | libvirt | containerd | virtuozzo
    kind: Literal["container", "vm"]
    id: str  # the owner's stable id: docker's 64 hex, libvirt's UUID, lxc's/nspawn's name
    name: str  # the owner's name for it
    state: Optional[str] = None  # running | paused | restarting | exited | shut off | …
    image: Optional[str] = None
    pids: list[int] = field(default_factory=list)  # processes inside it (init / QEMU)
    control: dict[str, Any] = field(default_factory=dict)  # how to ask the owner for changes
    details: dict[str, Any] = field(default_factory=dict)  # runtime-specific facts (networks, NICs)


class ProcTable:
    """Every process's comm and parent, read once; command lines on demand."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.comms: dict[int, str] = {}
        self.parents: dict[int, int] = {}
        self.states: dict[int, str] = {}  # the state letter (R, S, T, …)
        self.kthreads: set[int] = set()  # kernel threads (PF_KTHREAD)
        self._argv: dict[int, Optional[list[str]]] = {}
        self._children: Optional[dict[int, list[int]]] = None
        with os.scandir(proc) as it:
            pids = [int(e.name) for e in it if e.name.isdigit()]
        for pid in pids:
            try:
                with open(f"{proc}/{pid}/stat", "rb") as f:
                    data = f.read()
            except _GONE:
                continue
            lp, rp = data.find(b"("), data.rfind(b")")
            if lp < 0 or rp < 0:
                continue
            rest = data[rp + 2:].split()
            try:
                self.parents[pid] = int(rest[1])
                if int(rest[6]) & PF_KTHREAD:
                    self.kthreads.add(pid)
            except (IndexError, ValueError):
                continue
            self.states[pid] = rest[0].decode(errors="replace")
            self.comms[pid] = data[lp + 1:rp].decode(errors="replace")

    def pids(self) -> Iterator[int]:
        return iter(sorted(self.comms))

    def comm(self, pid: int) -> Optional[str]:
        return self.comms.get(pid)

    def ppid(self, pid: int) -> Optional[int]:
        return self.parents.get(pid)

    def with_comm(self, *names: str) -> list[int]:
        """Pids whose comm is one of ``names`` (comm is cut to 15 bytes by the kernel)."""
        want = {n[:15] for n in names}
        return sorted(p for p, c in self.comms.items() if c in want)

    def children(self, pid: int) -> list[int]:
        if self._children is None:
            kids: dict[int, list[int]] = {}
            for p, pp in self.parents.items():
                kids.setdefault(pp, []).append(p)
            self._children = {k: sorted(v) for k, v in kids.items()}
        return self._children.get(pid, [])

    def argv(self, pid: int) -> Optional[list[str]]:
        """The process's command line (None if it is gone or hidden)."""
        if pid not in self._argv:
            try:
                with open(f"{self.proc}/{pid}/cmdline", "rb") as f:
                    raw = f.read()
            except _GONE:
                self._argv[pid] = None
            else:
                raw = raw[:-1] if raw.endswith(b"\0") else raw
                self._argv[pid] = [a.decode(errors="surrogateescape") for a in raw.split(b"\0")] if raw else []
        return self._argv[pid]

    def root_path(self, pid: int, path: str) -> str:
        """``path`` as process ``pid`` sees it (its mount namespace): /proc/PID/root/PATH."""
        return f"{self.proc}/{pid}/root/{path.lstrip('/')}"


def read_text(path: str, limit: int = 4 << 20) -> Optional[str]:
    """A small file's text, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode(errors="replace")
    except (OSError, ValueError):
        return None


def flag_value(argv: list[str], *names: str) -> Optional[str]:
    """The value of ``--name V``, ``--name=V`` or ``-n V`` in ``argv`` (the last one wins)."""
    found: Optional[str] = None
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                found = argv[i + 1]
            elif n.startswith("--") and a.startswith(n + "="):
                found = a[len(n) + 1:]
    return found
