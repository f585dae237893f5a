"""The policies at work: spoofed frames from the guest dropped and counted at the host end; rates held.

Frames are sent from the guest end with a raw packet socket made inside
the guest's namespace (as the pair test sends its marked frames), and
looked for at the other container's end across the bridge.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import time

import pytest

from tests.live.test_policy_helpers import (GUEST_MAC, GUEST_V4, GUEST_V6, OTHER_MAC, OTHER_V4, counters,  # noqa: F401
                                            plab, sh)
from vnet_tui.net.netns import entered, open_netns
from vnet_tui.pair.forge import arp, eth, ip6, udp4  # the frame builders the spoof test sends too
from vnet_tui.pair.framing import mac_bytes
from vnet_tui.pair.sockets import packet_socket, received
from vnet_tui.policy import plan, read, steps
from vnet_tui.policy.nlread import ifindex
from vnet_tui.policy.port import Port

pytestmark = pytest.mark.live

BCAST = b"\xff" * 6
ALL_NODES = bytes.fromhex("333300000001")
SPOOF_MAC = mac_bytes("02:66:66:66:66:66")
SPOOF_V4 = "198.18.9.66"
SPOOF_V6 = "fd00:5654::9:66"
ETH_P_ALL = 0x0003


def frames(tag: bytes) -> dict[str, bytes]:
    """One frame per kind of spoofing (keyed by the rule that must drop it), and a legitimate one."""
    me = mac_bytes(GUEST_MAC)
    na = struct.pack("!BBHI16s", 136, 0, 0, 0x20000000, ipaddress.IPv6Address("fd00:5654::9:3").packed) + tag
    return {
        "mac": eth(BCAST, SPOOF_MAC, 0x88B5, tag),
        "arp-mac": eth(BCAST, me, 0x0806, arp(SPOOF_MAC, GUEST_V4, OTHER_V4) + tag),
        "ipv4": eth(BCAST, me, 0x0800, udp4(SPOOF_V4, OTHER_V4, tag)),
        "arp-ip": eth(BCAST, me, 0x0806, arp(me, SPOOF_V4, OTHER_V4) + tag),
        "ipv6": eth(ALL_NODES, me, 0x86DD, ip6(SPOOF_V6, "ff02::1", 17, struct.pack("!HHHH", 40000, 9, 8 + len(tag),
                                                                                     0) + tag)),
        "nd-target": eth(ALL_NODES, me, 0x86DD, ip6("fe80::c637:72ff:fe00:901", "ff02::1", 58, na)),
        "vlan-tagged": eth(BCAST, me, 0x8100, struct.pack("!HH", 7, 0x0800) + udp4(GUEST_V4, OTHER_V4, tag)),
        "legit": eth(BCAST, me, 0x0800, udp4(GUEST_V4, OTHER_V4, tag)),
    }


def _send(tx: socket.socket, frame: bytes) -> None:
    """Send one frame; a full receive backlog on a loaded machine (ENOBUFS: the frame went nowhere) is
    waited out and the frame sent again, so every frame counted is one that left."""
    for _ in range(500):
        try:
            tx.send(frame)
            return
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
        time.sleep(0.01)
    tx.send(frame)


def test_spoofed_frames_leave_the_guest_and_are_dropped_and_counted_at_the_host_end(plab):
    with Port(plab.host, plab.port) as p:
        steps.apply(p, plan.plan(p, {"mac_filter": GUEST_MAC, "ip_filter": [GUEST_V4, f"{GUEST_V6}/64"]}))
    n = 25
    run = os.urandom(6).hex().encode()
    gfd, ofd = open_netns(plab.guest), open_netns(plab.other)
    try:
        tx = packet_socket(gfd, "eth0", ifindex(gfd, "eth0"))
        with entered(ofd):
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        rx.bind(("eth0", ETH_P_ALL))
        rx.setblocking(False)
        before = counters(plab.guest, "eth0")
        tags = {}
        for kind in frames(b"").keys():
            tags[kind] = b"VTSPOOF-" + run + b"-" + kind.encode()
        for _ in range(n):
            for kind, frame in frames(b"").items():
                _send(tx, frames(tags[kind])[kind])
        time.sleep(0.3)
        seen: dict[str, int] = {k: 0 for k in tags}
        for data, _ts in received(rx):
            for kind, tag in tags.items():
                if tag in data:
                    seen[kind] += 1
        after = counters(plab.guest, "eth0")
        tx.close()
        rx.close()
    finally:
        os.close(gfd)
        os.close(ofd)
    # counted leaving the guest end: every one of them
    assert after["tx_packets"] - before["tx_packets"] >= n * len(tags)
    # counted dropped at the host end, by the rule for its kind: exactly
    with Port(plab.host, plab.port) as p:
        pol = read.read(p)
    dropped = {**pol["mac_filter"]["dropped"], **pol["ip_filter"]["dropped"]}
    for kind in tags:
        if kind == "legit":
            continue
        assert dropped[kind]["packets"] == n, (kind, dropped)
        assert seen[kind] == 0, f"{kind} frames crossed the bridge"
    # the legitimate frame passed every rule and reached the other container
    assert seen["legit"] == n
    assert sum(d["packets"] for d in dropped.values()) == n * (len(tags) - 1)


def _udp_flood(ns: str, dst: str, seconds: float) -> int:
    """Send UDP as fast as Python can for ``seconds``; bytes handed to the kernel."""
    fd = open_netns(ns)
    try:
        with entered(fd):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        os.close(fd)
    payload = b"r" * 1400
    sent = 0
    end = time.monotonic() + seconds
    with s:
        s.setblocking(False)
        while time.monotonic() < end:
            for _ in range(32):
                try:
                    sent += s.sendto(payload, (dst, 9))
                except BlockingIOError:
                    pass
    return sent


def _neighbours(plab) -> None:
    sh("ip", "-n", plab.guest, "neigh", "replace", OTHER_V4, "lladdr", OTHER_MAC, "dev", "eth0")
    sh("ip", "-n", plab.other, "neigh", "replace", GUEST_V4, "lladdr", GUEST_MAC, "dev", "eth0")


@pytest.mark.parametrize("direction", ["rate_out", "rate_in"])
def test_a_rate_limit_holds_throughput_near_the_limit(plab, direction):
    """8 mbit/s = 1 MB/s: over ~1 s of flooding, what gets through is within a generous band of it."""
    _neighbours(plab)
    limit = 8_000_000 // 8
    with Port(plab.host, plab.port) as p:
        steps.apply(p, plan.plan(p, {direction: {"rate": "8mbit", "burst": "16kb"}}))
    # rate_out limits what the guest sends (to the other container); rate_in what it receives (from it)
    sender, receiver, dst = (plab.guest, plab.other, OTHER_V4) if direction == "rate_out" else \
        (plab.other, plab.guest, GUEST_V4)
    # nft's byte limit starts with a full bucket of one second of traffic plus the burst (documented in
    # rate.py): flood it empty first, then measure the rate it holds
    _udp_flood(sender, dst, 1.2)
    before = counters(receiver, "eth0")
    t0 = time.monotonic()
    offered = _udp_flood(sender, dst, 1.0)
    time.sleep(0.1)  # what tbf still holds (≤ 50 ms of it) drains
    elapsed = time.monotonic() - t0
    got = counters(receiver, "eth0")["rx_bytes"] - before["rx_bytes"]
    assert offered >= 3 * limit * elapsed, f"the flood offered only {offered} bytes: no test of the limit"
    rate = got / elapsed
    print(f"{direction}: {rate:.0f} B/s through a {limit} B/s limit (offered {offered / elapsed:.0f} B/s)")
    assert 0.5 * limit <= rate <= 1.3 * limit, f"{direction}: {rate:.0f} B/s through a {limit} B/s limit"
    with Port(plab.host, plab.port) as p:
        pol = read.read(p)
    if direction == "rate_out":
        assert pol["rate_out"]["dropped_packets"] > 0
    else:
        assert pol["rate_in"]["drops"] > 0 or pol["rate_in"]["overlimits"] > 0
