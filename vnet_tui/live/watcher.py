"""The live watcher: one thread follows a whole server through netlink.

- Structure: each watched namespace (the host and every container) has an
  event socket on the link and address groups; an event marks that
  namespace dirty and, after a short settle time that lets a burst
  coalesce, only dirty namespaces are re-dumped and the ends re-paired
  from cached dumps (``assemble``).  ENOBUFS means "re-dump it".
- Namespaces and VMs that appear or vanish: host link events that point
  at an unknown nsid (or lose one) and tap events trigger a rescan; so
  does a change of ``/run/netns`` (checked twice a second, one stat) and
  a slow periodic rescan for holders that died quietly.
- Counters: one stats-only sweep of every namespace per interval on the
  Discoverer's long-lived sockets; rates from measured monotonic time.

Everything happens in the thread that calls ``run``; other threads talk
to it only through ``stop``/``set_interval``/``set_paused``/``resync``
(a queue plus a wake-up pipe) and read ``history`` under a lock.
"""

from __future__ import annotations

import os
import queue
import selectors
import threading
import time
from typing import Any, Callable, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import VM, Topology
from vnet_tui.core.rates import RateTracker
from vnet_tui.core.server import Server
from vnet_tui.net import rtnl
from vnet_tui.net.namespace import Namespace, NsState
from vnet_tui.net.session import Resync
from vnet_tui.net.sweep import sweep

from .assemble import assemble
from .feed import EndKey, OnError, OnSample, OnTopology, Sample

WATCHED_DIRS = ("/run/netns", "/run/docker/netns")


def _dump(ns: Namespace) -> Optional[NsState]:
    """Links and addresses of one namespace (None if it cannot be read)."""
    try:
        return NsState(links=ns.sock.links(), addrs=ns.sock.addrs())
    except OSError:
        return None


def _mtimes() -> tuple[int, ...]:
    out = []
    for d in WATCHED_DIRS:
        try:
            out.append(os.stat(d).st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)


class Watcher:
    """A live feed of one server (see the module docstring)."""

    SETTLE = 0.03  # s: let a burst of events coalesce into one re-dump
    RESCAN_EVERY = 5.0  # s: periodic rescan of namespaces and VMs
    POLL_DIRS_EVERY = 0.5  # s: stat /run/netns for added/removed namespaces

    def __init__(self, server: Server, interval: float = 1.0,
                 discoverer: Optional[Callable[[Server], Any]] = None) -> None:
        from vnet_tui.discovery.topology import Discoverer

        self.server = server
        self.label = server.label
        self.interval = interval
        self.paused = False
        self._make = discoverer or Discoverer
        self._cmds: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self._tracker = RateTracker()
        self.started = False
        self._abandoned = False
        self._finished = threading.Event()

    # -- controls, from any thread ----------------------------------------
    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", -1), getattr(self, "_wake_w", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _send(self, *cmd: Any) -> None:
        self._cmds.put(cmd)
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass

    def stop(self) -> None:
        self._send("stop")

    def set_interval(self, seconds: float) -> None:
        self._send("interval", seconds)

    def set_paused(self, paused: bool) -> None:
        self._send("pause", paused)

    def resync(self) -> None:
        self._send("resync")

    def abandon(self) -> bool:
        """If ``run`` has not started, make sure it never will; True if so."""
        with self._lock:
            if self.started:
                return False
            self._abandoned = True
            return True

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until ``run`` has returned and closed every namespace it held."""
        return self._finished.wait(timeout)

    def history(self, key: EndKey) -> tuple[list[float], list[float]]:
        with self._lock:
            h = self._tracker.history.get(key)
            return (list(h[0]), list(h[1])) if h else ([], [])

    # -- the thread --------------------------------------------------------
    def run(self, on_topology: OnTopology, on_sample: OnSample, on_error: OnError) -> None:
        """Follow the server until ``stop`` (or until its host namespace is gone)."""
        with self._lock:
            if self._abandoned:
                return
            self.started = True
        try:
            d = self._make(self.server)
        except VnetError as e:
            on_error(str(e))
            self._finished.set()
            return
        self.label = d.hostname
        self._d = d
        self._post_topology, self._post_sample, self._post_error = on_topology, on_sample, on_error
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._watched: dict[int, int] = {}  # inode -> event socket fd
        self._states: dict[int, NsState] = {}
        self._by_nsid: dict[int, Any] = {}
        self._vms: list[VM] = []
        self._dirty: set[int] = set()
        self._gone: set[EndKey] = set()  # links deleted since the last sweep: ifindexes get reused
        self._due: Optional[float] = None
        self._rescan_ns = self._rescan_vms = False
        self._last: Optional[Topology] = None
        try:
            self._loop()
        finally:
            self._sel.close()
            d.close()
            self._finished.set()

    def _loop(self) -> None:
        host = self._d.host
        self._watch(host)
        self._resync(force=True)
        now = time.monotonic()
        self._next_sweep = now
        next_rescan = now + self.RESCAN_EVERY
        next_dirs, dirs = now + self.POLL_DIRS_EVERY, _mtimes()
        while True:
            deadlines = [next_rescan, next_dirs]
            if not self.paused:
                deadlines.append(self._next_sweep)
                if self._due is not None:
                    deadlines.append(self._due)
            timeout = max(0.0, min(deadlines) - time.monotonic())
            for key, _ in self._sel.select(timeout):
                if key.data is None:
                    if self._commands():
                        return
                else:
                    self._on_events(key.data)
            now = time.monotonic()
            if now >= next_dirs:
                next_dirs = now + self.POLL_DIRS_EVERY
                seen = _mtimes()
                if seen != dirs:
                    dirs = seen
                    if not self._host_still_there():
                        self._post_error(f"{self.label}: its host namespace is gone")
                        return
                    self._mark_rescan(now, vms=False)
            if now >= next_rescan:
                next_rescan = now + self.RESCAN_EVERY
                self._mark_rescan(now)
            if self.paused:
                continue
            if self._due is not None and now >= self._due:
                self._apply()
            if now >= self._next_sweep:
                self._sweep()
                self._next_sweep += self.interval
                if self._next_sweep <= now:
                    self._next_sweep = now + self.interval

    def _commands(self) -> bool:
        """Handle queued controls; True means stop."""
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                cmd = self._cmds.get_nowait()
            except queue.Empty:
                return False
            if cmd[0] == "stop":
                return True
            if cmd[0] == "interval":
                self._next_sweep += cmd[1] - self.interval
                self.interval = cmd[1]
            elif cmd[0] == "pause":
                self.paused = cmd[1]
                if not self.paused:
                    self._next_sweep = time.monotonic()
            elif cmd[0] == "resync":
                self._resync(force=True)

    # -- structure ---------------------------------------------------------
    def _watch(self, ns: Namespace) -> None:
        ev = ns.events()
        self._sel.register(ev.fileno(), selectors.EVENT_READ, ns.inode)
        self._watched[ns.inode] = ev.fileno()

    def _unwatch(self, inode: int) -> None:
        fd = self._watched.pop(inode, None)
        if fd is not None:
            try:
                self._sel.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
        self._states.pop(inode, None)

    def _ns(self, inode: int) -> Optional[Namespace]:
        if inode == self._d.host.inode:
            return self._d.host
        c = self._d.containers.get(inode)
        return c.ns if c is not None else None

    def _on_events(self, inode: int) -> None:
        ns = self._ns(inode)
        if ns is None:
            return
        try:
            events = ns.events().read_events()
        except Resync:
            events = []
            if inode == self._d.host.inode:
                self._rescan_ns = self._rescan_vms = True
        except OSError:
            events = []
            self._rescan_ns = True
        else:
            if not events:
                return
            if inode == self._d.host.inode:
                self._host_events(events)
            for mtype, msg in events:
                if mtype == rtnl.RTM_DELLINK and isinstance(msg, rtnl.LinkMsg):
                    self._gone.add((inode, msg.ifindex))
        self._dirty.add(inode)
        if self._due is None:
            self._due = time.monotonic() + self.SETTLE

    def _host_events(self, events: list[tuple[int, object]]) -> None:
        for mtype, msg in events:
            if not isinstance(msg, rtnl.LinkMsg):
                continue
            nsid = msg.link_netnsid
            if nsid is not None and (mtype == rtnl.RTM_DELLINK or nsid not in self._by_nsid):
                self._rescan_ns = True
            if msg.kind == "tun" or mtype == rtnl.RTM_DELLINK:
                self._rescan_vms = True

    def _mark_rescan(self, now: float, vms: bool = True) -> None:
        self._rescan_ns = True
        self._rescan_vms = self._rescan_vms or vms
        if self._due is None:
            self._due = now

    def _host_still_there(self) -> bool:
        name = self.server.host_netns
        if name is None:
            return True
        try:
            return os.stat(f"/run/netns/{name}").st_ino == self._d.host.inode
        except OSError:
            return False

    def _resync(self, force: bool = False) -> None:
        self._dirty.update(self._watched)
        self._rescan_ns = self._rescan_vms = True
        self._apply(force=force)

    def _apply(self, force: bool = False) -> None:
        """Re-dump dirty namespaces, rescan if asked, post the topology if it changed."""
        self._due = None
        dirty, self._dirty = self._dirty, set()
        for inode in dirty:
            ns = self._ns(inode)
            st = _dump(ns) if ns is not None else None
            if st is not None:
                self._states[inode] = st
        host = self._d.host
        host_state = self._states.get(host.inode, NsState())
        if self._rescan_ns:
            self._rescan_ns = False
            self._refresh_namespaces(host_state)
        if self._rescan_vms:
            self._rescan_vms = False
            self._refresh_vms(host_state)
        topo = assemble(self.server.host_netns, self._d.hostname, host.inode, host_state,
                        self._d.containers, self._states, self._by_nsid, self._vms)
        if force or topo != self._last:
            self._last = topo
            self._post_topology(topo)

    def _refresh_namespaces(self, host_state: NsState) -> None:
        self._by_nsid = self._d.refresh_namespaces(host_state.links)
        current = set(self._d.containers)
        for inode in [i for i in self._watched if i != self._d.host.inode and i not in current]:
            self._unwatch(inode)
        for inode in current - set(self._watched):
            ns = self._d.containers[inode].ns
            try:
                self._watch(ns)
            except OSError:
                continue
            st = _dump(ns)
            if st is not None:
                self._states[inode] = st

    def _refresh_vms(self, host_state: NsState) -> None:
        from vnet_tui.discovery.interfaces import interfaces_from_state

        try:
            self._vms = self._d._vms(interfaces_from_state(NsState(host_state.links, host_state.addrs)))
        except OSError:
            pass

    # -- counters ----------------------------------------------------------
    def _sweep(self) -> None:
        namespaces = [self._d.host] + [c.ns for c in self._d.containers.values()]
        values = sweep(namespaces)
        now = time.monotonic()
        with self._lock:
            t = self._tracker
            for key in self._gone:  # a new link may reuse the ifindex: a new baseline
                t.forget(key)
            self._gone.clear()
            for key, v in values.items():
                t.update(key, v, now)
            t.keep_only(set(values))
            rates = dict(t.rates)
        self._post_sample(Sample(now, values, rates))
