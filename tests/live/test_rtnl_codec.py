"""Our rtnetlink codec (vnet_tui/net/rtnl) agrees with pyroute2's decoding of the same kernel.

In namespaces made here (``vt-…``, removed whatever happens): links,
addresses, counters (dumps and the sweep's gets), one end's reads
(``rawread``) and events, each read by us and by pyroute2 and compared.
"""

import errno
import os
import socket
import subprocess
import time

import pytest
from pyroute2 import IPRoute

from tests.helpers import netns, udp_burst
from vnet_tui.lab.nl import Batch
from vnet_tui.net import rawread, rtnl
from vnet_tui.net.namespace import Namespace
from vnet_tui.net.netns import entered, open_netns
from vnet_tui.net.rtnl import linkchange
from vnet_tui.net.rtnl.batch import RequestFailed
from vnet_tui.net.rtnl.stats import counter_values
from vnet_tui.net.session import EVENT_GROUPS, NetnsSocket, drain_events
from vnet_tui.net.sweep import sweep

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


# -- the whole codec on a small server: links, addresses, counters, one end's reads, events ------------------------

def _pyroute2(fd):
    with entered(fd):
        return IPRoute()


def _stable(ours, theirs, tries=30):
    """(ours, theirs) read while ours held still (read before and after theirs: counters and carrier move)."""
    for _ in range(tries):
        a, b, c = ours(), theirs(), ours()
        if a == c:
            return a, b
        time.sleep(0.2)
    raise AssertionError("the namespace did not hold still long enough to compare")


def _their_links(ipr):
    return {
        l["index"]: {
            "ifname": l.get("IFLA_IFNAME"), "hwaddr": l.get("IFLA_ADDRESS"), "mtu": l.get("IFLA_MTU"),
            "flags": l["flags"], "arptype": l["ifi_type"], "operstate": l.get("IFLA_OPERSTATE"),
            "master": l.get("IFLA_MASTER"), "link": l.get("IFLA_LINK"), "netnsid": l.get("IFLA_LINK_NETNSID"),
            "alias": l.get("IFLA_IFALIAS"), "kind": l.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")),
            "slave_kind": l.get(("IFLA_LINKINFO", "IFLA_INFO_SLAVE_KIND")),
        }
        for l in ipr.get_links()
    }


def _our_links(links):
    return {
        l.ifindex: {
            "ifname": l.ifname, "hwaddr": l.hwaddr, "mtu": l.mtu, "flags": l.flags, "arptype": l.arptype,
            "operstate": l.operstate.upper(), "master": l.master, "link": l.link, "netnsid": l.link_netnsid,
            "alias": l.alias, "kind": None if l.kind in ("device", "loopback") else l.kind,
            "slave_kind": l.slave_kind,
        }
        for l in links
    }


def _their_addrs(ipr):
    return sorted((a["index"], a["family"], a["prefixlen"], a.get("IFA_LOCAL") or a.get("IFA_ADDRESS"),
                   a.get("IFA_FLAGS", a["flags"])) for a in ipr.get_addr())


def _their_stats(ipr):
    return {m["ifindex"]: tuple(m.get("IFLA_STATS_LINK_64")[k] for k in rtnl.STATS_ORDER)
            for m in ipr.stats("dump") if m.get("IFLA_STATS_LINK_64") is not None}


def _their_routes(ipr, fam, index):
    return sorted(
        (r["family"], r["dst_len"], r.get("RTA_TABLE", r["table"]), r["proto"], r["type"], r.get("RTA_DST"),
         r.get("RTA_OIF"), r.get("RTA_GATEWAY"), r.get("RTA_PRIORITY"), r.get("RTA_MULTIPATH") is not None)
        for r in ipr.route("dump", family=fam) if r.get("RTA_OIF") == index)


@pytest.fixture
def small_server():
    """A host namespace (bridge, tap, a veth pair within it) and a container with two veth ends, in use."""
    with netns(2) as (h, c):
        sh("ip", "-n", h, "link", "add", "br0", "address", "fe:00:56:54:00:01", "type", "bridge")
        sh("ip", "-n", h, "link", "add", "vt-a0", "address", "fe:00:56:54:0a:00", "mtu", "1400", "type", "veth",
           "peer", "name", "eth0", "address", "c4:37:72:00:0a:00", "mtu", "1400", "netns", c)
        sh("ip", "-n", h, "link", "add", "vt-a1", "type", "veth", "peer", "name", "eth1", "netns", c)
        sh("ip", "-n", h, "link", "add", "vt-l0", "type", "veth", "peer", "name", "vt-l1")
        sh("ip", "-n", h, "tuntap", "add", "dev", "vt-tap0", "mode", "tap")
        for dev in ("vt-a0", "vt-tap0", "vt-l1"):
            sh("ip", "-n", h, "link", "set", dev, "master", "br0")
        sh("ip", "-n", h, "link", "set", "vt-a1", "alias", "host end of ct:eth1")
        sh("ip", "-n", h, "addr", "add", "198.18.0.1/16", "dev", "br0")
        sh("ip", "-n", h, "addr", "add", "fd00:5654::1/64", "dev", "br0", "nodad")
        for dev in ("br0", "vt-a0", "vt-a1", "vt-l0", "vt-l1", "vt-tap0"):
            sh("ip", "-n", h, "link", "set", dev, "up")
        sh("ip", "-n", c, "addr", "add", "198.18.1.1/16", "dev", "eth0")
        sh("ip", "-n", c, "addr", "add", "fd00:5654::1:1/64", "dev", "eth0", "nodad")
        sh("ip", "-n", c, "addr", "add", "10.9.0.1", "peer", "10.9.0.2/32", "dev", "eth1")  # IFA_LOCAL ≠ IFA_ADDRESS
        for dev in ("eth0", "eth1"):
            sh("ip", "-n", c, "link", "set", dev, "up")
        sh("ip", "-n", c, "route", "add", "203.0.113.0/24", "via", "198.18.0.1", "dev", "eth0", "metric", "7")
        sh("ip", "-n", c, "route", "add", "203.0.114.0/24", "dev", "eth0", "table", "100")
        sh("ip", "-n", c, "-6", "route", "add", "fd00:1::/64", "via", "fd00:5654::1", "dev", "eth0")
        udp_burst(c, "198.18.0.1", 10)
        udp_burst(c, "fd00:5654::1", 5)
        yield h, c


def test_dumps_decode_as_pyroute2_decodes_them(small_server):
    """Links (ifindex, name, MAC, MTU, flags, master, peer and its netnsid, kind), addresses and counters."""
    for name in small_server:
        fd = open_netns(name)
        s, ipr = NetnsSocket(fd), _pyroute2(fd)
        try:
            ours, theirs = _stable(lambda: _our_links(s.links()), lambda: _their_links(ipr))
            assert ours == theirs
            assert {v["kind"] for v in ours.values()} >= ({"bridge", "veth", "tun"} if name == small_server[0]
                                                         else {"veth"})
            ours, theirs = _stable(lambda: sorted((a.ifindex, a.family, a.prefixlen, a.address, a.flags)
                                                  for a in s.addrs()), lambda: _their_addrs(ipr))
            assert ours == theirs and len(ours) >= 4
            ours, theirs = _stable(lambda: {m.ifindex: m.values for m in s.stats()}, lambda: _their_stats(ipr))
            assert ours == theirs and any(v[0] and v[2] for v in ours.values())  # traffic was counted
            # the sweep's one-unpack reading, a dump and get requests, says the same
            ns = Namespace(name)
            try:
                ours, theirs = _stable(lambda: {i: counter_values(v)
                                                for (_inode, i), v in sweep([ns]).items()},
                                       lambda: _their_stats(ipr))
                assert ours == theirs
                ends = [i for i in theirs if i != 1]
                ours, theirs = _stable(lambda: {i: counter_values(v)
                                                for (_inode, i), v in sweep([ns], {ns.inode: ends}).items()},
                                       lambda: _their_stats(ipr))
                assert ours == {i: v for i, v in theirs.items() if i in ends}
            finally:
                ns.close()
        finally:
            ipr.close()
            s.close()
            os.close(fd)


def test_one_ends_reads_decode_as_pyroute2_decodes_them(small_server):
    """``rawread`` (what a change verifies with): the link, its addresses and its routes, by index and by name."""
    for name in small_server:
        fd = open_netns(name)
        s, ipr = rawread.open_socket(fd), _pyroute2(fd)
        try:
            for l in ipr.get_links():
                i = l["index"]
                ours = rawread.get_link(s, index=i)
                assert ours == rawread.get_link(s, ifname=l.get("IFLA_IFNAME"))
                assert (ours.index, ours.ifname, ours.kind, ours.mac, ours.mtu, ours.master, ours.alias) == \
                       (i, l.get("ifname"), l.get(("linkinfo", "kind")) or "device", l.get("address"), l.get("mtu"),
                        l.get("master") or None, l.get("ifalias"))
                assert sorted(rawread.addrs(s, i)) == sorted(
                    (a["family"], a["prefixlen"], a.get("address")) for a in ipr.get_addr(index=i))
                for fam in (socket.AF_INET, socket.AF_INET6):
                    assert sorted((r.family, r.dst_len, r.table, r.proto, r.type, r.dst, r.oif, r.gateway,
                                   r.priority, r.multipath) for r in rawread.routes(s, fam, i)) == \
                           _their_routes(ipr, fam, i)
            assert rawread.get_link(s, index=99999) is None and rawread.get_link(s, ifname="vt-none") is None
        finally:
            ipr.close()
            s.close()
            os.close(fd)
    fd = open_netns(small_server[1])
    try:
        s = rawread.open_socket(fd)
        eth0 = rawread.get_link(s, ifname="eth0").index
        assert len(rawread.routes(s, socket.AF_INET, eth0)) >= 3  # the two added, the subnet's; main and table 100
        assert ("10.9.0.2" in {a for _f, _p, a in rawread.addrs(s, rawread.get_link(s, ifname="eth1").index)})
        s.close()
    finally:
        os.close(fd)


def test_a_batch_checks_every_ack_and_keeps_the_echoes():
    with netns(2) as (h, c):
        hfd, cfd = open_netns(h), open_netns(c)
        ipr = _pyroute2(hfd)
        try:
            with Batch(hfd) as b:
                b.run([(linkchange.new_bridge(b.next_seq(), "br0", "fe:00:56:54:00:01"), "create br0")])
                br = b.link_index("br0")
                seqs = [b.next_seq() for _ in range(3)]
                echoed = b.run([(linkchange.new_veth(s, f"vt-e{i}", f"fe:00:00:00:0e:0{i}", f"eth{i}",
                                                     f"c4:37:72:00:0e:0{i}", cfd, master=br, up=True, queues=1,
                                                     echo=True), f"veth {i}") for i, s in enumerate(seqs)],
                               chunk=2)
                with pytest.raises(RequestFailed) as e:
                    b.run([(linkchange.set_link(b.next_seq(), 0, ifname="br0", state="up"), "br0 up"),
                           (linkchange.del_link(b.next_seq(), ifname="vt-none"), "delete vt-none"),
                           (linkchange.del_link(b.next_seq(), ifname="vt-none2"), "delete vt-none2")])
                assert (e.value.errno, e.value.what) == (errno.ENODEV, "delete vt-none")  # the first refusal
            for i, s in enumerate(seqs):
                host = ipr.link("get", ifname=f"vt-e{i}")[0]
                assert (host.get("master"), host.get("num_tx_queues"), host["flags"] & 1) == (br, 1, 1)
                assert echoed[s] == host.get("link")  # the peer's ifindex, in the container
            assert ipr.link("get", ifname="br0")[0]["flags"] & 1  # the batch ran past its refusals
        finally:
            ipr.close()
            os.close(hfd)
            os.close(cfd)


def test_events_decode_as_the_dump_does(small_server):
    h, c = small_server
    fd = open_netns(c)
    ev, s = NetnsSocket(fd, groups=EVENT_GROUPS), NetnsSocket(fd)
    try:
        sh("ip", "-n", c, "link", "set", "eth1", "mtu", "1300", "alias", "renamed soon")
        sh("ip", "-n", c, "addr", "add", "198.19.0.1/24", "dev", "eth1")
        got, buf, deadline = [], bytearray(1 << 16), time.monotonic() + 30
        mine = (rtnl.RTM_NEWADDR, "198.19.0.1/24")
        while not any((t, getattr(m, "cidr", None)) == mine for t, m in got) and time.monotonic() < deadline:
            time.sleep(0.05)  # read until the address event is there (a loaded machine may be slow)
            got += drain_events(ev.sock, buf)
        link = [m for t, m in got if t == rtnl.RTM_NEWLINK and m.ifname == "eth1"][-1]
        assert link == next(l for l in s.links() if l.ifname == "eth1")
        assert (link.mtu, link.alias, link.link_netnsid) == (1300, "renamed soon", 0)
        addr = next(m for t, m in got if (t, getattr(m, "cidr", None)) == mine)
        assert addr in s.addrs()
    finally:
        ev.close()
        s.close()
        os.close(fd)
