"""What ``lab up`` leaves so a big lab builds fast and stays quiet (lab/build.py's opening comment).

Container ends: their IPv4 and static IPv6 address, no IPv6 link-local
(``addrgenmode none``).  Host ends and the links between bridges: no IPv6.
Bridges up, br0 with its addresses, a link-local and the multicast querier
on.  The host namespace's IPv6 default is back as it was, so an adapter
added later gets IPv6 as on a server.  Containers still reach br0 and each
other over IPv4 and IPv6.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ip_json, unique
from tests.live.test_lab import check_reach, state_dir  # noqa: F401 - state_dir: autouse
from vnet_tui.lab import lab
from vnet_tui.lab.names import BRIDGE

pytestmark = pytest.mark.live


def addrs(netns: str, ifname: str) -> set[str]:
    (info,) = ip_json("addr", "show", "dev", ifname, netns=netns)
    return {f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", [])}


def sysctl(netns: str, path: str) -> str:
    r = subprocess.run(["ip", "netns", "exec", netns, "cat", f"/proc/sys/{path}"],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def test_a_lab_without_link_locals_on_its_ends_still_talks_ipv4_and_ipv6():
    # 2 bridges, so the links between bridges are there too
    with lab(unique("q"), containers=4, vms=0, seed=3, bridges=2) as info:
        host = info.host_netns
        for c in info.containers:
            assert addrs(c.netns, c.ifname) == {c.ipv4, c.ipv6}  # no fe80::
            (link,) = ip_json("-d", "link", "show", "dev", c.ifname, netns=c.netns)
            assert link.get("inet6_addr_gen_mode") == "none", link
            assert "UP" in link["flags"]
            assert sysctl(host, f"net/ipv6/conf/{c.host_ifname}/disable_ipv6") == "1"
        for br in info.bridges[1:]:
            for end in (br.uplink, br.downlink):
                assert sysctl(host, f"net/ipv6/conf/{end}/disable_ipv6") == "1"
        links = {l["ifname"]: l for l in ip_json("-d", "link", "show", netns=host)}
        assert all("UP" in links[br.name]["flags"] for br in info.bridges)
        assert links[BRIDGE]["linkinfo"]["info_data"]["mcast_querier"] == 1
        br0 = addrs(host, BRIDGE)
        assert {info.bridge_ipv4, info.bridge_ipv6} < br0 and any(a.startswith("fe80:") for a in br0)
        # the default as a new namespace has it (nothing here sets devconf_inherit_init_net)
        fresh = subprocess.run(["unshare", "-n", "cat", "/proc/sys/net/ipv6/conf/default/disable_ipv6"],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert sysctl(host, "net/ipv6/conf/default/disable_ipv6") == fresh
        # reachable over IPv4 and IPv6: one container from another across bridges, and br0
        a, b = info.containers[0], info.containers[-1]
        assert a.bridge != b.bridge
        check_reach(a, b)
        for c in (a, b):
            for gw in (info.bridge_ipv4, info.bridge_ipv6):
                out = subprocess.run(["ip", "netns", "exec", c.netns, sys.executable, "-c",
                                      f"import socket;socket.create_connection(('{gw.split('/')[0]}',9),timeout=5)"],
                                     capture_output=True, text=True)
                assert "refused" in out.stderr.lower(), (c.name, gw, out.stderr)  # an RST from br0
