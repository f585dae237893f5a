"""The structure of a watched server: which namespaces, their cached dumps, the VMs.

Single-threaded (the watcher's thread).  Events mark namespaces dirty;
``apply`` re-dumps only those, rescans namespaces or VMs when asked, and
assembles a Topology only when something it is made of changed.

Over 300 lines on purpose: one class, ``Structure``, whose state (sockets,
cached dumps, dirty marks, the VMs) every method shares; splitting it
would pass that state between modules instead.
"""

from __future__ import annotations

import gc
import os
import selectors
import socket
from dataclasses import replace
from typing import Any, Optional

from vnet_tui.core.gcpause import gc_held_off
from vnet_tui.core.model import VM, Host, Peer, Topology
from vnet_tui.discovery.interfaces import interfaces_from_state
from vnet_tui.net import rtnl
from vnet_tui.net.allns import listen_all
from vnet_tui.net.namespace import Namespace, NsState, hidden_peer, named_nsids
from vnet_tui.net.netns import netlink_socket
from vnet_tui.net.rtnl.stats import Counts, packed
from vnet_tui.net.session import EVENT_GROUPS, DumpInterrupted
from vnet_tui.net.sweep import ends_of

from .assemble import Assembler
from .events import SHARED
from .feed import EndKey
from .firstturn import FIRST, SPLIT_ABOVE, first_shown
from .privilege import CAP_SYS_ADMIN, effective_caps

WATCHED_DIRS = ("/run/netns", "/run/docker/netns")


def dump(ns: Namespace, counters: Optional[dict[EndKey, Counts]] = None) -> Optional[NsState]:
    """Links and addresses of one namespace (None if it cannot be read now: try again later).

    ``counters``: the links are dumped with their counters, put there as
    the sweep gives them (``Counts``' bytes; the NsState keeps none).
    DumpInterrupted (links kept changing through every retry, as in a
    storm) is "not now", like an OSError: never an exception that would
    stop the watcher.
    """
    try:
        if counters is None:
            return NsState(links=ns.sock.links(), addrs=ns.sock.addrs())
        links = ns.sock.counted_links()
        inode = ns.inode
        for l in links:
            if l.stats64:
                counters[(inode, l.ifindex)] = packed(l.stats64)
                l.stats64 = ()
        return NsState(links=links, addrs=ns.sock.addrs())
    except (OSError, DumpInterrupted):
        return None


def _half_made_veth(msg: rtnl.LinkMsg) -> bool:
    """A veth end whose notification came before its peer existed (``link`` 0).

    The kernel registers a new pair's peer first and announces it while
    the other end has no ifindex yet; no later event corrects it, so the
    cached message would leave the pair unpaired until a re-dump.
    """
    return msg.kind == "veth" and not msg.link


def dir_entries() -> frozenset[str]:
    """Names bind-mounted where runtimes keep namespaces."""
    out: set[str] = set()
    for d in WATCHED_DIRS:
        try:
            out.update(os.listdir(d))
        except OSError:
            pass
    return frozenset(out)


class Structure:
    """Namespaces being watched (host + containers), their dumps, and the VMs."""

    # a re-dump that fails (a storm interrupts every try) is tried again at the next apply, this many
    # times in a row; then events, a resync or the periodic re-dump ask again
    DUMP_RETRIES = 50
    PENDING_TURN = 1000  # namespaces found but not read yet (a big server's first picture): read this many an apply


    def __init__(self, discoverer: Any, sel: selectors.BaseSelector) -> None:
        self.d = discoverer
        self.sel = sel
        self.sockets: dict[int, socket.socket] = {}  # namespace inode -> its event socket (maybe the shared one)
        # one socket in the host for the host and every container it has an nsid for (net/allns.py);
        # None without CAP_NET_BROADCAST: then a socket per namespace, as for one without an nsid
        self.shared: Optional[socket.socket] = None
        self._host_nsid: Optional[int] = None  # the host's nsid for itself, if it has one (its events carry it)
        self.states: dict[int, NsState] = {}
        self.by_nsid: dict[int, Any] = {}
        self.vms: list[VM] = []
        self.dirty: set[int] = set()
        self.gone: set[EndKey] = set()  # links deleted since the last sweep (ifindexes get reused)
        self.rescan_ns = self.rescan_vms = False
        self.changed = False  # events changed a cached dump since the last apply
        # the namespaces whose cached dumps changed since the last assembly; whole_next: something else
        # did too (a namespace came or went), so the next assembly looks at everything (live/assemble.py)
        self.touched: set[int] = set()
        self.whole_next = True
        self.last: Optional[Topology] = None
        self.assembler = Assembler()
        self._ends: dict[int, tuple[NsState, list[int]]] = {}  # inode -> (the state they came from, ends)
        self.version = 0  # bumped whenever the namespaces watched or their cached dumps change
        # without CAP_SYS_ADMIN other namespaces cannot be entered: the host ends whose peers live
        # there are marked "not visible" instead of looking like plain links
        self.can_enter = bool(effective_caps() & (1 << CAP_SYS_ADMIN))
        self._hidden_names: Optional[dict[int, str]] = None  # host nsid -> namespace name (None: not read yet)
        self._hidden_pub: dict[int, tuple[Any, Peer, Any]] = {}  # ifindex -> (end, its Peer, the end shown)
        self._hidden_nsids: set[int] = set()  # host nsids of namespaces we may not enter
        self._dump_failures: dict[int, int] = {}  # inode -> re-dumps failed in a row
        # containers found at the first rescan but not read yet (firstturn.py): watched, left out of
        # the topologies and the sweeps until their first dump
        self.pending: set[int] = set()
        # not None: the dumps count too, into this (the watcher's first picture gives its first sample)
        self.counting: Optional[dict[EndKey, Counts]] = None
        self.watch(self.d.host)

    @property
    def host_inode(self) -> int:
        return self.d.host.inode

    def ns(self, inode: int) -> Optional[Namespace]:
        if inode == self.host_inode:
            return self.d.host
        c = self.d.containers.get(inode)
        return c.ns if c is not None else None

    def namespaces(self) -> list[Namespace]:
        pending = self.pending
        return [self.d.host] + [c.ns for i, c in self.d.containers.items() if i not in pending]

    def ends(self) -> dict[int, list[int]]:
        """For each container namespace with a cached dump, the ifindexes of its ends
        (every link but the loopback): what a light sweep reads there (net/sweep.py)."""
        host, cache, out = self.host_inode, self._ends, {}
        for inode, st in self.states.items():
            if inode == host:
                continue
            hit = cache.get(inode)
            if hit is None or hit[0] is not st:
                hit = cache[inode] = (st, ends_of(st.links))
            out[inode] = hit[1]
        if len(cache) > len(out):
            for inode in [i for i in cache if i not in out]:
                del cache[inode]
        return out

    def watched_names(self) -> set[str]:
        names = {n for c in self.d.containers.values() for n in (c.info.names or [])}
        if self.d.server.host_netns:
            names.add(self.d.server.host_netns)
        return names

    # -- event sockets -----------------------------------------------------
    def watch(self, ns: Namespace) -> None:
        """Subscribe to the namespace's link and address events.

        The host's socket listens to every namespace the host has an nsid
        for (net/allns.py), so a container with an nsid needs no socket of
        its own; one without (a lab container not yet linked to the host)
        or a watcher without CAP_NET_BROADCAST gets its own.  Our own
        sockets rather than ``Namespace.events()``: that one carries a
        256 KiB receive buffer each; live/events.py reads every namespace
        through one shared buffer.
        """
        if ns is self.d.host and self._share(ns):
            return
        c = self.d.containers.get(ns.inode)
        if self.shared is not None and c is not None and c.nsid is not None:
            self.sockets[ns.inode] = self.shared
            return
        # our own namespace is not entered (no setns: an unprivileged user can watch it)
        sock = netlink_socket(getattr(ns, "enter_fd", ns.fd), EVENT_GROUPS)
        try:
            self.sel.register(sock, selectors.EVENT_READ, ns.inode)
        except BaseException:
            sock.close()
            raise
        self.sockets[ns.inode] = sock

    def _share(self, host: Namespace) -> bool:
        """Open the shared socket in the host; False if the kernel or our privileges refuse it."""
        try:
            sock = listen_all(getattr(host, "enter_fd", host.fd), EVENT_GROUPS)
        except OSError:
            return False
        try:
            self.sel.register(sock, selectors.EVENT_READ, SHARED)
        except BaseException:
            sock.close()
            raise
        try:
            self._host_nsid = host.nsid_of(host)
        except OSError:
            self._host_nsid = None
        self.shared = self.sockets[host.inode] = sock
        return True

    def inode_of(self, nsid: Optional[int]) -> Optional[int]:
        """The watched namespace whose events the shared socket tagged ``nsid`` (None: the host's own)."""
        if nsid is None or nsid == self._host_nsid:
            return self.host_inode
        c = self.by_nsid.get(nsid)
        if c is None or self.sockets.get(c.ns.inode) is not self.shared:
            return None  # a namespace we do not watch, or watch through a socket of its own
        return c.ns.inode

    def sharing(self) -> list[int]:
        """The namespaces whose events come through the shared socket."""
        return [i for i, sock in self.sockets.items() if sock is self.shared]

    def unwatch(self, inode: int) -> None:
        self._dump_failures.pop(inode, None)
        self.pending.discard(inode)
        sock = self.sockets.pop(inode, None)
        if sock is not None and sock is self.shared:
            if inode == self.host_inode:
                self._close_shared()
        elif sock is not None:
            try:
                self.sel.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            sock.close()
        self.states.pop(inode, None)
        self.whole_next = True
        self.version += 1

    def _close_shared(self) -> None:
        if self.shared is None:
            return
        try:
            self.sel.unregister(self.shared)
        except (KeyError, ValueError, OSError):
            pass
        self.shared.close()
        self.shared = None

    def close(self) -> None:
        for inode in sorted(self.sockets, key=lambda i: i == self.host_inode):  # the host's (shared) last
            self.unwatch(inode)
        self._close_shared()

    def on_events(self, inode: int, events: list[tuple[int, object]]) -> None:
        """Apply a batch of events to the namespace's cached dump (empty: ENOBUFS, re-dump it).

        Link and address notifications carry the whole object, so the cache
        follows them without asking the kernel again; a periodic re-dump
        (``redump_all``) is the safety net.
        """
        st = self.states.get(inode)
        if not events or st is None:
            self.dirty.add(inode)
            if inode == self.host_inode:
                self.rescan_ns = self.rescan_vms = True
            return
        links = {l.ifindex: l for l in st.links}
        addrs = {(a.ifindex, a.family, a.address, a.prefixlen): a for a in st.addrs}
        is_host = inode == self.host_inode
        for mtype, msg in events:
            if isinstance(msg, rtnl.AddrMsg):
                key = (msg.ifindex, msg.family, msg.address, msg.prefixlen)
                if mtype == rtnl.RTM_NEWADDR:
                    addrs[key] = msg
                else:
                    addrs.pop(key, None)
                continue
            if not isinstance(msg, rtnl.LinkMsg):
                continue
            was = links.get(msg.ifindex) if is_host else None
            if was is not None and was.link_netnsid is not None and was.link_netnsid != msg.link_netnsid:
                # a host end whose peer left a namespace: a veth's notices once its peer is going no
                # longer name the peer's namespace, and that container may have lost its last host link
                self.rescan_ns = True
            if mtype == rtnl.RTM_DELLINK:
                links.pop(msg.ifindex, None)
                addrs = {k: a for k, a in addrs.items() if k[0] != msg.ifindex}
                self.gone.add((inode, msg.ifindex))
            else:
                links[msg.ifindex] = msg
                if _half_made_veth(msg):
                    self.dirty.add(inode)  # re-dumped at the next apply: the pair shows at once
                elif is_host and msg.kind == "veth" and msg.link_netnsid is not None:
                    self._check_guest(msg)
            if is_host:
                nsid = msg.link_netnsid
                if nsid is not None and (mtype == rtnl.RTM_DELLINK or nsid not in self.by_nsid) \
                        and (mtype == rtnl.RTM_DELLINK or nsid not in self._hidden_nsids):
                    self.rescan_ns = True  # (a namespace already known to be hidden: the periodic rescan)
                if msg.kind == "tun" or mtype == rtnl.RTM_DELLINK:
                    self.rescan_vms = True
        self.states[inode] = NsState(links=[links[i] for i in sorted(links)], addrs=list(addrs.values()))
        self.touched.add(inode)
        self.version += 1
        self.changed = True

    def _check_guest(self, host_end: rtnl.LinkMsg) -> None:
        """A host end in a known container: re-dump the container if its cached guest end disagrees."""
        c = self.by_nsid.get(host_end.link_netnsid)  # type: ignore[arg-type]
        if c is None:
            return
        inode = c.ns.inode
        st = self.states.get(inode)
        if st is None or inode not in self.sockets:
            return
        g = next((l for l in st.links if l.ifindex == host_end.link), None)
        if g is None or g.link != host_end.ifindex:
            self.dirty.add(inode)

    def redump_all(self) -> None:
        """Ask for a fresh dump of every watched namespace (the events' safety net)."""
        self.dirty.update(self.sockets)

    @property
    def has_work(self) -> bool:
        """Something to re-dump, rescan or assemble at the next ``apply``."""
        return bool(self.dirty) or self.changed or self.rescan_ns or self.rescan_vms

    # -- bringing the picture up to date ------------------------------------
    def apply(self, force: bool = False, read_pending: bool = True) -> Optional[Topology]:
        """Re-dump, rescan as asked; the new Topology if it changed (or ``force``), else None.

        Namespaces still pending (a big server's first picture) are read
        PENDING_TURN at a time, and only with ``read_pending``.
        """
        changed, self.changed = force or self.changed, False
        dirty, self.dirty = self.dirty, set()
        pending = self.pending
        if pending:
            later = [i for i in dirty if i in pending][self.PENDING_TURN if read_pending else 0:]
            if later:
                dirty.difference_update(later)
                self.dirty.update(later)
        filled = False  # pending namespaces read: a new topology once none is left
        for inode in dirty:
            ns = self.ns(inode)
            if ns is None:
                continue
            st = dump(ns, self.counting)
            if st is None:  # interrupted or failed: still to do (the watcher retries soon, a few times)
                tries = self._dump_failures[inode] = self._dump_failures.get(inode, 0) + 1
                if inode in self.sockets and tries <= self.DUMP_RETRIES:
                    self.dirty.add(inode)
                elif inode in pending:  # shown as before: a container whose links could not be read
                    pending.discard(inode)
                    filled = True
                continue
            self._dump_failures.pop(inode, None)
            if inode in pending:
                pending.discard(inode)
                self.states[inode] = st
                self.version += 1
                filled = True
                continue
            old = self.states.get(inode)
            if st != old:
                if old is not None:  # links a lost event did not report gone: their counters go too
                    now = {l.ifindex for l in st.links}
                    self.gone.update((inode, l.ifindex) for l in old.links if l.ifindex not in now)
                self.states[inode] = st
                self.touched.add(inode)
                self.version += 1
                changed = True
        if filled:
            # what a turn read lives as long as its namespace: out of the cyclic GC's way, as the app does
            # with its first picture (a full collection over a filling server's objects, again and again,
            # cost more than reading them)
            gc.freeze()
            changed |= not pending
        host_state = self.states.get(self.host_inode, NsState())
        if self.rescan_ns or self.rescan_vms:
            # a rescan may rename or re-own containers in place (discovery's objects) even when it reports
            # no change: the next assembly, whenever it comes, looks at everything
            self.whole_next = True
        whole = force or filled or bool(pending) or self.whole_next
        scanned = self.rescan_ns
        if self.rescan_ns:
            self.rescan_ns = False
            self._hidden_names = None
            changed |= self._refresh_namespaces(host_state)
        if self.rescan_vms:
            self.rescan_vms = False
            changed |= self._refresh_vms(host_state, scanned)
        if not changed:
            return None
        containers = self.d.containers
        if pending:
            containers = {i: c for i, c in containers.items() if i not in pending}
        touched, self.touched, self.whole_next = self.touched, set(), False
        # a whole assembly makes every end anew: at 5,000 containers, with the cyclic GC on, it met full
        # collections of 50-90 ms over the objects it was making; what lives on is frozen by the consumer
        with gc_held_off(whole):
            topo = self.assembler.assemble(self.d.server.host_netns, self.d.hostname, self.host_inode, host_state,
                                           containers, self.states, self.by_nsid, self.vms,
                                           touched=None if whole else touched)
        if not self.can_enter:
            topo = self._mark_hidden(topo)  # (a Topology of its own: no ``change``, the UI takes it whole)
        if not force and topo == self.last:
            return None
        self.last = topo
        self.assembler.taken(topo)
        return topo

    # -- what an unprivileged user cannot see --------------------------------
    def _mark_hidden(self, topo: Topology) -> Topology:
        """Host ends whose peer is in a namespace we may not enter get a Peer saying so.

        The Peer names the namespace where /run/netns does (``ifname`` None:
        the guest end's name is not visible); the same objects while
        nothing changed, as the Assembler does.
        """
        by_nsid = self.by_nsid
        out, touched, pub = [], False, {}
        for i in topo.host.interfaces:
            nsid = i.link_netnsid
            if i.peer is None and nsid is not None and nsid not in by_nsid:
                peer = hidden_peer(nsid, i.link_ifindex, self.hidden_names())
                hit = self._hidden_pub.get(i.ifindex)
                shown = hit[2] if hit is not None and hit[0] is i and hit[1] == peer else replace(i, peer=peer)
                pub[i.ifindex] = (i, peer, shown)
                out.append(shown)
                touched = True
            else:
                out.append(i)
        self._hidden_pub = pub
        self._hidden_nsids = {i.link_netnsid for i, _p, _s in pub.values()}
        if not touched:
            return topo
        h = topo.host
        return Topology(Host(h.netns, h.hostname, out, inode=h.inode), topo.containers, topo.vms)

    def hidden_names(self) -> dict[int, str]:
        """The host's nsids of the namespaces named where runtimes keep them (opened, never entered)."""
        if self._hidden_names is None:
            self._hidden_names = named_nsids(self.d.host, WATCHED_DIRS)
        return self._hidden_names

    def _refresh_namespaces(self, host_state: NsState) -> bool:
        before = (set(self.sockets), {k: v.ns.inode for k, v in self.by_nsid.items()})
        self.by_nsid = self.d.refresh_namespaces(host_state.links)
        self.version += 1
        current = set(self.d.containers)
        for inode in [i for i in self.sockets if i != self.host_inode and i not in current]:
            self.unwatch(inode)
        new = current - set(self.sockets)
        first = None
        if self.last is None and len(new) > SPLIT_ABOVE:  # a big server's first picture: the first screen first
            first = first_shown(new, self.d.containers, host_state.links, self.by_nsid, FIRST)
        for inode in new:
            ns = self.d.containers[inode].ns
            try:
                self.watch(ns)
            except OSError:
                continue
            if first is not None and inode not in first:
                self.pending.add(inode)  # read in the turns after (apply)
                self.dirty.add(inode)
                continue
            st = dump(ns, self.counting)
            if st is not None:
                self.states[inode] = st
        return before != (set(self.sockets), {k: v.ns.inode for k, v in self.by_nsid.items()})

    def _refresh_vms(self, host_state: NsState, scanned: bool = False) -> bool:
        """``scanned``: the namespaces were scanned a moment ago (this same ``apply``): the runtimes' records
        and the pids found in other namespaces are reused, not read again (a pid found elsewhere any
        earlier could since have been reused by a new QEMU here)."""
        d = self.d
        owners, elsewhere = (d.owners, d.elsewhere) if scanned else (None, frozenset())
        try:
            # Discoverer._vms is the one place that knows QEMU; it should be public (reported)
            vms = d._vms(interfaces_from_state(NsState(host_state.links, host_state.addrs)), owners, elsewhere)
        except OSError:
            return False
        if vms == self.vms:
            return False
        self.vms = vms
        return True

    def host_still_there(self) -> bool:
        name = self.d.server.host_netns
        if name is None:
            return True
        try:
            return os.stat(f"/run/netns/{name}").st_ino == self.host_inode
        except OSError:
            return False
