"""The live feed under an event storm, and a feed that stopped coming back (issue 11 item 5).

Everything happens in throwaway namespaces (tests/helpers.py ``netns``).
The watcher's periodic rescans and re-dumps are pushed out of reach, so
what it shows after the storm comes from its events and from the re-dumps
an overflow (ENOBUFS) asks for — not from a timer that happened to fire.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

import pytest

from tests.helpers import ip_json, netns
from tests.ui.test_watcher import Recorder, pair, sh
from vnet_tui.live.watcher import describe
from vnet_tui.net.rtnl.stats import counter_values
from vnet_tui.net.netns import netlink_socket, open_netns
from vnet_tui.net.session import EVENT_GROUPS, DumpInterrupted, Resync

pytestmark = pytest.mark.live

ROUNDS, PAIRS = 5, 500  # 2,500 veth pairs made and removed: at least 10,000 link events
NEVER = 1e9


class LinkEventCounter:
    """Counts the link events of a namespace on a socket of its own (a large buffer, its own thread)."""

    def __init__(self, netns_name: str) -> None:
        fd = open_netns(netns_name)
        try:
            self.sock = netlink_socket(fd, EVENT_GROUPS)
        finally:
            os.close(fd)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root): no overflow here
        self.sock.settimeout(0.2)
        self.links = 0
        self.overflowed = False
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        import struct

        buf = bytearray(1 << 20)
        while not self._stop.is_set():
            try:
                n = self.sock.recv_into(buf)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.overflowed = True
                    continue
                return
            off = 0
            while off + 16 <= n:
                length, mtype = struct.unpack_from("=IH", buf, off)
                if length < 16:
                    break
                if mtype in (16, 17) and buf[off + 16] == socket.AF_UNSPEC:  # RTM_NEWLINK/DELLINK of a link
                    self.links += 1
                off += (length + 3) & ~3

    def close(self) -> None:
        self._stop.set()
        self.t.join(5)
        self.sock.close()


def batch(netns_name: str, lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".ip") as f:
        f.write("".join(l + "\n" for l in lines))
        f.flush()
        sh("ip", "-n", netns_name, "-force", "-batch", f.name)


def host_names(topo: Any) -> set[str]:
    return {i.ifname for i in topo.host.interfaces}


def peer_of(topo: Any, ifname: str) -> Any:
    return next((i.peer for i in topo.host.interfaces if i.ifname == ifname), None)


def test_a_storm_of_10000_link_events_leaves_a_live_feed_that_shows_what_is_there():
    with netns(2) as (host, ct):
        pair(host, [ct])  # br0, veth1.0 <-> ct:eth0
        counter = LinkEventCounter(host)
        r = Recorder(host, interval=0.2)
        w = r.w
        w.RESCAN_NS_EVERY = w.RESCAN_VMS_EVERY = w.REDUMP_EVERY = NEVER  # events and overflows only
        try:
            with r:
                before = host_names(r.topos[-1][1])
                assert before == {"lo", "br0", "veth1.0"}
                # a small receive buffer: the storm overflows it (ENOBUFS) again and again
                w._s.sockets[w._s.host_inode].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
                for k in range(ROUNDS):
                    names = [f"st{k}x{i}" for i in range(PAIRS)]
                    batch(host, [f"link add {n} type veth peer name {n}p" for n in names])
                    if k == 0:  # the feed follows the storm while it lasts
                        r.wait(lambda: {"st0x0", f"st0x{PAIRS - 1}"} <= host_names(r.topos[-1][1]),
                               "the first round on screen", timeout=60)
                    batch(host, [f"link del {n}" for n in names])
                # deleted rows go: the picture is what the kernel has
                r.wait(lambda: host_names(r.topos[-1][1]) == before, "the storm's links gone", timeout=60)
                assert {l["ifname"] for l in ip_json("link", "show", netns=host)} == before
                assert not r.errors and w.running and r.t.is_alive()
                assert w.overruns >= 1  # the overflow path ran, and the feed is still live
                # memory flat: nothing of the 5,000 links is kept once they are gone
                n = len(r.samples)
                r.wait(lambda: len(r.samples) >= n + 2, "two sweeps after the storm", timeout=30)
                with w._lock:
                    kept = set(w._tracker._last) | set(w._tracker.rates)
                assert len(kept) <= 4, kept  # host lo, br0, veth1.0; ct eth0 (its loopback has no row)
                assert all(len(k) == 2 for k in w._counters) and len(w._counters) <= 4
                # counters and rates never negative, in any sample of the storm
                for _, s in r.samples:
                    assert all(x >= 0 for v in s.counters.values() for x in counter_values(v))
                    assert all(x >= 0 for rate in s.rates.values() for x in rate)

                # a veth pair made underneath pairs at once (no rescan can run: they are pushed out)
                sh("ip", "-n", host, "link", "add", "veth9.0", "type", "veth", "peer", "name", "eth9", "netns", ct)
                sh("ip", "-n", host, "link", "add", "hp0", "type", "veth", "peer", "name", "hp1")
                r.wait(lambda: (p := peer_of(r.topos[-1][1], "veth9.0")) is not None and p.ifname == "eth9"
                       and (q := peer_of(r.topos[-1][1], "hp1")) is not None and q.ifname == "hp0",
                       "the new pairs paired", timeout=10)
                ct_topo = next(c for c in r.topos[-1][1].containers if c.name == ct)
                eth9 = next(i for i in ct_topo.interfaces if i.ifname == "eth9")
                assert eth9.peer is not None and eth9.peer.ifname == "veth9.0"
                assert not r.errors
        finally:
            counter.close()
        assert not counter.overflowed and counter.links >= 10_000, counter.links


def test_a_stopped_feed_names_why_and_resync_starts_it_again():
    """The host namespace goes (the feed stops, saying why); it is made again; ``resync`` (r) restarts."""
    with netns(1) as (host,):
        r = Recorder(host, interval=0.2)
        with r:
            sh("ip", "netns", "del", host)
            r.wait(lambda: r.errors, "the feed says it stopped", timeout=10)
            r.wait(lambda: not r.w.running, "the feed stopped", timeout=10)
            assert r.errors == [f"netns {host}: its host namespace is gone"]
            assert r.w.stopped_why == r.errors[0]
            # while the namespace is missing a resync fails again, and says why
            r.w.resync()
            r.wait(lambda: len(r.errors) == 2, "the second reason", timeout=10)
            assert "no such network namespace" in r.errors[1]
            sh("ip", "netns", "add", host)
            sh("ip", "-n", host, "link", "add", "back0", "type", "veth", "peer", "name", "back1")
            n = len(r.topos)
            r.w.resync()
            r.wait(lambda: len(r.topos) > n and "back0" in host_names(r.topos[-1][1]), "a topology again",
                   timeout=10)
            m = len(r.samples)
            r.wait(lambda: len(r.samples) > m + 2, "samples again", timeout=10)
            assert r.w.running and r.w.restarts == 2 and r.w.stopped_why == ""
            r.w.resync()  # running: an ordinary resync, not another thread
            assert r.w.restarts == 2
        assert not r.w.running
        r.w.resync()  # stopped by ``stop``: never started again
        assert not r.w.running and r.w.restarts == 2


def test_every_stop_reason_has_words():
    assert describe(DumpInterrupted()) == "DumpInterrupted"
    assert describe(Resync()) == "Resync"
    assert describe(OSError(errno.EPERM, "setns: Operation not permitted")) == \
        "PermissionError: [Errno 1] setns: Operation not permitted"
