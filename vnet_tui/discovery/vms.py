"""The VMs of one server: QEMU processes whose taps live in its host namespace, named and stated by their owners.

A VM run by libvirt takes its name, state and NIC names from libvirt;
its QMP monitor is libvirt's and is never opened.  Only a lab's own QMP
sockets are asked (status, guest MACs, hot-plugged NICs).  Any other
QEMU is described from its process alone.  Display names (unique among
containers and VMs) are given by the Discoverer, which knows both.
"""

from __future__ import annotations

from typing import AbstractSet, Optional

from vnet_tui.core.model import VM, Interface, Owner, VMNic
from vnet_tui.owners.registry import Owners, scan_all

from . import netinfo, qemu, qmp
from .owned import owner_of, process_state, qmp_is_ours


def find_vms(host_inode: int, by_name: dict[str, Interface], owners: Optional[Owners] = None,
             elsewhere: AbstractSet[int] = frozenset()) -> list[VM]:
    """The QEMU processes of the host namespace ``host_inode`` (whose links are ``by_name``) as VMs.

    ``elsewhere``: pids the namespace scan found in other namespaces, not
    looked at (a QEMU there is another server's; at 5,000 containers
    their holders were 5,000 command lines read for nothing).
    The runtimes are asked (``owners`` None) only if a QEMU may be theirs:
    a lab's own QEMU (its monitor is ours) is nobody else's, and the scan
    reads every process (0.26 s at 5,000 containers, each VM rescan).
    """
    found = qemu.find_qemu_processes(elsewhere)
    if owners is None and any(not qmp_is_ours(p.cmdline.qmp) for p in found):
        owners = scan_all(only=("libvirt",))
    by_pid = owners.by_pid if owners is not None else {}
    vms: list[VM] = []
    for proc in found:
        adapters = qemu.vm_adapters(proc)
        taps = [a.host_ifname for a in adapters if a.host_ifname]
        # a QEMU in another namespace is another server's, whatever its taps are called: tap names
        # repeat across servers (libvirt's vnet0, vnet1 … per daemon); only when the process's
        # namespace cannot be read do its tap names decide
        if proc.netns_inode is not None and proc.netns_inode != host_inode:
            continue
        if proc.netns_inode is None and not any(t in by_name for t in taps):
            continue
        cl = proc.cmdline
        rec = by_pid.get(proc.pid)
        owner: Optional[Owner] = owner_of(rec) if rec is not None and rec.kind == "vm" else None
        pstate = process_state(proc.pid)
        running = not cl.paused and pstate != "stopped"
        ours = qmp_is_ours(cl.qmp)
        if owner is not None:
            running = owner.state == "running"
            adapters = owned_adapters(adapters, owner)
        else:
            name = cl.name or f"qemu-{proc.pid}"
            if ours and pstate != "stopped" and cl.qmp:
                status = qmp.query_status(cl.qmp)
                if status is not None:
                    running = status == "running"
                live = qmp.query_rx_filter_macs(cl.qmp)
                hot = None
                if any(a.id.startswith("tap:") for a in adapters):  # hot-plugged: ask QEMU what they are
                    hot = netinfo.taps_by_ifname(qmp.info_network(cl.qmp))
                adapters = qemu.vm_adapters(proc, live_macs=live, hot=hot)
                state: Optional[str] = "running" if running else "paused"
            else:  # nobody we may ask: the process says what it can
                state = "stopped" if pstate == "stopped" else None
            owner = Owner("lab" if ours else "qemu", name if ours else f"pid:{proc.pid}", name, state=state)
        mine = owner.runtime == "lab"  # only a lab's monitor and agent are ours to talk to
        vm = VM(owner.name, proc.pid, running, cl.qmp if mine else None, adapters,
                qga=cl.qga if mine else None, owner=owner, runtime=owner.runtime, open_files=proc.open_files)
        vms.append(vm)
    return vms


def owned_adapters(adapters: list[VMNic], owner: Owner) -> list[VMNic]:
    """The VM's adapters named as its owner names them (libvirt: net0 / vnet0, not hostnet0).

    The kernel stays the truth for the tap; the owner's NIC list gives the
    id the operator uses and the guest MAC, matched by tap name, then MAC.
    """
    nics = owner.details.get("nics") or []
    by_target = {n.get("target"): n for n in nics if n.get("target")}
    by_mac = {(n.get("mac") or "").lower(): n for n in nics if n.get("mac")}
    out: list[VMNic] = []
    for a in adapters:
        nic = by_target.get(a.host_ifname) or by_mac.get((a.guest_mac or "").lower())
        if nic is None:
            out.append(a)
            continue
        mac = (nic.get("mac") or a.guest_mac or "").lower() or None
        out.append(VMNic(nic.get("alias") or a.id, mac, a.host_ifname or nic.get("target"),
                             nic.get("model") or a.model, netdev=nic.get("netdev") or a.id))
    return out
