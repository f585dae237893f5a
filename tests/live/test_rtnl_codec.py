"""Our narrow rtnetlink decoder agrees with pyroute2's decoding of the same kernel."""

import subprocess

import pytest
from pyroute2 import IPRoute

from tests.helpers import netns, udp_burst
from vnet_tui.net.namespace import Namespace
from vnet_tui.net.netns import entered, open_netns

pytestmark = pytest.mark.live


def sh(*cmd):
    subprocess.run(cmd, check=True)


def pyroute2_view(name):
    fd = open_netns(name)
    try:
        with entered(fd):
            ipr = IPRoute()
        try:
            links = {
                l["index"]: {
                    "ifname": l.get("IFLA_IFNAME"),
                    "mac": l.get("IFLA_ADDRESS"),
                    "mtu": l.get("IFLA_MTU"),
                    "master": l.get("IFLA_MASTER"),
                    "link": l.get("IFLA_LINK"),
                    "netnsid": l.get("IFLA_LINK_NETNSID"),
                    "alias": l.get("IFLA_IFALIAS"),
                    "kind": (l.get(("IFLA_LINKINFO", "IFLA_INFO_KIND"))),
                    "operstate": l.get("IFLA_OPERSTATE"),
                }
                for l in ipr.get_links()
            }
            addrs = sorted(
                (a["index"], f"{a.get('IFA_LOCAL') or a.get('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in ipr.get_addr()
            )
            stats = {}
            for m in ipr.stats("dump"):
                s = m.get("IFLA_STATS_LINK_64")
                if s is not None:
                    stats[m["ifindex"]] = (s["rx_packets"], s["tx_packets"], s["rx_bytes"], s["tx_bytes"])
        finally:
            ipr.close()
    finally:
        import os

        os.close(fd)
    return links, addrs, stats


def test_link_addr_stats_decoding_matches_pyroute2():
    with netns(2) as (a, b):
        sh("ip", "-n", a, "link", "add", "vtx0", "type", "veth", "peer", "name", "eth0", "netns", b)
        sh("ip", "-n", a, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", a, "link", "set", "vtx0", "master", "br0", "mtu", "1400", "alias", "a [b] c")
        sh("ip", "-n", a, "addr", "add", "198.18.0.1/16", "dev", "br0")
        sh("ip", "-n", a, "addr", "add", "fd00:5654::1/64", "dev", "br0", "nodad")
        for dev in ("vtx0", "br0"):
            sh("ip", "-n", a, "link", "set", dev, "up")
        sh("ip", "-n", b, "link", "set", "eth0", "up")
        sh("ip", "-n", b, "addr", "add", "198.18.1.1/16", "dev", "eth0")
        udp_burst(b, "198.18.0.1", 10)

        links, addrs, stats = pyroute2_view(a)
        ns = Namespace(a)
        try:
            st = ns.read()
        finally:
            ns.close()
        ours = {
            l.ifindex: {
                "ifname": l.ifname,
                "mac": l.mac,
                "mtu": l.mtu,
                "master": l.master,
                "link": l.link,
                "netnsid": l.link_netnsid,
                "alias": l.alias,
                "kind": None if l.kind in ("device", "loopback") else l.kind,
                "operstate": l.operstate.upper(),
            }
            for l in st.links
        }
        assert ours == links
        assert sorted((x.ifindex, x.cidr) for x in st.addrs) == addrs
        assert {k: v[:4] for k, v in st.stats.items()} == stats
        assert any(v[0] or v[1] for v in stats.values())  # traffic was counted
