"""A big server's first picture: the first screen's containers first, the rest in turns (live/firstturn.py).

Made small here: "big" is more than SPLIT_ABOVE containers, 4 here,
and FIRST is 2.  The first picture holds the first two containers by name and the
containers of the first two host ends by name (here other ones: the
host ends are numbered backwards), no other; the rest are read
PENDING_TURN at a time, and only when allowed; once all are read, the
picture is the one discovery sees in one go.
"""

from __future__ import annotations

import selectors

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import sh, strip
from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import Discoverer, discover
from vnet_tui.live import structure
from vnet_tui.live.firstturn import natural_key

pytestmark = pytest.mark.live


def test_first_picture_shows_the_first_rows_then_the_rest(monkeypatch):
    monkeypatch.setattr(structure, "FIRST", 2)
    monkeypatch.setattr(structure, "SPLIT_ABOVE", 4)
    monkeypatch.setattr(structure.Structure, "PENDING_TURN", 3)
    with netns(9) as (host, *guests):
        guests.sort(key=natural_key)  # vt-…-1 … vt-…-8, as the Containers pane sorts them
        sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
        for n, g in enumerate(reversed(guests), 1):  # veth1.0 is the last container's, veth2.0 the one before
            sh("ip", "-n", host, "link", "add", f"veth{n}.0", "type", "veth", "peer", "name", "eth0", "netns", g)
            sh("ip", "-n", host, "link", "set", f"veth{n}.0", "master", "br0", "up")
            sh("ip", "-n", g, "addr", "add", f"198.18.0.{n}/24", "dev", "eth0")
        with Discoverer(Server(netns=host)) as d:
            s = structure.Structure(d, selectors.DefaultSelector())
            try:
                s.rescan_ns = s.rescan_vms = True
                s.dirty.add(s.host_inode)
                first = s.apply(force=True)
                want = {guests[0], guests[1], guests[7], guests[6]}
                assert first is not None and {c.name for c in first.containers} == want
                assert len(s.pending) == 4 and {d.containers[i].name for i in s.pending} == set(guests) - want
                peers = {i.ifname: i.peer for i in first.host.interfaces}
                assert peers["veth1.0"].owner == guests[7] and peers["veth8.0"].owner == guests[0]
                assert peers["veth3.0"] is None  # its container is not read yet
                assert {ns.inode for ns in s.namespaces()} == {s.host_inode} | {
                    i for i, c in d.containers.items() if c.name in want}  # sweeps read what is shown

                assert s.apply(read_pending=False) is None and len(s.pending) == 4  # not allowed yet
                assert s.apply() is None and len(s.pending) == 1  # one turn of 3: nothing new posted
                full = s.apply()
                assert full is not None and not s.pending and not s.dirty
                assert strip(full) == strip(discover(Server(netns=host)))
                assert len(s.namespaces()) == 9
            finally:
                s.close()


def test_a_small_server_is_read_whole_at_once(monkeypatch):
    monkeypatch.setattr(structure, "FIRST", 2)
    monkeypatch.setattr(structure, "SPLIT_ABOVE", 4)
    with netns(5) as (host, *guests):
        for n, g in enumerate(guests, 1):
            sh("ip", "-n", host, "link", "add", f"veth{n}.0", "type", "veth", "peer", "name", "eth0", "netns", g)
        with Discoverer(Server(netns=host)) as d:
            s = structure.Structure(d, selectors.DefaultSelector())
            try:
                s.rescan_ns = s.rescan_vms = True
                s.dirty.add(s.host_inode)
                first = s.apply(force=True)
                assert first is not None and not s.pending  # 4 containers: not more than SPLIT_ABOVE
                assert strip(first) == strip(discover(Server(netns=host)))
            finally:
                s.close()
