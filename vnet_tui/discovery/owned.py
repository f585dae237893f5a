"""Who a discovered container namespace or QEMU process belongs to, in its owner's words.

The owner's record (owners/: docker, podman, lxc, nspawn, libvirt) wins:
it gives the name the operator uses, the id, image and state.  Without
one, the older facts name it: the cgroup's runtime and id, the named
namespace, the leader process's comm — and the id is whatever keeps it
apart from every other (``pid:N``, the netns inode).
"""

from __future__ import annotations

import os
from typing import Optional

from vnet_tui.core.model import Owner
from vnet_tui.owners.base import Owned
from vnet_tui.owners.registry import Owners

from . import cgroup, namespaces

LAB_PREFIX = "vl-"


def owner_of(rec: Owned) -> Owner:
    return Owner(rec.runtime, rec.id, rec.name, rec.image, rec.state, dict(rec.control), dict(rec.details))


def container_owner(info: namespaces.NsInfo, lab: Optional[str], owners: Optional[Owners]) -> Owner:
    """The owner of a container namespace: its runtime's record, else what /proc and names say."""
    rec = owners.of_pids(info.pids) if owners is not None else None
    if rec is not None:
        return owner_of(rec)
    pid, state = namespaces.leader(info, owners.procs if owners is not None else None)
    ours = bool(lab) and any(n.startswith(f"{LAB_PREFIX}{lab}-") for n in info.names)
    if pid is not None and not ours:  # (a lab's holders are ours: their cgroup is whatever vnet-tui runs in)
        text = cgroup.read_cgroup(pid)
        found = cgroup.owner_from_cgroup(text) if text else None
        if found:
            runtime, name = found
            return Owner(runtime, name, name, state=state)
    if info.names:
        name = info.names[0]
        prefix = f"{LAB_PREFIX}{lab}-" if lab else None
        short = name[len(prefix):] if prefix and name.startswith(prefix) else name
        return Owner("netns", name, short, state=state)
    if pid is not None:
        return Owner("process", f"pid:{pid}", namespaces.proc_comm(pid) or f"pid{pid}", state=state)
    return Owner("netns", f"netns:{info.inode}", f"netns:{info.inode}")


def process_state(pid: int) -> Optional[str]:
    """"stopped" for a SIGSTOPped process (state T), "running" otherwise; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    st = data[data.rfind(b")") + 2:][:1]
    return "stopped" if st in (b"T", b"t") else "running"


def qmp_is_ours(path: Optional[str]) -> bool:
    """Whether a QMP socket is one vnet-tui made (a lab's): the only kind we ever open.

    A lab keeps its VMs' sockets beside its ``lab.json`` as ``vl-LAB-VM.qmp``.
    Another manager's monitor (libvirt's, Proxmox's) serves one client and
    belongs to it: we never connect to it.
    """
    if not path:
        return False
    folder, base = os.path.split(path)
    lab = os.path.basename(folder)
    return base.startswith(f"{LAB_PREFIX}{lab}-") and base.endswith(".qmp") \
        and os.path.exists(os.path.join(folder, "lab.json"))
