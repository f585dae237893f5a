"""Frames a guest should not send: a spoofed source MAC, IPv4/IPv6 source, ARP sender or NDP target.

The spoof test (``pair.spoof``) sends these from a container's guest end
to show its host end's anti-spoofing filters dropping them (and counting
each drop); tests/live/test_policy_traffic.py builds the same frames.

Every frame goes to the 802.1Q nearest-bridge group 01:80:c2:00:00:0e
unless told otherwise (``dst``): a bridge never forwards that address,
it passes the frame up the port it came in on, so a spoofed frame that
gets past the host end stays there (where the test counts it) and
reaches no other port.  The netdev ingress hook where the filters sit
runs before the bridge, whatever the destination.

Each frame carries ``tag`` (the run's mark) in its payload so the test
finds its own frames among others.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from .framing import NEAREST_BRIDGE, mac_bytes

ETH_ZLEN = 60
ETH_P_IP, ETH_P_ARP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_LOCAL = 0x0800, 0x0806, 0x86DD, 0x8100, 0x88B5

# sources no adapter of ours has: a locally administered MAC, documentation-range-like lab addresses
SPOOF_MAC = "02:66:66:66:66:66"
SPOOF_V4 = "198.18.255.66"
SPOOF_V6 = "fd00:5654::ff:66"


def csum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst: bytes, src: bytes, etype: int, payload: bytes) -> bytes:
    """An Ethernet frame, padded to the minimum."""
    frame = dst + src + struct.pack("!H", etype) + payload
    return frame + bytes(max(0, ETH_ZLEN - len(frame)))


def udp4(src: str, dst: str, tag: bytes) -> bytes:
    """An IPv4 header and a UDP datagram (to the discard port) carrying ``tag``."""
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(tag), 0) + tag
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + udp


def ip6(src: str, dst: str, nh: int, payload: bytes) -> bytes:
    """An IPv6 header (next header ``nh``, hop limit 255) and ``payload``."""
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 255,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def udp6(src: str, dst: str, tag: bytes) -> bytes:
    return ip6(src, dst, 17, struct.pack("!HHHH", 40000, 9, 8 + len(tag), 0) + tag)


def arp(sha: bytes, spa: str, tpa: str) -> bytes:
    """An ARP request from ``sha``/``spa`` for ``tpa``."""
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, sha, socket.inet_aton(spa), bytes(6),
                       socket.inet_aton(tpa))


def neighbour_advert(src: str, target: str, tag: bytes) -> bytes:
    """An NDP neighbour advertisement (ICMPv6 136) for ``target``, to all nodes, from ``src``."""
    na = struct.pack("!BBHI16s", 136, 0, 0, 0x20000000, ipaddress.IPv6Address(target).packed) + tag
    return ip6(src, "ff02::1", 58, na)


@dataclass(frozen=True)
class Spoof:
    """One kind of spoofing: what is forged, which filter of the host end must drop it, by which rule."""

    kind: str  # the --spoof word
    forged: str  # for people: "source MAC", "ARP sender IP", …
    policy: str  # "mac_filter" | "ip_filter": the host end's setting that drops it
    rule: str  # the rule's comment in the port's nftables chain (policy.nftrules)
    ethertype: int


SPOOFS: dict[str, Spoof] = {s.kind: s for s in (
    Spoof("mac", "source MAC", "mac_filter", "mac", ETH_P_LOCAL),
    Spoof("arp-mac", "ARP sender MAC", "mac_filter", "arp-mac", ETH_P_ARP),
    Spoof("ipv4", "IPv4 source", "ip_filter", "ipv4", ETH_P_IP),
    Spoof("arp", "ARP sender IP", "ip_filter", "arp-ip", ETH_P_ARP),
    Spoof("ipv6", "IPv6 source", "ip_filter", "ipv6", ETH_P_IPV6),
    Spoof("nd", "NDP target", "ip_filter", "nd-target", ETH_P_IPV6),
)}


def spoofed(kind: str, mac: str, v4: str, tag: bytes, dst: bytes = NEAREST_BRIDGE) -> bytes:
    """A frame of spoofing ``kind`` from a guest whose MAC is ``mac`` and IPv4 ``v4`` (the ARP target).

    Everything but the forged field is the guest's own, so only the rule
    for that kind has a reason to drop it.
    """
    me = mac_bytes(mac)
    bad = mac_bytes(SPOOF_MAC)
    if kind == "mac":
        return eth(dst, bad, ETH_P_LOCAL, b"VNSP" + tag)
    if kind == "arp-mac":
        return eth(dst, me, ETH_P_ARP, arp(bad, v4, v4) + tag)
    if kind == "ipv4":
        return eth(dst, me, ETH_P_IP, udp4(SPOOF_V4, v4, tag))
    if kind == "arp":
        return eth(dst, me, ETH_P_ARP, arp(me, SPOOF_V4, v4) + tag)
    if kind == "ipv6":
        return eth(dst, me, ETH_P_IPV6, udp6(SPOOF_V6, "ff02::1", tag))
    if kind == "nd":
        return eth(dst, me, ETH_P_IPV6, neighbour_advert("fe80::c637:72ff:fe00:1", SPOOF_V6, tag))
    raise ValueError(f"unknown spoofing {kind!r}")


def proto_filter(ethertype: int) -> "list[tuple[int, int, int, int]]":
    """Classic BPF: accept frames of ``ethertype`` (our own are told apart in Python, by their tag)."""
    return [(0x28, 0, 0, 12), (0x15, 0, 1, ethertype), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
