"""The codec's tc messages (vnet_tui/net/rtnl/tc.py) against pyroute2's ``tcmsg``, with no kernel.

Our requests and our tbf (rate-in) change decoded by pyroute2; tc
messages laid out here (a tbf and its RATE64, an htb class, a u32
filter with a mirred and a gact action) read by ``parse_tc`` /
``parse_actions`` and by pyroute2, and compared.  tests/live/test_rtnl_tc.py
does the same on a real kernel's dumps.
"""

from __future__ import annotations

import struct

import pytest
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from vnet_tui.net import rtnl
from vnet_tui.net.rtnl import attr, message, tc


def decoded(cls, msg: bytes):
    m = cls(msg)
    m.decode()
    return m


def body(msg: bytes) -> tuple[bytes, int, int]:
    return msg, message.HEADER_SIZE, len(msg)


def test_tc_requests_decode_as_pyroute2_decodes_them():
    q = decoded(tcmsg, tc.dump_qdiscs_request(1))
    assert (q["header"]["type"], q["header"]["flags"], q["index"], q["parent"]) == \
           (tc.RTM_GETQDISC, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 0, 0)
    g = decoded(tcmsg, tc.get_qdisc_request(2, 7, tc.TC_H_INGRESS))
    assert (g["header"]["type"], g["header"]["flags"], g["header"]["sequence_number"], g["index"], g["parent"]) == \
           (tc.RTM_GETQDISC, rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_ECHO, 2, 7, tc.TC_H_INGRESS)
    c = decoded(tcmsg, tc.dump_classes_request(3, 9))
    assert (c["header"]["type"], c["header"]["flags"], c["index"]) == \
           (tc.RTM_GETTCLASS, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 9)
    f = decoded(tcmsg, tc.dump_filters_request(4, 9, tc.TC_H_MAJ_INGRESS))
    assert (f["header"]["type"], f["index"], f["parent"]) == (tc.RTM_GETTFILTER, 9, tc.TC_H_MAJ_INGRESS)


def _stats2(nbytes, packets, backlog, drops, overlimits):
    return attr.attr(tc.TCA_STATS2, attr.attr(tc.TCA_STATS_BASIC, struct.pack("=QI4x", nbytes, packets))
                     + attr.attr(tc.TCA_STATS_QUEUE, struct.pack("=IIIII", 0, backlog, drops, 0, overlimits)))


def _ratespec(rate):
    return struct.pack("=BBHhHI", 0, 1, 0, 0, 0, rate)


def test_a_tbf_qdisc_reads_as_pyroute2_reads_it():
    parms = _ratespec(0xFFFFFFFF) + _ratespec(0) + struct.pack("=III", 70000, 12345, 0)
    opts = attr.attr(tc.TCA_TBF_PARMS, parms) + attr.u64_attr(tc.TCA_TBF_RATE64, 5_000_000_000)
    payload = (tc.tcmsg(4, 0x5654 << 16, tc.TC_H_ROOT) + attr.str_attr(tc.TCA_KIND, "tbf")
               + attr.attr(tc.TCA_OPTIONS, opts) + _stats2(9000, 30, 60, 2, 5))
    msg = message.message(tc.RTM_NEWQDISC, 0, 1, payload)
    ours, theirs = tc.parse_tc(*body(msg)), decoded(tcmsg, msg)
    assert (ours.ifindex, ours.handle, ours.parent, ours.kind) == \
           (theirs["index"], theirs["handle"], theirs["parent"], theirs.get_attr("TCA_KIND")) == \
           (4, 0x5654 << 16, tc.TC_H_ROOT, "tbf")
    b, q = theirs.get_attr("TCA_STATS2").get_attr("TCA_STATS_BASIC"), theirs.get_attr("TCA_STATS2").get_attr(
        "TCA_STATS_QUEUE")
    assert ours.stats == tc.TcStats(b["bytes"], b["packets"], q["drops"], q["overlimits"], q["backlog"]) == \
           tc.TcStats(9000, 30, 2, 5, 60)
    assert tc.tbf_parms(ours.options) == (5_000_000_000, 70000, 12345)
    assert tc.tc_head(*body(msg)) == ("tbf", 0x5654 << 16)
    rate32 = tc.tbf_parms({tc.TCA_TBF_PARMS: _ratespec(1_250_000) + _ratespec(0) + struct.pack("=III", 1, 2, 0)})
    assert rate32 == (1_250_000, 1, 2)  # no RATE64: the 32-bit rate
    assert tc.tbf_parms({tc.TCA_TBF_PARMS: b"\0" * 20}) is None


def test_an_htb_class_reads_as_pyroute2_reads_it():
    opt = _ratespec(2_500_000) + _ratespec(0xFFFFFFFF) + struct.pack("=IIIII", 800, 900, 10, 0, 0)
    opts = attr.attr(tc.TCA_HTB_PARMS, opt) + attr.u64_attr(tc.TCA_HTB_CEIL64, 6_000_000_000)
    payload = (tc.tcmsg(5, 0x10001, 0x10000) + attr.str_attr(tc.TCA_KIND, "htb") + attr.attr(tc.TCA_OPTIONS, opts)
               + _stats2(100, 2, 0, 0, 1))
    msg = message.message(tc.RTM_NEWTCLASS, 0, 1, payload)
    ours, theirs = tc.parse_tc(*body(msg)), decoded(tcmsg, msg)
    p = theirs.get_attr("TCA_OPTIONS").get_attr("TCA_HTB_PARMS")
    rate = theirs.get_attr("TCA_OPTIONS").get_attr("TCA_HTB_RATE64") or p["rate"]
    ceil = theirs.get_attr("TCA_OPTIONS").get_attr("TCA_HTB_CEIL64") or p["ceil"]
    assert tc.htb_parms(ours.options) == (rate, ceil, p["buffer"]) == (2_500_000, 6_000_000_000, 800)
    assert (ours.handle, ours.kind) == (theirs["handle"], theirs.get_attr("TCA_KIND"))


@pytest.mark.parametrize("eaction, with_stats", [(1, True), (4, False)])
def test_a_u32_filter_and_its_mirred_action_read_as_pyroute2_reads_them(eaction, with_stats):
    mirred = struct.pack("=IIiiiiI", 1, 0, 4, 1, 1, eaction, 12)
    act = attr.str_attr(tc.TCA_ACT_KIND, "mirred") + attr.attr(
        tc.TCA_ACT_OPTIONS, attr.attr(tc.TCA_MIRRED_PARMS, mirred))
    if with_stats:
        act += attr.attr(tc.TCA_ACT_STATS, attr.attr(tc.TCA_STATS_BASIC, struct.pack("=QI4x", 4242, 42)))
    gact = attr.str_attr(tc.TCA_ACT_KIND, "gact")
    sel = struct.pack("=BBBBHHhHI", 1, 0, 1, 0, 0, 0, 0, 0, 0) + struct.pack("=IIii", 0, 0, 0, 0)
    opts = attr.attr(tc.TCA_U32_SEL, sel) + attr.attr(tc.ACTIONS_ATTR["u32"], attr.attr(1, act) + attr.attr(2, gact))
    payload = (tc.tcmsg(6, 0x800800, tc.TC_H_MAJ_INGRESS, (49152 << 16) | 0x0300) + attr.str_attr(tc.TCA_KIND, "u32")
               + attr.attr(tc.TCA_OPTIONS, opts))
    msg = message.message(tc.RTM_NEWTFILTER, 0, 1, payload)
    ours, theirs = tc.parse_tc(*body(msg)), decoded(tcmsg, msg)
    assert (ours.info >> 16, ours.handle, ours.kind) == (theirs["info"] >> 16, theirs["handle"], "u32")
    assert tc.TCA_U32_SEL in ours.options and theirs.get_attr("TCA_OPTIONS").get_attr("TCA_U32_SEL")
    want = []
    for _name, a in theirs.get_attr("TCA_OPTIONS").get_attr("TCA_U32_ACT")["attrs"]:
        item = tc.TcAction(a.get_attr("TCA_ACT_KIND"))
        st = a.get_attr("TCA_ACT_STATS")
        if st is not None:
            item.packets, item.bytes = st.get_attr("TCA_STATS_BASIC")["packets"], st.get_attr("TCA_STATS_BASIC")["bytes"]
        ao = a.get_attr("TCA_ACT_OPTIONS")
        if item.kind == "mirred" and ao is not None:
            item.eaction, item.ifindex = ao.get_attr("TCA_MIRRED_PARMS")["eaction"], ao.get_attr(
                "TCA_MIRRED_PARMS")["ifindex"]
        want.append(item)
    got = tc.parse_actions(ours.kind, ours.options)
    assert got == want
    assert got[0] == tc.TcAction("mirred", 42 if with_stats else None, 4242 if with_stats else None, eaction, 12)
    assert got[1] == tc.TcAction("gact")
    assert tc.parse_actions("basic", ours.options) == [] and tc.parse_actions("u32", None) == []


@pytest.mark.parametrize("rate, burst", [(1_250_000, 32768), (5_000_000_000, None)])
def test_the_tbf_rate_in_sends_reads_back_and_decodes_in_pyroute2(rate, burst):
    msg = message.message(tc.RTM_NEWQDISC, rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK, 1,
                          tc.tbf_qdisc(7, 0x5654 << 16, rate, 99_000, 70_000, burst))
    theirs = decoded(tcmsg, msg)
    p = theirs.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
    assert (theirs["index"], theirs["handle"], theirs["parent"], theirs.get_attr("TCA_KIND")) == \
           (7, 0x5654 << 16, tc.TC_H_ROOT, "tbf")
    assert (p["rate"], p["limit"], p["buffer"]) == (min(rate, 0xFFFFFFFF), 70_000, 99_000)
    ours = tc.parse_tc(*body(msg))
    assert tc.tbf_parms(ours.options) == (rate, 70_000, 99_000)
    assert (attr.U32.unpack(ours.options[tc.TCA_TBF_BURST])[0] if burst else ours.options.get(tc.TCA_TBF_BURST)) == burst
    assert (tc.TCA_TBF_RATE64 in ours.options) == (rate > 0xFFFFFFFF)
