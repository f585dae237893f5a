"""The live watcher without Textual, on hand-made namespaces: structure, latency, rates, controls."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any, Callable

import pytest

from tests.helpers import netns, udp_burst
from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import discover
from vnet_tui.live.feed import Sample
from vnet_tui.live.watcher import Watcher
from vnet_tui.net.rtnl.stats import counter_values

pytestmark = pytest.mark.live


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class Recorder:
    """Runs a Watcher in a thread and records what it posts, with arrival times."""

    def __init__(self, host: str, interval: float = 0.5) -> None:
        self.w = Watcher(Server(netns=host), interval=interval)
        self.topos: list[tuple[float, Any]] = []
        self.samples: list[tuple[float, Sample]] = []
        self.errors: list[str] = []
        self.t = threading.Thread(target=self.w.run, args=(
            lambda t: self.topos.append((time.monotonic(), t)),
            lambda s: self.samples.append((time.monotonic(), s)),
            self.errors.append), daemon=True)

    def __enter__(self) -> "Recorder":
        self.t.start()
        self.wait(lambda: self.topos and self.samples, "first topology")
        return self

    def __exit__(self, *exc: object) -> None:
        self.w.stop()
        assert self.w.join(5)

    def wait(self, cond: Callable[[], Any], what: str, timeout: float = 10.0) -> float:
        t0 = time.monotonic()
        while not cond():
            assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
            time.sleep(0.005)
        return time.monotonic() - t0

    def names(self) -> list[str]:
        return [i.ifname for i in self.topos[-1][1].host.interfaces]


def pair(host: str, guests: list[str]) -> None:
    sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", host, "link", "set", "br0", "up")
    for n, g in enumerate(guests, 1):
        sh("ip", "-n", host, "link", "add", f"veth{n}.0", "type", "veth", "peer", "name", "eth0", "netns", g)
        sh("ip", "-n", host, "link", "set", f"veth{n}.0", "master", "br0", "up")
        sh("ip", "-n", g, "addr", "add", f"198.18.0.{n}/24", "dev", "eth0")
        sh("ip", "-n", g, "link", "set", "eth0", "up")


def strip(topo: Any) -> Any:
    d = topo.to_json()
    for ifaces in [d["host"]["interfaces"]] + [c["interfaces"] for c in d["containers"]]:
        for i in ifaces:
            i.pop("stats")
    for c in d["containers"]:
        c["netns"].pop("pids")
    return d


def test_first_topology_is_what_discovery_sees():
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        with Recorder(host) as r:
            assert strip(r.topos[0][1]) == strip(discover(Server(netns=host)))


def test_outside_changes_arrive_from_events_and_only_then():
    with netns(2) as (host, a):
        pair(host, [a])
        with Recorder(host) as r:
            n = len(r.topos)
            sh("ip", "-n", host, "link", "add", "x0", "type", "veth", "peer", "name", "x1")
            added = r.wait(lambda: "x0" in r.names(), "x0")
            sh("ip", "-n", a, "addr", "add", "198.18.9.9/32", "dev", "eth0")
            readdressed = r.wait(lambda: "198.18.9.9/32" in r.topos[-1][1].containers[0].interfaces[1].addresses,
                                 "new address")
            sh("ip", "-n", host, "link", "set", "x0", "name", "x9")
            renamed = r.wait(lambda: "x9" in r.names(), "rename")
            sh("ip", "-n", host, "link", "del", "x9")
            removed = r.wait(lambda: "x9" not in r.names() and "x1" not in r.names(), "removal")
            # how fast is the benchmark's figure (tui_change); here only that each one arrived
            print(f"added {added:.3f} s, readdressed {readdressed:.3f} s, renamed {renamed:.3f} s, "
                  f"removed {removed:.3f} s")
            assert len(r.topos) > n
            s0 = len(r.samples)
            r.wait(lambda: len(r.samples) >= s0 + 2, "sweeps go on")
            # sweeps never post a topology: every one posted differs from the one before
            posted = [strip(t) for _, t in r.topos]
            assert all(x != y for x, y in zip(posted, posted[1:]))
            # the picture kept up to date from events alone equals a fresh discovery
            sh("ip", "-n", host, "link", "set", "veth1.0", "nomaster")
            sh("ip", "-n", host, "link", "set", "veth1.0", "alias", "[red]x")
            sh("ip", "-n", a, "addr", "del", "198.18.9.9/32", "dev", "eth0")
            sh("ip", "-n", host, "link", "set", "veth1.0", "mtu", "1400")
            r.wait(lambda: r.topos[-1][1].host.interfaces[2].mtu == 1400, "mtu")
            # (addresses settle on their own: IPv6 link-local comes and goes with DAD; allow for it)
            r.wait(lambda: strip(r.topos[-1][1]) == strip(discover(Server(netns=host))), "the same picture")


def test_rates_from_measured_time_and_a_new_baseline_for_a_new_ifindex():
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        with Recorder(host, interval=0.3) as r:
            time.sleep(0.7)
            udp_burst(a, "198.18.0.2", count=40, size=1000)
            r.wait(lambda: any(rt.rx_bps > 10_000 for rt in r.samples[-1][1].rates.values()), "rates")
            for _, s in r.samples:
                assert all(min(v.rx_bps, v.tx_bps, v.rx_pps, v.tx_pps) >= 0 for v in s.rates.values())
            # recreate veth1.0 (the kernel may even reuse its ifindex): no rate until its second sample
            def veth1():
                return next((i for i in r.topos[-1][1].host.interfaces if i.ifname == "veth1.0"), None)

            old_mac = veth1().mac
            sh("ip", "-n", host, "link", "del", "veth1.0")
            time.sleep(0.05)  # a sweep already under way may still report the old link
            since = len(r.samples)  # sweeps from here on cannot see the old link
            sh("ip", "-n", host, "link", "add", "veth1.0", "type", "veth", "peer", "name", "eth0", "netns", a)
            r.wait(lambda: veth1() is not None and veth1().mac != old_mac, "recreated")
            new = veth1()
            key = (r.topos[-1][1].host.inode, new.ifindex)
            r.wait(lambda: any(key in s.counters for _, s in r.samples[since:]), "first sample of the new end")
            first = next(s for _, s in r.samples[since:] if key in s.counters)
            assert key not in first.rates
            r.wait(lambda: key in r.samples[-1][1].rates, "second sample")


def test_interval_pause_resync_and_stop_release_everything():
    fds_before = len(os.listdir("/proc/self/fd"))
    with netns(2) as (host, a):
        pair(host, [a])
        with Recorder(host, interval=0.2) as r:
            time.sleep(0.7)
            gaps = [b[0] - a_[0] for a_, b in zip(r.samples[-3:], r.samples[-2:])]
            # never two sweeps closer than 3/4 of the interval (a late one is load, not a bug)
            assert gaps and all(g >= 0.75 * 0.2 - 0.01 for g in gaps), gaps
            r.w.set_paused(True)
            time.sleep(0.1)
            n = len(r.samples)
            time.sleep(0.6)
            assert len(r.samples) == n  # paused: no sweeps
            r.w.set_paused(False)
            r.w.set_interval(0.5)
            r.wait(lambda: len(r.samples) >= n + 3, "samples again")
            assert r.samples[-1][0] - r.samples[-2][0] > 0.4
            t = len(r.topos)
            r.w.resync()
            r.wait(lambda: len(r.topos) > t, "a resync posts the topology")
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2  # the wake-up pipe until gc


def test_lost_events_enobufs_mean_a_redump():
    import socket
    import tempfile

    with netns(2) as (host, a):
        pair(host, [a])
        with Recorder(host, interval=0.2) as r:
            ev = r.w._s.sockets[r.w._s.host_inode]
            ev.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # the kernel's minimum
            with tempfile.NamedTemporaryFile("w", suffix=".ip") as batch:
                batch.write("".join(f"link add lost{i} type veth peer name lostp{i}\n" for i in range(60)))
                batch.flush()
                with r.w._lock:  # the watcher blocks at its next sweep: events pile up and overflow
                    time.sleep(0.3)
                    sh("ip", "-n", host, "-batch", batch.name)
            r.wait(lambda: all(f"lost{i}" in r.names() for i in range(60)), "every link after the overflow")
            assert r.w.overruns >= 1


def test_every_sweep_reads_the_ends_and_not_the_loopback():
    """A sweep reads what has a row: eth0 moves at the very next sweep; the container's loopback, which
    no row shows, is never read (the first picture's link dump brings it once, nothing after)."""
    from tests.helpers import ip_json
    from vnet_tui.net.namespace import Namespace

    with netns(2) as (host, a):
        pair(host, [a])
        ns = Namespace(a)
        inode = ns.inode
        ns.close()
        lo = (inode, ip_json("link", "show", "dev", "lo", netns=a)[0]["ifindex"])
        eth0 = (inode, ip_json("link", "show", "dev", "eth0", netns=a)[0]["ifindex"])
        with Recorder(host, interval=0.1) as r:
            r.wait(lambda: len(r.samples) >= 2, "two samples")
            since = len(r.samples)
            udp_burst(a, "127.0.0.1", count=25)  # through the container's loopback
            r.wait(lambda: len(r.samples) >= since + 8, "eight more sweeps")
            swept = [s for _, s in r.samples[1:]]  # after the first picture's
            assert all(eth0 in s.counters and lo not in s.counters for s in swept)
            assert all(lo not in s.rates for s in swept)
            since = len(r.samples)
            udp_burst(a, "198.18.0.200", count=3)  # out of eth0 (ARP): the very next sweep shows it
            before = r.samples[since - 1][1].counters_of(eth0).tx_packets
            r.wait(lambda: len(r.samples) >= since + 2, "two more samples")
            assert r.samples[since + 1][1].counters_of(eth0).tx_packets > before


async def test_r_restarts_a_stopped_feed_in_the_tui():
    """The feed stops (its host namespace went) and says why; the namespace is back; `r` brings the feed back."""
    from tests.ui.pilot import SIZE, loaded, screen_text, wait_for
    from vnet_tui.ui.app import VnetApp
    from vnet_tui.ui.header import StatusHeader

    with netns(1) as (host,):
        feed = Watcher(Server(netns=host), interval=0.2)
        app = VnetApp(feed, caps=0)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await loaded(pilot)
                header = app.main.query_one(StatusHeader)
                sh("ip", "netns", "del", host)
                await wait_for(pilot, lambda: header.problem, timeout=10, what="the feed stops")
                assert header.problem == f"netns {host}: its host namespace is gone"
                await wait_for(pilot, lambda: "stopped" in screen_text(app), what="the header says so")
                sh("ip", "netns", "add", host)
                sh("ip", "-n", host, "link", "add", "again0", "type", "veth", "peer", "name", "again1")
                await pilot.press("r")
                await wait_for(pilot, lambda: not header.problem and "again0" in screen_text(app), timeout=10,
                               what="the feed again")
                assert feed.running and feed.restarts == 1 and "● live" in screen_text(app)
        finally:
            feed.stop()
            assert feed.join(5) or not feed.started, "the watcher did not stop"


def test_a_hidden_peer_reads_not_visible():
    from vnet_tui.core.model import Interface, Peer
    from vnet_tui.net.netns import NOT_VISIBLE
    from vnet_tui.ui.rows import peer_text

    hidden = Interface("veth1.0", 5, "veth", None, 1500, "up", peer=Peer("container", "web", "web", None, 2))
    assert peer_text(hidden).plain == f"web: {NOT_VISIBLE}"
    shown = Interface("veth1.0", 5, "veth", None, 1500, "up", peer=Peer("container", "web", "web", "eth0", 2))
    assert peer_text(shown).plain == "web:eth0"


def test_past_its_budget_a_sweep_reads_the_hot_ends_every_time_and_the_rest_in_turns(monkeypatch):
    """SWEEP_BUDGET 2 (TURN 2) over 6 containers, one of them on screen: 3 turns.  The end on screen (set_hot) moves in every sample;
    a cold one only every third, its rate measured over that span; the host's off-screen ends too."""
    from tests.helpers import ip_json
    from vnet_tui.net.namespace import Namespace

    monkeypatch.setattr(Watcher, "SWEEP_BUDGET", 2)
    monkeypatch.setattr(Watcher, "TURN", 2)
    with netns(7) as (host, *guests):
        pair(host, guests)

        def key(ns: str, dev: str) -> tuple[int, int]:
            n = Namespace(ns)
            inode = n.inode
            n.close()
            return (inode, ip_json("link", "show", "dev", dev, netns=ns)[0]["ifindex"])

        hot, cold = key(guests[0], "eth0"), key(guests[4], "eth0")
        cold_host = key(host, "veth5.0")
        with Recorder(host, interval=0.1) as r:
            r.wait(lambda: len(r.samples) >= 2, "two samples")
            r.w.set_hot(frozenset({hot}))
            n = len(r.samples)
            r.wait(lambda: len(r.samples) >= n + 2 and r.w._plans_hot == frozenset({hot}), "the hot end taken")
            assert r.w.turns == 3
            since = len(r.samples) + 1
            r.wait(lambda: len(r.samples) >= since + 12, "twelve sweeps")
            for ns in (guests[0], guests[4]):
                udp_burst(ns, "198.18.0.250", count=3)  # ARP out of eth0 in both
            n = len(r.samples)
            r.wait(lambda: len(r.samples) >= n + 4, "four sweeps")
            got = [s for _, s in r.samples[since:]]
            assert all(hot in s.counters and cold in s.counters for s in got)  # read, or carried over
            moves = lambda k: sum(1 for a, b in zip(got, got[1:]) if a.counters[k] != b.counters[k])  # noqa: E731
            assert moves(hot) >= 1 and moves(cold) >= 1, "neither end's counters moved"
            # the hot end is read in every sweep: it moves as soon as its packets left; the cold one only
            # in its turn, so never in two sweeps in a row and at most every third sample
            cold_at = [i for i, (a, b) in enumerate(zip(got, got[1:])) if a.counters[cold] != b.counters[cold]]
            assert all(b - a >= 3 for a, b in zip(cold_at, cold_at[1:])), cold_at
            assert cold_host in got[-1].counters  # the host's off-screen ends: in the host's own turn
            r.wait(lambda: cold in r.samples[-1][1].rates, "a rate for the cold end")
            rate = r.samples[-1][1].rates[cold]
            assert rate.tx_pps >= 0 and rate.rx_pps >= 0


def test_the_first_sample_is_the_first_pictures_counters_before_any_sweep(monkeypatch):
    """The first picture's dumps bring their links' counters: the first sample is posted with it, before the
    first sweep (at 5,000 containers that sweep held the first screen's sample back), and holds every
    link of the picture, each as the kernel counted it then (never more than a later sweep reads)."""
    from vnet_tui.net.namespace import Namespace

    swept: list[int] = []
    real = Watcher._sweep

    def counting(self: Watcher) -> None:
        swept.append(1)
        real(self)

    monkeypatch.setattr(Watcher, "_sweep", counting)
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        udp_burst(a, "198.18.0.250", count=3)  # something counted on a's eth0 and its host end
        r = Recorder(host, interval=0.5)
        posted: list[int] = []  # sweeps made when each sample was posted

        class Noted(list):
            def append(self, x: Any) -> None:
                posted.append(len(swept))
                super().append(x)

        r.samples = Noted()
        with r:
            r.wait(lambda: len(r.samples) >= 2, "a sample from a sweep")
            assert posted[0] == 0, "the first sample came after a sweep"
            first, second = r.samples[0][1], r.samples[1][1]
            assert r.samples[0][0] >= r.topos[0][0]  # after the first topology, as the UI expects
            keys = set()
            for name in (host, a, b):
                ns = Namespace(name)
                keys |= {(ns.inode, l.ifindex) for l in ns.sock.links()}
                ns.close()
            assert set(first.counters) == keys
            assert not first.rates
            for k, v in first.counters.items():
                assert len(v) == 64  # the eight counters as the sweep gives them
                v, later = counter_values(v), counter_values(second.counters.get(k, v))
                assert all(x <= y for x, y in zip(v, later)), k
            # packets counted before the start
            moved = [k for k, v in first.counters.items() if counter_values(v)[0] or counter_values(v)[1]]
            assert moved


def test_plans_are_made_again_only_when_namespaces_or_their_links_change():
    """An end set down and up, an address: the same ifindexes everywhere, so the sweep keeps its plans
    (at 5,000 containers making them cost 20-30 ms for each outside change); a new link, new plans."""
    from vnet_tui.net.namespace import Namespace

    with netns(2) as (host, a):
        pair(host, [a])
        with Recorder(host, interval=0.1) as r:
            r.wait(lambda: len(r.samples) >= 2, "two samples")
            plans, version = r.w._plans, r.w._s.version
            sh("ip", "-n", host, "link", "set", "veth1.0", "down")
            sh("ip", "-n", a, "addr", "add", "198.18.9.9/32", "dev", "eth0")
            r.wait(lambda: r.w._plan_version > version and len(r.samples) >= 4, "a sweep after the change")
            n = len(r.samples)
            r.wait(lambda: len(r.samples) >= n + 2, "two more samples")
            assert r.w._plans is plans
            sh("ip", "-n", a, "link", "add", "x0", "type", "veth", "peer", "name", "x1")
            r.wait(lambda: r.w._plans is not plans, "new plans for the new links")
            ns = Namespace(a)
            key = (ns.inode, next(l.ifindex for l in ns.sock.links() if l.ifname == "x0"))
            ns.close()
            r.wait(lambda: key in r.samples[-1][1].counters, "the new link swept")
