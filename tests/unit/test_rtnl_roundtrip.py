"""The rtnetlink codec (vnet_tui/net/rtnl) encodes what pyroute2 decodes, and decodes what pyroute2 encodes.

No kernel here: messages go from our encoders to pyroute2's message
classes and from pyroute2's encoders to our decoders, plus round trips
of the layouts themselves.  tests/live/test_rtnl_codec.py compares the
decoders with pyroute2 on real dumps.
"""

from __future__ import annotations

import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ifstatsmsg import ifstatsmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from vnet_tui.net import rtnl
from vnet_tui.net.rtnl import addrs, attr, linkchange, links, message, routes, stats
from vnet_tui.net.rtnl.nsid import get_nsid_request, parse_nsid


def decoded(cls, msg: bytes):
    m = cls(msg)
    m.decode()
    return m


def body(msg: bytes) -> tuple[bytes, int, int]:
    return msg, message.HEADER_SIZE, len(msg)


# -- the layouts -----------------------------------------------------------------------------------


def test_attributes_round_trip_padded_and_nested():
    inner = attr.str_attr(3, "eth0") + attr.u32_attr(4, 1400) + attr.attr(1, b"\x01\x02\x03")
    outer = attr.attr(0x8000 | 18, inner) + attr.u64_attr(7, 2**40 + 5)  # NLA_F_NESTED set on the first
    assert len(outer) % 4 == 0 and len(inner) % 4 == 0
    got = list(attr.attrs(outer, 0, len(outer)))
    assert [t for t, _a, _b in got] == [18, 7]  # the flag bits are masked off
    (_, a, b), (_, a2, _b2) = got
    assert attr.U64.unpack_from(outer, a2)[0] == 2**40 + 5
    nested = list(attr.attrs(outer, a, b))
    assert [t for t, _x, _y in nested] == [3, 4, 1]
    assert attr.cstr(outer, nested[0][1], nested[0][2]) == "eth0"
    assert attr.U32.unpack_from(outer, nested[1][1])[0] == 1400
    assert outer[nested[2][1]:nested[2][2]] == b"\x01\x02\x03"  # the value, not its padding


def test_a_broken_attribute_ends_the_walk():
    good = attr.u32_attr(1, 9)
    assert list(attr.attrs(good + struct.pack("=HH", 2, 5), 0, len(good) + 4)) == [(1, 4, 8)]


def test_messages_round_trip_with_unaligned_lengths():
    a = message.message(rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST, 7, b"\x01\x02\x03\x04" + attr.str_attr(3, "ab"))
    b = message.message(rtnl.NLMSG_ERROR, 0, 8, struct.pack("=i", -17))
    unaligned = message.message(rtnl.NLMSG_DONE, rtnl.NLM_F_MULTI, 9, b"\x05")  # 17 bytes, padded on the wire
    buf = a + b + unaligned + b"\0\0\0" + message.message(rtnl.NLMSG_DONE, 0, 10, b"")
    got = list(message.messages(buf, len(buf)))
    assert [(t, f, s) for t, f, s, _o, _e in got] == [
        (rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST, 7), (rtnl.NLMSG_ERROR, 0, 8),
        (rtnl.NLMSG_DONE, rtnl.NLM_F_MULTI, 9), (rtnl.NLMSG_DONE, 0, 10)]
    assert got[0][3] == 16 and got[0][4] == len(a)
    assert message.error_code(buf, got[1][3]) == -17
    assert [message.seq_of(m) for m in (a, b, unaligned)] == [7, 8, 9]
    assert list(message.messages(buf, 15)) == []  # a header cut short is not a message


@pytest.mark.parametrize("mac", ["fe:00:01:0a:ff:9c", "00:00:00:00:00:00"])
def test_mac_text_and_bytes(mac):
    raw = attr.mac_bytes(mac)
    assert len(raw) == 6 and attr.mac_text(raw, 0, 6) == mac
    assert attr.mac_bytes(mac.replace(":", "")) == raw


# -- our encoders, pyroute2's decoding ---------------------------------------------------------------


def test_veth_with_its_peer_as_the_change_layer_sends_it():
    msg = linkchange.new_veth(9, "veth9.0", "fe:00:00:00:09:01", "vt-tmp", "c4:37:72:00:09:01", 12,
                              mtu=1400, peer_mtu=1450)
    m = decoded(ifinfmsg, msg)
    assert m["header"]["type"] == rtnl.RTM_NEWLINK and m["header"]["sequence_number"] == 9
    want = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    assert m["header"]["flags"] == want
    assert (m["index"], m["flags"], m["change"]) == (0, 0, 0)
    assert (m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_ADDRESS"), m.get_attr("IFLA_MTU")) == \
           ("veth9.0", "fe:00:00:00:09:01", 1400)
    assert m.get_attr("IFLA_MASTER") is None
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (peer.get_attr("IFLA_IFNAME"), peer.get_attr("IFLA_ADDRESS"), peer.get_attr("IFLA_MTU"),
            peer.get_attr("IFLA_NET_NS_FD")) == ("vt-tmp", "c4:37:72:00:09:01", 1450, 12)


def test_veth_with_one_queue_each_way_echoed():
    msg = linkchange.new_veth(3, "veth101.0", "fe:01:02:03:04:05", "eth0", "c4:37:72:01:02:03", 42,
                              master=9, up=True, queues=1, echo=True)
    m = decoded(ifinfmsg, msg)
    assert m["header"]["flags"] & rtnl.NLM_F_ECHO
    assert (m.get_attr("IFLA_NUM_TX_QUEUES"), m.get_attr("IFLA_NUM_RX_QUEUES"), m.get_attr("IFLA_MASTER")) == (1, 1, 9)
    peer = m.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (peer.get_attr("IFLA_NUM_TX_QUEUES"), peer.get_attr("IFLA_NUM_RX_QUEUES")) == (1, 1)
    plain = decoded(ifinfmsg, linkchange.new_veth(3, "a", "fe:01:02:03:04:05", "b", "c4:37:72:01:02:03", 42))
    assert not plain["header"]["flags"] & rtnl.NLM_F_ECHO and plain.get_attr("IFLA_NUM_TX_QUEUES") is None


def test_veth_decodes_with_our_own_decoder_too():
    msg = linkchange.new_veth(3, "veth101.0", "fe:01:02:03:04:05", "eth0", "c4:37:72:01:02:03", 42,
                              master=9, up=True)
    m = links.parse_link(*body(msg))
    assert (m.ifindex, m.ifname, m.mac, m.hwaddr, m.master, m.kind, m.flags & rtnl.IFF_UP) == \
           (0, "veth101.0", "fe:01:02:03:04:05", "fe:01:02:03:04:05", 9, "veth", 1)


@pytest.mark.parametrize("kw, attrs_, flags, change", [
    ({"ifname": "eth1"}, {"IFLA_IFNAME": "eth1"}, 0, 0),
    ({"address": "c4:37:72:00:09:aa", "mtu": 1420}, {"IFLA_ADDRESS": "c4:37:72:00:09:aa", "IFLA_MTU": 1420}, 0, 0),
    ({"master": 0}, {"IFLA_MASTER": 0}, 0, 0),
    ({"master": 4, "state": "up"}, {"IFLA_MASTER": 4}, 1, 1),
    ({"state": "down"}, {}, 0, 1),
    ({"ifalias": "vnet-tui:pending:1"}, {"IFLA_IFALIAS": "vnet-tui:pending:1"}, 0, 0),
])
def test_set_link_each_field(kw, attrs_, flags, change):
    m = decoded(ifinfmsg, linkchange.set_link(5, 17, **kw))
    assert m["header"]["type"] == rtnl.RTM_NEWLINK
    assert m["header"]["flags"] == rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK  # a change, never a create
    assert (m["index"], m["flags"], m["change"]) == (17, flags, change)
    assert {k: m.get_attr(k) for k in attrs_} == attrs_
    assert set(kw) <= linkchange.LINK_SET_KEYS


def test_clearing_the_alias_sends_an_empty_payload():
    msg = linkchange.set_link(5, 17, ifalias="")
    (t, a, b), = attr.attrs(msg, 16 + links.IFINFOMSG.size, len(msg))
    assert (t, b - a) == (rtnl.IFLA_IFALIAS, 0)  # no NUL: an empty alias is removed, not set to ""
    with pytest.raises(ValueError):
        linkchange.set_link(1, 17, state="sideways")


def test_a_link_named_not_numbered():
    m = decoded(ifinfmsg, linkchange.set_link(5, 0, ifname="tap1", address="fe:00:00:00:00:01", master=3,
                                              state="up"))
    assert (m["index"], m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_MASTER"), m["flags"], m["change"]) == \
           (0, "tap1", 3, 1, 1)
    d = decoded(ifinfmsg, linkchange.del_link(6, ifname="tap1"))
    assert (d["header"]["type"], d["index"], d.get_attr("IFLA_IFNAME")) == (rtnl.RTM_DELLINK, 0, "tap1")
    d = decoded(ifinfmsg, linkchange.del_link(6, 23))
    assert (d["index"], d.get_attr("IFLA_IFNAME")) == (23, None)
    g = decoded(ifinfmsg, links.get_link_request(7, ifname="eth0"))
    assert (g["header"]["type"], g["header"]["flags"], g.get_attr("IFLA_IFNAME"), g.get_attr("IFLA_EXT_MASK")) == \
           (rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST, "eth0", rtnl.RTEXT_FILTER_SKIP_STATS)
    g = decoded(ifinfmsg, links.get_link_request(7, 12, "ignored"))
    assert (g["index"], g.get_attr("IFLA_IFNAME")) == (12, None)


def test_bridge_and_its_querier():
    b = decoded(ifinfmsg, linkchange.new_bridge(3, "br0", "fe:00:01:00:00:01", 8192))
    assert (b.get_attr("IFLA_IFNAME"), b.get_attr("IFLA_ADDRESS"), b["flags"] & 1) == ("br0", "fe:00:01:00:00:01", 1)
    data = b.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert (data.get_attr("IFLA_BR_MCAST_HASH_MAX"), data.get_attr("IFLA_BR_MCAST_STARTUP_QUERY_CNT"),
            data.get_attr("IFLA_BR_MCAST_QUERY_RESPONSE_INTVL"),
            data.get_attr("IFLA_BR_MCAST_STARTUP_QUERY_INTVL")) == (8192, 5, 100, 100)
    q = decoded(ifinfmsg, linkchange.querier_on(4, "br0"))
    assert q.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "bridge"
    assert q.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("IFLA_BR_MCAST_QUERIER") == 1


@pytest.mark.parametrize("cidr, fam, plen, nodad", [
    ("198.18.90.1/16", socket.AF_INET, 16, False),
    ("198.18.90.1", socket.AF_INET, 32, True),  # no DAD in IPv4: nodad asks nothing
    ("fd00:5654::90:1/64", socket.AF_INET6, 64, False),
    ("fd00:5654::101/64", socket.AF_INET6, 64, True),
])
def test_addresses_added_and_deleted(cidr, fam, plen, nodad):
    text = cidr.partition("/")[0]
    a = decoded(ifaddrmsg, addrs.new_addr(3, 5, cidr, nodad=nodad))
    flags = rtnl.IFA_F_NODAD if nodad and fam == socket.AF_INET6 else 0
    assert a["header"]["type"] == rtnl.RTM_NEWADDR
    assert a["header"]["flags"] & (rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL | rtnl.NLM_F_ACK) == \
           rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL | rtnl.NLM_F_ACK
    assert (a["family"], a["prefixlen"], a["index"], a["flags"]) == (fam, plen, 5, flags)
    assert (a.get_attr("IFA_LOCAL"), a.get_attr("IFA_ADDRESS"), a.get_attr("IFA_FLAGS")) == \
           (text, text, flags or None)
    d = decoded(ifaddrmsg, addrs.del_addr(4, 5, cidr))
    assert (d["header"]["type"], d["header"]["flags"]) == (rtnl.RTM_DELADDR, rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK)
    assert (d["prefixlen"], d.get_attr("IFA_ADDRESS")) == (plen, text)
    ours = addrs.parse_addr(*body(addrs.new_addr(3, 5, cidr)))
    assert ours is not None and (ours.ifindex, ours.family, ours.cidr) == (5, fam, f"{text}/{plen}")


def test_dump_requests():
    dl = decoded(ifinfmsg, rtnl.dump_links_request(1))
    assert (dl["header"]["type"], dl["header"]["flags"], dl.get_attr("IFLA_EXT_MASK")) == \
           (rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, rtnl.RTEXT_FILTER_SKIP_STATS)
    da = decoded(ifaddrmsg, rtnl.dump_addrs_request(2, 9))
    assert (da["header"]["type"], da["index"]) == (rtnl.RTM_GETADDR, 9)
    dr = decoded(rtmsg, routes.dump_routes_request(3, socket.AF_INET6, 9))
    assert (dr["header"]["type"], dr["family"], dr.get_attr("RTA_OIF")) == (rtnl.RTM_GETROUTE, socket.AF_INET6, 9)
    ds = decoded(ifstatsmsg, rtnl.dump_stats_request(4))
    assert (ds["header"]["type"], ds["header"]["flags"], ds["filter_mask"]) == \
           (rtnl.RTM_GETSTATS, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 1 << (rtnl.IFLA_STATS_LINK_64 - 1))
    ns = decoded(nsidmsg, get_nsid_request(5, 7))
    assert (ns["header"]["type"], ns.get_attr("NETNSA_FD")) == (rtnl.RTM_GETNSID, 7)


def test_stats_get_requests_one_per_link():
    req = stats.get_requests(7, [3, 9])
    got = list(message.messages(req, len(req)))
    assert [(t, s) for t, _f, s, _o, _e in got] == [(rtnl.RTM_GETSTATS, 7)] * 2
    assert [decoded(ifstatsmsg, req[o - 16:e])["ifindex"] for _t, _f, _s, o, e in got] == [3, 9]


# -- pyroute2's encoders, our decoders -------------------------------------------------------------


def encoded(m, type_: int) -> bytes:
    m["header"]["type"] = type_
    m.encode()
    return bytes(m.data)


def test_a_link_pyroute2_encodes():
    m = ifinfmsg()
    m["index"], m["flags"], m["ifi_type"] = 5, 0x1043, 1
    m["attrs"] = [("IFLA_IFNAME", "veth1"), ("IFLA_ADDRESS", "fe:00:00:00:00:01"), ("IFLA_MTU", 1400),
                  ("IFLA_LINK", 7), ("IFLA_LINK_NETNSID", 3), ("IFLA_MASTER", 2), ("IFLA_OPERSTATE", "UP"),
                  ("IFLA_IFALIAS", "a [b] c"),
                  ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_SLAVE_KIND", "bridge")]})]
    got = links.parse_link(*body(encoded(m, rtnl.RTM_NEWLINK)))
    assert got == links.LinkMsg(ifindex=5, ifname="veth1", kind="veth", mac="fe:00:00:00:00:01", mtu=1400,
                                flags=0x1043, operstate="up", master=2, link=7, link_netnsid=3, alias="a [b] c",
                                slave_kind="bridge", arptype=1, hwaddr="fe:00:00:00:00:01")


def test_the_loopback_and_a_link_without_an_ethernet_address():
    lo = ifinfmsg()
    lo["index"], lo["ifi_type"], lo["flags"] = 1, 772, rtnl.IFF_LOOPBACK
    lo["attrs"] = [("IFLA_IFNAME", "lo"), ("IFLA_ADDRESS", "00:00:00:00:00:00")]
    got = links.parse_link(*body(encoded(lo, rtnl.RTM_NEWLINK)))
    assert (got.kind, got.mac, got.link, got.master) == ("loopback", "00:00:00:00:00:00", None, None)
    # ARPHRD_TUNNEL: a 4-byte link-layer address (pyroute2 encodes only 6-byte ones: ours does)
    tun = message.message(rtnl.RTM_NEWLINK, 0, 1, links.IFINFOMSG.pack(0, 768, 6, 0, 0)
                          + attr.str_attr(rtnl.IFLA_IFNAME, "ipip0") + attr.attr(rtnl.IFLA_ADDRESS, bytes(4)))
    got = links.parse_link(*body(tun))
    assert (got.ifname, got.kind, got.mac, got.hwaddr) == ("ipip0", "device", None, "00:00:00:00")


def test_an_address_pyroute2_encodes_read_both_ways():
    a = ifaddrmsg()
    a["family"], a["prefixlen"], a["index"] = socket.AF_INET6, 64, 5
    a["attrs"] = [("IFA_ADDRESS", "fd00::1"), ("IFA_LOCAL", "fd00::2"), ("IFA_FLAGS", 0x80)]
    msg = encoded(a, rtnl.RTM_NEWADDR)
    assert addrs.parse_addr(*body(msg)) == addrs.AddrMsg(5, socket.AF_INET6, 64, "fd00::2", 0x80)  # local first
    assert addrs.parse_address_text(*body(msg)) == (5, socket.AF_INET6, 64, "fd00::1")  # as pyroute2's "address"
    mapped = ifaddrmsg()
    mapped["family"], mapped["prefixlen"], mapped["index"] = socket.AF_INET6, 128, 5
    mapped["attrs"] = [("IFA_ADDRESS", "::ffff:198.18.0.1")]
    msg = encoded(mapped, rtnl.RTM_NEWADDR)
    assert addrs.parse_addr(*body(msg)).address == "::ffff:c612:1"  # ipaddress's spelling
    assert addrs.parse_address_text(*body(msg))[3] == "::ffff:198.18.0.1"  # inet_ntop's
    none = ifaddrmsg()
    none["family"], none["index"] = socket.AF_INET, 5
    assert addrs.parse_addr(*body(encoded(none, rtnl.RTM_NEWADDR))) is None


def test_a_route_pyroute2_encodes():
    r = rtmsg()
    r["family"], r["dst_len"], r["table"], r["proto"], r["type"] = socket.AF_INET, 24, 254, 4, 1
    r["attrs"] = [("RTA_DST", "203.0.113.0"), ("RTA_OIF", 5), ("RTA_GATEWAY", "198.18.1.1"), ("RTA_PRIORITY", 7),
                  ("RTA_TABLE", 100)]
    assert routes.parse_route(*body(encoded(r, rtnl.RTM_NEWROUTE))) == routes.RouteMsg(
        socket.AF_INET, 24, 100, 4, 1, "203.0.113.0", 5, "198.18.1.1", 7, False)


def test_stats_reply_read_by_the_sweep_layout_and_the_general_decoder():
    values = (11, 22, 3300, 4400, 1, 2, 3, 4)
    counters = struct.pack("=8Q", *values) + bytes(8 * 16)  # the rest of rtnl_link_stats64
    payload = stats.STATSMSG.pack(socket.AF_UNSPEC, 42, stats.FILTER_LINK_64) + attr.attr(rtnl.IFLA_STATS_LINK_64,
                                                                                          counters)
    msg = message.message(rtnl.RTM_NEWSTATS, 0, 77, payload)
    m = stats.REPLY.unpack_from(msg, 0)
    assert (m[0], m[1], m[3], m[6], m[8], m[9]) == (len(msg), rtnl.RTM_NEWSTATS, 77, 42, len(counters) + 4,
                                                    rtnl.IFLA_STATS_LINK_64)
    assert stats.counter_values(m[10]) == values and m[8] >= stats.STATS_RTA_LEN
    assert stats.parse_stats(*body(msg)) == stats.StatsMsg(42, values)
    p = decoded(ifstatsmsg, msg)
    assert p["ifindex"] == 42
    assert tuple(p.get_attr("IFLA_STATS_LINK_64")[k] for k in stats.STATS_ORDER) == values
    assert stats.parse_stats(*body(message.message(rtnl.RTM_NEWSTATS, 0, 1, payload[:12]))) is None


def test_nsid_reply():
    n = nsidmsg()
    n["attrs"] = [("NETNSA_NSID", 3)]
    assert parse_nsid(*body(encoded(n, rtnl.RTM_NEWNSID))) == 3
    n = nsidmsg()
    n["attrs"] = [("NETNSA_NSID", 0xFFFFFFFF)]  # NETNSA_NSID_NOT_ASSIGNED (-1)
    assert parse_nsid(*body(encoded(n, rtnl.RTM_NEWNSID))) is None
