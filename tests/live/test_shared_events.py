"""The host's one event socket carries every numbered container's events (net/allns.py).

With NETLINK_LISTEN_ALL_NSID the watcher needs no socket per container:
events from a container's namespace arrive on the host's socket tagged
with the host's nsid for it.  Where the option is refused (no
CAP_NET_BROADCAST), each namespace gets a socket of its own again, and
the picture is the same.
"""

from __future__ import annotations

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import Recorder, pair, sh
from tests.ui.test_watcher import strip as _strip
from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import discover
from vnet_tui.live import structure

pytestmark = pytest.mark.live


def strip(topo):
    """As the watcher tests compare pictures, each end's addresses as a set (events append, dumps sort)."""
    d = _strip(topo)
    for ifaces in [d["host"]["interfaces"]] + [c["interfaces"] for c in d["containers"]]:
        for i in ifaces:
            i["addresses"] = sorted(i["addresses"])
    return d


def _changes_arrive(r: Recorder, host: str, a: str, b: str) -> None:
    sh("ip", "-n", a, "addr", "add", "198.18.9.9/32", "dev", "eth0")
    sh("ip", "-n", b, "link", "set", "eth0", "mtu", "1300")
    sh("ip", "-n", b, "link", "add", "extra0", "type", "bridge")
    r.wait(lambda: any("198.18.9.9/32" in i.addresses for c in r.topos[-1][1].containers for i in c.interfaces),
           "the address added in a container")
    r.wait(lambda: any(i.mtu == 1300 for c in r.topos[-1][1].containers for i in c.interfaces),
           "the MTU set in the other")
    r.wait(lambda: any(i.ifname == "extra0" for c in r.topos[-1][1].containers for i in c.interfaces),
           "the link made in the other")
    r.wait(lambda: strip(r.topos[-1][1]) == strip(discover(Server(netns=host))), "the same picture as discovery")


def test_containers_events_come_through_the_hosts_one_socket():
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        with Recorder(host) as r:
            s = r.w._s
            assert s.shared is not None, "this kernel (4.6+) as root: the shared socket"
            assert len(s.sockets) == 3 and {id(x) for x in s.sockets.values()} == {id(s.shared)}
            _changes_arrive(r, host, a, b)
            assert r.w.overruns == 0


def test_refused_it_watches_each_namespace_on_a_socket_of_its_own(monkeypatch):
    def refused(*_a, **_k):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(structure, "listen_all", refused)
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        with Recorder(host) as r:
            s = r.w._s
            assert s.shared is None
            assert len({id(x) for x in s.sockets.values()}) == 3
            _changes_arrive(r, host, a, b)


def test_a_container_gone_leaves_the_shared_socket_to_the_others():
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        with Recorder(host) as r:
            s = r.w._s
            sh("ip", "-n", host, "link", "del", "veth1.0")
            # (the host end's last notices no longer name the peer's namespace: the cached link does)
            r.wait(lambda: len(r.topos[-1][1].containers) == 1, "the container without a host link gone")
            assert s.shared is not None and s.shared.fileno() >= 0
            sh("ip", "-n", b, "addr", "add", "198.18.7.7/32", "dev", "eth0")
            r.wait(lambda: "198.18.7.7/32" in r.topos[-1][1].containers[0].interfaces[1].addresses,
                   "the other container's change")
