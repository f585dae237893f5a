"""The lab: a self-contained "server" in network namespaces, for demos and tests.

    from vnet_tui.lab import up, down, list_labs, lab

    info = up("demo", containers=3, vms=2, seed=0)   # -> LabInfo; VMs paused
    info = up("demo", vms=2, boot=guest_boot())      # VMs boot the lab guest (agent: info.vms[i].qga)
    down("demo")
    with lab("t1a2b3c", containers=3, vms=0) as info:  # always taken down
        ...

Nothing here imports Textual.  See ARCHITECTURE.md ("The lab") and CLI.md.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from .build import up
from .info import ContainerInfo, LabInfo, LabSummary, VmInfo
from .names import LabSpec, Namer, plan
from .registry import list_labs, read_state
from .teardown import down, exists
from .vms import BootArgs, VmFiles, guest_boot, qemu_argv, wait_for_guests


def load(name: str) -> LabInfo | None:
    """Lab ``name`` as lab.json records it (None: no state, or a lab still being built)."""
    data = read_state(name)
    if not data or data.get("status") != "up":
        return None
    return LabInfo.from_json(data)


@contextmanager
def lab(name: str, **kw: Any) -> Iterator[LabInfo]:
    """Build lab ``name`` for the block and always take it down afterwards.

    When ``up`` fails it has already removed what it made (and a lab that
    existed before is someone else's: it is left alone).
    """
    info = up(name, **kw)
    try:
        yield info
    finally:
        down(name)


__all__ = [
    "BootArgs", "BridgeInfo", "ContainerInfo", "LabInfo", "LabSpec", "LabSummary", "Namer", "VmFiles", "VmInfo",
    "down", "exists", "guest_boot", "lab", "list_labs", "load", "plan", "qemu_argv", "up", "wait_for_guests",
]
