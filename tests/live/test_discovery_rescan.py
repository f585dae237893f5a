"""A namespace rescan asks only what can have changed.

A server's other namespaces (another lab's, a runtime's the host has no
link into) are asked once for the host's nsid and remembered; a rescan
opens them again only when a host link points at an nsid no known
container answers.  A namespace that later gets a peer of the host is
found at the next rescan all the same.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import netns
from vnet_tui.core.server import Server
from vnet_tui.discovery import topology
from vnet_tui.discovery.topology import Discoverer

pytestmark = pytest.mark.live


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def test_other_namespaces_are_asked_once_and_found_when_they_get_a_peer(monkeypatch):
    opened: list[int] = []
    real_open = topology._open

    def counting_open(info):
        opened.append(info.inode)
        return real_open(info)

    monkeypatch.setattr(topology, "_open", counting_open)
    with netns(3) as (host, ct, other):
        sh("ip", "-n", host, "link", "add", "veth1.0", "type", "veth", "peer", "name", "eth0", "netns", ct)
        with Discoverer(Server(netns=host)) as d:
            names = {c.name for c in d.discover().containers}
            assert names == {ct}
            assert d.foreign.get(inode(other), "absent") is None  # asked: the host has no nsid for it
            assert inode(other) in opened

            opened.clear()
            assert {c.name for c in d.discover().containers} == {ct}
            assert inode(other) not in opened and inode(ct) not in opened  # nothing new: nobody reopened

            # the other namespace becomes a container: the host's new nsid for it is unresolved
            sh("ip", "-n", host, "link", "add", "veth2.0", "type", "veth", "peer", "name", "eth0", "netns", other)
            topo = d.discover()
            assert {c.name for c in topo.containers} == {ct, other}
            assert inode(other) in opened and inode(other) not in d.foreign
            peer = next(i.peer for i in topo.host.interfaces if i.ifname == "veth2.0")
            assert peer is not None and peer.owner == other and peer.ifname == "eth0"

            # and when its last host link goes, it is a container no more
            sh("ip", "-n", host, "link", "del", "veth2.0")
            assert {c.name for c in d.discover().containers} == {ct}


def test_a_hidden_peer_does_not_make_every_rescan_reopen_the_others(monkeypatch):
    """A host link into a namespace no scan can find stays unresolved; the others are not asked again for it."""
    opened: list[int] = []
    real_open = topology._open

    def counting_open(info):
        opened.append(info.inode)
        return real_open(info)

    monkeypatch.setattr(topology, "_open", counting_open)
    with netns(3) as (host, hidden, other):
        sh("ip", "-n", host, "link", "add", "veth9.0", "type", "veth", "peer", "name", "eth0", "netns", hidden)
        # held by an open descriptor alone (no bind mount, no process inside): alive, and found by no scan
        holder = subprocess.Popen([sys.executable, "-c", f"import os,sys; fd = os.open('/run/netns/{hidden}', "
                                   "os.O_RDONLY); print('held', flush=True); sys.stdin.read()"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            sh("ip", "netns", "del", hidden)
            with Discoverer(Server(netns=host)) as d:
                topo = d.discover()
                assert topo.containers == []
                assert inode(other) in opened  # asked once: could it be where veth9.0's peer is?
                opened.clear()
                d.discover()
                d.discover()
                assert inode(other) not in opened, "a namespace already asked was reopened at a rescan"
        finally:
            holder.kill()
            holder.wait()
