"""Discovery: build the Topology of one server from netlink and /proc facts.

The host is a parameter (root namespace, ``--netns`` or a lab's host).
Containers are the namespaces whose veth peers live in the host (plus a
lab's own container namespaces); VMs are the QEMU processes whose taps
live in the host (vms.py).  Pairs are resolved from IFLA_LINK + IFLA_LINK_NETNSID
and RTM_GETNSID (or, on a first look at a host with thousands of peers, from veth
pairs named from both ends: deduce.py) — never from "ifindex + 1".

A ``Discoverer`` keeps every namespace open between calls, so the live
worker reuses its sockets instead of reopening a thousand namespaces.

Over 300 lines on purpose: one Discoverer, whose steps (which namespaces
are containers, their owners' names, the host, the VMs) share its open
namespaces and what it already asked; the parts that stand alone live
beside it (namespaces, containerns, owned, vms, interfaces).
"""

from __future__ import annotations

import os
import socket
import time
from typing import AbstractSet, Any, Callable, Optional

from vnet_tui.core.errors import NotFound
from vnet_tui.core.model import VM, Container, Host, Interface, NetnsRef, Peer, Topology
from vnet_tui.core.server import Server
from vnet_tui.net import rtnl
from vnet_tui.net.namespace import Namespace, NsState, hidden_peer, named_nsids
from vnet_tui.net.netns import NetnsError
from vnet_tui.owners import identity
from vnet_tui.owners.registry import Owners, scan_all

from . import namespaces
from .containerns import ContainerNs, VmIdentity
from .deduce import Read, deduced_nsids
from .interfaces import interfaces_from_state
from .owned import LAB_PREFIX, container_owner, owner_of
from .split import UNREAD, SplitRead, read_all, read_one
from .vms import find_vms


NAMED_BY_THE_KERNEL = ("netns", "process")  # owners found without any runtime's record
YOUNG = 120.0  # s: a container this young may still get its runtime's record
NSID_BATCH = 256  # namespaces opened, then asked for their nsids together
# namespaces the host's links point into past which a first look reads every namespace rather than ask the
# host about each: an ask walks all of the host's ids (at 5,000: 60 µs each); a read costs ~40 µs more
DEDUCE_ABOVE = 1000


def _open(info: namespaces.NsInfo) -> Optional[tuple[str, int]]:
    """(where, fd) of a namespace opened by a bind mount, else by a holder process; None if it vanished.

    Only opened, not entered: asking the host for its nsid needs no more,
    and most namespaces on a busy server are not this host's containers.
    """
    candidates = [f"/run/netns/{n}" for n in info.names] + info.paths
    candidates += [f"/proc/{p}/ns/net" for p in info.pids]
    for where in candidates:
        try:
            fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_ino == info.inode:  # the one the scan saw (a pid may have been reused)
                return where, fd
        except OSError:
            pass
        os.close(fd)
    return None


def _adopt(where: str, fd: int, inode: int, lazy: bool) -> Optional[Namespace]:
    """A Namespace on an fd ``_open`` gave; None if it cannot be entered.

    ``lazy`` (we may enter any namespace): its socket is made when first
    used; else here, so a namespace this user may not enter is left out.
    """
    try:
        return Namespace(where, expect_inode=inode, fd=fd, lazy=lazy)
    except (NetnsError, FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # (Namespace closed the fd)


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
        self.elsewhere: frozenset[int] = frozenset()  # pids in other namespaces at the last namespace scan
        self._may_enter = may_enter_namespaces()  # a namespace's socket can wait until it is read
        # the runtimes' scan, being made elsewhere (``show``: a forked child, while this process reads the
        # host and the namespaces); the next scan that is needed takes its answer, or scans itself
        self.owners_ahead: Optional[Callable[[], Any]] = None
        self._first_look = True  # no discover() yet: the next reads every namespace first (_admit_read)

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
        # processes in namespaces other than the host's: a QEMU among them is not this host's VM
        self.elsewhere = frozenset(p for i, info in infos.items() if i != self.host.inode for p in info.pids)
        # nsids the host's peer links point at that no known container answers: only these can make
        # a namespace not known yet a container (the kernel gives a namespace its nsid in the host
        # when a link there first points into it)
        unresolved = frozenset(wanted - {c.nsid for c in self.containers.values()})
        ask_unnumbered = bool(unresolved - self._unresolved_asked)
        by_nsid: dict[int, ContainerNs] = {}
        seen: set[int] = set()
        fresh: list[tuple[int, namespaces.NsInfo, Namespace, Optional[int]]] = []
        new: list[tuple[int, namespaces.NsInfo, bool, str, int]] = []  # opened, not known yet: (…, where, fd)
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
            if known is None:
                opened = _open(info)
                if opened is not None:
                    new.append((inode, info, lab, *opened))
                    if len(new) == NSID_BATCH:  # (a few fds open at a time: foreign ones are closed)
                        fresh += self._settle(new, wanted)
                        new = []
                continue
            ns = known.ns
            nsid = known.nsid if known.nsid in wanted else None
            if nsid is None:  # (5,000 containers: 5,000 requests on every rescan, for the same answers)
                try:
                    nsid = self.host.nsid_of(ns)
                except OSError:
                    nsid = None
            if not (nsid is not None and nsid in wanted) and not lab:
                continue  # no longer a container of this host
            self.foreign.pop(inode, None)
            known.info = info
            seen.add(inode)
            known.nsid = nsid
            if nsid is not None:
                by_nsid[nsid] = known
        fresh += self._settle(new, wanted)
        self._unresolved_asked = unresolved
        for inode in [i for i in self.foreign if i not in infos]:
            del self.foreign[inode]
        owners = self._owners_if_needed(bool(fresh))
        self._admit(fresh, owners, seen, by_nsid)
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

    def _admit(self, fresh: list[tuple[int, namespaces.NsInfo, Namespace, Optional[int]]],
               owners: Optional[Owners], seen: set[int], by_nsid: dict[int, ContainerNs]) -> None:
        """Make the namespaces just found containers, named by their owners (in ``seen``, ``by_nsid``)."""
        for inode, info, ns, nsid in fresh:
            owner = container_owner(info, self.server.lab, owners)
            c = self.containers[inode] = ContainerNs(ns, info, owner.name, owner.runtime,
                                                     info.names[0] if info.names else None, owner,
                                                     nsid, time.monotonic(), self._is_lab_container(info))
            seen.add(inode)
            if nsid is not None:
                by_nsid[nsid] = c

    def _candidates(self) -> list[tuple[int, namespaces.NsInfo, Namespace]]:
        """Every namespace but the host's, opened (not entered yet): what a one-shot discovery reads
        before it knows which are containers (``_admit_read``)."""
        infos = namespaces.scan_namespaces()
        self.elsewhere = frozenset(p for i, info in infos.items() if i != self.host.inode for p in info.pids)
        cands: list[tuple[int, namespaces.NsInfo, Namespace]] = []
        for inode, info in infos.items():
            if inode == self.host.inode:
                continue
            opened = _open(info)
            ns = _adopt(*opened, inode, lazy=True) if opened is not None else None
            if ns is not None:
                cands.append((inode, info, ns))
        return cands

    def _admit_read(self, host: list[Interface], cands: list[tuple[int, namespaces.NsInfo, Namespace]],
                    reads: list[Optional[Read]]) -> tuple[dict[int, ContainerNs], dict[int, list[Interface]]]:
        """``refresh_namespaces`` for a discoverer that knew no container and has read every candidate
        (``reads``: each one's interfaces, and the id it gives the host): (containers by the host's
        nsid, each one's interfaces by inode).

        A veth pair named from both ends gives the host's id for a namespace (deduce.py), so the host
        is asked only about the rest (at 5,000 containers: none, where 5,000 asks cost 0.3 s), and a
        namespace left unread (``split.UNREAD``: it gives the host no id) is read if the host points into
        it after all.  What turns out not to be a container is closed.
        """
        wanted = {h.link_netnsid for h in host if h.link_netnsid is not None}
        nsids = deduced_nsids(host, [r if r != UNREAD else None for r in reads])
        ask = [i for i, n in enumerate(nsids) if n is None and reads[i] is not None]
        if ask and wanted:
            try:
                for i, n in zip(ask, self.host.sock.nsids_of([cands[i][2].fd for i in ask], NSID_BATCH)):
                    nsids[i] = n
            except OSError:
                pass
        for i in ask:  # one not read (it gives the host no id) that the host points into after all
            if reads[i] == UNREAD and nsids[i] is not None and nsids[i] in wanted:
                st = read_one(cands[i][2])
                reads[i] = None if st is None else _interfaces_read(st)
        fresh = []
        got: dict[int, list[Interface]] = {}
        for (inode, info, ns), r, nsid in zip(cands, reads, nsids):
            mine = (nsid is not None and nsid in wanted) or self._is_lab_container(info)
            if r is None or r == UNREAD or not mine:
                ns.close()  # gone, or not a container of this host
                if r is not None and wanted:
                    self.foreign[inode] = nsid  # (as _settle: a rescan does not ask it again)
                continue
            fresh.append((inode, info, ns, nsid))
            got[inode] = r[0]
        self._unresolved_asked = frozenset(wanted - {n for *_, n in fresh})
        by_nsid: dict[int, ContainerNs] = {}
        self.owners = self._owners_if_needed(bool(fresh))
        self._admit(fresh, self.owners, set(), by_nsid)
        self._name_all()
        return by_nsid, got

    def _settle(self, new: list[tuple[int, namespaces.NsInfo, bool, str, int]],
                wanted: set[int]) -> list[tuple[int, namespaces.NsInfo, Namespace, Optional[int]]]:
        """Which of the namespaces just opened are this host's containers: the host's nsid for each,
        asked in one batch (5,000 namespaces: 20 sends, not 5,000).  The others are closed unentered."""
        if not new:
            return []
        try:
            nsids = self.host.sock.nsids_of([fd for *_, fd in new])
        except OSError:
            nsids = [None] * len(new)
        fresh = []
        for (inode, info, lab, where, fd), nsid in zip(new, nsids):
            if not (nsid is not None and nsid in wanted) and not lab:
                os.close(fd)  # not a container of this host: never entered
                self.foreign[inode] = nsid
                continue
            ns = _adopt(where, fd, inode, self._may_enter)
            if ns is None:
                continue
            self.foreign.pop(inode, None)
            fresh.append((inode, info, ns, nsid))
        return fresh

    def _owners_if_needed(self, fresh: bool) -> Optional[Owners]:
        """Every runtime's records, when what they say may matter; None when it cannot.

        Asked for a new namespace, for a container a runtime owns (its
        state or name may have changed: paused, renamed), and for one
        named by the kernel alone (netns name, process) while it is young,
        in case its runtime writes its record a moment after making it
        (a lab's own container never gets one: the lab is its owner).
        Not asked when every container is an old netns or process: at
        5,000 such namespaces the runtimes' scan (every process's cgroup
        and command line) was a tenth of each periodic rescan.
        """
        now = time.monotonic()
        if fresh or any(c.runtime not in NAMED_BY_THE_KERNEL or (now - c.since < YOUNG and not c.lab)
                        for c in self.containers.values()):
            ahead, self.owners_ahead = self.owners_ahead, None
            got = ahead() if ahead is not None else None
            return got if isinstance(got, Owners) else scan_all()
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
    def discover(self, split: bool = False, on_host: Optional[Callable[[NsState], None]] = None) -> Topology:
        """Dump everything and pair every end.  ``split``: read the containers with two processes
        when there are many (split.py; only for a caller with one thread).  ``on_host``: told the
        host's links (their messages kept) as soon as they are read, before the containers are."""
        # a first look at a host that points into many namespaces: every namespace is read (a child reading
        # half of them), then which are containers is known (_admit_read); asking the host about each would
        # walk all its ids each time
        first = self._first_look and not self.containers and self._may_enter
        self._first_look = False
        cands: Optional[list[tuple[int, namespaces.NsInfo, Namespace]]] = None
        reading: Optional[SplitRead] = None
        try:
            host_state = self.host.read(keep_raw=on_host is not None)
            if on_host is not None:
                on_host(host_state)
            if first and len({l.link_netnsid for l in host_state.links if l.link_netnsid is not None}) \
                    > DEDUCE_ABOVE:
                cands = self._candidates()
                always = frozenset(i for i, info, _ in cands if self._is_lab_container(info))
                reading = SplitRead([ns for *_, ns in cands], split, self.host.fd, _interfaces_read, always)
            host_ifaces = interfaces_from_state(host_state)
            order: list[ContainerNs]
            got: list[Optional[list[Interface]]]
            if cands is not None and reading is not None:
                by_nsid, read = self._admit_read(host_ifaces, cands, reading.finish())
                order = sorted(self.containers.values(), key=lambda c: c.name)
                got = [read.get(c.ns.inode) for c in order]
            else:
                by_nsid = self.refresh_namespaces(host_state.links)
                order = sorted(self.containers.values(), key=lambda c: c.name)
                got = [None if st is None else interfaces_from_state(st)
                       for st in read_all([c.ns for c in order], split)]
        except BaseException:
            for *_, ns in cands or ():
                if ns.inode not in self.containers:
                    ns.close()
            raise
        finally:
            if reading is not None:
                reading.close()
        host = Host(self.server.host_netns, self.hostname, host_ifaces, inode=self.host.inode)
        by_index = {i.ifindex: i for i in host_ifaces}

        containers: list[Container] = []
        states: dict[int, tuple[ContainerNs, list[Interface]]] = {}
        for c, ifaces in zip(order, got):
            if ifaces is None:
                continue
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

        vms = self._vms(host_ifaces, self.owners, self.elsewhere)  # (the scan a moment ago: not stale)
        return Topology(host, containers, vms)

    def _vms(self, host_ifaces: list[Interface], owners: Optional[Owners] = None,
             elsewhere: AbstractSet[int] = frozenset()) -> list[VM]:
        """The VMs (vms.find_vms), given display names unique among the containers and VMs; their taps'
        peers set."""
        by_name = {i.ifname: i for i in host_ifaces}
        vms = find_vms(self.host.inode, by_name, owners, elsewhere)
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


def _interfaces_read(st: NsState) -> Read:
    """What a one-shot discovery keeps of a namespace it read (made by the process that read it)."""
    return interfaces_from_state(st), st.host_nsid


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


def discover(server: Server, split: bool = False, on_host: Optional[Callable[[NsState], None]] = None,
             owners_ahead: Optional[Callable[[], Any]] = None) -> Topology:
    """One-shot discovery (``show``; ``split``, ``on_host``: see ``Discoverer.discover``; ``owners_ahead``:
    the runtimes' scan made elsewhere meanwhile, its answer when called: an Owners, else it is made here)."""
    with Discoverer(server) as d:
        d.owners_ahead = owners_ahead
        return d.discover(split, on_host)
