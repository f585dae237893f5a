"""The live watcher: one thread follows a whole server through netlink.

Over 300 lines on purpose: one thread's loop, whose timers, commands and
sweeps share that thread's state; what stands alone lives beside it
(structure.py, events.py, turns.py, fastrates.py).

- Structure (structure.py): the host's event socket on the link and
  address groups also hears every container the host has an nsid for
  (net/allns.py); a container without one, or a watcher refused that,
  has a socket of its own (events.py reads either); events
  update that namespace's cached dump, and the ends are re-paired from
  the cached dumps as soon as the events already waiting are read; events
  within SETTLE of the last re-pairing wait for the next one, so a burst
  coalesces while a lone change shows at once.
  ENOBUFS means "re-dump it"; a re-dump of every namespace each
  REDUMP_EVERY (5 min) is the safety net.
- Namespaces and VMs that appear or vanish: host link events that point
  at an unknown nsid (or lose one) and tap events trigger a rescan; so
  does a relevant change in ``/run/netns`` (one stat twice a second, a
  listing when it changed), and a slow periodic rescan catches holders
  that died quietly and VMs paused or resumed.
- Counters: one stats-only sweep per interval on the Discoverer's
  long-lived sockets; rates from measured monotonic time.  A sweep reads
  what has a row: the host's links (one dump) and every container's ends
  (get requests for its non-loopback links).  A container's loopback has
  no row, so it is not read; a link the cached dumps missed has no row
  either, until the events or the periodic re-dump bring it.
  Beyond SWEEP_BUDGET container namespaces, a sweep reads the host, the
  *hot* namespaces (``set_hot``: those whose ends are on screen) and one
  turn of ~TURN others: each is read every ``turns`` sweeps (5,000
  containers: every 10 s), its rate measured over that span — the work
  of a sweep stays that of ~500 containers whatever the server's size.

Everything happens in the thread that calls ``run``; other threads talk
to it only through ``stop``/``set_interval``/``set_paused``/``resync``
(a queue plus a wake-up pipe) and read ``history`` (made safe to read
while a sweep records, without waiting for it).

The feed never dies quietly: whatever stops it is handed to ``on_error``
with a reason that names it, and ``resync`` on a stopped feed (``r`` in
the TUI) starts it again in a thread of its own with a fresh Discoverer.
Namespaces it may not enter (an unprivileged user) are left out and
their host ends marked (structure.py); its own namespace needs no setns.
"""

from __future__ import annotations

import os
import queue
import selectors
import threading
import time
from typing import Any, Callable, Optional

from vnet_tui.core.errors import VnetError
from vnet_tui.core.server import Server
from vnet_tui.net.rtnl.stats import Counts
from vnet_tui.net.sweep import SweepPlan

from .events import deliver
from .fastrates import FastRateTracker
from .feed import EndKey, OnError, OnSample, OnTopology, Sample
from .structure import WATCHED_DIRS, Structure, dir_entries
from .turns import plan_turns


def describe(e: BaseException) -> str:
    """An exception as a reason people can read: never empty."""
    text = str(e).strip()
    name = type(e).__name__
    if isinstance(e, VnetError):
        return text or name
    return f"{name}: {text}" if text else name


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

    SETTLE = 0.03  # s: at most one re-pairing per SETTLE: a burst of events coalesces
    RESCAN_NS_EVERY = 30.0  # s: periodic rescan of namespaces (holders that died quietly)
    # periodic rescans take at most this share of a core: at 5,000 namespaces one costs ~0.5-1.5 s of
    # CPU (every process's /proc entry, 5,000 mounts), so they come less often than RESCAN_*_EVERY
    RESCAN_SHARE = 0.01
    # s: re-dump every watched namespace, the events' safety net (netlink reports a lost event as
    # ENOBUFS, which re-dumps at once; at 1,000 containers one re-dump costs ~0.25 s of CPU)
    REDUMP_EVERY = 300.0
    RESCAN_VMS_EVERY = 30.0  # s: periodic rescan of VMs (paused/running, guest MACs); taps come and go by events
    POLL_DIRS_EVERY = 0.5  # s: stat /run/netns for added/removed namespaces
    SWEEP_BUDGET = 1000  # container namespaces a sweep reads besides the hot ones; more are read in turns
    # container namespaces a turn reads past SWEEP_BUDGET (besides the hot ones): at 5,000, ten turns, so an
    # end off screen is read every 10 s; a turn of 1,000 cost 33-44 ms of CPU there (the kernel's
    # per-namespace cost grows with their number), which alone was 4 % of a core
    TURN = 500
    RETRY_DUMP = 0.2  # s: a re-dump that failed (interrupted by a storm) is tried again this soon
    # a big server's first picture shows the first screen's containers (live/firstturn.py); the rest are
    # read in turns once the consumer said what it shows (``set_hot``: its first rows are up), or this
    # long after the first picture was posted, PENDING_EVERY apart
    PENDING_WAIT = 1.0
    PENDING_EVERY = 0.02

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
        self._tracker = FastRateTracker()
        self._swept = 0  # ends the last sweep of every namespace read (turns == 1)
        self._sweeps = 0
        self._plans: list[SweepPlan] = []  # one per turn (one alone up to SWEEP_BUDGET namespaces)
        self._plan_version = -1  # Structure.version the plans were made for
        self._hot: frozenset[EndKey] = frozenset()  # the ends on screen (set_hot)
        self._plans_hot: Optional[frozenset[EndKey]] = None  # the hot set the plans were made for
        self._plan_basis: Optional[tuple] = None  # (namespaces, ends, host ifindexes, hot) the plans were made for
        self._inodes: frozenset[int] = frozenset()  # the namespaces the plans cover
        self._counters: dict[EndKey, Counts] = {}  # the latest counters of every end swept
        self.overruns = 0  # event sockets that overflowed (ENOBUFS): each meant a re-dump
        self._rates: dict[EndKey, Any] = {}  # the rates of the last sample
        self._last_apply = float("-inf")  # monotonic time of the last re-pairing after events
        self._rescan_cpu = 0.0  # s of this thread's CPU the last rescan that opened nothing took
        self.started = False
        self._abandoned = False
        self._running = False  # a thread is in ``run`` now
        self._stop_requested = False  # ``stop`` was called: never start again
        self._callbacks: Optional[tuple[OnTopology, OnSample, OnError]] = None
        self.restarts = 0  # times ``resync`` started a stopped feed again
        self.stopped_why = ""  # the reason the last run ended with (empty: running, or stopped by ``stop``)
        self._s: Optional[Structure] = None
        self._ending = False  # the running loop reported why it stops and is on its way out
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
        self._stop_requested = True
        self._send("stop")

    def set_interval(self, seconds: float) -> None:
        self._send("interval", seconds)

    def set_paused(self, paused: bool) -> None:
        self._send("pause", paused)

    def set_hot(self, ends: frozenset[EndKey]) -> None:
        """The ends on screen: read every sweep even on a server past SWEEP_BUDGET (the others in turns)."""
        self._send("hot", frozenset(ends))

    @property
    def turns(self) -> int:
        """Sweeps between two reads of a namespace that is not hot (1: every sweep reads everything)."""
        return max(1, len(self._plans))

    def resync(self) -> None:
        """Re-read every namespace and VM now; a feed that stopped is started again."""
        if self._ending:  # it has said why it stops and is closing what it held: let it finish first
            self._finished.wait(5)
        with self._lock:
            restart = (self.started and not self._running and not self._stop_requested
                       and self._callbacks is not None)
            if restart:
                self._running = True  # claimed here: a second ``resync`` does not start another
                self._finished.clear()
        if not restart:
            self._send("resync")
            return
        self.restarts += 1
        assert self._callbacks is not None
        threading.Thread(target=self._run_claimed, args=self._callbacks, name="vnet-tui watcher",
                         daemon=True).start()

    @property
    def running(self) -> bool:
        """A thread is following the server now."""
        return self._running

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
        """One end's recent rates, without waiting for a sweep: at 5,000 containers a sweep held the
        lock long enough to hold a key press up by 0.4 s (FastRateTracker.history_of is thread-safe)."""
        return self._tracker.history_of(key)

    # -- the thread --------------------------------------------------------
    def run(self, on_topology: OnTopology, on_sample: OnSample, on_error: OnError) -> None:
        """Follow the server until ``stop`` (or until its host namespace is gone)."""
        with self._lock:
            if self._abandoned or self._running:
                return
            self.started = self._running = True
            self._finished.clear()
        self._run_claimed(on_topology, on_sample, on_error)

    def _run_claimed(self, on_topology: OnTopology, on_sample: OnSample, on_error: OnError) -> None:
        self._callbacks = (on_topology, on_sample, on_error)
        self._post_topology, self._post_sample = on_topology, on_sample
        self.stopped_why = ""
        self._ending = False

        def post_error(why: str) -> None:
            self.stopped_why = why
            self._ending = True
            try:
                on_error(why)
            except Exception:  # noqa: BLE001 - a consumer that is gone (the app closed) cannot be told
                pass

        self._post_error = post_error
        d = sel = None
        try:
            try:
                d = self._make(self.server)
            finally:
                # a restart opens everything again (the first Discoverer is closed when this run ends)
                from vnet_tui.discovery.topology import Discoverer

                self._make = Discoverer
            self.label = d.hostname
            sel = selectors.DefaultSelector()
            sel.register(self._wake_r, selectors.EVENT_READ, None)
            self._plans, self._plan_version = [], -1
            self._s = Structure(d, sel)
            self._loop(sel)
        except Exception as e:  # noqa: BLE001 - the feed says why it stopped, whatever it was
            post_error(describe(e) if d is None else f"netlink watcher: {describe(e)}")
        finally:
            try:
                if self._s is not None:
                    self._s.close()
                    self._s = None
                if sel is not None:
                    sel.close()
                if d is not None:
                    d.close()
            finally:
                with self._lock:
                    self._running = False
                self._ending = False
                self._finished.set()

    def _loop(self, sel: selectors.BaseSelector) -> None:
        s = self._s
        assert s is not None
        s.rescan_ns = s.rescan_vms = True
        s.dirty.add(s.host_inode)
        self._due: Optional[float] = None
        self._pending_from = float("inf")  # monotonic time from which the rest of a first picture is read
        s.counting = {}  # the first picture's dumps bring their links' counters: its first sample
        self._apply(force=True)
        counted, s.counting = s.counting, None
        if counted:
            # posted now, not after the first sweep: at 5,000 containers that sweep, fighting the UI's
            # first rows for the interpreter, held the first screen's sample back by 0.3-0.6 s
            self._counters = counted
            self._post_sample(Sample(time.monotonic(), counted, {}, frozenset()))
        self._pending_from = time.monotonic() + self.PENDING_WAIT
        if s.pending:
            self._due = self._pending_from
        now = time.monotonic()
        self._next_sweep = now
        next_ns, next_vms = now + self.RESCAN_NS_EVERY, now + self.RESCAN_VMS_EVERY
        next_redump = now + self.REDUMP_EVERY
        next_dirs, mtimes = now + self.POLL_DIRS_EVERY, _mtimes()
        while True:
            deadlines = [next_ns, next_vms, next_dirs, next_redump]
            if not self.paused:
                deadlines.append(self._next_sweep)
                if self._due is not None:
                    deadlines.append(self._due)
            for key, _ in sel.select(max(0.0, min(deadlines) - time.monotonic())):
                if key.data is None:
                    if self._commands():
                        return
                else:
                    self._read_events(key.data)
            now = time.monotonic()
            if now >= next_dirs:
                next_dirs = now + self.POLL_DIRS_EVERY
                if _mtimes() != mtimes:
                    mtimes = _mtimes()
                    if not s.host_still_there():
                        self._post_error(f"{self.label}: its host namespace is gone")
                        return
                    if self._relevant(dir_entries()):
                        s.rescan_ns = True
                        self._schedule(now)
            if now >= next_ns:
                next_ns = now + max(self.RESCAN_NS_EVERY, self._rescan_cpu / self.RESCAN_SHARE)
                s.rescan_ns = True
                self._schedule(now)
            if now >= next_redump:
                next_redump = now + self.REDUMP_EVERY
                s.redump_all()
                self._schedule(now)
            if now >= next_vms:
                next_vms = now + max(self.RESCAN_VMS_EVERY, self._rescan_cpu / self.RESCAN_SHARE)
                s.rescan_vms = True
                self._schedule(now)
            if self.paused:
                continue
            if self._due is not None and now >= self._due:
                self._due = None
                self._apply()
            if now >= self._next_sweep:
                self._sweep()
                # keep the cadence, but never two sweeps closer than 3/4 of the interval
                # (a late one, behind a slow rescan, must not be followed by one at once)
                self._next_sweep = max(self._next_sweep + self.interval, time.monotonic() + 0.75 * self.interval)

    def _relevant(self, names: frozenset[str]) -> bool:
        """Does /run/netns now disagree with what we watch: a watched name gone, or an unwatched lab container?"""
        watched = self._s.watched_names()
        if watched - names:
            return True
        lab = self.server.lab
        return bool(lab) and any(n.startswith(f"vl-{lab}-ct") and n not in watched for n in names)

    def _apply(self, force: bool = False) -> None:
        """Bring the picture up to date and post it; a re-dump that failed is tried again soon."""
        s = self._s
        assert s is not None
        rescan = (s.rescan_ns or s.rescan_vms) and not s.dirty  # (a rescan alone: no re-dumps in its cost)
        watched, cpu = len(s.sockets), time.thread_time()
        self._post(s.apply(force=force, read_pending=time.monotonic() >= self._pending_from))
        if rescan and not force and len(s.sockets) == watched:  # a rescan that found nothing to open
            self._rescan_cpu = time.thread_time() - cpu
        self._last_apply = time.monotonic()
        if s.dirty:
            self._schedule(max(self._last_apply + self.PENDING_EVERY, self._pending_from) if s.pending
                           else self._last_apply + self.RETRY_DUMP)

    def _schedule(self, at: float) -> None:
        if self._due is None:
            self._due = at

    def _post(self, topo: Any) -> None:
        if topo is not None:
            self._post_topology(topo)

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
            elif cmd[0] == "hot":
                self._hot = cmd[1]
                s = self._s
                if s is not None and s.pending and self._pending_from > time.monotonic():
                    self._pending_from = time.monotonic()  # the first rows are up: read the rest now
                    self._due = self._pending_from
            elif cmd[0] == "pause":
                self.paused = cmd[1]
                if not self.paused:
                    self._next_sweep = time.monotonic()
            elif cmd[0] == "resync":
                s = self._s
                assert s is not None
                s.dirty.update(s.sockets)
                s.rescan_ns = s.rescan_vms = True
                self._apply(force=True)

    def _read_events(self, key: int) -> None:
        applied, overflowed = deliver(self._s, key)
        self.overruns += overflowed
        if applied:
            # a lone change (the usual `ip link set … down`) is applied as soon as the events
            # already waiting are read (the select loop drains every ready socket first);
            # events within SETTLE of the last re-pairing wait for the next one, so a burst coalesces
            self._schedule(max(time.monotonic(), self._last_apply + self.SETTLE))

    # -- counters ----------------------------------------------------------
    def _make_plans(self) -> None:
        """The sweep's plans for the namespaces and ends watched now, unless they are what the plans were
        made for: most structure changes (an end down, an address) leave every ifindex where it was, and at
        5,000 containers making the plans again cost 20-30 ms of the watcher for each outside change."""
        s = self._s
        assert s is not None
        nss = s.namespaces()
        ends = s.ends()
        host = s.states.get(s.host_inode)
        basis = (nss, ends, frozenset(l.ifindex for l in host.links) if host is not None else frozenset(),
                 self._hot)
        self._plan_version, self._plans_hot = s.version, self._hot
        if self._plans and basis == self._plan_basis:
            return
        self._plan_basis = basis
        self._inodes = frozenset(ns.inode for ns in nss)
        self._plans = plan_turns(nss, ends, s.states, self._hot, self.SWEEP_BUDGET, self.TURN)

    def _sweep(self) -> None:
        s = self._s
        if self._plan_version != s.version or (self._plans_hot is not self._hot and len(self._plans) > 1):
            before = self._inodes
            self._make_plans()
            if before - self._inodes:  # namespaces gone: their ends' counters and rates with them
                self._drop_gone(self._inodes)
        turns = len(self._plans)
        plan = self._plans[self._sweeps % turns]
        self._sweeps += 1
        values = plan.run()
        now = time.monotonic()
        gone = self._s.gone
        if turns == 1:  # every end was read: what the sweep read is all there is
            counters = values
        else:  # the other turns' namespaces keep the values last read
            counters = dict(self._counters)
            counters.update(values)
            for key in gone:
                counters.pop(key, None)
        self._counters = counters
        with self._lock:
            t = self._tracker
            prev = self._rates
            for key in gone:  # a new link may reuse the ifindex: a new baseline
                t.forget(key)
            gone.clear()
            changed = t.update_many(values, now)
            if turns == 1 and len(values) != self._swept:  # namespaces or ends came or went
                t.keep_only(set(values))
                self._swept = len(values)
            rates = dict(t.rates)
        changed.update(k for k in prev.keys() - rates.keys())  # forgotten: their rate is gone
        self._rates = rates
        self._post_sample(Sample(now, counters, rates, frozenset(changed)))

    def _drop_gone(self, inodes: frozenset[int]) -> None:
        """Forget the counters and rates of ends in namespaces no longer watched (turns > 1: no full sweep
        sees every namespace at once to tell)."""
        self._counters = {k: v for k, v in self._counters.items() if k[0] in inodes}
        with self._lock:
            self._tracker.keep_only({k for k in self._tracker._last if k[0] in inodes})
