"""A link's sysctls read from its RTM_NEWLINK (``rtnl.devconf``) say what /proc/sys says.

``read_end`` verifies each end's proxy_arp, proxy_ndp, disable_ipv6 and
addr_gen_mode from the link message (IFLA_AF_SPEC) instead of the sysctl
files.  Here, in a namespace made for the test (``vt-…``, removed whatever
happens), links in several states are read both ways and compared, and
``read_end`` is held to its pyroute2-and-/proc/sys path.
"""

import subprocess

import pytest

from tests.helpers import netns
from vnet_tui.net import rawread
from vnet_tui.net.change import ChangeNs
from vnet_tui.net.rtnl.devconf import LinkConf
from vnet_tui.ops import endstate

pytestmark = pytest.mark.live

FILES = ("ipv4/conf/{}/proxy_arp", "ipv6/conf/{}/proxy_ndp", "ipv6/conf/{}/disable_ipv6",
         "ipv6/conf/{}/addr_gen_mode")


def sh(*cmd):
    subprocess.run(cmd, check=True)


def sysctl(ns, name, path, value):
    sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.{path.format(name).replace('/', '.')}={value}")


@pytest.fixture
def links():
    """Links whose four sysctls differ: defaults, each one set, IPv6 gone (MTU 1200), a bridge, a tap."""
    with netns(1) as (ns,):
        for i in range(6):
            sh("ip", "-n", ns, "link", "add", f"vt-d{i}", "type", "veth", "peer", "name", f"vt-p{i}")
        sh("ip", "-n", ns, "link", "add", "vt-br", "type", "bridge")
        sh("ip", "-n", ns, "tuntap", "add", "dev", "vt-tap", "mode", "tap")
        sysctl(ns, "vt-d1", FILES[0], 1)
        sysctl(ns, "vt-d1", FILES[1], 1)
        sysctl(ns, "vt-d2", FILES[2], 1)
        sysctl(ns, "vt-d3", FILES[3], 1)
        sysctl(ns, "vt-d4", FILES[3], 3)
        sh("ip", "-n", ns, "link", "set", "vt-d5", "mtu", "1200")  # IPv6 needs 1280: its sysctls go
        sh("ip", "-n", ns, "link", "set", "vt-d0", "up")
        yield ns


def test_a_links_sysctls_read_from_its_message_equal_the_files(links):
    names = [f"vt-d{i}" for i in range(6)] + ["vt-p0", "vt-br", "vt-tap", "lo"]
    with ChangeNs(links, links) as ns:
        s = ns.raw()
        seen = {}
        for name in names:
            files = LinkConf(*ns.sysctl_read_many([f.format(name) for f in FILES]))
            ours = rawread.get_link(s, ifname=name).conf
            assert ours == files, name
            seen[name] = ours
    # the states the fixture made, so the comparison covered each field both ways
    assert seen["vt-d0"] == LinkConf("0", "0", "0", "0")
    assert seen["vt-d1"][:2] == ("1", "1") and seen["vt-d2"].ipv6_disabled == "1"
    assert (seen["vt-d3"].addr_gen_mode, seen["vt-d4"].addr_gen_mode) == ("1", "3")
    assert seen["vt-d5"] == LinkConf("0", None, None, None)


def test_read_end_says_what_its_sysctl_path_says(links, monkeypatch):
    """The whole end read through rtnetlink equals the one through pyroute2 and /proc/sys."""
    names = ("vt-d0", "vt-d1", "vt-d2", "vt-d4", "vt-d5", "vt-br", "vt-tap")
    with ChangeNs(links, links) as ns:
        ours = {n: endstate.read_end(ns, n) for n in names}

        def fails(*_a):
            raise rawread.RawReadError("the test's")

        monkeypatch.setattr(endstate, "_read_raw", fails)
        theirs = {n: endstate.read_end(ns, n) for n in names}
    assert ours == theirs
    assert ours["vt-d1"].proxy_arp == "1" and ours["vt-d2"].ipv6_disabled == "1"
