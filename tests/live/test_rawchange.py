"""The raw change requests (the codec's net/rtnl/linkchange.py and addrs.py, sent by ChangeNs) do what ``ip``
does, checked with ``ip -j``."""

from __future__ import annotations

import errno
import subprocess

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from tests.helpers import ip_json, netns
from vnet_tui.net.change import ChangeNs
from vnet_tui.net.rtnl import linkchange

pytestmark = pytest.mark.live


def link(ns: str, name: str) -> dict:
    return ip_json("-d", "link", "show", "dev", name, netns=ns)[0]


def addrs(ns: str, name: str) -> set[tuple[str, int, str]]:
    return {(a["local"], a["prefixlen"], a.get("address", a["local"]) if a["family"] == "inet" else "")
            for a in ip_json("addr", "show", "dev", name, netns=ns)[0]["addr_info"] if a["scope"] != "link"}


@pytest.fixture
def two():
    with netns(2) as (h, c):
        host, ct = ChangeNs(h, h), ChangeNs(c, c)
        try:
            yield h, c, host, ct
        finally:
            host.close()
            ct.close()


def test_veth_with_its_peer_in_another_namespace(two):
    h, c, host, ct = two
    host.veth_add("veth9.0", "fe:00:00:00:09:01", 1400, "vt-tmp", ct, "c4:37:72:00:09:01", 1450)
    a, b = link(h, "veth9.0"), link(c, "vt-tmp")
    assert (a["address"], a["mtu"], a["linkinfo"]["info_kind"]) == ("fe:00:00:00:09:01", 1400, "veth")
    assert (b["address"], b["mtu"], b["linkinfo"]["info_kind"]) == ("c4:37:72:00:09:01", 1450, "veth")
    # each end's peer is the other: the peer ifindex in the host end is the container end's
    assert a["link_index"] == b["ifindex"] and b["link_index"] == a["ifindex"]
    with pytest.raises(NetlinkError) as e:
        host.veth_add("veth9.0", "fe:00:00:00:09:02", 1500, "vt-tmp2", ct, "c4:37:72:00:09:02", 1500)
    assert e.value.code == errno.EEXIST


def test_link_set_each_field_and_clearing(two):
    h, c, host, ct = two
    host.veth_add("veth9.0", "fe:00:00:00:09:01", 1500, "vt-tmp", ct, "c4:37:72:00:09:01", 1500)
    subprocess.run(["ip", "-n", h, "link", "add", "br9", "type", "bridge"], check=True)
    idx, br = link(h, "veth9.0")["ifindex"], link(h, "br9")["ifindex"]
    g = link(c, "vt-tmp")["ifindex"]
    ct.link_set(g, ifname="eth1")
    ct.link_set(g, address="c4:37:72:00:09:aa", mtu=1420)
    ct.link_set(g, state="up")
    e = link(c, "eth1")
    assert (e["address"], e["mtu"], "UP" in e["flags"]) == ("c4:37:72:00:09:aa", 1420, True)
    host.link_set(idx, ifalias="vnet-tui:pending:1")
    assert link(h, "veth9.0")["ifalias"] == "vnet-tui:pending:1"
    host.link_set(idx, master=br, state="up")
    got = link(h, "veth9.0")
    assert got["master"] == "br9" and "UP" in got["flags"]
    host.link_set(idx, master=0, ifalias="")
    got = link(h, "veth9.0")
    assert "master" not in got and "ifalias" not in got  # the alias is gone, not an empty string
    ct.link_set(g, state="down")
    assert "UP" not in link(c, "eth1")["flags"]
    with pytest.raises(NetlinkError) as err:
        ct.link_set(99999, mtu=1500)
    assert err.value.code == errno.ENODEV
    with pytest.raises(ValueError):
        linkchange.set_link(1, g, state="sideways")


def test_addresses_both_families_and_the_errors(two):
    h, c, host, ct = two
    host.veth_add("veth9.0", "fe:00:00:00:09:01", 1500, "eth1", ct, "c4:37:72:00:09:01", 1500)
    g = link(c, "eth1")["ifindex"]
    ct.addr_add(g, "198.18.90.1/16")
    ct.addr_add(g, "fd00:5654::90:1/64")
    assert addrs(c, "eth1") == {("198.18.90.1", 16, "198.18.90.1"), ("fd00:5654::90:1", 64, "")}
    with pytest.raises(NetlinkError) as e:
        ct.addr_add(g, "198.18.90.1/16")
    assert e.value.code == errno.EEXIST
    ct.addr_del(g, "198.18.90.1/16")
    ct.addr_del(g, "fd00:5654::90:1/64")
    assert addrs(c, "eth1") == set()
    with pytest.raises(NetlinkError) as e:
        ct.addr_del(g, "198.18.90.1/16")
    assert e.value.code == errno.EADDRNOTAVAIL
    ct.link_del(g)
    assert "eth1" not in [l["ifname"] for l in ip_json("link", "show", netns=c)]
    assert "veth9.0" not in [l["ifname"] for l in ip_json("link", "show", netns=h)]  # the pair went with it


def test_a_persistent_tap_in_the_namespace(two):
    h, c, host, ct = two
    host.tap_add("vt-tap9")
    info = link(h, "vt-tap9")["linkinfo"]
    assert info["info_kind"] == "tun"
    assert (info["info_data"]["type"], info["info_data"]["pi"], info["info_data"]["vnet_hdr"],
            info["info_data"]["persist"]) == ("tap", False, False, True)
    assert "vt-tap9" not in [l["ifname"] for l in ip_json("link", "show", netns=c)]
