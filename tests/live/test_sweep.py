"""The counter sweep on the real kernel: dumps and per-end get requests read the same counters.

Two namespaces joined by a veth pair (one of them also holds a second
veth pair), traffic sent through them, then the same links read by a
whole-namespace dump and by get requests for named ifindexes; the
kernel's ``ip -s -j link`` is the reference for both.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.helpers import ip_json, netns, udp_burst
from vnet_tui.net import rtnl
import vnet_tui.net.sweep as sweep_module
from vnet_tui.net.namespace import Namespace
from vnet_tui.net.rtnl.stats import counter_values, packed
from vnet_tui.net.sweep import _REPLY_SIZE, get_requests, sweep

pytestmark = pytest.mark.live


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def ifindex(ns: str, name: str) -> int:
    return ip_json("link", "show", "dev", name, netns=ns)[0]["ifindex"]


def kernel_counters(ns: str, name: str) -> tuple[int, int, int, int]:
    s = ip_json("-s", "link", "show", "dev", name, netns=ns)[0]["stats64"]
    return s["rx"]["packets"], s["tx"]["packets"], s["rx"]["bytes"], s["tx"]["bytes"]


@pytest.fixture
def pair():
    with netns(2) as (a, b):
        for n in (a, b):  # no IPv6 chatter (DAD, router solicitations): counters move only when we send
            subprocess.run(["ip", "netns", "exec", n, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6;"
                            " echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"], check=True)
        ip("-n", a, "link", "add", "e0", "type", "veth", "peer", "name", "e0", "netns", b)
        ip("-n", a, "link", "add", "e1", "type", "veth", "peer", "name", "e1", "netns", b)
        for n in (a, b):
            for dev in ("e0", "e1"):
                ip("-n", n, "link", "set", dev, "up")
        ip("-n", a, "addr", "add", "198.18.200.1/24", "dev", "e0")
        ip("-n", b, "addr", "add", "198.18.200.2/24", "dev", "e0")
        opened = [Namespace(a), Namespace(b)]
        try:
            yield a, b, opened
        finally:
            for o in opened:
                o.close()


def test_gets_read_what_the_dump_reads_and_what_ip_shows(pair):
    a, b, (na, nb) = pair
    udp_burst(a, "198.18.200.2", count=37)
    whole = sweep([na, nb])
    ends = {nb.inode: [ifindex(b, "e0"), ifindex(b, "e1")]}
    light = sweep([na, nb], ends)
    # namespace a was dumped whole (no entry), b read for its two ends only: no loopback
    assert (na.inode, ifindex(a, "lo")) in light
    assert set(k for k in light if k[0] == nb.inode) == {(nb.inode, i) for i in ends[nb.inode]}
    for key, values in light.items():
        assert values == whole[key]  # nothing moved between the two sweeps
    e0 = light[(nb.inode, ifindex(b, "e0"))]
    assert counter_values(e0)[0] >= 37  # rx_packets: the burst arrived at b's end
    assert counter_values(e0)[:4] == kernel_counters(b, "e0")
    assert counter_values(whole[(na.inode, ifindex(a, "e0"))])[:4] == kernel_counters(a, "e0")


def test_a_link_that_is_gone_is_left_out_and_the_rest_still_read(pair):
    a, b, (na, nb) = pair
    e0, e1 = ifindex(b, "e0"), ifindex(b, "e1")
    ip("-n", b, "link", "del", "e1")
    out = sweep([na, nb], {nb.inode: [e1, e0]})
    assert (nb.inode, e0) in out and (nb.inode, e1) not in out
    # the socket is left in step: the next sweep reads the right replies
    again = sweep([nb], {nb.inode: [e0]})
    assert again == {(nb.inode, e0): out[(nb.inode, e0)]}


def test_replies_to_an_older_request_are_skipped(pair):
    a, b, (na, nb) = pair
    e0 = ifindex(b, "e0")
    # a request whose replies nobody read (a sweep cut short): its reply waits on the socket
    nb.sock.sock.send(get_requests(12345, [e0]))
    out = sweep([nb], {nb.inode: [e0]})
    assert list(out) == [(nb.inode, e0)]
    assert counter_values(out[(nb.inode, e0)])[:4] == kernel_counters(b, "e0")
    # nothing of either request is left behind
    with pytest.raises(BlockingIOError):
        nb.sock.sock.recv(_REPLY_SIZE * 4, socket.MSG_DONTWAIT)


def test_get_request_is_what_the_kernel_expects():
    req = get_requests(7, [3, 9])
    assert len(req) == 56
    length, mtype, flags, seq, _pid = rtnl.NLMSGHDR.unpack_from(req, 0)
    assert (length, mtype, flags, seq) == (28, rtnl.RTM_GETSTATS, rtnl.NLM_F_REQUEST, 7)


def test_a_namespace_of_many_links_reads_in_runs_as_the_general_decoder_does(monkeypatch):
    ran: list[int] = []
    run_of_replies = sweep_module._run_of_replies

    def counted(*args):
        ran.append(run_of_replies(*args))
        return ran[-1]

    monkeypatch.setattr(sweep_module, "_run_of_replies", counted)
    with netns(1) as (n,):
        for i in range(30):
            ip("-n", n, "link", "add", f"a{i}", "type", "veth", "peer", "name", f"b{i}")
        ns = Namespace(n)
        try:
            whole = sweep([ns])
            general = {(ns.inode, m.ifindex): packed(m.values) for m in ns.sock.stats()}
        finally:
            ns.close()
    assert len(whole) == 61  # the loopback and 30 pairs
    assert whole == general  # (nothing is up: no counter moves between the two dumps)
    assert sum(ran) > 0  # a run read some of it (the one-unpack loop the rest)
