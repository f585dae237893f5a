"""The host's id for a namespace, deduced from a veth pair named from both ends (discovery/deduce.py).

A one-shot discovery reads every namespace first and asks each which id
it gives the host; the host is asked only about what no veth pair
settles.  What it deduces must be what RTM_GETNSID on the host says, and
it must not be fooled by a link that points at a host veth without being
that veth's peer.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import sh, strip
from vnet_tui.core.server import Server
from vnet_tui.discovery import topology
from vnet_tui.discovery.deduce import deduced_nsids
from vnet_tui.discovery.split import read_one
from vnet_tui.discovery.topology import Discoverer, discover
from vnet_tui.discovery.interfaces import interfaces_from_state
from vnet_tui.net.namespace import Namespace, NsState

pytestmark = pytest.mark.live


def _ifindex(ns: str, ifname: str) -> int:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname], check=True,
                         capture_output=True, text=True).stdout
    return int(json.loads(out)[0]["ifindex"])


def test_deduced_ids_are_the_hosts_and_a_look_alike_is_not_taken():
    with netns(5) as (host, a, b, c, d):
        # a: two veths to the host; b: one; c: a veth to b only (no pair with the host)
        sh("ip", "-n", host, "link", "add", "va0", "type", "veth", "peer", "name", "eth0")
        peer = _ifindex(host, "eth0")
        sh("ip", "-n", host, "link", "set", "eth0", "netns", a)  # (it keeps its ifindex there)
        sh("ip", "-n", host, "link", "add", "va1", "type", "veth", "peer", "name", "eth1", "netns", a)
        sh("ip", "-n", host, "link", "add", "vb0", "type", "veth", "peer", "name", "eth0", "netns", b)
        sh("ip", "-n", b, "link", "add", "tc0", "type", "veth", "peer", "name", "eth0", "netns", c)
        # d: a macvlan on the host's va0, moved in with the ifindex of va0's own peer in a.  It points
        # at va0 and va0 points at its ifindex: only the kinds tell it is not va0's peer.
        sh("ip", "-n", host, "link", "add", "m0", "index", str(peer), "link", "va0", "type", "macvlan")
        sh("ip", "-n", host, "link", "set", "m0", "netns", d)
        hostns = Namespace(host)
        try:
            host_links = hostns.sock.links()
            named = [Namespace(n) for n in (a, b, c, d)]
            states = [read_one(ns) for ns in named]
            for ns, st in zip(named, states):
                st.host_nsid = ns.sock.nsid_of(hostns.fd)  # (what a first look asks each namespace)
            assert [st.host_nsid is not None for st in states] == [True, True, False, True]
            m0 = next(l for l in states[3].links if l.ifname == "m0")
            va0 = next(l for l in host_links if l.ifname == "va0")
            assert (m0.ifindex, m0.link, m0.link_netnsid) == (peer, va0.ifindex, states[3].host_nsid)  # look-alike
            assert va0.link == peer
            truth = [hostns.nsid_of(ns) for ns in named]
            assert truth[0] is not None and truth[1] is not None
            reads = [(interfaces_from_state(st), st.host_nsid) for st in states]
            host_ifaces = interfaces_from_state(NsState(links=host_links))
            assert deduced_nsids(host_ifaces, reads) == [truth[0], truth[1], None, None]
            for ns in named:
                ns.close()
        finally:
            hostns.close()


def test_one_shot_discovery_asks_the_host_only_what_no_pair_settles(monkeypatch):
    """The one-shot picture (every namespace read first) is the rescanning discoverer's, with the host
    asked about no container a veth pair names."""
    with netns(4) as (host, a, b, c):
        sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
        for n, g in enumerate((a, b), 1):
            sh("ip", "-n", host, "link", "add", f"veth{n}.0", "type", "veth", "peer", "name", "eth0", "netns", g)
            sh("ip", "-n", host, "link", "set", f"veth{n}.0", "master", "br0", "up")
            sh("ip", "-n", g, "addr", "add", f"198.18.0.{n}/24", "dev", "eth0")
        # c: reached from the host by a macvlan made in c and moved out, so only the host points at it
        sh("ip", "-n", c, "link", "add", "base", "type", "veth", "peer", "name", "base1")
        sh("ip", "-n", c, "link", "add", "mv", "link", "base", "type", "macvlan")
        sh("ip", "-n", c, "link", "set", "mv", "netns", host)
        server = Server(netns=host)
        with Discoverer(server) as d:  # the rescanning way: every namespace's id asked of the host
            d.refresh_namespaces(d.host.sock.links())
            assert d.containers  # (so discover() rescans: it is not a first look)
            whole = d.discover()
        asked: list[int] = []  # the inodes of the namespaces the host was asked about
        real = Discoverer.__dict__["_admit_read"]

        def spy(self, host_ifaces, cands, reads):
            nsids_of = self.host.sock.nsids_of
            self.host.sock.nsids_of = lambda fds, batch=256: (asked.extend(os.fstat(f).st_ino for f in fds),
                                                             nsids_of(fds, batch))[1]
            return real(self, host_ifaces, cands, reads)

        monkeypatch.setattr(topology.Discoverer, "_admit_read", spy)
        with Discoverer(server) as fresh:  # few peers: a first look asks the host, as a rescan does
            fresh.discover()
        assert asked == []  # (_admit_read was not used)
        monkeypatch.setattr(topology, "DEDUCE_ABOVE", 2)  # now "many": every namespace is read first
        one_shot = discover(server)
        assert strip(one_shot) == strip(whole)
        assert sorted(x.name for x in one_shot.containers) == sorted([a, b, c])
        assert all(i.peer is not None for i in one_shot.host.interfaces if i.ifname.startswith("veth"))
        inode = {x.name: x.netns.inode for x in one_shot.containers}
        assert inode[c] in asked  # only the host points at c: its id is asked
        assert inode[a] not in asked and inode[b] not in asked  # a veth pair named from both ends settled these
