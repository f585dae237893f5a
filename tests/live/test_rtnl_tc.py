"""The codec's tc decoding (vnet_tui/net/rtnl/tc.py) agrees with pyroute2's ``tcmsg`` on a real kernel.

In a namespace made here (``vt-…``, removed whatever happens): a tbf root
(and one above 32 bits of bytes/s: RATE64), an htb with two classes (one
with RATE64/CEIL64), an ingress qdisc whose u32 filter redirects to an
ifb; traffic through the tbf so its counters are not 0.  The qdisc,
class and filter dumps are read by us and by pyroute2 and compared.
"""

import os
import socket
import subprocess

import pytest
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from tests.helpers import netns, udp_burst
from vnet_tui.net import rtnl
from vnet_tui.net.netns import entered, netlink_socket, open_netns
from vnet_tui.net.rtnl import exchange, message, tc

pytestmark = pytest.mark.live


def sh(*cmd):
    subprocess.run(cmd, check=True)


def _tc_dump(fd, request):
    """The messages (header included) answering one tc dump request, on a socket in namespace ``fd``."""
    sock, buf = netlink_socket(fd), bytearray(1 << 16)
    try:
        sock.settimeout(10)
        sock.send(request)
        out = []
        for t, _flags, off, end in exchange.replies(sock, buf, message.seq_of(request)):
            if t in (rtnl.NLMSG_DONE, rtnl.NLMSG_ERROR):
                return out
            out.append(bytes(buf[off - message.HEADER_SIZE:end]))
    finally:
        sock.close()


def _tc_body(raw):
    return raw, message.HEADER_SIZE, len(raw)


def _their_tc(raw):
    m = tcmsg(raw)
    m.decode()
    return m


def _their_tc_stats(m):
    st = m.get_attr("TCA_STATS2")
    b, q = (st.get_attr("TCA_STATS_BASIC") or {}, st.get_attr("TCA_STATS_QUEUE") or {}) if st is not None else ({}, {})
    return tc.TcStats(b.get("bytes", 0), b.get("packets", 0), q.get("drops", 0), q.get("overlimits", 0),
                      q.get("backlog", 0))


def _their_actions(m):
    acts = m.get_attr("TCA_OPTIONS").get_attr("TCA_U32_ACT")
    out = []
    for _name, a in acts["attrs"]:
        item = tc.TcAction(a.get_attr("TCA_ACT_KIND"))
        st = a.get_attr("TCA_ACT_STATS")
        if st is not None:
            basic = st.get_attr("TCA_STATS_BASIC") or {}
            item.packets, item.bytes = basic.get("packets", 0), basic.get("bytes", 0)
        ao = a.get_attr("TCA_ACT_OPTIONS")
        if item.kind == "mirred" and ao is not None:
            p = ao.get_attr("TCA_MIRRED_PARMS")
            item.eaction, item.ifindex = p["eaction"], p["ifindex"]
        out.append(item)
    return out


def test_tc_dumps_decode_as_pyroute2_decodes_them():
    with netns(1) as (n,):
        sh("ip", "-n", n, "link", "add", "vt-t0", "type", "veth", "peer", "name", "vt-t1")
        sh("ip", "-n", n, "link", "add", "vt-i0", "type", "ifb")
        for dev in ("vt-t0", "vt-t1", "vt-i0"):
            sh("ip", "-n", n, "link", "set", dev, "up")
        sh("ip", "-n", n, "addr", "add", "198.18.7.1/24", "dev", "vt-t0")
        t = ["ip", "netns", "exec", n, "tc"]
        sh(*t, "qdisc", "add", "dev", "vt-t0", "root", "handle", "5654:", "tbf", "rate", "10mbit", "burst", "32kb",
           "latency", "50ms")
        sh(*t, "qdisc", "add", "dev", "vt-i0", "root", "handle", "7:", "tbf", "rate", "40gbit", "burst", "1mb",
           "latency", "10ms")  # above 32 bits of bytes/s: TCA_TBF_RATE64
        sh(*t, "qdisc", "add", "dev", "vt-t1", "root", "handle", "1:", "htb", "default", "1")
        sh(*t, "class", "add", "dev", "vt-t1", "parent", "1:", "classid", "1:1", "htb", "rate", "20mbit", "ceil",
           "30mbit")
        sh(*t, "class", "add", "dev", "vt-t1", "parent", "1:", "classid", "1:2", "htb", "rate", "50gbit")
        sh(*t, "qdisc", "add", "dev", "vt-t0", "ingress")
        sh(*t, "filter", "add", "dev", "vt-t0", "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
           "action", "mirred", "egress", "redirect", "dev", "vt-i0")
        fd = open_netns(n)
        try:
            with entered(fd):
                index = {name: socket.if_nametoindex(name) for name in ("vt-t0", "vt-t1", "vt-i0")}
            sh("ip", "-n", n, "neigh", "add", "198.18.7.2", "lladdr", "02:00:00:00:07:02", "dev", "vt-t0")
            udp_burst(n, "198.18.7.2", count=5)  # counters that are not all 0: through vt-t0's tbf
            qdiscs = _tc_dump(fd, tc.dump_qdiscs_request(1))
            seen = set()
            for raw in qdiscs:
                ours, theirs = tc.parse_tc(*_tc_body(raw)), _their_tc(raw)
                assert (ours.ifindex, ours.handle, ours.parent, ours.info, ours.kind) == \
                       (theirs["index"], theirs["handle"], theirs["parent"], theirs["info"],
                        theirs.get_attr("TCA_KIND"))
                assert tc.tc_head(*_tc_body(raw)) == (ours.kind, ours.handle)
                assert ours.stats == _their_tc_stats(theirs), ours.kind
                if ours.ifindex in index.values():
                    seen.add((ours.ifindex, ours.kind))
                if ours.kind == "tbf":
                    p = theirs.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
                    rate, limit, ticks = tc.tbf_parms(ours.options)
                    assert (limit, ticks) == (p["limit"], p["buffer"])
                    # pyroute2 does not decode TCA_TBF_RATE64: the rate is the one set, its 32 bits pyroute2's
                    assert rate == (10_000_000 // 8 if ours.ifindex == index["vt-t0"] else 40_000_000_000 // 8)
                    assert min(rate, 0xFFFFFFFF) == p["rate"]
            assert seen >= {(index["vt-t0"], "tbf"), (index["vt-t0"], "ingress"), (index["vt-t1"], "htb"),
                            (index["vt-i0"], "tbf")}
            assert any(tc.parse_tc(*_tc_body(r)).stats.packets >= 5 for r in qdiscs)  # the burst went through one

            classes = _tc_dump(fd, tc.dump_classes_request(2, index["vt-t1"]))
            got = {}
            for raw in classes:
                ours, theirs = tc.parse_tc(*_tc_body(raw)), _their_tc(raw)
                assert (ours.handle, ours.parent, ours.kind, ours.stats) == \
                       (theirs["handle"], theirs["parent"], theirs.get_attr("TCA_KIND"), _their_tc_stats(theirs))
                o = theirs.get_attr("TCA_OPTIONS")
                p = o.get_attr("TCA_HTB_PARMS")
                want = (o.get_attr("TCA_HTB_RATE64") or p["rate"], o.get_attr("TCA_HTB_CEIL64") or p["ceil"],
                        p["buffer"])
                got[ours.handle] = tc.htb_parms(ours.options)
                assert got[ours.handle] == want
            assert got[0x10001][:2] == (20_000_000 // 8, 30_000_000 // 8)
            assert got[0x10002][:2] == (50_000_000_000 // 8, 50_000_000_000 // 8)  # RATE64, CEIL64

            filters = _tc_dump(fd, tc.dump_filters_request(3, index["vt-t0"], tc.TC_H_MAJ_INGRESS))
            redirects = []
            for raw in filters:
                ours, theirs = tc.parse_tc(*_tc_body(raw)), _their_tc(raw)
                assert (ours.handle, ours.info, ours.kind) == (theirs["handle"], theirs["info"],
                                                               theirs.get_attr("TCA_KIND"))
                if ours.options is None or tc.TCA_U32_SEL not in ours.options:
                    continue  # the per-priority header, u32's hash table
                acts = tc.parse_actions(ours.kind, ours.options)
                assert acts == _their_actions(theirs)
                redirects += [(a.kind, a.eaction, a.ifindex) for a in acts]
            assert redirects == [("mirred", 1, index["vt-i0"])]  # TCA_EGRESS_REDIR
        finally:
            os.close(fd)
