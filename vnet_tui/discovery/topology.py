"""Discovery: build the Topology of one server from netlink and /proc facts.

The host is a parameter (root namespace, ``--netns`` or a lab's host).
Containers are the namespaces whose veth peers live in the host (plus a
lab's own container namespaces); VMs are the QEMU processes whose taps
live in the host.  Pairs are resolved from IFLA_LINK + IFLA_LINK_NETNSID
and RTM_GETNSID — never from "ifindex + 1".

A ``Discoverer`` keeps every namespace open between calls, so the live
worker reuses its sockets instead of reopening a thousand namespaces.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from dataclasses import dataclass
from typing import Optional

from vnet_tui.core.errors import NotFound
from vnet_tui.core.model import (
    VM,
    Container,
    Counters,
    Host,
    Interface,
    NetnsRef,
    Owner,
    Peer,
    Topology,
    VMAdapter,
)
from vnet_tui.core.server import Server
from vnet_tui.net import rtnl
from vnet_tui.net.namespace import Namespace, NsState, hidden_peer, named_nsids
from vnet_tui.net.netns import NetnsError

from vnet_tui.owners import identity
from vnet_tui.owners.registry import Owners, scan_all

from . import namespaces, netinfo, qemu, qmp
from .interfaces import interfaces_from_state
from .owned import LAB_PREFIX, container_owner, owner_of, process_state, qmp_is_ours


NAMED_BY_THE_KERNEL = ("netns", "process")  # owners found without any runtime's record
YOUNG = 120.0  # s: a container this young may still get its runtime's record


@dataclass
class ContainerNs:
    """A namespace that holds guest ends, with whose it is and how we name it."""

    ns: Namespace
    info: namespaces.NsInfo
    name: str  # the display name: unique among the server's containers and VMs
    runtime: str
    nsname: Optional[str]
    owner: Optional[Owner] = None
    nsid: Optional[int] = None  # the host's id for it: kept for the namespace's life, asked once
    since: float = 0.0  # time.monotonic() when it was first found

    @property
    def owner_name(self) -> str:
        return self.owner.name if self.owner else self.name

    @property
    def key(self) -> str:
        return f"{self.runtime}:{self.owner.id if self.owner else self.ns.inode}"


@dataclass(frozen=True)
class VmIdentity:
    """A VM as display naming sees it (identity.Named)."""

    runtime: str
    owner_name: str
    key: str


def _open(info: namespaces.NsInfo) -> Optional[Namespace]:
    """Open a namespace by a bind mount, else by a holder process; None if it vanished."""
    candidates = [f"/run/netns/{n}" for n in info.names] + info.paths
    candidates += [f"/proc/{p}/ns/net" for p in info.pids]
    for where in candidates:
        try:
            return Namespace(where, expect_inode=info.inode)
        except (NetnsError, FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return None


class Discoverer:
    """Discovers a server's topology; keeps the namespaces it found open."""

    def __init__(self, server: Server) -> None:
        self.server = server
        try:
            self.host = Namespace(server.host_netns)
        except NetnsError as e:
            what = f"lab {server.lab}" if server.lab else f"network namespace {server.host_netns}"
            raise NotFound(f"no such {what} ({e.strerror})", rule="server") from None
        self.containers: dict[int, ContainerNs] = {}
        self.vm_names: list[VmIdentity] = []  # the VMs as last found, for display names
        self.owners: Optional[Owners] = None  # what the runtimes said at the last namespace scan
        # namespaces found that are not this host's containers: the host's nsid for each when last
        # asked (None: it had none).  At 5,000 containers, opening and asking each of a thousand
        # other namespaces (another lab's, a runtime's) at every rescan cost 2 s of the watcher.
        self.foreign: dict[int, Optional[int]] = {}
        self._unresolved_asked: frozenset[int] = frozenset()  # unresolved nsids when foreign ones were asked
        self.hostname = self._hostname()

    def _hostname(self) -> str:
        if self.server.lab:
            return f"lab {self.server.lab}"
        if self.server.netns:
            return f"netns {self.server.netns}"
        return socket.gethostname()

    def close(self) -> None:
        for c in self.containers.values():
            c.ns.close()
        self.containers.clear()
        self.host.close()

    def __enter__(self) -> "Discoverer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- namespaces ---------------------------------------------------------
    def _is_lab_container(self, info: namespaces.NsInfo) -> bool:
        lab = self.server.lab
        return bool(lab) and any(n.startswith(f"{LAB_PREFIX}{lab}-ct") for n in info.names)

    def refresh_namespaces(self, host_links: list[rtnl.LinkMsg]) -> dict[int, ContainerNs]:
        """Find the container namespaces: those that peer links in the host point to.

        Returns them keyed by the host's nsid for them.  Namespaces that are
        gone are closed; known ones keep their sockets.
        """
        wanted = {l.link_netnsid for l in host_links if l.link_netnsid is not None}
        infos = namespaces.scan_namespaces()
        # nsids the host's peer links point at that no known container answers: only these can make
        # a namespace not known yet a container (the kernel gives a namespace its nsid in the host
        # when a link there first points into it)
        unresolved = frozenset(wanted - {c.nsid for c in self.containers.values()})
        ask_unnumbered = bool(unresolved - self._unresolved_asked)
        by_nsid: dict[int, ContainerNs] = {}
        seen: set[int] = set()
        fresh: list[tuple[int, namespaces.NsInfo, Namespace, int]] = []
        for inode, info in infos.items():
            if inode == self.host.inode:
                continue
            known = self.containers.get(inode)
            lab = self._is_lab_container(info)
            if known is None and not lab:
                if not wanted:
                    continue
                if inode in self.foreign:
                    before = self.foreign[inode]
                    if (before is None and not ask_unnumbered) or (before is not None and before not in wanted):
                        continue
            ns = known.ns if known else _open(info)
            if ns is None:
                continue
            nsid = known.nsid if known is not None and known.nsid in wanted else None
            if nsid is None:  # (5,000 containers: 5,000 requests on every rescan, for the same answers)
                try:
                    nsid = self.host.nsid_of(ns)
                except OSError:
                    nsid = None
            if not (nsid is not None and nsid in wanted) and not lab:
                # not (or no longer) a container of this host
                if known is None:
                    ns.close()
                    self.foreign[inode] = nsid
                continue
            self.foreign.pop(inode, None)
            if known is None:
                fresh.append((inode, info, ns, nsid))
                continue
            known.info = info
            seen.add(inode)
            known.nsid = nsid
            if nsid is not None:
                by_nsid[nsid] = known
        self._unresolved_asked = unresolved
        for inode in [i for i in self.foreign if i not in infos]:
            del self.foreign[inode]
        owners = self._owners_if_needed(bool(fresh))
        for inode, info, ns, nsid in fresh:
            owner = container_owner(info, self.server.lab, owners)
            c = self.containers[inode] = ContainerNs(ns, info, owner.name, owner.runtime,
                                                     info.names[0] if info.names else None, owner,
                                                     nsid, time.monotonic())
            seen.add(inode)
            if nsid is not None:
                by_nsid[nsid] = c
        if owners is not None:
            for inode in seen:
                known = self.containers[inode]
                rec = owners.of_pids(known.info.pids)
                if rec is not None:  # its runtime's word may have changed (paused, renamed)
                    owner = owner_of(rec)
                    if owner != known.owner:
                        known.owner, known.runtime = owner, owner.runtime
        for inode in list(self.containers):
            if inode not in seen:
                self._drop(inode)
        self.owners = owners  # None: not asked this time (the VMs' owners are then asked for themselves)
        self._name_all()
        return by_nsid

    def _owners_if_needed(self, fresh: bool) -> Optional[Owners]:
        """Every runtime's records, when what they say may matter; None when it cannot.

        Asked for a new namespace, for a container a runtime owns (its
        state or name may have changed: paused, renamed), and for one
        named by the kernel alone (netns name, process) while it is young,
        in case its runtime writes its record a moment after making it.
        Not asked when every container is an old netns or process: at
        5,000 such namespaces the runtimes' scan (every process's cgroup
        and command line) was a tenth of each periodic rescan.
        """
        now = time.monotonic()
        if fresh or any(c.runtime not in NAMED_BY_THE_KERNEL or now - c.since < YOUNG
                        for c in self.containers.values()):
            return scan_all()
        return None

    def _name_all(self) -> None:
        """Give every container a display name unique among the containers and VMs."""
        cts = list(self.containers.values())
        names = identity.displays([*cts, *self.vm_names])
        for c in cts:
            c.name = names.get(c.key, c.owner_name)

    def _drop(self, inode: int) -> None:
        c = self.containers.pop(inode, None)
        if c is not None:
            c.ns.close()

    # -- the whole picture -------------------------------------------------
    def discover(self) -> Topology:
        """Dump everything and pair every end."""
        host_state = self.host.read()
        by_nsid = self.refresh_namespaces(host_state.links)
        host_ifaces = interfaces_from_state(host_state)
        host = Host(self.server.host_netns, self.hostname, host_ifaces, inode=self.host.inode)
        by_index = {i.ifindex: i for i in host_ifaces}

        containers: list[Container] = []
        states: dict[int, tuple[ContainerNs, list[Interface]]] = {}
        for c in sorted(self.containers.values(), key=lambda c: c.name):
            try:
                st: NsState = c.ns.read()
            except OSError:
                continue
            ifaces = interfaces_from_state(st)
            states[c.ns.inode] = (c, ifaces)
            ref = NetnsRef(c.nsname, c.ns.inode, list(c.info.pids), c.ns.where)
            containers.append(Container(c.name, c.runtime, ref, ifaces, c.owner))

        # pair: a host end points (link, link_netnsid) at its guest end
        pointing: dict[int, list[Interface]] = {}
        for h in host_ifaces:
            if h.link_netnsid is not None and h.link_ifindex is not None:
                pointing.setdefault(h.link_netnsid, []).append(h)
        for nsid, c in by_nsid.items():
            _, guest_ifaces = states.get(c.ns.inode, (c, []))
            guest_by_index = {i.ifindex: i for i in guest_ifaces}
            for h in pointing.get(nsid, ()):
                g = guest_by_index.get(h.link_ifindex)  # type: ignore[arg-type]
                if g is None or g.link_ifindex != h.ifindex:
                    continue
                h.peer = Peer("container", c.name, c.nsname, g.ifname, g.ifindex)
                g.peer = Peer("host", None, self.server.host_netns, h.ifname, h.ifindex)

        # host ends whose other end is in a namespace this user may not enter: say so, not "no peer"
        if not may_enter_namespaces():
            names: Optional[dict[int, str]] = None
            for h in host_ifaces:
                if h.peer is None and h.link_netnsid is not None and h.link_netnsid not in by_nsid:
                    if names is None:
                        names = named_nsids(self.host)
                    h.peer = hidden_peer(h.link_netnsid, h.link_ifindex, names)

        # veth pairs inside the host itself
        for h in host_ifaces:
            if h.peer is None and h.kind == "veth" and h.link_netnsid is None and h.link_ifindex in by_index:
                other = by_index[h.link_ifindex]
                h.peer = Peer("host", None, self.server.host_netns, other.ifname, other.ifindex)

        vms = self._vms(host_ifaces, self.owners)
        return Topology(host, containers, vms)

    def _vms(self, host_ifaces: list[Interface], owners: Optional[Owners] = None) -> list[VM]:
        """QEMU processes whose taps live in the host namespace, named and stated by their owners.

        A VM run by libvirt takes its name, state and NIC names from
        libvirt; its QMP monitor is libvirt's and is never opened.  Only a
        lab's own QMP sockets are asked (status, guest MACs, hot-plugged
        NICs).  Any other QEMU is described from its process alone.
        """
        by_name = {i.ifname: i for i in host_ifaces}
        if owners is None:
            owners = scan_all(only=("libvirt",))
        vms: list[VM] = []
        for proc in qemu.find_qemu_processes():
            adapters = qemu.vm_adapters(proc)
            taps = [a.host_ifname for a in adapters if a.host_ifname]
            # a QEMU in another namespace is another server's, whatever its taps are called: tap names
            # repeat across servers (libvirt's vnet0, vnet1 … per daemon); only when the process's
            # namespace cannot be read do its tap names decide
            if proc.netns_inode is not None and proc.netns_inode != self.host.inode:
                continue
            if proc.netns_inode is None and not any(t in by_name for t in taps):
                continue
            cl = proc.cmdline
            rec = owners.by_pid.get(proc.pid)
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
                    qga=cl.qga if mine else None, owner=owner, runtime=owner.runtime)
            vms.append(vm)
        self.vm_names = [VmIdentity(v.runtime, v.owner_name, f"{v.runtime}:{v.owner.id if v.owner else v.pid}")
                         for v in vms]
        names = identity.displays([*self.containers.values(), *self.vm_names])
        for v, who in zip(vms, self.vm_names):
            v.name = names.get(who.key, v.name)
            for a in v.adapters:
                tap = by_name.get(a.host_ifname or "")
                if tap is not None:
                    tap.peer = Peer("vm", v.name, adapter=a.id, mac=a.guest_mac)
        vms.sort(key=lambda v: v.name)
        return vms


def owned_adapters(adapters: list[VMAdapter], owner: Owner) -> list[VMAdapter]:
    """The VM's adapters named as its owner names them (libvirt: net0 / vnet0, not hostnet0).

    The kernel stays the truth for the tap; the owner's NIC list gives the
    id the operator uses and the guest MAC, matched by tap name, then MAC.
    """
    nics = owner.details.get("nics") or []
    by_target = {n.get("target"): n for n in nics if n.get("target")}
    by_mac = {(n.get("mac") or "").lower(): n for n in nics if n.get("mac")}
    out: list[VMAdapter] = []
    for a in adapters:
        nic = by_target.get(a.host_ifname) or by_mac.get((a.guest_mac or "").lower())
        if nic is None:
            out.append(a)
            continue
        mac = (nic.get("mac") or a.guest_mac or "").lower() or None
        out.append(VMAdapter(nic.get("alias") or a.id, mac, a.host_ifname or nic.get("target"),
                             nic.get("model") or a.model, netdev=nic.get("netdev") or a.id))
    return out


def may_enter_namespaces() -> bool:
    """CAP_SYS_ADMIN in the effective set: what entering another network namespace needs."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 21 & 1)
    except OSError:
        pass
    return os.geteuid() == 0


def discover(server: Server) -> Topology:
    """One-shot discovery (``show``)."""
    with Discoverer(server) as d:
        return d.discover()
